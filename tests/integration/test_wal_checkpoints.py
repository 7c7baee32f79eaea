"""SQLite WAL checkpoints happen on a background thread (issue 13), off the commits' critical path:

* during a relay run (WalCheckpointer): the relay's commits skip the automatic checkpoint, the pooled
  connections get their setting back, and the log is still copied into the database file;
* after the monthly run's bulk transactions (session_scope(..., checkpoint_later=True)): the commit copies
  nothing back, a worker thread does, and a rollback or PostgreSQL behaves as a plain session.
"""

from __future__ import annotations

import time

from sqlalchemy import text

from store import wal
from store.db import make_engine, session_scope
from store.wal import WalCheckpointer


def _autocheckpoint(conn) -> int:
    return int(conn.connection.driver_connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0])


def _database_with_a_table(path):
    """An engine on a new SQLite file with table ``t``, its log copied back; and the file's size then."""
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return engine, path.stat().st_size


def _grows_to(path, size: int, within_s: float = 10.0) -> bool:
    """Whether the file reaches ``size`` bytes within ``within_s`` seconds."""
    deadline = time.monotonic() + within_s
    while path.stat().st_size < size and time.monotonic() < deadline:
        time.sleep(0.05)
    return path.stat().st_size >= size


def test_commits_leave_checkpoints_to_the_thread_and_restore_the_setting(tmp_path):
    path = tmp_path / "wal.db"
    engine, small = _database_with_a_table(path)
    wal = WalCheckpointer(engine, interval_s=0.05).start()
    try:
        with wal.transaction() as conn:
            raw = conn.connection.driver_connection
            assert _autocheckpoint(conn) == 0  # this commit does not checkpoint
            conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "x" * 500} for _ in range(20_000)])
        # the pooled connection went back with its setting
        assert int(raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == 1000
        # no other commit happens: only the background thread can copy the log into the database file
        assert _grows_to(path, small + 5_000_000)
    finally:
        wal.stop()
    with wal.transaction() as conn:  # stopped: a plain transaction with the usual checkpoints
        assert _autocheckpoint(conn) == 1000
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 20_000
    engine.dispose()


def test_in_memory_sqlite_keeps_plain_transactions():
    engine = make_engine("sqlite://")
    wal = WalCheckpointer(engine).start()
    try:
        with wal.transaction() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
        assert wal._thread is None
    finally:
        wal.stop()


def test_a_bulk_session_commits_without_the_checkpoint_and_a_worker_copies_the_log(tmp_path, monkeypatch):
    path = tmp_path / "bulk.db"
    engine, small = _database_with_a_table(path)
    asked = []
    monkeypatch.setattr(wal, "checkpoint_soon", asked.append)  # first: nobody copies the log
    with session_scope(engine, checkpoint_later=True) as session:
        assert _autocheckpoint(session.connection()) == 0
        session.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "x" * 500} for _ in range(20_000)])
    assert asked == [engine]
    # 10 MB committed and none of it copied back: an automatic checkpoint would have run inside the commit
    assert path.stat().st_size < small + 1_000_000
    with engine.connect() as conn:  # committed all the same, and the pooled connection has its setting back
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 20_000
        assert _autocheckpoint(conn) == 1000
    monkeypatch.undo()
    with session_scope(engine, checkpoint_later=True) as session:  # now the worker runs after the commit
        session.execute(text("INSERT INTO t (v) VALUES ('y')"))
    assert _grows_to(path, small + 5_000_000)
    engine.dispose()


def test_a_failed_bulk_session_rolls_back_and_restores_the_setting(tmp_path):
    engine, _size = _database_with_a_table(tmp_path / "bulk.db")
    try:
        with session_scope(engine, checkpoint_later=True) as session:
            session.execute(text("INSERT INTO t (v) VALUES ('x')"))
            raise RuntimeError("stop")
    except RuntimeError:
        pass
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
        assert _autocheckpoint(conn) == 1000
    engine.dispose()


def test_a_bulk_session_commits_on_either_database(db_url):
    """SQLite file or PostgreSQL (where nothing is deferred): the rows are committed."""
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bulk_t (id INTEGER PRIMARY KEY, v TEXT)"))
    try:
        with session_scope(engine, checkpoint_later=True) as session:
            session.execute(text("INSERT INTO bulk_t (id, v) VALUES (1, 'x')"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT v FROM bulk_t")).scalar_one() == "x"
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE bulk_t"))
        engine.dispose()
