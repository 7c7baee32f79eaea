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


# -- move-in ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def inquiry_simulator():
    """The inquiry simulator on a free loopback port for the module."""
    from devtools import inquiry_sim

    with inquiry_sim.serve_in_thread() as running:
        yield running


@pytest.fixture
def movein_env(kodomo_env, tmp_path, inquiry_simulator, monkeypatch):
    """A fresh database (both dialects via ``db_url``), two synthetic households behind the simulator.

    Household 1 knows its previous city in the registry; household 2 does not (住基ネット has it). The
    settings point the inquiry connectors at the simulator (``KODOMO_CONNECTOR=http``), so the flows ask it.
    """
    from config.settings import get_settings
    from connectors import inquiry as iq
    from devtools import inquiry_sim
    from devtools import movein_demo as demo
    from devtools.movein_testing import MOVE_IN, prepared_engine

    engine = prepared_engine(kodomo_env.resolved_database_url)
    known = demo.demo_household(1, move_in_date=MOVE_IN)
    unknown = demo.demo_household(2, move_in_date=MOVE_IN, known_previous_city=False)
    directory = demo.write_inquiry_dir(tmp_path / "inquiry", [known, unknown])
    inquiry_simulator.sim.reset()
    inquiry_simulator.sim.data = inquiry_sim.InquiryData.from_directory(directory)
    monkeypatch.setenv("KODOMO_CONNECTOR", "http")
    monkeypatch.setenv("KODOMO_INQUIRY_URL", inquiry_simulator.base_url)
    get_settings.cache_clear()
    options = iq.HttpOptions(timeout=(2.0, 5.0), retries=2, backoff_factor=0.01, retry_after_max=1)
    return {
        "engine": engine, "sim": inquiry_simulator.sim, "url": inquiry_simulator.base_url, "tmp": tmp_path,
        "connectors": iq.http_connectors(inquiry_simulator.base_url, options=options),
        "known": known, "unknown": unknown, "inquiry_dir": directory, "settings": get_settings(),
    }
