"""The relay records sends and results in bulk (issue 13): a few set-based statements per batch and two
transactions per flush, never a statement or a transaction per record. SQLite and PostgreSQL."""

from __future__ import annotations

import re

from sqlalchemy import event, func, select

from devtools.pmh_synthetic import create_subjects
from devtools.pmh_testing import assert_clean, fast_client
from services.pmh.relay import RelayOptions, relay_once
from store.models import PmhOutbox
from store.pmh_models import PmhBatch

ROWS, BATCH_SIZE, CLAIM_BATCHES = 1000, 100, 5
WRITE = re.compile(r"^\s*(UPDATE|INSERT INTO)\s+(pmh_\w+)", re.IGNORECASE)


def test_sends_and_results_are_recorded_per_batch_not_per_record(engine, key_ring, sim):
    create_subjects(engine, key_ring, ROWS)
    executions: dict[str, int] = {}  # "UPDATE pmh_outbox" -> statements run (an executemany counts its rows)
    commits = []

    def note(conn, cursor, statement, parameters, context, executemany):
        match = WRITE.match(statement)
        if match:
            key = f"{match.group(1).upper()} {match.group(2)}"
            executions[key] = executions.get(key, 0) + (len(parameters) if executemany else 1)

    event.listen(engine, "before_cursor_execute", note)
    event.listen(engine, "commit", lambda conn: commits.append(1))
    try:
        # a long flush interval: everything the run learns is recorded by the flush at its end
        report = relay_once(engine, fast_client(sim.url), key_ring, RelayOptions(
            batch_size=BATCH_SIZE, senders=4, claim_batches=CLAIM_BATCHES, poll_interval_s=0.01,
            flush_interval_s=60.0))
    finally:
        event.remove(engine, "before_cursor_execute", note)
    batches = ROWS // BATCH_SIZE
    assert report.completed == ROWS and report.batches_sent == batches
    assert_clean(engine, key_ring, sim.url)
    # outbox rows change state three times (claimed, sent, completed): one statement per batch each
    assert executions["UPDATE pmh_outbox"] <= 3 * batches, executions
    # PMH-IDs: one executemany per flush, whatever the number of batches; PMH's answers ride on the
    # statements that complete the outbox rows (counted above), never an insert of their own
    assert executions["INSERT INTO pmh_subject"] == ROWS
    assert not any("pmh_result" in key for key in executions), executions
    # recovery + 3 claims (the last finds nothing) + one transaction for the sends, one for the results
    assert len(commits) <= 1 + ROWS // (BATCH_SIZE * CLAIM_BATCHES) + 1 + 2, len(commits)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(PmhOutbox)
                            .where(PmhOutbox.sent_at.is_(None))).scalar_one() == 0
        assert dict(conn.execute(select(PmhOutbox.result, func.count()).group_by(PmhOutbox.result)).all()) == {
            "REGISTERED": ROWS}
        assert conn.execute(select(func.count()).select_from(PmhBatch).where(
            PmhBatch.status == "COMPLETED", PmhBatch.sent_at.is_not(None), PmhBatch.completed_at.is_not(None),
            PmhBatch.task_id.is_not(None))).scalar_one() == batches
