"""REL-04: SIGKILL of a relay process at the result commit fault points, then a re-run in-process:
nothing lost, nothing sent twice (counted by the simulator's own state), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from devtools.pmh_simulator import SimConfig, SimServer
from devtools.pmh_testing import TOKEN, kill_and_rerun

POINTS = ("after_poll_before_commit",)


@pytest.fixture(scope="module")
def server():
    with SimServer(SimConfig(token=TOKEN, task_delay_ms=5)) as srv:
        yield srv


def test_sigkill_at_fault_points_then_rerun(engine, key_ring, server, db_url, tmp_path):
    server.sim.reset()
    for n, point in enumerate(POINTS):
        nth = 1 if point == "after_poll_before_commit" else 2
        outcome = kill_and_rerun(engine, key_ring, server.url, db_url, str(tmp_path), point, 1 + 1000 * n, nth)
        assert outcome["outbox_rows"] == 150 * (n + 1)
        assert outcome["before_rerun"].get("COMPLETED", 0) < 150 * (n + 1)  # the kill left work undone
