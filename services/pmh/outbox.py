"""Transactional outbox for PMH (security.md REL-01/REL-02): enqueue changes and derive idempotency keys.

The monthly decision step calls :func:`enqueue_changes` in the same transaction that writes the decisions,
so a decision and its "to send" row commit together; the relay (:mod:`services.pmh.relay`) sends later.

Key derivation (docs/pmh.md "Idempotency keys"):

* record key = ``sha256("pmh-record-v1|" + person_id | recipient_no | change_type | valid_from | valid_to
  | event_date)`` as 64 hex digits, dates as ``YYYY-MM-DD`` and missing values as the empty string. The
  inputs are the business identity of one change (person, certificate, change, validity, 異動日), so the
  same decision re-derived by a re-run of the month yields the same key and inserts nothing.
* batch key = ``sha256("pmh-batch-v1|" + "|".join(sorted(record keys)))``: the Idempotency-Key header of a
  registration request. A re-sent batch (same rows) has the same key, whatever the order of its rows.

The keys carry no My Number, name or address (only the 宛名番号 and dates enter the hash, and PMH
receives the 宛名番号 anyway as ``municipalityIdentityKey``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from store.bulk import insert_frame
from store.models import PmhOutbox

CHANGE_REGISTER = "1"
CHANGE_DELETE = "2"
CHANGE_COLUMNS = ["person_id", "change_type", "reason", "event_date", "valid_from", "valid_to", "recipient_no"]

_RECORD_PREFIX = "pmh-record-v1"
_BATCH_PREFIX = "pmh-batch-v1"


def _date_text(values: pd.Series) -> pd.Series:
    dates = pd.to_datetime(values, errors="raise")
    return dates.dt.strftime("%Y-%m-%d").fillna("")


def record_keys(frame: pd.DataFrame) -> pd.Series:
    """Idempotency key of each change row (see the module docstring for the derivation)."""
    if frame.empty:
        return pd.Series([], index=frame.index, dtype="string")
    text = (
        _RECORD_PREFIX + "|" + frame["person_id"].astype("string").fillna("")
        + "|" + frame["recipient_no"].astype("string").fillna("")
        + "|" + frame["change_type"].astype("string").fillna("")
        + "|" + _date_text(frame["valid_from"])
        + "|" + _date_text(frame["valid_to"])
        + "|" + _date_text(frame["event_date"])
    )
    sha = hashlib.sha256
    return pd.Series([sha(t.encode()).hexdigest() for t in text.tolist()], index=frame.index, dtype="string")


def batch_key(keys: Iterable[str]) -> str:
    """Idempotency-Key of a request: a digest of the sorted record keys."""
    return hashlib.sha256((_BATCH_PREFIX + "|" + "|".join(sorted(keys))).encode()).hexdigest()


def queued_keys(conn, keys: list[str]) -> set[str]:
    """The subset of ``keys`` already in the outbox.

    PostgreSQL takes the keys as one array parameter (``= ANY``): a 150,000-key month costs one short
    statement instead of thirty 5,000-item IN lists that the driver must parse. SQLite gets IN chunks.
    """
    table = PmhOutbox.__table__
    if not keys:
        return set()
    # A first load queues into an empty outbox: one probe instead of looking up 150,000 keys.
    if conn.execute(select(table.c.id).limit(1)).first() is None:
        return set()
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()
        try:
            cursor.execute("SELECT idempotency_key FROM pmh_outbox WHERE idempotency_key = ANY(%s)", (keys,))
            return {row[0] for row in cursor.fetchall()}
        finally:
            cursor.close()
    existing: set[str] = set()
    for start in range(0, len(keys), 5_000):
        chunk = keys[start:start + 5_000]
        existing.update(conn.execute(select(table.c.idempotency_key).where(table.c.idempotency_key.in_(chunk)))
                        .scalars())
    return existing


def enqueue_changes(session: Session, changes_frame: pd.DataFrame, run_id: str) -> int:
    """Insert one PENDING outbox row per change not queued before; returns the number inserted.

    ``changes_frame`` has the columns ``person_id, change_type ("1" register/update, "2" delete),
    reason, event_date (異動日), valid_from, valid_to, recipient_no``. Idempotent: rows whose key exists
    already (from an earlier run, or twice in the frame) are ignored. Runs in the caller's transaction.
    """
    missing = [c for c in CHANGE_COLUMNS if c not in changes_frame.columns]
    if missing:
        raise ValueError(f"changes frame lacks columns: {missing}")
    if changes_frame.empty:
        return 0
    bad_type = ~changes_frame["change_type"].astype("string").isin([CHANGE_REGISTER, CHANGE_DELETE])
    if bad_type.any():
        raise ValueError(f"change_type must be '1' or '2' ({int(bad_type.sum())} rows are not)")
    frame = changes_frame[CHANGE_COLUMNS].copy()
    frame["idempotency_key"] = record_keys(frame)
    frame = frame.drop_duplicates("idempotency_key")
    conn = session.connection()
    table = PmhOutbox.__table__
    existing = queued_keys(conn, frame["idempotency_key"].tolist())
    if existing:
        frame = frame.loc[~frame["idempotency_key"].isin(existing)]
    if frame.empty:
        return 0
    for column in ("event_date", "valid_from", "valid_to"):
        frame[column] = pd.to_datetime(frame[column])
    frame = frame.assign(
        person_id=frame["person_id"].astype(str),
        change_type=frame["change_type"].astype(str),
        reason=frame["reason"].astype(str),
        recipient_no=frame["recipient_no"].astype("string"),
        status="PENDING",
        attempts=0,
        created_run_id=run_id,
    )
    return insert_frame(conn, table, frame)
