"""Outbox relay: claim PENDING rows, send them to PMH in batches, record tasks, results and PMH-IDs.

This module orchestrates one run; the states of an outbox row and a batch are described in
:mod:`services.pmh.states`, the SQL lives in :mod:`services.pmh.claims`, the records in
:mod:`services.pmh.payload`.

Reliability (security.md REL-01…REL-04):

* A batch's Idempotency-Key is its ``batch_id`` (derived from the sorted record keys), stored at claim
  time, before the first attempt. Rows found ``SENDING`` or ``FAILED`` at the start of a run (a crash
  between claim and commit, a timeout, a dropped response) are re-sent as the *same* batch with the *same*
  key; PMH answers with the original task, so there is never a second effect.
* A task whose results were not stored (crash after the poll) is polled again; storing results is
  idempotent (a row's result is written only by the statement that settles it; ``pmh_subject`` only moves
  forward in outbox order).
* At most one in-flight row per person: a person's later change waits until the earlier one is settled,
  so PMH sees a person's changes in order.
* At each named point of :data:`services.pmh.states.FAULT_POINTS` the relay calls its ``fault_hook``
  (a no-op unless a test passes one: devtools.faults raises or SIGKILLs there; devtools.pmh_relay_runner
  runs the relay in a child process for the crash matrix).

Threads: one coordinator does all database work; a pool of ``senders`` threads only does HTTP (each with
its own ``requests.Session``). Payloads with plaintext personal data live only in memory, only until sent.
"""

from __future__ import annotations

import collections
import datetime as dt
import queue
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine

