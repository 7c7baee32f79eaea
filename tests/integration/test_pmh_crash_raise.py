"""REL-04: an exception at each named fault point, then a re-run: nothing lost, nothing sent twice.

Each point gets its own 250 subjects (3 batches); the fault fires at the 2nd hit so that part of the work
committed before the crash. Invariants are checked from our tables and the simulator's own state.
"""

from __future__ import annotations

import pytest

from devtools.faults import FAULT_ENV, FAULT_POINTS, PmhFaultInjected, fault_point, reset_fault_counters
from devtools.pmh_simulator import SimConfig, SimServer
from devtools.pmh_synthetic import create_subjects
from devtools.pmh_testing import TOKEN, assert_clean, fast_client, sim_stats
from services.pmh.relay import RelayOptions, relay_once

OPTS = RelayOptions(senders=1, claim_batches=1, poll_interval_s=0.01, result_timeout_s=30)


@pytest.fixture(scope="module")
def server():
    with SimServer(SimConfig(token=TOKEN, task_delay_ms=5)) as srv:
        yield srv


def test_exception_at_each_fault_point_then_rerun(engine, key_ring, server, monkeypatch):
    server.sim.reset()
    replays = 0
    for n, point in enumerate(FAULT_POINTS):
        create_subjects(engine, key_ring, 250, start=1 + 1000 * n)
        reset_fault_counters()
        monkeypatch.setenv(FAULT_ENV, f"{point}:raise:{1 if point == 'after_poll_before_commit' else 2}")
        with pytest.raises(PmhFaultInjected):
            relay_once(engine, fast_client(server.url), key_ring, OPTS, fault_hook=fault_point)
        monkeypatch.delenv(FAULT_ENV)
        relay_once(engine, fast_client(server.url), key_ring, OPTS)
        inv = assert_clean(engine, key_ring, server.url)
        assert inv["outbox_rows"] == 250 * (n + 1)
        stats = sim_stats(server.url)
        if point in ("after_send_before_commit",):
            assert stats["replays"] > replays  # the unknown outcome was reconciled by the same key
        replays = stats["replays"]
