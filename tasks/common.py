"""The one way tasks are declared here, and the adapter tasks every flow shares.

Every task touches personal data directly or indirectly, so none persists its result and none hashes
its inputs for caching (prefect.md §5: hashing a DataFrame costs ~0.6 s a call, and an input hash of
low-entropy personal data is brute-forceable). Exceptions leaving a task are sanitised by the plain
functions' callers in the task body (``privacy.errors``).

Each flow starts with :func:`authorise_operator` and :func:`begin_run` and ends with :func:`finish_run`
(``FAILED`` with no counts when a stage raised): the project's run table (``services.runs``) links the
Prefect flow-run id to the operator, the month and the policy version.
"""

from __future__ import annotations

import uuid
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from config.settings import get_settings
from policy import load_policy
from privacy import operators
from privacy.errors import sanitised
from services import runs
from store import migrate
from store.db import engine_for


def pipeline_task(**options: Any):
    """``@task`` with ``persist_result=False`` and ``cache_policy=NO_CACHE`` (overridable only for retries)."""
    settings: dict[str, Any] = {"persist_result": False, "cache_policy": NO_CACHE, "retries": 0, "log_prints": False}
    settings.update(options)
    return task(**settings)


def engine():
    """The process engine for the configured database."""
    return engine_for(get_settings().resolved_database_url)


@pipeline_task(name="authorise-operator")
@sanitised(stage="authorise")
def authorise_operator(operator_id: str, action: str) -> str:
    """Refuse an unknown, disabled or unauthorised operator before anything is read."""
    return operators.require_operator(operator_id, action).operator_id


@pipeline_task(name="begin-run")
@sanitised(stage="begin_run")
def begin_run(flow_name: str, operator_id: str, month: str | None = None, policy_version: str | None = None) -> str:
    """Migrate the database if needed and record the run (keyed by the Prefect flow-run id).

    ``policy_version`` defaults to the loaded policy's content hash; a flow that applies no policy passes
    ``"n/a"``.
    """
    run_id = str(flow_run.get_id() or f"local-{uuid.uuid4()}")
    migrate.upgrade(get_settings().resolved_database_url)
    with engine().begin() as conn:
        runs.start_run(conn, run_id=run_id, flow_name=flow_name, month=month, operator_id=operator_id,
                       policy_version=policy_version or load_policy().version)
    return run_id


@pipeline_task(name="finish-run")
@sanitised(stage="finish_run")
def finish_run(run_id: str, status: str, counts: dict) -> None:
    """Record the outcome of the run in the project's run table."""
    with engine().begin() as conn:
        runs.finish_run(conn, run_id=run_id, status=status, counts=counts)
