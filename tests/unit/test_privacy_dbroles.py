import uuid

import pytest
from sqlalchemy import text

from privacy.audit import record_access
from privacy.dbroles import apply_roles, role_names
from store.db import session_scope

# (role, statement, allowed)
MATRIX = [
    ("app", "SELECT count(*) FROM person", True),
    ("app", "UPDATE person SET sex_code = sex_code", True),
    ("app", "INSERT INTO deletion_record (deleted_at, operator_id, target, content, record_count, method) "
            "VALUES (now(), 'x', 't', 'c', 0, 'm')", True),
    ("app", "SELECT count(*) FROM access_record", True),
    ("app", "UPDATE access_record SET purpose = 'x'", False),
    ("app", "DELETE FROM access_record", False),
    ("app", "TRUNCATE access_record", False),
    ("app", "DELETE FROM deletion_record", False),
    ("app", "INSERT INTO export_approval (approval_id, approver_id, purpose, datasets, valid_from, valid_until, "
            "revoked) VALUES ('A', 'x', 'p', 'recipients', current_date, current_date, false)", False),
    ("approver", "INSERT INTO export_approval (approval_id, approver_id, purpose, datasets, valid_from, "
                 "valid_until, revoked) VALUES ('A', 'x', 'p', 'recipients', current_date, current_date, false)", True),
    ("auditor", "SELECT count(*) FROM access_record", True),
    ("auditor", "SELECT count(*) FROM deletion_record", True),
    ("auditor", "SELECT count(*) FROM person", False),
    ("auditor", "SELECT count(*) FROM decision", False),
    ("auditor", "INSERT INTO deletion_record (deleted_at, operator_id, target, content, record_count, method) "
                "VALUES (now(), 'x', 't', 'c', 0, 'm')", False),
]


def test_role_matrix(engine):
    if engine.dialect.name != "postgresql":
        assert apply_roles(engine) == []  # SQLite has no roles; the triggers are the guard there
        return
    prefix = f"kt{uuid.uuid4().hex[:8]}"
    roles = role_names(prefix)
    apply_roles(engine, prefix)
    with session_scope(engine) as s:  # the app role can append access records through the real code path
        s.execute(text(f"SET LOCAL ROLE {roles['app']}"))
        record_access(s, actor_id="demo-operator", action="read", purpose="t", subject_ids=["0000000001"],
                      record_count=1)
    try:
        for role, statement, allowed in MATRIX:
            with engine.connect() as conn, conn.begin():
                conn.execute(text(f"SET LOCAL ROLE {roles[role]}"))
                if allowed:
                    conn.execute(text(statement))
                else:
                    with pytest.raises(Exception, match="permission denied"):
                        conn.execute(text(statement))
    finally:
        with engine.begin() as conn:
            for name in roles.values():
                conn.execute(text(f"DROP OWNED BY {name}"))
                conn.execute(text(f"DROP ROLE {name}"))


def test_role_prefix_is_validated():
    with pytest.raises(ValueError):
        role_names("x; DROP TABLE person")
