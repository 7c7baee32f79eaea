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
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Table, and_, bindparam, inspect, literal, select
from sqlalchemy import text as sql_text

_CHUNK = 50_000
#: Rows per SQLite INSERT statement, within its limit of bound variables per statement.
SQLITE_ROWS_PER_INSERT = 50
SQLITE_MAX_VARIABLES = 32_766
#: From this many rows, a first load into an empty table builds its secondary indexes after the rows.
DEFER_INDEXES_FROM = 20_000


@dataclass(frozen=True)
class UpsertCounts:
    """How many rows were inserted, updated and left unchanged.

    ``written`` holds the frame's index labels of the inserted and updated rows, and ``replaced`` the stored
    rows the updates overwrote (their key and compared columns), for callers that must know whom a change
    reached (:mod:`services.eligibility.incremental`); both are empty when nothing was written.
    """

    inserted: int
    updated: int
    unchanged: int
    written: pd.Index = field(default_factory=lambda: pd.Index([]), compare=False)
    replaced: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False)


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


#: Keys per IN list on SQLite (its limit is 32,766 bound variables per statement).
SQLITE_IN_CHUNK = 20_000


def read_frame(conn: Connection, table: Table, columns: Sequence[str] | None = None, where=None, *,
               among: tuple[str, Sequence] | None = None) -> pd.DataFrame:
    """Read ``columns`` of ``table`` into a frame (dates as ``datetime64``), through the DBAPI cursor.

    ``among=(column, keys)`` keeps the rows whose ``column`` is one of ``keys`` (and ``where``). The keys
    are bound as plain DBAPI parameters — ``= ANY(array)`` on PostgreSQL, chunked ``IN (?, …)`` on SQLite —
    because compiling tens of thousands of expanding parameters costs SQLAlchemy more than the query.
    """
    cols = [table.c[name] for name in (columns or table.c.keys())]
    stmt = select(*cols)
    if where is not None:
        stmt = stmt.where(where)
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    sql, params = str(compiled), compiled.params
    sqlite = conn.dialect.name == "sqlite"
    positional = [params[name] for name in compiled.positiontup or []] if sqlite else []
    glue = " AND " if where is not None else " WHERE "
    names = [c.name for c in cols]
    cursor = conn.connection.driver_connection.cursor()
    with _gc_paused():
        try:
            if among is None:
                cursor.execute(sql, positional or ()) if sqlite else cursor.execute(sql, params or None)
                rows = cursor.fetchall()
            else:
                column, keys = among[0], list(among[1])
                target = f'"{table.name}"."{table.c[column].name}"'
                rows = []
                if sqlite:
                    for start in range(0, len(keys), SQLITE_IN_CHUNK):
                        part = keys[start:start + SQLITE_IN_CHUNK]
                        cursor.execute(f"{sql}{glue}{target} IN ({','.join('?' * len(part))})",
                                       [*positional, *part])
                        rows += cursor.fetchall()
                elif keys:
                    cursor.execute(f"{sql}{glue}{target} = ANY(%(_among_keys)s)", {**params, "_among_keys": keys})
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


def sorted_distinct(values) -> list:
    """The distinct non-missing ``values``, sorted, as a list: the keys of an ``among`` read or a delete.

    Vectorised (no Python set of boxed values); text sorts as fixed-width unicode in C, the same code-point
    order as Python's str sort.
    """
    distinct = pd.unique(np.asarray(values, dtype=object))
    distinct = distinct[pd.notna(distinct)]
    if pd.api.types.infer_dtype(distinct, skipna=False) == "string":
        return np.sort(distinct.astype(str)).tolist()
    return np.sort(distinct).tolist()


def read_frame_in(conn: Connection, table: Table, columns: Sequence[str], key_column: str, keys: Sequence,
                  where=None) -> pd.DataFrame:
    """:func:`read_frame` of the rows whose ``key_column`` is in ``keys`` (and ``where``).

    No keys = an empty frame with ``columns``.
    """
    keys = list(keys)
    if not keys:
        return pd.DataFrame(columns=list(columns))
    return read_frame(conn, table, columns, where=where, among=(key_column, keys))


def _python_type(column) -> type | None:
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