from connectors.base import PmhClient, PmhReceipt, PmhTaskStatus
from connectors.pmh import PmhRejected, PmhUnavailable
from privacy.crypto import KeyRing
from services.pmh import claims
from services.pmh.outbox import batch_key
from services.pmh.payload import ClaimRow, ProgramConfig, prepare_rows
from services.pmh.states import Batch, FaultHook, no_fault, pmh_error
from store.wal import WalCheckpointer


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
    flush_interval_s: float = 0.2  # sends and results are recorded in bulk at most this often
    sent_record_delay_s: float = 1.0  # a send still without results is recorded SENT after this long
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
        fault_hook: FaultHook | None = None,
    ) -> None:
        self.engine = engine
        self.client = client
        self.ring = ring
        self.options = options or RelayOptions()
        self.run_id = run_id
        self.progress = progress
        self.fault_hook = fault_hook or no_fault  # devtools.faults injects crashes in tests only
        self.report = RelayReport()
        self._claim_budget = self.options.limit
        self._unavailable_streak = 0
        self._stop_claiming = False
        self._total = 0
        self._settled = 0
        self._members: dict[str, list[tuple[int, str]]] = {}  # batch id -> [(outbox id, person id)] in order
        # outcomes noted by the coordinator and not yet recorded (see "recording" below)
        # batch id -> (batch, receipt, sent at, noted at: monotonic)
        self._sent: dict[str, tuple[Batch, PmhReceipt, dt.datetime, float]] = {}
        self._done: dict[str, tuple[PmhTaskStatus, dt.datetime]] = {}  # batch id -> (task status, received at)
        self._last_flush = time.monotonic()
        self._requeued = False  # a refused batch put rows back to PENDING
        self._wal = WalCheckpointer(engine, self.options.flush_interval_s)  # started by run()

    # -- public ----------------------------------------------------------------------------------------
    def run(self) -> RelayReport:
        """One pass: re-send unsettled batches, claim and send new ones, collect results."""
        self._wal.start()
        try:
            return self._run()
        finally:
            self._wal.stop()

    def _run(self) -> RelayReport:
        opts = self.options
        send_queue: collections.deque[Batch] = collections.deque(self._recover())
        awaiting = claims.awaiting_batches(self.engine) if self.client.polls_results else {}
        self._total = (claims.count_status(self.engine, "PENDING") + sum(len(b.ids) for b in send_queue)
                       + (claims.count_status(self.engine, "SENT_HTTP") if awaiting else 0))
        self._report_progress()
        inflight: dict[Future, tuple[str, object]] = {}
        # futures report themselves here when done: the coordinator wakes on the first one in O(1), where
        # concurrent.futures.wait() registered and removed a waiter on every future in flight per round
        finished: queue.SimpleQueue[Future] = queue.SimpleQueue()
        sends_inflight = 0
        polling: set[str] = set()
        pending_exists = True
        last_activity = time.monotonic()
        with ThreadPoolExecutor(max_workers=max(1, opts.senders), thread_name_prefix="pmh-send") as pool, \
                ThreadPoolExecutor(max_workers=max(1, opts.senders), thread_name_prefix="pmh-poll") as pollers:
            # Sends handed to the pool ahead of the HTTP threads: enough to keep the link busy while the
            # coordinator claims or records (tens of milliseconds each), so its work overlaps the HTTP.
            send_window = opts.senders * 2 + opts.claim_batches
            # every due poll is handed to the pool at once (the client paces them): capped by the
            # coordinator's round instead, the polls fell behind the sends and results arrived seconds late
            poll_window = 4 * send_window
            while True:
                while sends_inflight < send_window and not self._stop_claiming:
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
                    future = pool.submit(self._send, batch)
                    inflight[future] = ("send", batch)
                    future.add_done_callback(finished.put)
                    sends_inflight += 1
                now = time.monotonic()
                patient = now - last_activity < opts.result_timeout_s  # progress seen recently
                if opts.wait_for_results and patient:
                    for batch_id, (task_id, _n, due) in awaiting.items():
                        if due <= now and batch_id not in polling and len(polling) < poll_window:
                            polling.add(batch_id)
                            future = pollers.submit(self._poll, batch_id, task_id)
                            inflight[future] = ("poll", batch_id)
                            future.add_done_callback(finished.put)
                waiting_results = opts.wait_for_results and awaiting and patient
                if not inflight and not send_queue and not waiting_results:
                    if not self._unrecorded():
                        break  # nothing in flight, nothing claimable, no results worth waiting for
                    self._flush()
                    if not pending_exists and not self._stop_claiming:  # settled rows may free persons
                        pending_exists = claims.count_status(self.engine, "PENDING") > 0
                    continue
                # batches being polled are not due: counted, they woke the coordinator every millisecond
                next_due = min((due for batch_id, (_t, _n, due) in awaiting.items() if batch_id not in polling),
                               default=now + 0.2)
                pause = max(0.001, min(0.2, next_due - now, self._next_flush_due() - now))
                if not inflight:
                    time.sleep(pause)
                else:
                    done = _drain(finished, pause)
                    sends = [(inflight[f][1], f.result()) for f in done if inflight[f][0] == "send"]
                    polls = [(inflight[f][1], f.result()) for f in done if inflight[f][0] == "poll"]
                    for f in done:
                        del inflight[f]
                    sends_inflight -= len(sends)
                    if sends:
                        last_activity = time.monotonic()
                        for batch_id, task_id in self._take_sends(sends).items():
                            awaiting[batch_id] = (task_id, 0, time.monotonic() + opts.poll_interval_s)
                        if self._requeued:  # rows of a refused batch went back to PENDING
                            pending_exists, self._requeued = True, False
                    if polls:
                        for batch_id in polls_ids(polls):
                            polling.discard(batch_id)
                        settled = self._take_polls(polls, awaiting)
                        for batch_id in settled:
                            awaiting.pop(batch_id, None)
                        if settled:
                            last_activity = time.monotonic()
                if time.monotonic() >= self._next_flush_due():
                    self._flush(final=False)
                    if not pending_exists and not self._stop_claiming:  # settled rows may free persons
                        pending_exists = claims.count_status(self.engine, "PENDING") > 0
                self._report_progress()
        self.report.awaiting_results = claims.count_status(self.engine, "SENT_HTTP")
        return self.report

    # -- recovery ----------------------------------------------------------------------------------------
    def _recover(self) -> list[Batch]:
        """Batches whose rows are SENDING or FAILED: re-send each with its original key."""
        with self._wal.transaction() as conn:
            rows = claims.claim_rows(conn, claims.unsettled_rows_where(self.options.max_attempts))
            if not rows:
                return []
            batches = self._prepare(conn, rows, resend=True)
        return batches

    # -- claim -------------------------------------------------------------------------------------------
    def _claim(self) -> tuple[list[Batch], bool]:
        """Claim up to ``claim_batches`` batches of PENDING rows; returns (batches, more rows pending)."""
        opts = self.options
        want = opts.batch_size * opts.claim_batches
        if self._claim_budget is not None:
            want = min(want, self._claim_budget)
            if want <= 0:
                return [], False
        with self._wal.transaction() as conn:
            rows = claims.claim_rows(conn, claims.claimable_rows_where(), want)
            if not rows:
                return [], False
            more = len(rows) == want
            seen: set = set()  # one change per person in flight: the earliest row of each person
            rows = [r for r in rows if not (r.person_id in seen or seen.add(r.person_id))]
            batches = self._prepare(conn, rows, resend=False)
        if self._claim_budget is not None:
            self._claim_budget -= len(rows)
        self.fault_hook("after_claim_commit")
        return batches, more or bool(batches)

    def _prepare(self, conn: Connection, rows: list[ClaimRow], *, resend: bool) -> list[Batch]:
        """Validate rows, mark invalid ones REJECTED_LOCAL, group the rest into SENDING batches.

        Set-based: one decryption/validation/record build for the whole claim (row-wise, no frames), one
        UPDATE per batch of the outbox rows and one executemany INSERT of the batch rows.
        """
        prepared = prepare_rows(rows, self.ring, self.options.program)
        rejected: dict[str, list[int]] = collections.defaultdict(list)
        valid = []
        for row, (code, record) in zip(rows, prepared, strict=True):
            if code is None:
                valid.append((row, record))
            else:
                rejected[code].append(int(row.id))
        for code, bad_ids in rejected.items():
            claims.mark_rejected_locally(conn, code, bad_ids)
            self.report.error_codes[code] += len(bad_ids)
            self.report.rejected_local += len(bad_ids)
        if not valid:
            return []
        if resend:
            valid.sort(key=lambda v: (str(v[0].batch_id), int(v[0].id)))
        # else: already in id order (the claim query orders by id; the filters keep the order)
        records = [record for _row, record in valid]
        ids = [int(row.id) for row, _record in valid]
        keys = [row.idempotency_key for row, _record in valid]
        if resend:
            labels = [row.batch_id for row, _record in valid]
            bounds, start = [], 0
            for i in range(1, len(labels) + 1):
                if i == len(labels) or labels[i] != labels[start]:
                    bounds.append((start, i))
                    start = i
        else:
            size = self.options.batch_size
            bounds = [(i, min(i + size, len(ids))) for i in range(0, len(ids), size)]
        batches = [
            Batch(str(labels[a]) if resend else batch_key(keys[a:b]), ids[a:b], records[a:b], resend)
            for a, b in bounds
        ]
        persons = [str(row.person_id) for row, _record in valid]
        for batch, (a, b) in zip(batches, bounds, strict=True):
            self._members[batch.batch_id] = list(zip(ids[a:b], persons[a:b], strict=True))
        if resend:
            claims.mark_resending(conn, batches, self.run_id)
            self.report.batches_resent += len(batches)
            return batches
        claims.mark_claimed(conn, batches, self.run_id, _now())
        self.report.claimed += len(ids)
        return batches

    # -- HTTP (pool threads) -------------------------------------------------------------------------------
    def _send(self, batch: Batch) -> tuple[str, PmhReceipt | Exception]:
        self.fault_hook("before_send")
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
    # The HTTP threads only hand outcomes back; the coordinator notes them in memory (``_sent``, ``_done``)
    # and records them in bulk every ``flush_interval_s``: one transaction for the sends, then one for the
    # results, each a few set-based statements whatever the number of batches. A crash before a flush
    # loses nothing: the rows are still SENDING (re-sent with the same key, PMH answers with the original
    # task) or SENT (polled again).
    def _unrecorded(self) -> bool:
        return bool(self._sent or self._done)

    def _next_flush_due(self) -> float:
        return self._last_flush + self.options.flush_interval_s if self._unrecorded() else float("inf")

    def _take_sends(self, sends: list[tuple[Batch, tuple]]) -> dict[str, str]:
        """Note sent batches (recorded by the next flush; failures at once); returns {batch_id: task_id}."""
        to_poll: dict[str, str] = {}
        auth_error: PmhRejected | None = None
        failures: list[tuple[Batch, str, Exception]] = []
        now, noted = _now(), time.monotonic()
        for batch, (kind, outcome) in sends:
            if kind == "ok":
                self._unavailable_streak = 0
                self._sent[batch.batch_id] = (batch, outcome, now, noted)
                if outcome.task_id is not None:
                    to_poll[batch.batch_id] = outcome.task_id
            elif kind == "rejected" and outcome.status in (401, 403):
                auth_error = outcome
            else:
                failures.append((batch, kind, outcome))
                if kind == "unavailable":
                    self._unavailable_streak += 1
                    if self._unavailable_streak >= self.options.stop_after_unavailable:
                        self._stop_claiming = True
        if failures:
            self._record_failures(failures)
        if auth_error is not None:
            self._flush()  # record what PMH did accept, then stop the run
            raise auth_error
        return to_poll

    def _record_failures(self, failures: list[tuple[Batch, str, Exception]]) -> None:
        """Refused or unavailable batches, recorded at once (they change what the next claim may take)."""
        for _ in failures:
            self.fault_hook("after_send_before_commit")
        with self._wal.transaction() as conn:
            for batch, kind, outcome in failures:
                if kind == "rejected":
                    self._record_rejection(conn, batch, outcome)
                    continue
                reason = outcome.reason[:120]
                claims.mark_failed(conn, batch.batch_id, reason, from_status="SENDING")
                self.report.failed += len(batch.ids)
                self.report.error_codes[f"UNAVAILABLE:{reason}"] += len(batch.ids)
        for _ in failures:
            self.fault_hook("after_send_commit")

    def _record_rejection(self, conn: Connection, batch: Batch, exc: PmhRejected) -> None:
        """4xx: per-record errors → REJECTED; a schema error leaves the other rows to be re-batched."""
        by_index: dict[int, str] = {}
        for error in exc.errors:
            if isinstance(error.get("index"), int) and 0 <= error["index"] < len(batch.ids):
                by_index.setdefault(error["index"], pmh_error(error.get('code')))
        if exc.status == 400 and by_index:
            claims.mark_records_rejected(conn, [(code, batch.ids[index]) for index, code in by_index.items()])
            for code in by_index.values():
                self.report.error_codes[code] += 1
            others = [i for n, i in enumerate(batch.ids) if n not in by_index]
            claims.requeue(conn, others)  # nothing was registered: the valid rows go back to the queue
            self._requeued = self._requeued or bool(others)
            self.report.rejected += len(by_index)
            self._settled += len(by_index)
        else:
            code = pmh_error(exc.code)
            claims.mark_batch_rows_rejected(conn, batch.batch_id, code)
            self.report.rejected += len(batch.ids)
            self.report.error_codes[code] += len(batch.ids)
            self._settled += len(batch.ids)
        claims.mark_batch_rejected(conn, batch.batch_id, f"HTTP_{exc.status}:{exc.code}"[:120])

    def _take_polls(self, polls: list[tuple[str, tuple]], awaiting: dict) -> list[str]:
        """Note completed tasks (recorded by the next flush); reschedule the others. Returns settled ids."""
        settled: list[str] = []
        now = time.monotonic()
        for batch_id, (kind, outcome) in polls:
            if kind == "ok" and outcome.completed:
                self._done[batch_id] = (outcome, _now())
                settled.append(batch_id)
                continue
            task_id, tries, _due = awaiting[batch_id]
            if kind == "error" and isinstance(outcome, PmhRejected) and outcome.status == 404:
                self._flush()  # the batch's send must be recorded before it can fail
                with self._wal.transaction() as conn:  # PMH lost the task: re-send the batch next run
                    claims.mark_failed(conn, batch_id, "TASK_NOT_FOUND", from_status="SENT")
                self.report.error_codes["TASK_NOT_FOUND"] += 1
                settled.append(batch_id)
                continue
            delay = min(1.0, self.options.poll_interval_s * (2 ** min(tries, 6)))
            awaiting[batch_id] = (task_id, tries + 1, now + delay)
        return settled

    def _flush(self, *, final: bool = True) -> None:
        """Record the noted sends and results (a batch's send never commits after its results).

        The final flush (end of the run, before a refusal or a lost task is recorded) commits every noted
        send, then every noted result, in two transactions. A periodic flush (``final=False``) commits one
        transaction in which a batch whose results are noted goes from ``SENDING`` straight to
        ``COMPLETED`` (``sent_at`` and task id written by the same statements): a record is written twice,
        not three times. For that it leaves to a later flush the sends noted since the previous flush, and
        their results; and it records a send still without results as ``SENT`` only once it is
        ``sent_record_delay_s`` old (results usually come within a few hundred milliseconds). Deferring is
        safe for the same reason as the flush interval itself: a crash before the commit leaves the rows
        SENDING, re-sent with the same key, and PMH answers with the original task. File-mode sends (no
        task to poll) are recorded at once.
        """
        now = time.monotonic()
        previous, self._last_flush = self._last_flush, now
        if final:
            self._commit(sent=self._take_noted_sends(lambda _b, _r, _n: True), direct=[], completed=[])
            self._commit(sent=[], direct=[], completed=self._take_noted_results(lambda _b: True))
            return
        oldest = now - self.options.sent_record_delay_s
        direct = self._take_noted_sends(lambda b, _r, noted: noted <= previous and b in self._done)
        sent = self._take_noted_sends(lambda _b, r, noted: r.task_id is None or noted <= oldest)
        # results wait while their send is not recorded: a batch's send never commits after its results
        completed = self._take_noted_results(lambda b: b not in self._sent)
        self._commit(sent=sent, direct=direct, completed=completed)

    def _take_noted_sends(self, chosen: Callable) -> list[tuple[Batch, PmhReceipt, dt.datetime]]:
        """Remove and return the noted sends ``chosen(batch id, receipt, noted at)`` selects."""
        out = []
        for batch_id, (batch, receipt, at, noted) in list(self._sent.items()):
            if chosen(batch_id, receipt, noted):
                out.append((batch, receipt, at))
                del self._sent[batch_id]
        return out

    def _take_noted_results(self, chosen: Callable) -> list[tuple[str, tuple[PmhTaskStatus, dt.datetime]]]:
        """Remove and return the noted task results ``chosen(batch id)`` selects."""
        out = [(b, v) for b, v in self._done.items() if chosen(b)]
        for batch_id, _ in out:
            del self._done[batch_id]
        return out

    def _commit(self, *, sent: list, direct: list, completed: list) -> None:
        """One transaction: ``sent`` → SENT (WRITTEN), ``direct`` and ``completed`` → COMPLETED with results."""
        if not (sent or direct or completed):
            return
        recorded = direct + sent
        for _ in recorded:
            self.fault_hook("after_send_before_commit")
        if completed:
            self.fault_hook("after_poll_before_commit")
        with self._wal.transaction() as conn:
            claims.mark_sent(conn, [(b.batch_id, b.ids, r.task_id, at) for b, r, at in sent])
            if completed:
                self._record_results(conn, completed, {b.batch_id: (r.task_id, at) for b, r, at in direct})
        for batch, receipt, _at in recorded:
            self.report.batches_sent += 1
            self.report.records_sent += len(batch.ids)
            self.report.replayed += int(receipt.replayed)
            if receipt.task_id is None:
                self._settled += len(batch.ids)  # file mode: nothing to poll
        for _ in recorded:
            self.fault_hook("after_send_commit")

    def _record_results(self, conn: Connection, completed: list[tuple[str, tuple[PmhTaskStatus, dt.datetime]]],
                        sent_now: dict[str, tuple[str | None, dt.datetime]]) -> None:
        """The results, PMH-IDs and COMPLETED marks of every noted task (``sent_now``: sends not yet recorded)."""
        unknown = [b for b, _ in completed if b not in self._members]
        ids_by_batch = {**claims.batch_members(conn, unknown), **self._members} if unknown else self._members
        answers: dict[int, str] = {}  # outbox id -> PMH's result, written with the row's COMPLETED mark
        subjects, errors = [], []
        for batch_id, (status, _received) in completed:
            rows = ids_by_batch.get(batch_id, [])
            for r in status.results:
                if not 0 <= r.index < len(rows) or rows[r.index][0] in answers:
                    continue  # the first answer for a record wins, as PMH gave it
                outbox_id, person_id = rows[r.index]
                answers[outbox_id] = str(r.result)[:16]
                if r.result in ("REGISTERED", "DELETED") and r.pmh_id:
                    subjects.append((person_id, r.pmh_id, r.result, outbox_id))
                else:
                    errors.append((outbox_id, pmh_error(r.error_code or 'UNKNOWN')))
        claims.upsert_subjects(conn, self.ring, subjects)
        marks = [(b, [i for i, _p in ids_by_batch.get(b, [])], received) for b, (_s, received) in completed]
        claims.mark_completed(conn, [m for m in marks if m[0] not in sent_now], answers)
        claims.mark_sent_completed(conn, [(b, ids, *sent_now[b], received) for b, ids, received in marks
                                          if b in sent_now], answers)
        claims.mark_records_rejected(conn, [(c, i) for i, c in errors])
        for _i, code in errors:
            self.report.error_codes[code] += 1
        self.report.rejected += len(errors)
        self.report.completed += len(answers) - len(errors)
        self._settled += len(answers)
        for batch_id, _ in completed:
            self._members.pop(batch_id, None)

    # -- counts and progress ------------------------------------------------------------------------------
    def _report_progress(self) -> None:
        if self.progress is not None:
            self.progress(self._settled + self.report.rejected_local, max(self._total, 1))


def _drain(finished: queue.SimpleQueue, timeout: float) -> list[Future]:
    """The futures done so far, waiting up to ``timeout`` seconds for the first one."""
    try:
        done = [finished.get(timeout=timeout)]
    except queue.Empty:
        return []
    try:
        while True:
            done.append(finished.get_nowait())
    except queue.Empty:
        return done


def polls_ids(polls: list[tuple[str, tuple]]) -> list[str]:
    """Batch ids of a list of poll outcomes."""
    return [batch_id for batch_id, _ in polls]


def relay_once(engine: Engine, client: PmhClient, ring: KeyRing, options: RelayOptions | None = None, *,
               run_id: str = "manual", progress: Callable[[int, int], None] | None = None,
               fault_hook: FaultHook | None = None) -> RelayReport:
    """Run the relay once and return its counts (``fault_hook``: see services.pmh.states.FAULT_POINTS)."""
    return OutboxRelay(engine, client, ring, options, run_id=run_id, progress=progress,
                       fault_hook=fault_hook).run()
