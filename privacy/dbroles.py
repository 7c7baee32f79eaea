"""PostgreSQL roles per function (security.md §1.5 ①/③, SEC-11; SEC-08 on the database side).

=================  ==========================================================================================
role               privileges
=================  ==========================================================================================
``<p>_app``        the pipeline: read/write every project table, **except** ``access_record`` (SELECT, INSERT
                   only), ``access_chain_head`` (SELECT, INSERT, UPDATE), ``deletion_record`` (SELECT, INSERT)
                   and ``export_approval`` (SELECT only)
``<p>_approver``   the 情報管理者 tools: ``<p>_app`` plus INSERT/UPDATE on ``export_approval``
``<p>_auditor``    the log reviewer: SELECT on the access/deletion records, approvals and runs; nothing on
                   personal tables
=================  ==========================================================================================

Nobody but the owner (a migration role) may UPDATE/DELETE/TRUNCATE ``access_record``; the append-only
trigger is a second guard. Login users are granted one of these roles (``GRANT <p>_app TO batch_user``).
SQLite has no roles: :func:`apply_roles` does nothing there.
"""

from __future__ import annotations

import re

from sqlalchemy import Engine, inspect, text

AUDIT_TABLES = ("access_record", "access_chain_head", "deletion_record", "export_approval", "run")
_SPECIAL = {
    "access_record": "SELECT, INSERT",
    "access_chain_head": "SELECT, INSERT, UPDATE",
    "deletion_record": "SELECT, INSERT",
    "export_approval": "SELECT",
}


def role_names(prefix: str) -> dict[str, str]:
    """The three role names for ``prefix`` (letters, digits, underscore)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,40}", prefix):
        raise ValueError("role prefix must be lower-case letters, digits and underscores")
    return {"app": f"{prefix}_app", "approver": f"{prefix}_approver", "auditor": f"{prefix}_auditor"}


def grant_statements(prefix: str, tables: list[str]) -> list[str]:
    """CREATE ROLE (if missing) and GRANT statements for the project tables ``tables``."""
    roles = role_names(prefix)
    out = [
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{name}') "
        f"THEN CREATE ROLE {name} NOLOGIN; END IF; END $$"
        for name in roles.values()
    ]
    out.append(f"GRANT USAGE ON SCHEMA public TO {roles['app']}, {roles['approver']}, {roles['auditor']}")
    out.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {roles['app']}, {roles['approver']}")
    for table in sorted(tables):
        privileges = _SPECIAL.get(table, "SELECT, INSERT, UPDATE, DELETE")
        out.append(f'REVOKE ALL ON TABLE "{table}" FROM {roles["app"]}, {roles["approver"]}, {roles["auditor"]}')
        out.append(f'GRANT {privileges} ON TABLE "{table}" TO {roles["app"]}, {roles["approver"]}')
        if table in AUDIT_TABLES:
            out.append(f'GRANT SELECT ON TABLE "{table}" TO {roles["auditor"]}')
    if "export_approval" in tables:
        out.append(f'GRANT INSERT, UPDATE ON TABLE "export_approval" TO {roles["approver"]}')
    return out


def apply_roles(engine: Engine, prefix: str = "kodomo") -> list[str]:
    """Create/refresh the roles on a PostgreSQL database; returns the statements run ([] on SQLite)."""
    if engine.dialect.name != "postgresql":
        return []
    import store.models  # noqa: F401
    from store.db import Base

    existing = set(inspect(engine).get_table_names())
    tables = [t for t in Base.metadata.tables if t in existing]
    statements = grant_statements(prefix, tables)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    return statements
