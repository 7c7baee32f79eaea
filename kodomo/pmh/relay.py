"""Outbox relay: claim PENDING rows, send them to PMH in batches, record tasks, results and PMH-IDs.

State machine of a ``pmh_outbox`` row (docs/pmh.md):

``PENDING`` → (claim: one transaction sets ``SENDING`` + ``batch_id`` and inserts the ``pmh_batch`` row) →
send → ``SENT`` (PMH accepted the task; file mode: the file is complete) → poll → ``COMPLETED`` (PMH-ID
stored) or ``REJECTED`` (PMH's per-record error code). Rows that fail local validation become
``REJECTED_LOCAL`` at claim time and are never sent. If PMH stays unavailable the rows become ``FAILED``
and keep their ``batch_id``.

Reliability (security.md REL-01…REL-04):

* A batch's Idempotency-Key is its ``batch_id`` (derived from the sorted record keys), stored at claim
  time, before the first attempt. Rows found ``SENDING`` or ``FAILED`` at the start of a run (a crash
  between claim and commit, a timeout, a dropped response) are re-sent as the *same* batch with the *same*
  key; PMH answers with the original task, so there is never a second effect.
* A task whose results were not stored (crash after the poll) is polled again; storing results is
  idempotent (``pmh_result`` keyed by outbox id; ``pmh_subject`` only moves forward in outbox order).
* At most one in-flight row per person: a person's later change waits until the earlier one is settled,
  so PMH sees a person's changes in order.
* Named fault points (:func:`fault_point`) are triggered by ``KODOMO_PMH_FAULT=<point>[:raise|kill][:<n>]``
  (``kill`` sends SIGKILL to the process at the n-th hit): ``after_claim_commit``, ``before_send``,
  ``after_send_before_commit``, ``after_send_commit``, ``after_poll_before_commit``.

Threads: one coordinator does all database work; a pool of ``senders`` threads only does HTTP (each with
its own ``requests.Session``). Payloads with plaintext personal data live only in memory, only until sent.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import Connection, Engine, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from connectors.base import PmhClient, PmhReceipt, PmhTaskStatus
from connectors.pmh import PmhRejected, PmhUnavailable
from kodomo.pmh.outbox import batch_key
from kodomo.pmh.payload import ProgramConfig, build_records, load_subjects, validate_subjects
from kodomo.privacy.crypto import KeyRing
from store.models import PmhOutbox
from store.pmh_models import PmhBatch, PmhResult, PmhSubject

FAULT_ENV = "KODOMO_PMH_FAULT"
FAULT_POINTS = (
    "after_claim_commit", "before_send", "after_send_before_commit", "after_send_commit",
    "after_poll_before_commit",
)

OUTBOX = PmhOutbox.__table__
BATCH = PmhBatch.__table__
RESULT = PmhResult.__table__
SUBJECT = PmhSubject.__table__

_ROW_COLUMNS = ["id", "idempotency_key", "person_id", "change_type", "reason", "event_date", "valid_from",
                "valid_to", "recipient_no", "batch_id"]


# --------------------------------------------------------------------------------------------------
# Fault points
# --------------------------------------------------------------------------------------------------
class PmhFaultInjected(RuntimeError):  # noqa: N818 - it is not an error of the code
    """Raised at a named fault point (tests only)."""

    safe_message = True


_fault_hits: collections.Counter = collections.Counter()
_fault_lock = threading.Lock()


def reset_fault_counters() -> None:
    """Forget how often each fault point was hit (tests)."""
    with _fault_lock:
        _fault_hits.clear()


def fault_point(name: str) -> None:
    """Raise or SIGKILL here when ``KODOMO_PMH_FAULT`` names this point (at its n-th hit, default 1st)."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    point, _, rest = spec.partition(":")
    if point != name:
        return
    action, _, nth = rest.partition(":")
    with _fault_lock:
        _fault_hits[name] += 1
        hit = _fault_hits[name]
    if hit != int(nth or 1):
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise PmhFaultInjected(f"fault injected at {name}")


