"""The relay's SQL: which outbox rows it claims, how it marks them, and how it stores PMH's results.

Each function takes the connection of the caller's transaction (the relay owns the transactions).
Hot per-record statements run on the driver (:func:`execute_many`), values always as bound parameters.
"""

from __future__ import annotations

import collections
import datetime as dt
import time
from collections.abc import Callable

from sqlalchemy import ColumnElement, Connection, Engine, and_, bindparam, exists, func, or_, select, update

from privacy.crypto import KeyRing
from services.pmh.payload import OUTBOX_ROW_FIELDS, SUBJECT_COLUMNS, ClaimRow
from services.pmh.states import UNSETTLED, Batch
from store.models import Person, PmhOutbox, Recipient
from store.pmh_models import PmhBatch, PmhSubject

OUTBOX = PmhOutbox.__table__
BATCH = PmhBatch.__table__
SUBJECT = PmhSubject.__table__


def claim_rows(conn: Connection, where: ColumnElement, limit: int | None = None) -> list[ClaimRow]:
    """Outbox rows in id order, joined with the (encrypted) person and recipient columns."""
    person, recipient = Person.__table__, Recipient.__table__
    columns = [OUTBOX.c[c] for c in OUTBOX_ROW_FIELDS] + [person.c[c] for c in SUBJECT_COLUMNS] + [
        recipient.c.public_payer_number]
    stmt = (select(*columns)
            .select_from(OUTBOX.outerjoin(person, person.c.person_id == OUTBOX.c.person_id)
                         .outerjoin(recipient, recipient.c.person_id == OUTBOX.c.person_id))
            .where(where).order_by(OUTBOX.c.id))
    if limit is not None:
        stmt = stmt.limit(limit)
    # The statement's only literals are status codes and the limit (never personal data); running the
    # compiled text on the driver skips SQLAlchemy's per-row type processing (dates stay ISO text on
    # SQLite, date objects on PostgreSQL: services.pmh.payload.prepare_rows reads both).
    # The driver's own cursor (in the caller's transaction) hands back plain tuples: no Row objects.
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql)
        return list(map(ClaimRow._make, cursor.fetchall()))
    finally:
        cursor.close()


def unsettled_rows_where(max_attempts: int) -> ColumnElement:
    """Rows of batches that a crash or an outage left unsettled and that may be re-sent."""
    return and_(OUTBOX.c.status.in_(UNSETTLED), OUTBOX.c.batch_id.is_not(None), OUTBOX.c.attempts < max_attempts)


def in_flight(row) -> ColumnElement:
    """Whether outbox ``row`` (a table or alias) is in flight: claimed, failed, or sent and not settled."""
    open_batches = select(BATCH.c.batch_id).where(BATCH.c.status == "SENT")
    return or_(row.c.status.in_(UNSETTLED), and_(row.c.status == "SENT", row.c.batch_id.in_(open_batches)))


def claimable_rows_where() -> ColumnElement:
    """PENDING rows of persons with nothing in flight (a person's changes reach PMH in order).

    ``NOT EXISTS`` on the person index costs one short look-up per candidate row; the former ``NOT IN``
    list of busy persons was rebuilt by every claim from every in-flight row (thousands during a run).
    """
    other = OUTBOX.alias("busy")
    return and_(OUTBOX.c.status == "PENDING",
                ~exists().where(other.c.person_id == OUTBOX.c.person_id, in_flight(other)))


def mark_rejected_locally(conn: Connection, code: str, ids: list[int]) -> None:
    """Rows that failed local validation: ``REJECTED_LOCAL`` with their code (never sent)."""
    for start in range(0, len(ids), 500):
        conn.execute(update(OUTBOX).where(OUTBOX.c.id.in_(ids[start:start + 500]))
                     .values(status="REJECTED_LOCAL", last_error=code))


def mark_resending(conn: Connection, batches: list[Batch], run_id: str) -> None:
    """Recovered batches go back to ``SENDING`` (same batch id, one more attempt)."""
    for batch in batches:
        update_rows(conn, "status = 'SENDING', attempts = attempts + 1", (), batch.ids, "batch_id = ?",
                    (batch.batch_id,))
    conn.execute(update(BATCH).where(BATCH.c.batch_id == bindparam("bid"))
                 .values(status="SENDING", attempts=BATCH.c.attempts + 1, run_id=run_id),
                 [{"bid": b.batch_id} for b in batches])


