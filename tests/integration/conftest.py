"""Integration fixtures: one Prefect test harness for the whole session (prefect.md §2)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect server + database for the session; flow heartbeats off (saves ~1 s a flow)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (prefect_test_harness(server_startup_timeout=120),
          temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})):
        yield


@pytest.fixture
def kodomo_env(monkeypatch, tmp_path, db_url):
    """Point the settings at a fresh database and a temporary home (keys, inbox, outbox)."""
    from config.settings import get_settings
    from devtools.credentials import enrol_demo_operators
    from store.db import dispose_engines

    monkeypatch.setenv("KODOMO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KODOMO_DATABASE_URL", db_url)
    get_settings.cache_clear()
    enrol_demo_operators()  # the demo principals prove themselves with their key files (privacy.operators)
    yield get_settings()
    dispose_engines()
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def server():
    """A local PMH simulator on a free loopback port, one per test module (modules may override it)."""
    from devtools.pmh_simulator import SimConfig, SimServer
    from devtools.pmh_testing import TOKEN

    with SimServer(SimConfig(token=TOKEN)) as srv:
        yield srv


@pytest.fixture
def sim(server):
    """The module's PMH simulator, reset to an empty state with a 5 ms intermediary step."""
    from devtools.pmh_simulator import SimConfig
    from devtools.pmh_testing import TOKEN

    server.sim.reset()
    server.sim.reconfigure(**SimConfig(token=TOKEN, task_delay_ms=5).__dict__)
    return server