# --------------------------------------------------------------------------------------------------
# Options and report
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RelayOptions:
    """Tuning of one relay run."""

    batch_size: int = 100  # records per request (PMH limit)
    senders: int = 1  # HTTP threads
    claim_batches: int = 4  # batches claimed per claim transaction
    poll_interval_s: float = 0.05  # first poll after sending; doubles up to 1 s
    result_timeout_s: float = 30.0  # stop waiting for task results after this much idle time
    wait_for_results: bool = True
    max_attempts: int = 20  # FAILED rows are re-sent by later runs until this many attempts
    stop_after_unavailable: int = 3  # consecutive unavailable batches before the run stops claiming
    limit: int | None = None  # claim at most this many new rows in this run
    program: ProgramConfig = field(default_factory=ProgramConfig)


@dataclass
class RelayReport:
    """Counts of one relay run (no personal data)."""

    claimed: int = 0
    rejected_local: int = 0
    batches_sent: int = 0
    records_sent: int = 0
    batches_resent: int = 0
    replayed: int = 0
    completed: int = 0
    rejected: int = 0
    failed: int = 0
    awaiting_results: int = 0
    error_codes: collections.Counter = field(default_factory=collections.Counter)

    def as_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "error_codes"}
        out["error_codes"] = dict(sorted(self.error_codes.items()))
        return out


