"""The relay: PMH unavailable then re-sent with the same key, bad token, file mode.
Counts come from the simulator's own state."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from connectors.pmh import FilePmhClient, HttpPmhClient, PmhRejected
from devtools.pmh_synthetic import create_subjects
from devtools.pmh_testing import fast_client, outbox_status_counts, sim_stats, stored_pmh_ids
from services.pmh.relay import RelayOptions, relay_once
from store.pmh_models import PmhBatch

OPTS = RelayOptions(senders=2, claim_batches=2, poll_interval_s=0.01, result_timeout_s=30)




def test_unavailable_then_resent_with_the_same_key(engine, key_ring, sim):
    create_subjects(engine, key_ring, 150)
    sim.sim.reconfigure(error_rate=1.0)
    report = relay_once(engine, fast_client(sim.url, total=1), key_ring,
                        RelayOptions(claim_batches=1, stop_after_unavailable=1, poll_interval_s=0.01))
    counts = outbox_status_counts(engine)
    assert report.failed == counts["FAILED"] >= 100 and counts["FAILED"] + counts.get("PENDING", 0) == 150
    failed_batches = report.failed // 100 + (report.failed % 100 > 0)
    with engine.connect() as conn:
        keys_before = set(conn.execute(select(PmhBatch.batch_id)).scalars())
    sim.sim.reconfigure(error_rate=0.0)
    report = relay_once(engine, fast_client(sim.url), key_ring, OPTS)
    assert report.batches_resent == failed_batches and report.completed == 150
    with engine.connect() as conn:
        assert keys_before <= set(conn.execute(select(PmhBatch.batch_id)).scalars())
    assert sim_stats(sim.url)["duplicates"] == 0 and outbox_status_counts(engine) == {"COMPLETED": 150}


def test_bad_token_stops_the_run_and_nothing_is_lost(engine, key_ring, sim):
    create_subjects(engine, key_ring, 30)
    with pytest.raises(PmhRejected):
        relay_once(engine, HttpPmhClient(sim.url, "wrong-token"), key_ring, OPTS)
    assert outbox_status_counts(engine) == {"SENDING": 30}
    report = relay_once(engine, fast_client(sim.url), key_ring, OPTS)
    assert report.completed == 30 and sim_stats(sim.url)["duplicates"] == 0


def test_file_mode_writes_daily_batches(engine, key_ring, tmp_path):
    create_subjects(engine, key_ring, 150)
    client = FilePmhClient(tmp_path)
    report = relay_once(engine, client, key_ring, OPTS)
    assert report.records_sent == 150 and outbox_status_counts(engine) == {"SENT": 150}
    files = sorted((tmp_path / "pmh").glob("*/batch-*.json"))
    assert len(files) == 2 and not list((tmp_path / "pmh").glob("*/.*.tmp"))
    records = [r for f in files for r in json.loads(f.read_text())["records"]]
    assert sorted(r["municipalityIdentityKey"] for r in records) == [f"{i:010d}" for i in range(1, 151)]
    with engine.connect() as conn:
        batches = set(conn.execute(select(PmhBatch.batch_id, PmhBatch.status)).all())
    assert {(f.stem.removeprefix("batch-"), "WRITTEN") for f in files} == batches
    assert relay_once(engine, client, key_ring, OPTS).claimed == 0


def test_results_not_ready_are_collected_by_the_next_run(engine, key_ring, sim):
    sim.sim.reconfigure(task_delay_ms=800)
    create_subjects(engine, key_ring, 50)
    first = relay_once(engine, fast_client(sim.url), key_ring,
                       RelayOptions(poll_interval_s=0.01, result_timeout_s=0.2))
    assert first.records_sent == 50 and first.completed == 0 and first.awaiting_results == 50
    assert outbox_status_counts(engine) == {"SENT": 50}
    second = relay_once(engine, fast_client(sim.url), key_ring, OPTS)
    assert second.claimed == 0 and second.completed == 50 and sim_stats(sim.url)["tasks"] == 1
    assert len(stored_pmh_ids(engine, key_ring)) == 50
