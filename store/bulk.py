"""Bulk, idempotent writes of pandas frames.

Re-running the same month must change nothing (issue 2 §7): rows are matched on their natural key and
compared on a keyed digest; only new rows are inserted and only changed rows are updated. PostgreSQL
inserts use ``COPY`` (psycopg 3); SQLite uses ``executemany``. Values travel as bound parameters only
(never literals in SQL), so nothing personal can reach a SQL log line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, Table, and_, bindparam, select

_CHUNK = 50_000


@dataclass(frozen=True)
class UpsertCounts:
    """How many rows were inserted, updated and left unchanged."""

    inserted: int
    updated: int
    unchanged: int


def _python_records(frame: pd.DataFrame) -> list[dict]:
    """Frame → list of dicts with plain Python values (None for missing, date for datetimes)."""
    out = frame.astype(object).where(frame.notna(), None)
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            out[column] = [None if v is None else v.date() for v in out[column]]
    return out.to_dict("records")


def read_frame(conn: Connection, table: Table, columns: Sequence[str] | None = None, where=None) -> pd.DataFrame:
    """Read ``columns`` of ``table`` into a frame (dates as datetime64)."""
    cols = [table.c[name] for name in (columns or table.c.keys())]
    stmt = select(*cols)
    if where is not None:
        stmt = stmt.where(where)
    result = conn.execute(stmt)
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    for col in cols:
        if col.type.python_type in (dt.date, dt.datetime) and col.name in frame:
            frame[col.name] = pd.to_datetime(frame[col.name])
    return frame


def insert_frame(conn: Connection, table: Table, frame: pd.DataFrame) -> int:
    """Insert every row of ``frame`` (columns named like the table's)."""
    if frame.empty:
        return 0
    if conn.dialect.name == "postgresql":
        return _copy_frame(conn, table, frame)
    for start in range(0, len(frame), _CHUNK):
        conn.execute(table.insert(), _python_records(frame.iloc[start:start + _CHUNK]))
    return len(frame)


def _copy_frame(conn: Connection, table: Table, frame: pd.DataFrame) -> int:
    """PostgreSQL ``COPY … FROM STDIN`` in binary-safe text format via psycopg 3."""
    raw = conn.connection.driver_connection
    columns = list(frame.columns)
    cols_sql = ", ".join(f'"{c}"' for c in columns)
    records = _python_records(frame)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({cols_sql}) FROM STDIN') as copy:
        for record in records:
            copy.write_row(tuple(record[c] for c in columns))
    return len(records)


def upsert_frame(
    conn: Connection,
    table: Table,
    frame: pd.DataFrame,
    key_columns: Sequence[str],
    digest_column: str = "row_digest",
    existing: pd.DataFrame | None = None,
) -> UpsertCounts:
    """Insert new rows, update rows whose digest changed, leave the rest untouched."""
    if frame.empty:
        return UpsertCounts(0, 0, 0)
    if existing is None:
        existing = read_frame(conn, table, [*key_columns, digest_column])
    keyed = frame.merge(
        existing.rename(columns={digest_column: "_old_digest"}), on=list(key_columns), how="left", indicator=True
    )
    is_new = (keyed["_merge"] == "left_only").to_numpy()
    changed = (~is_new) & (keyed[digest_column].to_numpy() != keyed["_old_digest"].to_numpy())
    new_rows = frame.loc[is_new]
    changed_rows = frame.loc[changed]
    inserted = insert_frame(conn, table, new_rows)
    if len(changed_rows):
        where = and_(*[table.c[k] == bindparam(f"_k_{k}") for k in key_columns])
        values = {c: bindparam(c) for c in changed_rows.columns if c not in key_columns}
        records = _python_records(changed_rows)
        for record in records:
            for k in key_columns:
                record[f"_k_{k}"] = record[k]
        conn.execute(table.update().where(where).values(values), records)
    return UpsertCounts(int(inserted), int(len(changed_rows)), int(len(frame) - inserted - len(changed_rows)))


def insert_missing(conn: Connection, table: Table, frame: pd.DataFrame, key_columns: Sequence[str]) -> int:
    """Insert only the rows whose natural key is not in the table yet (append-only effects)."""
    if frame.empty:
        return 0
    existing = read_frame(conn, table, list(key_columns))
    if existing.empty:
        return insert_frame(conn, table, frame)
    probe = frame[list(key_columns)].copy()
    for key in key_columns:  # align dtypes (dates/ints come back from the DB as datetime64/int64)
        if pd.api.types.is_datetime64_any_dtype(probe[key]) or pd.api.types.is_datetime64_any_dtype(existing[key]):
            probe[key] = pd.to_datetime(probe[key])
            existing[key] = pd.to_datetime(existing[key])
        elif probe[key].dtype != existing[key].dtype:
            probe[key] = probe[key].astype(str)
            existing[key] = existing[key].astype(str)
    marker = probe.merge(existing.assign(_present=True), on=list(key_columns), how="left")["_present"]
    mask = marker.isna().to_numpy()
    return insert_frame(conn, table, frame.loc[mask])


def delete_keys(conn: Connection, table: Table, key_column: str, keys: Sequence) -> int:
    """Delete rows whose ``key_column`` is in ``keys`` (chunked IN lists)."""
    total = 0
    keys = list(keys)
    for start in range(0, len(keys), 10_000):
        chunk = keys[start:start + 10_000]
        total += conn.execute(table.delete().where(table.c[key_column].in_(chunk))).rowcount or 0
    return total


__all__ = [
    "UpsertCounts", "read_frame", "insert_frame", "upsert_frame", "insert_missing", "delete_keys",
]