def mark_claimed(conn: Connection, batches: list[Batch], run_id: str, now: dt.datetime) -> None:
    """PENDING rows → ``SENDING`` with their batch id, and one ``pmh_batch`` row per batch.

    Raises RuntimeError (the caller's transaction rolls back) when another relay claimed a row first.
    """
    claimed = sum(update_rows(conn, "status = 'SENDING', batch_id = ?, attempts = attempts + 1",
                              (batch.batch_id,), batch.ids, "status = 'PENDING'", ()) for batch in batches)
    if claimed != sum(len(b.ids) for b in batches):
        raise RuntimeError("outbox rows were claimed concurrently; the claim is rolled back")
    batch_ids = [b.batch_id for b in batches]
    existing = set(conn.execute(select(BATCH.c.batch_id).where(BATCH.c.batch_id.in_(batch_ids))).scalars())
    if existing:  # the same rows were batched before and refused as a whole (400): reuse the row
        conn.execute(update(BATCH).where(BATCH.c.batch_id == bindparam("bid")).values(
            status="SENDING", attempts=BATCH.c.attempts + 1, run_id=run_id, last_error=None),
            [{"bid": b} for b in existing])
    fresh = [{"batch_id": b.batch_id, "status": "SENDING", "record_count": len(b.ids), "attempts": 1,
              "run_id": run_id, "created_at": now} for b in batches if b.batch_id not in existing]
    if fresh:
        conn.execute(BATCH.insert(), fresh)


def mark_sent(conn: Connection, accepted: list[tuple[str, list[int], str | None, dt.datetime]]) -> None:
    """Batches PMH accepted ``(batch id, outbox ids, task id, sent at)``: ``SENT`` or ``WRITTEN`` (file mode).

    Their ``SENDING`` rows become ``SENT``: one primary-key statement per distinct ``sent at`` (the
    batches of one coordinator round share it), and one executemany for the ``pmh_batch`` rows.
    """
    if not accepted:
        return
    conn.execute(update(BATCH).where(BATCH.c.batch_id == bindparam("bid")).values(
        status=bindparam("st"), task_id=bindparam("tid"), sent_at=bindparam("at"), last_error=None), [
        {"bid": batch_id, "tid": task_id, "st": "SENT" if task_id is not None else "WRITTEN", "at": sent_at}
        for batch_id, _ids, task_id, sent_at in accepted])
    to_db = _bind(conn, OUTBOX.c.sent_at)
    for sent_at, ids in _ids_by_time([(ids, sent_at) for _b, ids, _t, sent_at in accepted]).items():
        update_rows(conn, "status = 'SENT', sent_at = ?, last_error = NULL", (to_db(sent_at),), ids,
                    "status = 'SENDING'", ())


def mark_sent_completed(conn: Connection,
                        done: list[tuple[str, list[int], str | None, dt.datetime, dt.datetime]],
                        answers: dict[int, str]) -> None:
    """Batches whose send and results are recorded together: ``SENDING`` → ``COMPLETED``, one write per row.

    ``done`` holds ``(batch id, outbox ids, task id, sent at, received at)``; ``answers`` PMH's result per
    outbox id. ``sent_at``, the task id and the result are written by the same statements that complete
    the rows and the ``pmh_batch`` row.
    """
    if not done:
        return
    conn.execute(update(BATCH).where(BATCH.c.batch_id == bindparam("bid")).values(
        status="COMPLETED", task_id=bindparam("tid"), sent_at=bindparam("at"), completed_at=bindparam("done"),
        last_error=None), [{"bid": batch_id, "tid": task_id, "at": sent_at, "done": received}
                           for batch_id, _ids, task_id, sent_at, received in done])
    to_db = _bind(conn, OUTBOX.c.sent_at)
    for sent_at, ids in _ids_by_time([(ids, sent_at) for _b, ids, _t, sent_at, _r in done]).items():
        for result, same in _ids_by_answer(ids, answers).items():
            update_rows(conn, "status = 'COMPLETED', sent_at = ?, result = ?, last_error = NULL",
                        (to_db(sent_at), result), same, "status = 'SENDING'", ())