@dataclass
class _Batch:
    batch_id: str
    ids: list[int]
    records: list[dict]
    resend: bool = False


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --------------------------------------------------------------------------------------------------
# The relay
# --------------------------------------------------------------------------------------------------
class OutboxRelay:
    """Drains ``pmh_outbox`` through a :class:`connectors.base.PmhClient`."""

    def __init__(
        self,
        engine: Engine,
        client: PmhClient,
        ring: KeyRing,
        options: RelayOptions | None = None,
        *,
        run_id: str = "manual",
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.engine = engine
        self.client = client
        self.ring = ring
        self.options = options or RelayOptions()
        self.run_id = run_id
        self.progress = progress
        self.report = RelayReport()
        self._claim_budget = self.options.limit
        self._unavailable_streak = 0
        self._stop_claiming = False
        self._total = 0
        self._settled = 0

    # -- public ----------------------------------------------------------------------------------------
    def run(self) -> RelayReport:
        """One pass: re-send unsettled batches, claim and send new ones, collect results."""
        opts = self.options
        send_queue: collections.deque[_Batch] = collections.deque(self._recover())
        awaiting = self._awaiting_from_db() if self.client.polls_results else {}
        self._total = (self._count_pending() + sum(len(b.ids) for b in send_queue)
                       + (self._count_status("SENT_HTTP") if awaiting else 0))
        self._report_progress()
        inflight: dict[Future, tuple[str, object]] = {}
        polling: set[str] = set()
        pending_exists = True
        last_activity = time.monotonic()
        with ThreadPoolExecutor(max_workers=max(1, opts.senders), thread_name_prefix="pmh-send") as pool:
            while True:
                sends_inflight = sum(1 for kind, _ in inflight.values() if kind == "send")
                while sends_inflight < opts.senders * 2 and not self._stop_claiming:
                    if not send_queue:
                        if not pending_exists:
                            break
                        claimed, pending_exists = self._claim()
                        if not claimed:
                            if pending_exists:  # every claimed row failed validation: claim again
                                continue
                            break
                        send_queue.extend(claimed)
                    batch = send_queue.popleft()
                    inflight[pool.submit(self._send, batch)] = ("send", batch)
                    sends_inflight += 1
                now = time.monotonic()
                if opts.wait_for_results:
                    for batch_id, (task_id, _n, due) in awaiting.items():
                        if due <= now and batch_id not in polling and len(inflight) < opts.senders * 3:
                            polling.add(batch_id)
                            inflight[pool.submit(self._poll, batch_id, task_id)] = ("poll", batch_id)
                waiting_results = opts.wait_for_results and awaiting and (
                    now - last_activity < opts.result_timeout_s)
                if not inflight and not send_queue and not waiting_results and (
                        not pending_exists or self._stop_claiming or not self._claimable_later(awaiting)):
                    break
                next_due = min((due for _, _, due in awaiting.values()), default=now + 0.2)
                pause = max(0.001, min(0.2, next_due - now))
                if not inflight:
                    time.sleep(pause)
                    continue
                done, _ = wait(list(inflight), timeout=pause, return_when=FIRST_COMPLETED)
                if not done:
                    continue
                last_activity = time.monotonic()
                sends = [(inflight[f][1], f.result()) for f in done if inflight[f][0] == "send"]
                polls = [(inflight[f][1], f.result()) for f in done if inflight[f][0] == "poll"]
                for f in done:
                    del inflight[f]
                if sends:
                    for batch_id, task_id in self._record_sends(sends).items():
                        awaiting[batch_id] = (task_id, 0, time.monotonic() + opts.poll_interval_s)
                    if not pending_exists and not self._stop_claiming:
                        pending_exists = self._count_pending() > 0
                if polls:
                    settled = self._record_polls(polls, awaiting)
                    for batch_id in polls_ids(polls):
                        polling.discard(batch_id)
                    for batch_id in settled:
                        awaiting.pop(batch_id, None)
                    pending_exists = pending_exists or self._count_pending() > 0
                self._report_progress()
        self.report.awaiting_results = self._count_status("SENT_HTTP")
        return self.report

    # -- recovery ----------------------------------------------------------------------------------------
    def _recover(self) -> list[_Batch]:
        """Batches whose rows are SENDING or FAILED: re-send each with its original key."""
        with self.engine.begin() as conn:
            frame = self._rows(conn, and_(OUTBOX.c.status.in_(("SENDING", "FAILED")),
                                          OUTBOX.c.batch_id.is_not(None),
                                          OUTBOX.c.attempts < self.options.max_attempts))
            if frame.empty:
                return []
            batches = self._prepare(conn, frame, resend=True)
        return batches

    def _awaiting_from_db(self) -> dict[str, tuple[str, int, float]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(BATCH.c.batch_id, BATCH.c.task_id, BATCH.c.record_count)
                                .where(BATCH.c.status == "SENT", BATCH.c.task_id.is_not(None))).all()
        now = time.monotonic()
        return {b: (t, 0, now) for b, t, _n in rows}

    # -- claim -------------------------------------------------------------------------------------------
    def _rows(self, conn: Connection, where, limit: int | None = None) -> pd.DataFrame:
        stmt = select(*[OUTBOX.c[c] for c in _ROW_COLUMNS]).where(where).order_by(OUTBOX.c.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        return pd.DataFrame(conn.execute(stmt).all(), columns=_ROW_COLUMNS)

    def _busy_persons(self):
        """Persons with a change in flight (claimed, failed, or sent and not settled)."""
        open_batches = select(BATCH.c.batch_id).where(BATCH.c.status == "SENT")
        return select(OUTBOX.c.person_id).where(or_(
            OUTBOX.c.status.in_(("SENDING", "FAILED")),
            and_(OUTBOX.c.status == "SENT", OUTBOX.c.batch_id.in_(open_batches)),
        ))

    def _claim(self) -> tuple[list[_Batch], bool]:
        """Claim up to ``claim_batches`` batches of PENDING rows; returns (batches, more rows pending)."""
        opts = self.options
        want = opts.batch_size * opts.claim_batches
        if self._claim_budget is not None:
            want = min(want, self._claim_budget)
            if want <= 0:
                return [], False
        with self.engine.begin() as conn:
            frame = self._rows(conn, and_(OUTBOX.c.status == "PENDING",
                                          OUTBOX.c.person_id.not_in(self._busy_persons())), want)
            if frame.empty:
                return [], False
            more = len(frame) == want
            frame = frame.loc[~frame["person_id"].duplicated()]  # one change per person in flight
            batches = self._prepare(conn, frame, resend=False)
        if self._claim_budget is not None:
            self._claim_budget -= len(frame)
        fault_point("after_claim_commit")
        return batches, more or bool(batches)

    def _prepare(self, conn: Connection, frame: pd.DataFrame, *, resend: bool) -> list[_Batch]:
        """Validate rows, mark invalid ones REJECTED_LOCAL, group the rest into SENDING batches."""
        subjects = load_subjects(conn, frame, self.ring)
        codes = validate_subjects(subjects, self.options.program)
        invalid = codes.notna()
        for code, ids in subjects.loc[invalid].groupby(codes[invalid])["id"]:
            conn.execute(update(OUTBOX).where(OUTBOX.c.id.in_(ids.tolist()))
                         .values(status="REJECTED_LOCAL", last_error=str(code)))
            self.report.error_codes[str(code)] += len(ids)
            self.report.rejected_local += len(ids)
        valid = subjects.loc[~invalid]
        if valid.empty:
            return []
        if resend:
            groups = [g for _, g in valid.groupby("batch_id", sort=False)]
        else:
            groups = [valid.iloc[i:i + self.options.batch_size]
                      for i in range(0, len(valid), self.options.batch_size)]
        batches: list[_Batch] = []
        now = _now()
        for group in groups:
            group = group.sort_values("id")
            ids = group["id"].astype(int).tolist()
            records = build_records(group, self.options.program)
            if resend:
                key = str(group["batch_id"].iloc[0])
                result = conn.execute(update(OUTBOX).where(OUTBOX.c.id.in_(ids), OUTBOX.c.batch_id == key)
                                      .values(status="SENDING", attempts=OUTBOX.c.attempts + 1))
                conn.execute(update(BATCH).where(BATCH.c.batch_id == key)
                             .values(status="SENDING", attempts=BATCH.c.attempts + 1, run_id=self.run_id))
                self.report.batches_resent += 1
            else:
                key = batch_key(group["idempotency_key"].tolist())
                result = conn.execute(update(OUTBOX).where(OUTBOX.c.id.in_(ids), OUTBOX.c.status == "PENDING")
                                      .values(status="SENDING", batch_id=key, attempts=OUTBOX.c.attempts + 1))
                if result.rowcount != len(ids):
                    raise RuntimeError("outbox rows were claimed concurrently; the claim is rolled back")
                exists = conn.execute(select(BATCH.c.batch_id).where(BATCH.c.batch_id == key)).first()
                if exists:
                    conn.execute(update(BATCH).where(BATCH.c.batch_id == key).values(
                        status="SENDING", record_count=len(ids), attempts=BATCH.c.attempts + 1,
                        run_id=self.run_id, last_error=None))
                else:
                    conn.execute(BATCH.insert().values(
                        batch_id=key, status="SENDING", record_count=len(ids), attempts=1, run_id=self.run_id,
                        created_at=now))
                self.report.claimed += len(ids)
            batches.append(_Batch(key, ids, records, resend))
        return batches

    # -- HTTP (pool threads) -------------------------------------------------------------------------------
    def _send(self, batch: _Batch) -> tuple[str, PmhReceipt | Exception]:
        fault_point("before_send")
        try:
            return "ok", self.client.submit(batch.records, batch.batch_id)
        except PmhRejected as exc:
            return "rejected", exc
        except PmhUnavailable as exc:
            return "unavailable", exc
        finally:
            batch.records = []  # drop the plaintext payload as soon as it is sent

    def _poll(self, batch_id: str, task_id: str) -> tuple[str, PmhTaskStatus | Exception]:
        try:
            return "ok", self.client.poll(task_id)
        except (PmhRejected, PmhUnavailable) as exc:
            return "error", exc

    # -- recording (coordinator) ----------------------------------------------------------------------------
    def _record_sends(self, sends: list[tuple[_Batch, tuple]]) -> dict[str, str]:
        """Commit the outcome of sent batches; returns {batch_id: task_id} of tasks to poll."""
        fault_point("after_send_before_commit")
        to_poll: dict[str, str] = {}
        auth_error: PmhRejected | None = None
        now = _now()
        with self.engine.begin() as conn:
            for batch, (kind, outcome) in sends:
                if kind == "ok":
                    receipt: PmhReceipt = outcome
                    http = receipt.task_id is not None
                    conn.execute(update(BATCH).where(BATCH.c.batch_id == batch.batch_id).values(
                        status="SENT" if http else "WRITTEN", task_id=receipt.task_id, sent_at=now,
                        last_error=None))
                    conn.execute(update(OUTBOX).where(OUTBOX.c.batch_id == batch.batch_id,
                                                      OUTBOX.c.status == "SENDING")
                                 .values(status="SENT", sent_at=now, last_error=None))
                    self.report.batches_sent += 1
                    self.report.records_sent += len(batch.ids)
                    self.report.replayed += int(receipt.replayed)
                    self._unavailable_streak = 0
                    if http:
                        to_poll[batch.batch_id] = receipt.task_id
                    else:
                        self._settled += len(batch.ids)
                elif kind == "rejected":
                    if outcome.status in (401, 403):
                        auth_error = outcome
                        continue
                    self._record_rejection(conn, batch, outcome)
                else:
                    self._unavailable_streak += 1
                    reason = outcome.reason[:120]
                    conn.execute(update(BATCH).where(BATCH.c.batch_id == batch.batch_id)
                                 .values(status="FAILED", last_error=reason))
                    conn.execute(update(OUTBOX).where(OUTBOX.c.batch_id == batch.batch_id,
                                                      OUTBOX.c.status == "SENDING")
                                 .values(status="FAILED", last_error=reason))
                    self.report.failed += len(batch.ids)
                    self.report.error_codes[f"UNAVAILABLE:{reason}"] += len(batch.ids)
                    if self._unavailable_streak >= self.options.stop_after_unavailable:
                        self._stop_claiming = True
        fault_point("after_send_commit")
        if auth_error is not None:
            raise auth_error
        return to_poll

    def _record_rejection(self, conn: Connection, batch: _Batch, exc: PmhRejected) -> None:
        """4xx: per-record errors → REJECTED; a schema error leaves the other rows to be re-batched."""
        by_index: dict[int, str] = {}
        for error in exc.errors:
            if isinstance(error.get("index"), int) and 0 <= error["index"] < len(batch.ids):
                by_index.setdefault(error["index"], f"PMH_{error.get('code')}"[:120])
        if exc.status == 400 and by_index:
            for index, code in by_index.items():
                conn.execute(update(OUTBOX).where(OUTBOX.c.id == batch.ids[index])
                             .values(status="REJECTED", last_error=code))
                self.report.error_codes[code] += 1
            others = [i for n, i in enumerate(batch.ids) if n not in by_index]
            if others:  # nothing was registered: the valid rows go back to the queue
                conn.execute(update(OUTBOX).where(OUTBOX.c.id.in_(others))
                             .values(status="PENDING", batch_id=None, last_error=None))
            self.report.rejected += len(by_index)
            self._settled += len(by_index)
        else:
            code = f"PMH_{exc.code}"[:120]
            conn.execute(update(OUTBOX).where(OUTBOX.c.batch_id == batch.batch_id,
                                              OUTBOX.c.status == "SENDING")
                         .values(status="REJECTED", last_error=code))
            self.report.rejected += len(batch.ids)
            self.report.error_codes[code] += len(batch.ids)
            self._settled += len(batch.ids)
        conn.execute(update(BATCH).where(BATCH.c.batch_id == batch.batch_id)
                     .values(status="REJECTED", last_error=f"HTTP_{exc.status}:{exc.code}"[:120]))

    def _record_polls(self, polls: list[tuple[str, tuple]], awaiting: dict) -> list[str]:
        """Store completed tasks' results; reschedule the others. Returns settled batch ids."""
        settled: list[str] = []
        completed: list[tuple[str, PmhTaskStatus]] = []
        now = time.monotonic()
        for batch_id, (kind, outcome) in polls:
            if kind == "ok" and outcome.completed:
                completed.append((batch_id, outcome))
                continue
            task_id, tries, _due = awaiting[batch_id]
            if kind == "error" and isinstance(outcome, PmhRejected) and outcome.status == 404:
                with self.engine.begin() as conn:  # PMH lost the task: re-send the batch next run
                    conn.execute(update(BATCH).where(BATCH.c.batch_id == batch_id)
                                 .values(status="FAILED", last_error="TASK_NOT_FOUND"))
                    conn.execute(update(OUTBOX).where(OUTBOX.c.batch_id == batch_id, OUTBOX.c.status == "SENT")
                                 .values(status="FAILED", last_error="TASK_NOT_FOUND"))
                self.report.error_codes["TASK_NOT_FOUND"] += 1
                settled.append(batch_id)
                continue
            delay = min(1.0, self.options.poll_interval_s * (2 ** min(tries, 6)))
            awaiting[batch_id] = (task_id, tries + 1, now + delay)
        if not completed:
            return settled
        fault_point("after_poll_before_commit")
        with self.engine.begin() as conn:
            ids_by_batch = self._batch_rows(conn, [b for b, _ in completed])
            results, subjects, errors = [], [], []
            received = _now()
            for batch_id, status in completed:
                rows = ids_by_batch.get(batch_id, [])
                for r in status.results:
                    if not 0 <= r.index < len(rows):
                        continue
                    outbox_id, person_id = rows[r.index]
                    results.append({"outbox_id": outbox_id, "batch_id": batch_id, "person_id": person_id,
                                    "record_index": r.index, "result": r.result,
                                    "error_code": r.error_code, "received_at": received})
                    if r.result in ("REGISTERED", "DELETED") and r.pmh_id:
                        subjects.append((person_id, r.pmh_id, r.result, outbox_id))
                    else:
                        errors.append((outbox_id, f"PMH_{r.error_code or 'UNKNOWN'}"[:120]))
            self._insert_results(conn, results)
            self._upsert_subjects(conn, subjects, received)
            done_ids = [b for b, _ in completed]
            for start in range(0, len(done_ids), 500):
                chunk = done_ids[start:start + 500]
                conn.execute(update(OUTBOX).where(OUTBOX.c.batch_id.in_(chunk), OUTBOX.c.status == "SENT")
                             .values(status="COMPLETED"))
                conn.execute(update(BATCH).where(BATCH.c.batch_id.in_(chunk))
                             .values(status="COMPLETED", completed_at=received))
            if errors:
                conn.execute(update(OUTBOX).where(OUTBOX.c.id == bindparam("oid"))
                             .values(status="REJECTED", last_error=bindparam("code")),
                             [{"oid": i, "code": c} for i, c in errors])
        for _i, code in errors:
            self.report.error_codes[code] += 1
        self.report.rejected += len(errors)
        self.report.completed += len(results) - len(errors)
        self._settled += len(results)
        settled.extend(b for b, _ in completed)
        return settled

    def _batch_rows(self, conn: Connection, batch_ids: list[str]) -> dict[str, list[tuple[int, str]]]:
        out: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
        for start in range(0, len(batch_ids), 500):
            rows = conn.execute(select(OUTBOX.c.batch_id, OUTBOX.c.id, OUTBOX.c.person_id)
                                .where(OUTBOX.c.batch_id.in_(batch_ids[start:start + 500]))
                                .order_by(OUTBOX.c.id)).all()
            for batch_id, outbox_id, person_id in rows:
                out[batch_id].append((outbox_id, person_id))
        return out

    @staticmethod
    def _dialect_insert(conn: Connection, table):
        return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)

    def _insert_results(self, conn: Connection, results: list[dict]) -> None:
        if results:
            conn.execute(self._dialect_insert(conn, RESULT).on_conflict_do_nothing(index_elements=["outbox_id"]),
                         results)

    def _upsert_subjects(self, conn: Connection, subjects: list[tuple], stamp: dt.datetime) -> None:
        """PMH-ID per person, encrypted; a row only moves forward (higher outbox id wins)."""
        if not subjects:
            return
        subjects = sorted(subjects, key=lambda s: s[3])
        latest = {s[0]: s for s in subjects}  # last change per person in this commit
        rows = list(latest.values())
        blobs = self.ring.encrypt_many([r[1] for r in rows], table="pmh_subject", column="pmh_id",
                                       row_keys=[r[0] for r in rows])
        values = [{"person_id": r[0], "pmh_id_enc": blob, "status": r[2], "last_outbox_id": r[3],
                   "updated_at": stamp} for r, blob in zip(rows, blobs, strict=True)]
        stmt = self._dialect_insert(conn, SUBJECT)
        stmt = stmt.on_conflict_do_update(
            index_elements=["person_id"],
            set_={"pmh_id_enc": stmt.excluded.pmh_id_enc, "status": stmt.excluded.status,
                  "last_outbox_id": stmt.excluded.last_outbox_id, "updated_at": stmt.excluded.updated_at},
            where=SUBJECT.c.last_outbox_id < stmt.excluded.last_outbox_id,
        )
        conn.execute(stmt, values)

    # -- counts and progress ------------------------------------------------------------------------------
    def _count_pending(self) -> int:
        return self._count_status("PENDING")

    def _count_status(self, status: str) -> int:
        with self.engine.connect() as conn:
            if status == "SENT_HTTP":
                stmt = select(func.count()).select_from(OUTBOX).where(
                    OUTBOX.c.status == "SENT",
                    OUTBOX.c.batch_id.in_(select(BATCH.c.batch_id).where(BATCH.c.status == "SENT")))
            else:
                stmt = select(func.count()).select_from(OUTBOX).where(OUTBOX.c.status == status)
            return int(conn.execute(stmt).scalar_one())

    def _claimable_later(self, awaiting: dict) -> bool:
        """Whether waiting could unblock PENDING rows (their persons have batches still awaiting results)."""
        return bool(awaiting) and self.options.wait_for_results

    def _report_progress(self) -> None:
        if self.progress is not None:
            self.progress(self._settled + self.report.rejected_local, max(self._total, 1))


def polls_ids(polls: list[tuple[str, tuple]]) -> list[str]:
    """Batch ids of a list of poll outcomes."""
    return [batch_id for batch_id, _ in polls]


def relay_once(engine: Engine, client: PmhClient, ring: KeyRing, options: RelayOptions | None = None, *,
               run_id: str = "manual", progress: Callable[[int, int], None] | None = None) -> RelayReport:
    """Run the relay once and return its counts."""
    return OutboxRelay(engine, client, ring, options, run_id=run_id, progress=progress).run()


def main(argv: list[str] | None = None) -> int:
    """``python -m kodomo.pmh.relay``: one relay run with the process settings (used by crash tests)."""
    import argparse
    import json

    from connectors.pmh import make_pmh_client
    from kodomo.privacy.crypto import load_key_ring
    from kodomo.settings import get_settings
    from store.db import make_engine

    parser = argparse.ArgumentParser(prog="python -m kodomo.pmh.relay")
    parser.add_argument("--senders", type=int, default=1)
    parser.add_argument("--claim-batches", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--limit", type=int)
    args = parser.parse_args(argv)
    settings = get_settings()
    engine = make_engine(settings.resolved_database_url)
    client = make_pmh_client(settings)
    try:
        report = relay_once(engine, client, load_key_ring(settings, create=False), RelayOptions(
            senders=args.senders, claim_batches=args.claim_batches, batch_size=args.batch_size,
            limit=args.limit), run_id=f"cli-{os.getpid()}")
    finally:
        client.close()
        engine.dispose()
    print(json.dumps(report.as_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
