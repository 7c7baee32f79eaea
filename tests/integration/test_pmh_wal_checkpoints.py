"""SQLite WAL checkpoints during a relay run happen on a background thread (issue 13): the relay's commits
skip the automatic checkpoint, the pooled connections get their setting back, and the log is still copied
into the database file."""

from __future__ import annotations

import time

from sqlalchemy import text

from services.pmh.wal import WalCheckpointer
from store.db import make_engine


def _autocheckpoint(conn) -> int:
    return int(conn.connection.driver_connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0])


def test_commits_leave_checkpoints_to_the_thread_and_restore_the_setting(tmp_path):
    path = tmp_path / "wal.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    small = path.stat().st_size
    wal = WalCheckpointer(engine, interval_s=0.05).start()
    try:
        with wal.transaction() as conn:
            raw = conn.connection.driver_connection
            assert _autocheckpoint(conn) == 0  # this commit does not checkpoint
            conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "x" * 500} for _ in range(20_000)])
        # the pooled connection went back with its setting
        assert int(raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == 1000
        # no other commit happens: only the background thread can copy the log into the database file
        deadline = time.monotonic() + 10
        while path.stat().st_size < small + 5_000_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.stat().st_size >= small + 5_000_000
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
