"""Issue 14 §1: the work pool's base job template refuses ``command``, ``env`` and ``working_dir`` overrides.

Against the real work-pool API (the session's Prefect test server): the pool is created from the
repository's ``work-pool-template.json`` exactly as the README does, then a deployment and flow runs try
to set the job variables the attack used (``env`` pointing ``KODOMO_OPERATORS_FILE`` at a forged
registry, ``command`` running ``id`` on the worker).
"""

import json
import uuid
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import PrefectHTTPStatusError

TEMPLATE = Path(__file__).resolve().parents[2] / "work-pool-template.json"
ATTACKS = [
    {"env": {"KODOMO_OPERATORS_FILE": "/tmp/evil.yaml"}},
    {"command": "id; ls /srv/kodomo/keys"},
    {"working_dir": "/tmp/attacker-code"},
]


@pytest.fixture
def pool(prefect_harness):
    name = f"kodomo-process-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=name, type="process",
                                               base_job_template=json.loads(TEMPLATE.read_text())))
        flow_id = client.create_flow_from_name("pmh-sync")
        deployment_id = client.create_deployment(flow_id=flow_id, name=name, work_pool_name=name,
                                                 entrypoint="flows/pmh_sync.py:pmh_sync", job_variables={})
        yield client, name, flow_id, deployment_id


@pytest.mark.parametrize("job_variables", ATTACKS)
def test_a_flow_run_cannot_override_the_workers_command_env_or_directory(pool, job_variables):
    client, _, _, deployment_id = pool
    with pytest.raises(PrefectHTTPStatusError) as refused:
        client.create_flow_run_from_deployment(deployment_id, job_variables=job_variables)
    assert refused.value.response.status_code == 422


@pytest.mark.parametrize("job_variables", ATTACKS)
def test_a_deployment_cannot_carry_the_overrides_either(pool, job_variables):
    client, name, flow_id, _ = pool
    with pytest.raises(PrefectHTTPStatusError) as refused:
        client.create_deployment(flow_id=flow_id, name=f"{name}-evil", work_pool_name=name,
                                 entrypoint="flows/pmh_sync.py:pmh_sync", job_variables=job_variables)
    assert refused.value.response.status_code == 422


def test_an_ordinary_run_is_accepted(pool):
    client, _, _, deployment_id = pool
    run = client.create_flow_run_from_deployment(deployment_id, job_variables={"labels": {"by": "test"}})
    assert run.deployment_id == deployment_id
