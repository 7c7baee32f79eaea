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
from prefect.context import FlowRunContext
from prefect.runtime import flow_run

from config.settings import get_settings
from policy import load_policy
from privacy import operators
from privacy.audit import record_refusal
from privacy.errors import sanitised
from privacy.operators import PROOF_PATTERN, OperatorIdParam, OperatorProofParam  # noqa: F401 - flow parameter types
from privacy.paths import LocalPathParam  # noqa: F401 - flow parameter type
from services import runs
from store import migrate
from store.db import engine_for

#: A proof field that a form may leave empty (a scheduled run, a subflow): a plain input, no toggle.
PROOF_OR_EMPTY = "^(?:" + PROOF_PATTERN.removeprefix("^").removesuffix("$") + ")?$"


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
def authorise_operator(operator_id: str, action: str, operator_proof: str | None = None) -> str:
    """Refuse an unknown, disabled, unauthorised or *unproven* operator before anything is read.

    Accepted proofs (privacy.operators): the single-use ``operator_proof`` of the run form; for a subflow,
    the proof its parent flow run already accepted in this process; for a run without a deployment (the
    CLI, a script), one the calling process signs with its own key file; for a *scheduled* run of a
    service principal, one signed with the service key of the worker's own settings. A deployment run
    started by hand or through the API needs the form's proof. Every refusal is an access record.
    """
    try:
        if operator_proof:
            return operators.verify_proof(operator_proof, operator_id, action).operator_id
        context = FlowRunContext.get()
        run = context.flow_run if context is not None else None
        if run is not None and run.parent_task_run_id is not None and operators.proven_in_process(operator_id):
            return operators.require_operator(operator_id, action).operator_id
        proof = None
        if run is None or run.deployment_id is None:
            proof = operators.local_proof(operator_id) or operators.service_proof(operator_id)
        elif run.auto_scheduled:
            proof = operators.service_proof(operator_id)
        if not proof:
            operators.require_operator(operator_id, action)
            raise operators.OperatorNotAuthorised(operator_id, action, "no proof of identity")
        return operators.verify_proof(proof, operator_id, action).operator_id
    except operators.OperatorNotAuthorised as refusal:
        record_refusal(operator_id, f"flow:{action}:{refusal.reason}"[:128])
        raise


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
