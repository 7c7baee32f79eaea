"""SQLite only: the relay's WAL checkpoints run on a thread of their own, off the coordinator's commits.

In WAL mode SQLite copies the log back into the database file (a checkpoint: page copies and fsyncs) inside
whichever commit crosses ``wal_autocheckpoint`` pages. During a relay run that is the coordinator's claim
or flush commit, which then blocks for tens of milliseconds while the HTTP threads run dry (issue 13: about
a third of the coordinator's commit time). While the relay runs, its own transactions therefore commit with
automatic checkpoints off, and a background thread runs a PASSIVE checkpoint every ``interval_s`` on a
connection of its own (PASSIVE takes no lock that writers wait for). Nothing changes for durability: a
checkpoint only moves committed pages from the log into the database file, whichever thread does it.

PostgreSQL, in-memory SQLite and single-connection pools keep the plain ``engine.begin()``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from sqlalchemy import Connection, Engine
from sqlalchemy.pool import SingletonThreadPool, StaticPool


class WalCheckpointer:
    """``transaction()`` for the relay's writes; checkpoints on a background thread while started."""

    def __init__(self, engine: Engine, interval_s: float = 0.25) -> None:
        self.engine = engine
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._restore: int | None = None  # the connections' wal_autocheckpoint, restored after each commit

    def start(self) -> WalCheckpointer:
        """Take over the checkpoints when the database is a SQLite file in WAL mode (else do nothing)."""
        if not _sqlite_file(self.engine):
            return self
        with self.engine.connect() as conn:
            raw = conn.connection.driver_connection
            if str(raw.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                return self
            self._restore = int(raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pmh-wal-checkpoint", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread; later commits checkpoint as usual again."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self._restore = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """``engine.begin()``; while started, its commit leaves the checkpoint to the background thread."""
        restore = self._restore
        if restore is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            raw = conn.connection.driver_connection
            raw.execute("PRAGMA wal_autocheckpoint=0")
            try:
                with conn.begin():
                    yield conn
            finally:
                # the pooled connection goes back with the setting it came with (an int: no injection)
                raw.execute(f"PRAGMA wal_autocheckpoint={int(restore)}")

    def _run(self) -> None:
        try:
            with self.engine.connect() as conn:
                raw = conn.connection.driver_connection
                while not self._stop.wait(self.interval_s):
                    raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except Exception:  # noqa: BLE001 - a checkpoint that fails is SQLite's to do again
            self._restore = None  # the commits checkpoint as usual again


def _sqlite_file(engine: Engine) -> bool:
    """A SQLite database file reached through a pool of several connections."""
    if engine.dialect.name != "sqlite" or isinstance(engine.pool, (StaticPool, SingletonThreadPool)):
        return False
    database = engine.url.database or ""
    return database not in ("", ":memory:") and "mode=memory" not in str(engine.url)
