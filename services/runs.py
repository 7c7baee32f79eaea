"""The project's own run history: one row per run, its input files (hashes, counts) and quarantine.

Prefect keeps run history too, but it must never hold personal data; this table links each Prefect
flow-run id to the exact input files (SHA-256 of the bytes) and to aggregate counts.
"""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
from sqlalchemy import Connection, select, update

from store import models
from store.bulk import insert_frame, insert_missing


def start_run(conn: Connection, *, run_id: str, flow_name: str, month: str | None, operator_id: str,
              policy_version: str) -> None:
    """Record the start of a run (a re-run with the same id is reset to RUNNING)."""
    table = models.Run.__table__
    exists = conn.execute(select(table.c.run_id).where(table.c.run_id == run_id)).first()
    values = {"flow_name": flow_name, "month": month, "operator_id": operator_id,
              "policy_version": policy_version, "status": "RUNNING", "finished_at": None}
    if exists:
        conn.execute(update(table).where(table.c.run_id == run_id).values(**values))
    else:
        conn.execute(table.insert().values(run_id=run_id, **values))


def finish_run(conn: Connection, *, run_id: str, status: str, counts: dict) -> None:
    """Record the outcome and the aggregate counts of a run."""
    table = models.Run.__table__
    conn.execute(update(table).where(table.c.run_id == run_id).values(
        status=status, finished_at=dt.datetime.now(dt.UTC), counts_json=json.dumps(counts, sort_keys=True)))


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


__all__ = ["start_run", "finish_run", "record_inputs", "record_quarantine", "insert_frame"]
