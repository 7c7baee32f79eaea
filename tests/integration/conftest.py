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
    from kodomo.settings import get_settings
    from store.db import dispose_engines

    monkeypatch.setenv("KODOMO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KODOMO_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield get_settings()
    dispose_engines()
    get_settings.cache_clear()
