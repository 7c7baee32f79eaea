"""The project's own run history: one row per run, its input files (hashes, counts) and quarantine.

Prefect keeps run history too, but it must never hold personal data; this table links each Prefect
flow-run id to the exact input files (SHA-256 of the bytes) and to aggregate counts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import socket
import uuid
from collections.abc import Callable, Iterator

import pandas as pd
from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import IntegrityError

from store import models
from store.bulk import insert_frame, insert_missing

RUNNING, COMPLETED, FAILED, ABANDONED = "RUNNING", "COMPLETED", "FAILED", "ABANDONED"


class RunAlreadyRunningError(RuntimeError):
    """Another run of the same flow and month (or case) is RUNNING: this one is refused before it starts."""

    code = "run_already_running"


@dataclasses.dataclass(frozen=True)
class RunningRun:
    """A RUNNING row of the run table, as the liveness check sees it."""

    run_id: str
    flow_name: str
    month: str | None
    host: str | None
    pid: int | None
    started_at: dt.datetime | None


#: ``is_alive(run) -> True | False | None``: ``False`` marks the run ABANDONED; ``None`` (cannot tell)
#: counts as alive, so a run is never abandoned on a guess.
LivenessCheck = Callable[[RunningRun], "bool | None"]


@dataclasses.dataclass
class RunScope:
    """The open run of :func:`run_scope`: its id, and the counts recorded when it completes."""

    run_id: str
    flow_name: str
    month: str | None
    counts: dict = dataclasses.field(default_factory=dict)


def this_host() -> str:
    """The host name recorded with a run (first 64 characters)."""
    return socket.gethostname()[:64]


def process_alive(run: RunningRun) -> bool | None:
    """Whether the process that started ``run`` still exists (``None``: another host, or no pid recorded)."""
    if run.pid is None or run.host != this_host():
        return None
    try:
        os.kill(run.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def lock_key(flow_name: str, scope: str | None) -> str:
    """``<flow>:<scope>``: the key of the one RUNNING run allowed per flow and month (or case)."""
    return f"{flow_name}:{scope or '*'}"[:96]


@contextlib.contextmanager
def run_scope(engine: Engine, *, flow_name: str, operator_id: str, policy_version: str, month: str | None = None,
              lock_scope: str | None = None, run_id: str | None = None,
              is_alive: LivenessCheck = process_alive) -> Iterator[RunScope]:
    """The one run lifecycle: begin, then COMPLETED with ``scope.counts``, or FAILED on any exception.

    A failed run keeps whatever counts the flow had set before it failed (the files refused, the rows
    booked before a refusal), so the run table tells what happened; usually none.

    The run is refused (:class:`RunAlreadyRunningError`) while another run with the same lock key
    (``flow_name`` and ``lock_scope``, default the month) is RUNNING; RUNNING rows of this flow whose
    process or flow run is gone (``is_alive`` returns False) are first marked ABANDONED. Failure includes
    ``BaseException`` (a cancelled flow, Ctrl-C): the row must never stay RUNNING because of it.
    """
    scope = RunScope(run_id=run_id or f"local-{uuid.uuid4()}", flow_name=flow_name, month=month)
    begin_run(engine, run_id=scope.run_id, flow_name=flow_name, month=month, operator_id=operator_id,
              policy_version=policy_version, lock=lock_key(flow_name, lock_scope or month), is_alive=is_alive)
    try:
        yield scope
    except BaseException:
        with engine.begin() as conn:
            finish_run(conn, run_id=scope.run_id, status=FAILED, counts=scope.counts)
        raise
    with engine.begin() as conn:
        finish_run(conn, run_id=scope.run_id, status=COMPLETED, counts=scope.counts)


def begin_run(engine: Engine, *, run_id: str, flow_name: str, month: str | None, operator_id: str,
              policy_version: str, lock: str | None, is_alive: LivenessCheck = process_alive) -> None:
    """Abandon the dead RUNNING runs of ``flow_name``, then record this run holding ``lock``."""
    with engine.begin() as conn:
        abandon_dead_runs(conn, flow_name=flow_name, is_alive=is_alive, except_run_id=run_id)
    try:
        with engine.begin() as conn:
            start_run(conn, run_id=run_id, flow_name=flow_name, month=month, operator_id=operator_id,
                      policy_version=policy_version, lock=lock)
    except IntegrityError as exc:
        with engine.connect() as conn:
            holder = conn.execute(select(models.Run.run_id, models.Run.started_at, models.Run.operator_id)
                                  .where(models.Run.lock_key == lock)).first()
        if holder is None:  # the holder finished meanwhile: a genuine constraint problem, not the lock
            raise
        what = f"{flow_name} {month}" if month else flow_name
        raise RunAlreadyRunningError(
            f"refused: a {what} run is already RUNNING (run {holder.run_id}, started "
            f"{holder.started_at:%Y-%m-%d %H:%M} by {holder.operator_id}). Wait for it to finish; a run whose "
            f"process or flow run has ended is marked ABANDONED automatically at the next start.") from exc


def abandon_dead_runs(conn: Connection, *, flow_name: str, is_alive: LivenessCheck = process_alive,
                      except_run_id: str | None = None) -> list[str]:
    """Mark ABANDONED (and unlock) every RUNNING run of ``flow_name`` that ``is_alive`` reports gone."""
    table = models.Run.__table__
    rows = conn.execute(select(table.c.run_id, table.c.flow_name, table.c.month, table.c.host, table.c.pid,
                               table.c.started_at)
                        .where(table.c.flow_name == flow_name, table.c.status == RUNNING)).all()
    dead = [row.run_id for row in rows
            if row.run_id != except_run_id and is_alive(RunningRun(*row)) is False]
    if dead:
        conn.execute(update(table).where(table.c.run_id.in_(dead), table.c.status == RUNNING).values(
            status=ABANDONED, lock_key=None, finished_at=dt.datetime.now(dt.UTC)))
    return dead


def start_run(conn: Connection, *, run_id: str, flow_name: str, month: str | None, operator_id: str,
              policy_version: str, lock: str | None = None) -> None:
    """Record the start of a run (a re-run with the same id is reset to RUNNING).

    ``lock`` is stored in the unique ``lock_key`` column: a second RUNNING row with the same key raises
    ``IntegrityError`` on SQLite and PostgreSQL alike (turned into :class:`RunAlreadyRunningError` by
    :func:`begin_run`).
    """
    table = models.Run.__table__
    exists = conn.execute(select(table.c.run_id).where(table.c.run_id == run_id)).first()
    values = {"flow_name": flow_name, "month": month, "operator_id": operator_id,
              "policy_version": policy_version, "status": RUNNING, "finished_at": None, "lock_key": lock,
              "host": this_host(), "pid": os.getpid()}
    if exists:
        conn.execute(update(table).where(table.c.run_id == run_id).values(**values))
    else:
        conn.execute(table.insert().values(run_id=run_id, **values))


def finish_run(conn: Connection, *, run_id: str, status: str, counts: dict) -> None:
    """Record the outcome and the aggregate counts of a run, and release its lock."""
    table = models.Run.__table__
    conn.execute(update(table).where(table.c.run_id == run_id).values(
        status=status, finished_at=dt.datetime.now(dt.UTC), lock_key=None,
        counts_json=json.dumps(counts, sort_keys=True, default=str)))


def record_inputs(conn: Connection, *, run_id: str, inputs: pd.DataFrame) -> None:
    """Insert one row per input file (file_name, sha256, row_count, accepted_count, quarantined_count)."""
    if inputs.empty:
        return
    insert_missing(conn, models.RunInput.__table__, inputs.assign(run_id=run_id), ["run_id", "file_name"])


def record_quarantine(conn: Connection, *, run_id: str, quarantine: pd.DataFrame) -> int:
    """Store quarantined cells; the same cell of the same file is stored once, whatever the re-runs."""
    if quarantine.empty:
        return 0
    columns = ["file_name", "file_sha256", "row_number", "column_name", "check_name", "masked_value", "reason"]
    rows = quarantine[columns].drop_duplicates(["file_sha256", "row_number", "column_name", "check_name"])
    return insert_missing(conn, models.QuarantinedRow.__table__, rows.assign(run_id=run_id),
                          ["file_sha256", "row_number", "column_name", "check_name"])


__all__ = ["ABANDONED", "COMPLETED", "FAILED", "RUNNING", "RunAlreadyRunningError", "RunScope", "RunningRun",
           "abandon_dead_runs", "begin_run", "finish_run", "insert_frame", "lock_key", "process_alive",
           "record_inputs", "record_quarantine", "run_scope", "start_run"]