def _insert_rows(conn: Connection, table: Table, frame: pd.DataFrame, *, unique_indexes_built: bool = True) -> int:
    """Insert every row of ``frame`` through the DBAPI (COPY on PostgreSQL, executemany on SQLite).

    ``unique_indexes_built``: whether the table's unique indexes are in place during the insert (not
    deferred by :func:`insert_frame`); it decides the rows per SQLite statement.
    """
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
    width = len(columns)
    per_statement = max(1, min(SQLITE_ROWS_PER_INSERT, SQLITE_MAX_VARIABLES // width))
    if unique_indexes_built and any(_python_type(table.c[c]) is bytes for c in columns if c in table.c):
        # Measured on the person table (326k rows): with ciphertexts and the random-key unique blind index in
        # place, one row per statement was faster (1.9-2.1 s against 2.4-2.9 s for 50); with that index
        # deferred, 50 rows per statement were (0.8 s against 1.2-1.5 s).
        per_statement = 1
    head = f'INSERT INTO "{table.name}" ({", ".join(chr(34) + c + chr(34) for c in columns)}) VALUES '
    one_row = f"({', '.join('?' for _ in columns)})"
    wide_sql, single_sql = head + ", ".join([one_row] * per_statement), head + one_row
    cursor = conn.connection.driver_connection.cursor()
    try:
        with _gc_paused():
            for start in range(0, len(frame), _CHUNK):
                chunk = frame.iloc[start:start + _CHUNK]
                # Rows streamed to sqlite3 straight from the column lists (no list of tuples held), several
                # rows per statement: one statement run per row costs more than a longer VALUES list.
                rows = zip(*(_column_values(chunk[c]) for c in columns), strict=True)
                if per_statement == 1:
                    cursor.executemany(single_sql, rows)
                    continue
                values = itertools.chain.from_iterable(rows)
                wide, rest = divmod(len(chunk), per_statement)
                step = per_statement * width
                if wide:
                    cursor.executemany(wide_sql, (tuple(itertools.islice(values, step)) for _ in range(wide)))
                if rest:
                    tail = list(values)
                    cursor.executemany(single_sql, (tail[i:i + width] for i in range(0, len(tail), width)))
    finally:
        cursor.close()
    return len(frame)


def insert_frame(conn: Connection, table: Table, frame: pd.DataFrame) -> int:
    """Insert every row of ``frame`` (columns named like the table's).

    A large load (``DEFER_INDEXES_FROM`` rows or more) into an empty table goes in primary-key order when
    that key is a natural one (see :func:`_natural_key`), and builds the table's secondary indexes after
    the rows: one sort over the loaded rows instead of a random B-tree insert per row, whose pages spill
    out of the cache as the index grows (a random-key unique index made the 480k load superlinear).
    Unique indexes are built after the rows too, in the caller's transaction: a duplicate fails the index
    build and with it the whole transaction, so nothing duplicate is ever committed, and a failure leaves
    the indexes as they were. The primary key and table constraints stay in place.
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
        deferred = [ix for ix in table.indexes if ix.name in present]
        if deferred and not _owns_table(conn, table):
            deferred = []  # the pipeline role (privacy.dbroles) may write rows but not drop indexes
    raw = conn.connection.driver_connection
    if deferred and conn.dialect.name == "sqlite" and not raw.in_transaction:
        raw.execute("BEGIN")  # pysqlite opens transactions only before DML: keep the DROP INDEX in ours
    for index in deferred:
        index.drop(conn)
    unique_indexes_built = any(ix.unique for ix in table.indexes if ix not in deferred)
    inserted = _insert_rows(conn, table, frame, unique_indexes_built=unique_indexes_built)
    if deferred:
        with _sorter_memory(conn):
            for index in deferred:
                index.create(conn)
    return inserted


#: SQLite: KiB of memory an index build sorts in before it merges runs from temporary files.
SQLITE_SORTER_KIB = 16 * 1024


@contextlib.contextmanager
def _sorter_memory(conn: Connection) -> Iterator[None]:
    """SQLite: build indexes with ``SQLITE_SORTER_KIB`` of sort memory instead of the whole page cache.

    SQLite's sorter keeps up to ``cache_size`` in memory (vdbesort.c), on top of the page cache itself: a
    deferred index over a 480k load (a million 64-character blind indexes) held another 50 MB at the
    pipeline's peak. The connection's cache size is restored afterwards.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.driver_connection
    cache_size = int(raw.execute("PRAGMA cache_size").fetchone()[0])
    raw.execute(f"PRAGMA cache_size=-{int(SQLITE_SORTER_KIB)}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size={cache_size}")  # an int read from SQLite: no injection


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


#: The multiplier (FNV-1a 64-bit prime) that folds the per-column hashes of a row into one.
_FOLD = np.uint64(0x100000001B3)
#: Stand-in for a missing integer or boolean before hashing (no stored value takes it).
_MISSING = np.iinfo(np.int64).min + 1


def _column_hash(series: pd.Series, column) -> np.ndarray:
    """A uint64 hash per value of ``series``, equal for equal values whatever the frame's dtype.

    The table column's type decides the canonical value (a fresh frame and a frame read back from the
    database hold the same values in different dtypes): dates by day (text dates are parsed), integers
    and booleans as integers, everything else as text; missing is one value of its own. Vectorised: the
    hashing runs in pandas' C code (SipHash), no per-row Python.
    """
    python_type = _python_type(column) if column is not None else None
    if python_type in (dt.date, dt.datetime) or pd.api.types.is_datetime64_any_dtype(series):
        days = pd.to_datetime(series, errors="coerce").to_numpy(dtype="datetime64[D]")
        return pd.util.hash_array(days.view(np.int64))
    if python_type is bool or pd.api.types.is_bool_dtype(series):
        flags = series.astype("boolean")
        return pd.util.hash_array(flags.astype("Int64").fillna(_MISSING).to_numpy(dtype=np.int64))
    if python_type is int or (python_type is None and pd.api.types.is_integer_dtype(series)):
        numbers = pd.to_numeric(series, errors="coerce").astype("Int64")
        return pd.util.hash_array(numbers.fillna(_MISSING).to_numpy(dtype=np.int64))
    text = series.astype("string")
    return pd.util.hash_array(text.to_numpy(dtype=object, na_value=None))


def _signature(frame: pd.DataFrame, columns: Sequence[str], table: Table | None = None) -> np.ndarray:
    """A 64-bit hash of the values of ``columns`` per row (see :func:`_column_hash`), as a uint64 array.

    Comparable between a fresh frame and a stored one. In memory only, never stored: persons, whose
    rows are compared across runs, carry a keyed HMAC digest instead.
    """
    folded = np.zeros(len(frame), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for name in columns:
            column = table.c.get(name) if table is not None else None
            folded = (folded * _FOLD) ^ _column_hash(frame[name], column)
    return folded


def _align_keys(fresh: pd.DataFrame, stored: pd.DataFrame, keys: Sequence[str]) -> None:
    """Give the key columns of both frames one dtype (the DB gives datetime64/int64; the frame may hold text)."""
    for key in keys:
        if pd.api.types.is_datetime64_any_dtype(fresh[key]) or pd.api.types.is_datetime64_any_dtype(stored[key]):
            fresh[key], stored[key] = pd.to_datetime(fresh[key]), pd.to_datetime(stored[key])
        elif fresh[key].dtype != stored[key].dtype:
            fresh[key], stored[key] = fresh[key].astype("string"), stored[key].astype("string")


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
        return UpsertCounts(insert_frame(conn, table, frame), 0, 0, written=frame.index)
    fresh = frame[keys].reset_index(drop=True)
    stored = existing[keys].reset_index(drop=True).assign(_position=np.arange(len(existing), dtype=np.int64))
    _align_keys(fresh, stored, keys)
    keyed = fresh.merge(stored, on=keys, how="left", indicator=True)
    is_new = (keyed["_merge"] == "left_only").to_numpy()
    # Signatures compared by the stored row's position: a uint64 carried through a left merge would turn
    # into float64 (NaN for the new rows) and lose the low bits of every hash.
    positions = keyed["_position"].to_numpy(dtype=np.float64)
    old = _signature(existing, compare, table)[np.where(is_new, 0, positions).astype(np.int64)]
    changed = (~is_new) & (_signature(frame, compare, table) != old)
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
    replaced = existing.iloc[positions[changed].astype(np.int64)]
    return UpsertCounts(int(inserted), int(len(changed_rows)), int(len(frame) - inserted - len(changed_rows)),
                        written=frame.index[is_new | changed], replaced=replaced.reset_index(drop=True))


def insert_missing(conn: Connection, table: Table, frame: pd.DataFrame, key_columns: Sequence[str],
                   where=None) -> int:
    """Insert only the rows whose natural key is not in the table yet (append-only effects).

    ``where`` narrows the stored keys compared (e.g. one month of decisions): a caller whose rows all
    satisfy it need not read the whole table.
    """
    return len(insert_missing_rows(conn, table, frame, key_columns, where=where))


def insert_missing_rows(conn: Connection, table: Table, frame: pd.DataFrame, key_columns: Sequence[str],
                        where=None, *, among_keys: bool = False) -> pd.DataFrame:
    """:func:`insert_missing`, returning the rows inserted.

    ``among_keys``: read only the stored rows whose first key column is one of the frame's (few rows, big table).
    """
    if frame.empty:
        return frame
    keys = list(key_columns)
    among = (keys[0], sorted_distinct(frame[keys[0]])) if among_keys else None
    existing = read_frame(conn, table, keys, where=where, among=among)
    if existing.empty:
        insert_frame(conn, table, frame)
        return frame
    probe = _signature(frame, keys, table)
    present = _signature(existing, keys, table)
    missing = frame.loc[~np.isin(probe, present)]
    insert_frame(conn, table, missing)
    return missing


def delete_keys(conn: Connection, table: Table, key_column: str, keys: Sequence) -> int:
    """Delete rows whose ``key_column`` is in ``keys`` (chunked IN lists)."""
    total = 0
    keys = list(keys)
    for start in range(0, len(keys), 10_000):
        chunk = keys[start:start + 10_000]
        total += conn.execute(table.delete().where(table.c[key_column].in_(chunk))).rowcount or 0
    return total