def _ids_by_time(batches: list[tuple[list[int], dt.datetime]]) -> dict[dt.datetime, list[int]]:
    """Outbox ids grouped by the time to write with them."""
    out: dict[dt.datetime, list[int]] = collections.defaultdict(list)
    for ids, at in batches:
        out[at].extend(ids)
    return out


def _ids_by_answer(ids: list[int], answers: dict[int, str]) -> dict[str | None, list[int]]:
    """Outbox ids grouped by PMH's answer (``None``: the task's results named no such record)."""
    out: dict[str | None, list[int]] = collections.defaultdict(list)
    for outbox_id in ids:
        out[answers.get(outbox_id)].append(outbox_id)
    return out


def mark_failed(conn: Connection, batch_id: str, reason: str, *, from_status: str) -> None:
    """A batch whose outcome is unknown or lost: it and its ``from_status`` rows become ``FAILED``."""
    conn.execute(update(BATCH).where(BATCH.c.batch_id == batch_id).values(status="FAILED", last_error=reason))
    conn.execute(update(OUTBOX).where(OUTBOX.c.batch_id == batch_id, OUTBOX.c.status == from_status)
                 .values(status="FAILED", last_error=reason))


def mark_records_rejected(conn: Connection, rejected: list[tuple[str, int]]) -> None:
    """Single rows PMH refused ``(error code, outbox id)``: ``REJECTED`` with the code."""
    execute_many(conn, "UPDATE pmh_outbox SET status = 'REJECTED', last_error = ? WHERE id = ?", rejected)


def mark_batch_rows_rejected(conn: Connection, batch_id: str, code: str) -> None:
    """Every row of a batch PMH refused as a whole: ``REJECTED`` with the code."""
    conn.execute(update(OUTBOX).where(OUTBOX.c.batch_id == batch_id, OUTBOX.c.status == "SENDING")
                 .values(status="REJECTED", last_error=code))


def mark_batch_rejected(conn: Connection, batch_id: str, reason: str) -> None:
    """The batch row of a 4xx answer."""
    conn.execute(update(BATCH).where(BATCH.c.batch_id == batch_id).values(status="REJECTED", last_error=reason))


def requeue(conn: Connection, ids: list[int]) -> None:
    """Rows of a refused batch that PMH did not object to: back to ``PENDING`` for a new batch."""
    if ids:
        conn.execute(update(OUTBOX).where(OUTBOX.c.id.in_(ids))
                     .values(status="PENDING", batch_id=None, last_error=None))


def mark_completed(conn: Connection, completed: list[tuple[str, list[int], dt.datetime]],
                   answers: dict[int, str]) -> None:
    """Batches whose task results are stored ``(batch id, outbox ids, received at)``: ``COMPLETED``.

    So do their ``SENT`` rows, each with PMH's answer from ``answers`` (outbox id → result): one statement
    per answer and chunk of rows on the primary key, and one executemany for the ``pmh_batch`` rows.
    """
    if not completed:
        return
    ids = [i for _b, batch_ids, _at in completed for i in batch_ids]
    for result, same in _ids_by_answer(ids, answers).items():
        update_rows(conn, "status = 'COMPLETED', result = ?", (result,), same, "status = 'SENT'", ())
    conn.execute(update(BATCH).where(BATCH.c.batch_id == bindparam("bid"))
                 .values(status="COMPLETED", completed_at=bindparam("at")),
                 [{"bid": batch_id, "at": received} for batch_id, _ids, received in completed])


def awaiting_batches(engine: Engine) -> dict[str, tuple[str, int, float]]:
    """Batches sent earlier whose task results are not stored: {batch id: (task id, tries, due)}."""
    with engine.connect() as conn:
        rows = conn.execute(select(BATCH.c.batch_id, BATCH.c.task_id, BATCH.c.record_count)
                            .where(BATCH.c.status == "SENT", BATCH.c.task_id.is_not(None))).all()
    now = time.monotonic()
    return {b: (t, 0, now) for b, t, _n in rows}


