"""Bulk, idempotent writes and fast reads of pandas frames.

Re-running the same month must change nothing (issue 2 §7): rows are matched on their natural key and
compared on their values (or on a keyed digest where the values are ciphertexts); only new rows are
inserted and only changed rows are updated. Writes go through the DBAPI directly — ``COPY`` on
PostgreSQL (psycopg 3), ``executemany`` on SQLite — because building one SQLAlchemy parameter dict per
row costs more than the database work. Values always travel as bound parameters or COPY data, never as
SQL literals, so nothing personal can reach a SQL log line.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Table, and_, bindparam, inspect, literal, select
from sqlalchemy import text as sql_text

_CHUNK = 50_000
#: From this many rows, a first load into an empty table builds its secondary indexes after the rows.
DEFER_INDEXES_FROM = 20_000


@dataclass(frozen=True)
class UpsertCounts:
    """How many rows were inserted, updated and left unchanged."""

    inserted: int
    updated: int
    unchanged: int


def _column_values(series: pd.Series) -> list:
    """A column as a list of plain Python values: None for missing, ISO text for dates."""
    if pd.api.types.is_datetime64_any_dtype(series):
        text = series.dt.strftime("%Y-%m-%d")
        return text.astype(object).where(text.notna(), None).tolist()
    if series.dtype == object:
        return series.where(series.notna(), None).tolist() if series.isna().any() else series.tolist()
    if pd.api.types.is_bool_dtype(series) and not series.isna().any():
        return series.astype(bool).tolist()
    if pd.api.types.is_integer_dtype(series) and not series.isna().any():
        return series.astype(np.int64).tolist()
    values = series.astype(object)
    return values.where(series.notna(), None).tolist()


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a bulk read or write builds one tuple per row.

    The rows hold no reference cycles, but every allocation counts towards the collector's thresholds:
    a read of a million rows would trigger full collections that traverse the whole heap, several times.
    Reference counting still frees everything; the collector resumes (if it was on) afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _rows(frame: pd.DataFrame) -> list[tuple]:
    return list(zip(*(_column_values(frame[c]) for c in frame.columns), strict=True)) if len(frame) else []


#: COPY text format (PostgreSQL "COPY", File Formats): backslash, newline, carriage return and tab escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_COPY_NULL = "\\N"


def _copy_field_texts(values: list) -> list[str] | None:
    r"""One column's values as COPY text fields, or None when a value type is not rendered here.

    Text is escaped, bytes become bytea hex (``\x…``, its backslash escaped), booleans ``t``/``f``,
    integers their decimal text, None ``\N``. Each step is one C-level pass over the column.
    """
    kinds = set(map(type, values)) - {type(None)}
    if len(kinds) > 1:
        return None
    kind = kinds.pop() if kinds else str
    if kind is str:
        joined = "".join(v for v in values if v is not None)
        if any(c in joined for c in "\\\n\r\t"):
            texts = [None if v is None else v.translate(_COPY_ESCAPES) for v in values]
        else:
            texts = values
    elif kind is bool:
        texts = [None if v is None else ("t" if v else "f") for v in values]
    elif kind is int:
        texts = [None if v is None else str(v) for v in values]
    elif kind is bytes:
        texts = [None if v is None else "\\\\x" + v.hex() for v in values]
    else:
        return None
    return [_COPY_NULL if v is None else v for v in texts] if None in values else texts


def _copy_block(frame: pd.DataFrame) -> str | None:
    """The rows of ``frame`` as one block of COPY text data (tab-separated, one line per row).

    Built column by column: no per-row adaptation by the driver. None when a column holds a value type
    that only the driver renders faithfully (floats, decimals, mixed types).
    """
    columns = []
    for name in frame.columns:
        texts = _copy_field_texts(_column_values(frame[name]))
        if texts is None:
            return None
        columns.append(texts)
    return "\n".join(map("\t".join, zip(*columns, strict=True))) + "\n"


def read_frame(conn: Connection, table: Table, columns: Sequence[str] | None = None, where=None) -> pd.DataFrame:
    """Read ``columns`` of ``table`` into a frame (dates as ``datetime64``), through the DBAPI cursor."""
    cols = [table.c[name] for name in (columns or table.c.keys())]
    stmt = select(*cols)
    if where is not None:
        stmt = stmt.where(where)
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    names = [c.name for c in cols]
    cursor = conn.connection.driver_connection.cursor()
    with _gc_paused():
        try:
            params = compiled.params
            if conn.dialect.name == "sqlite":
                cursor.execute(str(compiled), [params[name] for name in compiled.positiontup or []] or ())
            else:
                cursor.execute(str(compiled), params or None)
            rows = cursor.fetchall()
        finally:
            cursor.close()
        frame = pd.DataFrame.from_records(rows, columns=names) if rows else pd.DataFrame({n: [] for n in names})
        del rows
    for col in cols:
        python_type = _python_type(col)
        if python_type in (dt.date, dt.datetime):
            frame[col.name] = pd.to_datetime(frame[col.name], errors="coerce")
        elif python_type is bytes:
            frame[col.name] = [None if v is None else bytes(v) for v in frame[col.name]]
        elif python_type is bool and conn.dialect.name == "sqlite":
            frame[col.name] = frame[col.name].astype("boolean")
    return frame


def read_frame_in(conn: Connection, table: Table, columns: Sequence[str], key_column: str, keys: Sequence,
                  chunk: int = 10_000) -> pd.DataFrame:
    """:func:`read_frame` of the rows whose ``key_column`` is in ``keys``, in chunked IN lists.

    No keys = an empty frame with ``columns``.
    """
    keys = list(keys)
    parts = [read_frame(conn, table, columns, where=table.c[key_column].in_(keys[start:start + chunk]))
             for start in range(0, len(keys), chunk)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(columns))


def _python_type(column) -> type | None:
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


def _insert_rows(conn: Connection, table: Table, frame: pd.DataFrame) -> int:
    """Insert every row of ``frame`` through the DBAPI (COPY on PostgreSQL, executemany on SQLite)."""
    if frame.empty:
        return 0
    columns = list(frame.columns)
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        cols_sql = ", ".join(f'"{c}"' for c in columns)
        with (_gc_paused(), raw.cursor() as cursor,
              cursor.copy(f'COPY "{table.name}" ({cols_sql}) FROM STDIN') as copy):
            for start in range(0, len(frame), _CHUNK):
                chunk = frame.iloc[start:start + _CHUNK]
                block = _copy_block(chunk)
                if block is not None:
                    copy.write(block)
                else:  # a value type the block writer does not render: psycopg adapts row by row
                    for row in _rows(chunk):
                        copy.write_row(row)
        return len(frame)
    placeholders = ", ".join("?" for _ in columns)
    sql = f'INSERT INTO "{table.name}" ({", ".join(chr(34) + c + chr(34) for c in columns)}) VALUES ({placeholders})'
    cursor = conn.connection.driver_connection.cursor()
    try:
        with _gc_paused():
            for start in range(0, len(frame), _CHUNK):
                chunk = frame.iloc[start:start + _CHUNK]
                # rows streamed to sqlite3 straight from the column lists (no list of tuples held)
                cursor.executemany(sql, zip(*(_column_values(chunk[c]) for c in columns), strict=True))
    finally:
        cursor.close()
    return len(frame)


def insert_frame(conn: Connection, table: Table, frame: pd.DataFrame) -> int:
    """Insert every row of ``frame`` (columns named like the table's).

    A large load (``DEFER_INDEXES_FROM`` rows or more) into an empty table goes in primary-key order when
    that key is a natural one (see :func:`_natural_key`), and builds the table's non-unique indexes after
    the rows: one sort over the loaded rows instead of a random B-tree insert per row,
    whose pages spill out of the cache as the index grows. Unique indexes and constraints stay in place
    (they guard the data). Everything happens in the caller's transaction, so a failure leaves the
    indexes as they were.
    """
    if frame.empty:
        return 0
    deferred = []
    if len(frame) >= DEFER_INDEXES_FROM and conn.execute(
            select(literal(1)).select_from(table).limit(1)).first() is None:
        natural_key = _natural_key(table)
        if natural_key:  # appends to the primary-key B-tree instead of a random insert per row
            frame = frame.sort_values(natural_key, kind="stable")
        present = {ix["name"] for ix in inspect(conn).get_indexes(table.name)}
        deferred = [ix for ix in table.indexes if not ix.unique and ix.name in present]
        if deferred and not _owns_table(conn, table):
            deferred = []  # the pipeline role (privacy.dbroles) may write rows but not drop indexes
    raw = conn.connection.driver_connection
    if deferred and conn.dialect.name == "sqlite" and not raw.in_transaction:
        raw.execute("BEGIN")  # pysqlite opens transactions only before DML: keep the DROP INDEX in ours
    for index in deferred:
        index.drop(conn)
    inserted = _insert_rows(conn, table, frame)
    for index in deferred:
        index.create(conn)
    return inserted


def _natural_key(table: Table) -> list[str]:
    """The primary-key columns of ``table`` when they are a natural key (not an autoincrement integer id).

    Rows loaded in that order change no value and no id; only their physical order in the table.
    """
    columns = list(table.primary_key.columns)
    if len(columns) == 1 and columns[0].autoincrement in (True, "auto") and _python_type(columns[0]) is int:
        return []
    return [c.name for c in columns]


def _owns_table(conn: Connection, table: Table) -> bool:
    """Whether this connection may drop and create ``table``'s indexes (PostgreSQL: the owner's role)."""
    if conn.dialect.name != "postgresql":
        return True
    owned = conn.execute(sql_text(
        "SELECT pg_has_role(current_user, c.relowner, 'USAGE') FROM pg_class c "
        "WHERE c.oid = to_regclass(:name)"), {"name": f'"{table.name}"'}).scalar()
    return bool(owned)


def _signature(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """A 64-bit hash of the canonical text of ``columns`` per row.

    Comparable between a fresh frame and a stored one: dates as ISO text, booleans as 0/1, numbers as
    their decimal text. Used for tables whose rows hold no identifier worth brute-forcing; persons are
    compared on a keyed HMAC digest instead.
    """
    def text(series: pd.Series) -> pd.Series:
        if pd.api.types.is_datetime64_any_dtype(series):
            return series.dt.strftime("%Y-%m-%d").fillna("")
        if pd.api.types.is_bool_dtype(series):
            return series.astype("boolean").map({True: "1", False: "0"}).astype("string").fillna("")
        return series.astype("string").fillna("")

    canonical = pd.DataFrame({c: text(frame[c]).to_numpy(dtype=object) for c in columns})
    return pd.util.hash_pandas_object(canonical, index=False).reset_index(drop=True)


def upsert_frame(
    conn: Connection,
    table: Table,
    frame: pd.DataFrame,
    key_columns: Sequence[str],
    digest_column: str | None = None,
    existing: pd.DataFrame | None = None,
) -> UpsertCounts:
    """Insert new rows, update rows whose values (or ``digest_column``) changed, leave the rest."""
    if frame.empty:
        return UpsertCounts(0, 0, 0)
    keys = list(key_columns)
    compare = [digest_column] if digest_column else [c for c in frame.columns if c not in keys]
    if existing is None:
        existing = read_frame(conn, table, [*keys, *compare])
    if existing.empty:  # first load: nothing to compare with
        return UpsertCounts(insert_frame(conn, table, frame), 0, 0)
    fresh = frame[keys].assign(_sig=_signature(frame, compare).to_numpy())
    stored = existing[keys].assign(_old=_signature(existing, compare).to_numpy())
    for key in keys:  # align key dtypes (the DB gives datetime64/int64; the frame may hold text)
        if pd.api.types.is_datetime64_any_dtype(fresh[key]) or pd.api.types.is_datetime64_any_dtype(stored[key]):
            fresh[key], stored[key] = pd.to_datetime(fresh[key]), pd.to_datetime(stored[key])
        elif fresh[key].dtype != stored[key].dtype:
            fresh[key], stored[key] = fresh[key].astype("string"), stored[key].astype("string")
    keyed = fresh.merge(stored, on=keys, how="left", indicator=True)
    is_new = (keyed["_merge"] == "left_only").to_numpy()
    changed = (~is_new) & (keyed["_sig"].to_numpy() != keyed["_old"].fillna(0).to_numpy(dtype="uint64"))
    inserted = insert_frame(conn, table, frame.loc[is_new])
    changed_rows = frame.loc[changed]
    if len(changed_rows):
        where = and_(*[table.c[k] == bindparam(f"_k_{k}") for k in keys])
        values = {c: bindparam(c) for c in changed_rows.columns if c not in keys}
        records = [dict(zip(changed_rows.columns, row, strict=True)) for row in _rows(changed_rows)]
        for record in records:
            for k in keys:
                record[f"_k_{k}"] = record[k]
            for name, value in record.items():
                if isinstance(value, str) and _python_type(table.c.get(name.removeprefix("_k_"))) is dt.date:
                    record[name] = dt.date.fromisoformat(value)
        conn.execute(table.update().where(where).values(values), records)
    return UpsertCounts(int(inserted), int(len(changed_rows)), int(len(frame) - inserted - len(changed_rows)))


def insert_missing(conn: Connection, table: Table, frame: pd.DataFrame, key_columns: Sequence[str]) -> int:
    """Insert only the rows whose natural key is not in the table yet (append-only effects)."""
    if frame.empty:
        return 0
    keys = list(key_columns)
    existing = read_frame(conn, table, keys)
    if existing.empty:
        return insert_frame(conn, table, frame)
    probe = _signature(frame, keys)
    present = _signature(existing, keys)
    return insert_frame(conn, table, frame.loc[~probe.isin(present).to_numpy()])


def delete_keys(conn: Connection, table: Table, key_column: str, keys: Sequence) -> int:
    """Delete rows whose ``key_column`` is in ``keys`` (chunked IN lists)."""
    total = 0
    keys = list(keys)
    for start in range(0, len(keys), 10_000):
        chunk = keys[start:start + 10_000]
        total += conn.execute(table.delete().where(table.c[key_column].in_(chunk))).rowcount or 0
    return total
