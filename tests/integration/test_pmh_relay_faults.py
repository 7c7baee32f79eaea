"""Every simulator fault knob through the whole relay (SQLite and PostgreSQL): all rows settle, each
record is applied exactly once (the simulator's own count), every person gets a PMH-ID."""

from __future__ import annotations

import pytest

from devtools.pmh_simulator import SimConfig, SimServer
from devtools.pmh_synthetic import create_subjects
from devtools.pmh_testing import TOKEN, assert_clean, fast_client, sim_stats
from services.pmh.relay import RelayOptions, relay_once


@pytest.fixture(scope="module")
def server():
    with SimServer(SimConfig(token=TOKEN)) as srv:
        yield srv


@pytest.fixture
def sim(server):
    server.sim.reset()
    server.sim.reconfigure(**SimConfig(token=TOKEN, task_delay_ms=5, seed=0).__dict__)
    return server


def test_latency_5xx_and_dropped_responses(engine, key_ring, sim):
    sim.sim.reconfigure(latency_ms=10, error_rate=0.25, drop_after_commit_rate=0.25)
    create_subjects(engine, key_ring, 300)
    report = relay_once(engine, fast_client(sim.url, total=30), key_ring,
                        RelayOptions(senders=3, claim_batches=2, poll_interval_s=0.01))
    stats = sim_stats(sim.url)
    assert stats["responses_503"] > 0 and stats["faults_dropped"] > 0 and stats["replays"] > 0
    assert report.completed == 300
    assert_clean(engine, key_ring, sim.url)


def test_timeouts_and_rate_limit(engine, key_ring, sim):
    sim.sim.reconfigure(timeout_rate=0.3, timeout_sleep_s=0.4, rate_limit=4.0, poll_rate_limit=4.0, burst=1,
                        retry_after_decimal=True)
    create_subjects(engine, key_ring, 300)
    report = relay_once(engine, fast_client(sim.url, timeout=(1.0, 0.15), total=30), key_ring,
                        RelayOptions(senders=3, claim_batches=2, poll_interval_s=0.01))
    stats = sim_stats(sim.url)
    assert stats["faults_timeout"] > 0 and stats["responses_429"] > 0
    assert report.completed == 300
    assert_clean(engine, key_ring, sim.url)