def batch_members(conn: Connection, batch_ids: list[str]) -> dict[str, list[tuple[int, str]]]:
    """{batch id: [(outbox id, person id)] in record order} for batches claimed by an earlier run."""
    out: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
    for start in range(0, len(batch_ids), 500):
        rows = conn.execute(select(OUTBOX.c.batch_id, OUTBOX.c.id, OUTBOX.c.person_id)
                            .where(OUTBOX.c.batch_id.in_(batch_ids[start:start + 500]))
                            .order_by(OUTBOX.c.id)).all()
        for batch_id, outbox_id, person_id in rows:
            out[batch_id].append((outbox_id, person_id))
    return out


def _bind(conn: Connection, column) -> Callable:
    """The column type's conversion of a Python value for the driver (as SQLAlchemy would bind it)."""
    process = column.type.bind_processor(conn.dialect)
    return process if process is not None else (lambda value: value)


def update_rows(conn: Connection, assignments: str, values: tuple, ids: list[int], guard: str,
                guard_values: tuple, chunk: int = 5_000) -> int:
    """``UPDATE pmh_outbox SET assignments WHERE id IN ids AND guard``: one statement per ``chunk`` ids.

    The primary key finds the rows (a status or batch index would visit every row in that state).
    SQLite binds the ids one by one, PostgreSQL as one array (``= ANY``). ``assignments`` and ``guard``
    are fixed SQL of the caller; every value is a bound parameter (``?``). Returns the rows updated.
    """
    postgres = conn.dialect.name == "postgresql"
    updated = 0
    for start in range(0, len(ids), chunk):
        part = ids[start:start + chunk]
        if postgres:
            sql = f"UPDATE pmh_outbox SET {assignments} WHERE id = ANY(?) AND {guard}"
            params = (*values, part, *guard_values)
        else:
            sql = f"UPDATE pmh_outbox SET {assignments} WHERE id IN ({', '.join('?' * len(part))}) AND {guard}"
            params = (*values, *part, *guard_values)
        if conn.dialect.paramstyle in ("format", "pyformat"):
            sql = sql.replace("?", "%s")
        updated += conn.exec_driver_sql(sql, params).rowcount
    return updated


def execute_many(conn: Connection, sql: str, rows: list[tuple]) -> None:
    """Executemany of a fixed statement with positional bound parameters (``?`` → driver style).

    The hot per-record writes bypass SQLAlchemy's per-row parameter processing (≈ 30 µs a row);
    values still travel only as bound parameters.
    """
    if not rows:
        return
    if conn.dialect.paramstyle in ("format", "pyformat"):
        sql = sql.replace("?", "%s")
    conn.exec_driver_sql(sql, rows)


def upsert_subjects(conn: Connection, ring: KeyRing, subjects: list[tuple]) -> None:
    """PMH-ID per person, encrypted; a row only moves forward (higher outbox id wins)."""
    if not subjects:
        return
    subjects = sorted(subjects, key=lambda s: s[3])
    rows = list({s[0]: s for s in subjects}.values())  # last change per person in this commit
    blobs = ring.encrypt_many([r[1] for r in rows], table="pmh_subject", column="pmh_id",
                              row_keys=[r[0] for r in rows])
    execute_many(conn, "INSERT INTO pmh_subject (person_id, pmh_id_enc, status, last_outbox_id) VALUES (?, ?, ?, ?)"
                       " ON CONFLICT (person_id) DO UPDATE SET pmh_id_enc = excluded.pmh_id_enc,"
                       " status = excluded.status, last_outbox_id = excluded.last_outbox_id,"
                       " updated_at = CURRENT_TIMESTAMP"
                       " WHERE pmh_subject.last_outbox_id < excluded.last_outbox_id",
                 [(r[0], blob, r[2], r[3]) for r, blob in zip(rows, blobs, strict=True)])


def count_status(engine: Engine, status: str) -> int:
    """Outbox rows in ``status``; ``SENT_HTTP`` = SENT rows whose batch still waits for task results."""
    with engine.connect() as conn:
        if status == "SENT_HTTP":
            stmt = select(func.count()).select_from(OUTBOX).where(
                OUTBOX.c.status == "SENT",
                OUTBOX.c.batch_id.in_(select(BATCH.c.batch_id).where(BATCH.c.status == "SENT")))
        else:
            stmt = select(func.count()).select_from(OUTBOX).where(OUTBOX.c.status == status)
        return int(conn.execute(stmt).scalar_one())
