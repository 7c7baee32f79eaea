"""SQLite only: WAL checkpoints on a thread of their own, off the critical path of the commits.

In WAL mode SQLite copies the log back into the database file (a checkpoint: page copies and fsyncs) inside
whichever commit crosses ``wal_autocheckpoint`` pages. Two writers pay for that on their critical path:

* the PMH relay's coordinator (:class:`WalCheckpointer`): each claim or flush commit blocked for tens of
  milliseconds while the HTTP threads ran dry (issue 13: about a third of its commit time). While the relay
  runs, its transactions commit with automatic checkpoints off, and a thread runs a PASSIVE checkpoint
  every ``interval_s``;
* the monthly run's bulk transactions (:func:`deferred_checkpoint`, through
  ``store.db.session_scope(..., checkpoint_later=True)``): the first load's persist commit copied about
  350 MB back at 160k children (1.0–1.7 s of its 10 s, measured with py-spy --native). The commit skips the
  checkpoint and hands it to a worker thread (:func:`checkpoint_soon`), which copies the log while the
  next stage computes on the other core.

PASSIVE checkpoints take no lock that writers or readers wait for. Nothing changes for durability: a
checkpoint only moves committed pages from the log into the database file, whichever thread does it, and
one interrupted by a crash is redone from the log. PostgreSQL, in-memory SQLite and single-connection pools
keep plain transactions.
"""

from __future__ import annotations

import contextlib
import sqlite3
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
        self._deferring = False  # started on a SQLite file in WAL mode: commits skip the automatic checkpoint

    def start(self) -> WalCheckpointer:
        """Take over the checkpoints when the database is a SQLite file in WAL mode (else do nothing)."""
        if not _in_wal_mode(self.engine):
            return self
        self._deferring = True
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint-interval", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread; later commits checkpoint as usual again."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self._deferring = False

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """``engine.begin()``; while started, its commit leaves the checkpoint to the background thread."""
        if not self._deferring:
            with self.engine.begin() as conn:
                yield conn
            return
        with self.engine.connect() as conn, _autocheckpoint_off(conn), conn.begin():
            yield conn

    def _run(self) -> None:
        try:
            with self.engine.connect() as conn:
                raw = conn.connection.driver_connection
                while not self._stop.wait(self.interval_s):
                    raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except Exception:  # noqa: BLE001 - a checkpoint that fails is SQLite's to do again
            self._deferring = False  # the commits checkpoint as usual again


@contextlib.contextmanager
def _autocheckpoint_off(conn: Connection) -> Iterator[None]:
    """The connection's commits skip the automatic checkpoint; the pooled connection gets its setting back."""
    raw = conn.connection.driver_connection
    restore = int(raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
    raw.execute("PRAGMA wal_autocheckpoint=0")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA wal_autocheckpoint={restore}")  # an int read from SQLite: no injection


@contextlib.contextmanager
def deferred_checkpoint(engine: Engine) -> Iterator[Connection]:
    """A connection whose commits skip the checkpoint; once the block is left, :func:`checkpoint_soon`.

    The caller begins and commits its transaction on the connection. Other databases: a plain connection.
    """
    if not _in_wal_mode(engine):
        with engine.connect() as conn:
            yield conn
        return
    with engine.connect() as conn, _autocheckpoint_off(conn):
        yield conn
    checkpoint_soon(engine)


def checkpoint_soon(engine: Engine) -> None:
    """Ask the database's checkpoint worker for a PASSIVE checkpoint (started on demand; SQLite files only)."""
    if not _sqlite_file(engine):
        return
    path = str(engine.url.database)
    with _WORKERS_LOCK:
        worker = _WORKERS.get(path)
        if worker is None:
            worker = _WORKERS[path] = _CheckpointWorker(path)
            worker.thread.start()
        worker.wanted.set()


#: a worker with nothing asked of it for this long closes its connection and ends (the next request starts one)
WORKER_IDLE_S = 2.0
_WORKERS: dict[str, _CheckpointWorker] = {}
_WORKERS_LOCK = threading.Lock()


class _CheckpointWorker:
    """One thread per database file: runs a PASSIVE checkpoint each time one is asked for (requests coalesce)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.wanted = threading.Event()
        self.thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)

    def _run(self) -> None:
        while True:
            if not self.wanted.wait(WORKER_IDLE_S):
                with _WORKERS_LOCK:
                    if not self.wanted.is_set():
                        _WORKERS.pop(self.path, None)
                        return
                continue
            self.wanted.clear()
            try:
                # a connection of its own, outside the engine's pool; the copy runs without the GIL
                with contextlib.closing(sqlite3.connect(self.path, timeout=0)) as raw:
                    raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error:  # busy or gone: the next commit or checkpoint copies the log instead
                continue


def _in_wal_mode(engine: Engine) -> bool:
    """A SQLite file (see :func:`_sqlite_file`) whose journal is the write-ahead log."""
    if not _sqlite_file(engine):
        return False
    with engine.connect() as conn:
        mode = conn.connection.driver_connection.execute("PRAGMA journal_mode").fetchone()[0]
    return str(mode).lower() == "wal"


def _sqlite_file(engine: Engine) -> bool:
    """A SQLite database file reached through a pool of several connections."""
    if engine.dialect.name != "sqlite" or isinstance(engine.pool, (StaticPool, SingletonThreadPool)):
        return False
    database = engine.url.database or ""
    return database not in ("", ":memory:") and "mode=memory" not in str(engine.url)
