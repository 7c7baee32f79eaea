"""The ``pmh-sync`` flow under the Prefect test harness against the loopback simulator (SQLite and
PostgreSQL): PMH-IDs stored, artifacts hold counts only, the access record is written, tasks are safe."""

from __future__ import annotations

import json

import pytest
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.sorting import ArtifactSort

from devtools.pmh_simulator import SimConfig, SimServer
from devtools.pmh_testing import TOKEN, assert_clean


@pytest.fixture(scope="module")
def server():
    with SimServer(SimConfig(token=TOKEN, task_delay_ms=5)) as srv:
        yield srv


def test_tasks_do_not_persist_cache_or_retry():
    from tasks import common, pmh

    for task in (common.authorise_operator, common.load_run_policy, pmh.send_outbox, pmh.publish_summary):
        assert task.persist_result is False and task.cache_policy is NO_CACHE and task.retries == 0


@pytest.mark.integration
def test_pmh_sync_flow(prefect_harness, kodomo_env, server, monkeypatch):
    from prefect.client.orchestration import get_client
    from sqlalchemy import func, select

    from config.settings import get_settings
    from devtools.pmh_synthetic import create_subjects, synthetic_my_numbers
    from flows.pmh_sync import pmh_sync
    from privacy.crypto import load_key_ring
    from store import migrate
    from store.db import Base, engine_for
    from store.models import Run

    server.sim.reset()
    monkeypatch.setenv("KODOMO_PMH_URL", server.url)
    monkeypatch.setenv("KODOMO_PMH_TOKEN", TOKEN)
    get_settings.cache_clear()
    settings = get_settings()
    engine = engine_for(settings.resolved_database_url)
    migrate.upgrade(settings.resolved_database_url)
    ring = load_key_ring(settings)
    create_subjects(engine, ring, 120)

    summary = pmh_sync(operator_id="demo-operator")
    assert summary["completed"] == 120 and summary["mode"] == "http"
    assert_clean(engine, ring, server.url)
    with engine.connect() as conn:
        assert conn.execute(select(Run.status).where(Run.flow_name == "pmh-sync")).scalar_one() == "COMPLETED"
        audit = conn.execute(select(func.count()).select_from(Base.metadata.tables["access_record"])).scalar()
    assert audit >= 1

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(sort=ArtifactSort.CREATED_DESC, limit=50)  # newest: an unfiltered read is paged
    texts = [json.dumps(a.data, ensure_ascii=False) for a in artifacts if a.key and a.key.startswith("pmh-sync")]
    assert any("completed" in t for t in texts)
    canaries = synthetic_my_numbers(1, 120) + ["仙台 子1", "国分町"]
    assert not any(c in t for t in texts for c in canaries)

    with pytest.raises(Exception, match="OperatorNotAuthorised|not authorised|unknown"):
        pmh_sync(operator_id="nobody")
