import threading

import pytest
from sqlalchemy import func, select, text

from privacy.audit import AuditError, record_access, unpack_subjects, verify_chain
from store.db import session_scope
from store.privacy_models import AccessRecord

IDS = [f"{i:010d}" for i in range(1, 6)]


def _append(engine, n=3, **kw):
    for i in range(n):
        with session_scope(engine) as s:
            record_access(s, actor_id="demo-operator", action="read", purpose="test", subject_ids=IDS[: i + 1],
                          record_count=i + 1, **kw)


def test_one_row_per_operation_and_chain_verifies(engine):
    _append(engine, 3, run_id="run-1")
    with session_scope(engine) as s:
        rows = s.execute(select(AccessRecord).order_by(AccessRecord.seq)).scalars().all()
        assert [r.seq for r in rows] == [1, 2, 3]
        assert rows[0].prev_hash == "0" * 64 and rows[1].prev_hash == rows[0].entry_hash
        assert rows[2].actor_role == "operator" and rows[2].subject_count == 3
        assert unpack_subjects(rows[2].subject_ids_z) == IDS[:3]
        report = verify_chain(s)
        assert report.ok and report.rows == 3


def test_rolled_back_transaction_leaves_no_record(engine):
    with pytest.raises(RuntimeError), session_scope(engine) as s:
        record_access(s, actor_id="demo-operator", action="read", purpose="t", subject_ids=IDS, record_count=5)
        raise RuntimeError("business failure")
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(AccessRecord)) == 0


def test_my_numbers_and_bad_actions_are_refused(engine):
    with session_scope(engine) as s:
        with pytest.raises(AuditError, match="look like My Numbers") as info:
            record_access(s, actor_id="demo-operator", action="read", purpose="t",
                          subject_ids=["123456789018"], record_count=1)
        assert "123456789018" not in str(info.value)
        with pytest.raises(AuditError):
            record_access(s, actor_id="demo-operator", action="steal", purpose="t", subject_ids=[], record_count=0)


def test_application_cannot_update_or_delete(engine):
    _append(engine, 1)
    for stmt in ("UPDATE access_record SET purpose = 'x'", "DELETE FROM access_record"):
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.execute(text(stmt))


def _drop_guards(engine):
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER access_record_no_change ON access_record"))
        else:
            conn.execute(text("DROP TRIGGER access_record_no_update"))
            conn.execute(text("DROP TRIGGER access_record_no_delete"))


def test_superuser_edit_and_delete_are_found_at_their_index(engine):
    _append(engine, 4)
    _drop_guards(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE access_record SET record_count = 999 WHERE seq = 2"))
    with session_scope(engine) as s:
        report = verify_chain(s)
        assert not report.ok and report.first_bad_seq == 2
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM access_record WHERE seq = 3"))
    with session_scope(engine) as s:
        kinds = {(p.seq, p.kind) for p in verify_chain(s).problems}
        assert (3, "gap") in kinds


def test_concurrent_writers_do_not_fork_the_chain(engine):
    errors = []

    def worker():
        try:
            _append(engine, 5)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with session_scope(engine) as s:
        report = verify_chain(s)
        assert report.ok and report.rows == 20 and report.last_seq == 20


def test_bulk_operation_is_one_compact_row(engine):
    ids = [f"{i:010d}" for i in range(100_000)]
    with session_scope(engine) as s:
        record_access(s, actor_id="system-scheduler", action="create", purpose="monthly", subject_ids=ids,
                      record_count=len(ids), run_id="r")
    with session_scope(engine) as s:
        row = s.execute(select(AccessRecord)).scalar_one()
        assert row.subject_count == 100_000 and len(row.subject_ids_z) < 400_000
        assert verify_chain(s).ok
