"""The one way tasks are declared here, and the adapters every flow shares.

Every task touches personal data directly or indirectly, so none persists its result and none hashes
its inputs for caching (prefect.md §5: hashing a DataFrame costs ~0.6 s a call, and an input hash of
low-entropy personal data is brute-forceable). Exceptions leaving a task are sanitised by the plain
functions' callers in the task body (``privacy.errors``).

Each flow starts with :func:`authorise_operator` and :func:`load_run_policy`, then runs its body inside
:func:`run_scope`, the Prefect adapter of :func:`services.runs.run_scope`: the project's run table links the
Prefect flow-run id to the operator, the month and the policy version, refuses a second RUNNING run of the
same flow and month, and records COMPLETED with the counts or FAILED on any exception. The policy loaded
at the start is passed to every task that applies it (tasks use ``NO_CACHE``, so it is never hashed).
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.exceptions import ObjectNotFound
from prefect.runtime import flow_run

from config.settings import get_settings
from policy import Policy, load_policy
from privacy import operators
from privacy.audit import record_refusal
from privacy.errors import sanitised
from privacy.operators import (  # noqa: F401 - flow parameter types and patterns (flows import tasks only)
    OPERATOR_ID_PATTERN,
    PROOF_PATTERN,
    OperatorIdParam,
    OperatorProofParam,
)
from privacy.paths import LOCAL_PATH_PATTERN, REFERENCE_PATTERN, LocalPathParam  # noqa: F401 - flow parameter types and patterns
from services import runs
from services.runs import RunAlreadyRunningError  # noqa: F401 - flows handle a refused subflow (flows import tasks only)
from store import migrate
from store.db import engine_for

#: ``policy_version`` of a run that applies no policy (PMH sync).
NO_POLICY = "n/a"

#: A proof field that a form may leave empty (a scheduled run, a subflow): a plain input, no toggle.
PROOF_OR_EMPTY = "^(?:" + PROOF_PATTERN.removeprefix("^").removesuffix("$") + ")?$"


def pipeline_task(**options: Any):
    """``@task`` with ``persist_result=False`` and ``cache_policy=NO_CACHE`` (overridable only for retries)."""
    settings: dict[str, Any] = {"persist_result": False, "cache_policy": NO_CACHE, "retries": 0, "log_prints": False}
    settings.update(options)
    return task(**settings)


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


@pipeline_task(name="load-policy")
@sanitised(stage="load_policy")
def load_run_policy() -> Policy:
    """The dated parameters, loaded once per run and passed down to every task that applies them."""
    return load_policy()


def flow_run_alive(run: runs.RunningRun) -> bool | None:
    """Liveness of a RUNNING row: its process (same host), then its Prefect flow run.

    A run whose process is gone, or whose flow run is in a final state (crashed, cancelled, failed while the
    row stayed RUNNING), is dead. A flow run the API does not know (a temporary server that is gone) says
    nothing: the process check decides, and ``None`` (cannot tell) counts as alive.
    """
    process = runs.process_alive(run)
    if process is False:
        return False
    try:
        flow_run_id = uuid.UUID(run.run_id)
    except ValueError:
        return process
    try:
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(flow_run_id).state
    except ObjectNotFound:
        return process
    if state is not None and state.is_final():
        return False
    return True if process is None else process


def person_lock_scope(person_id: str) -> str:
    """A lock scope per person that does not hold the 宛名番号 itself (a digest of it)."""
    return "person " + hashlib.sha256(person_id.encode()).hexdigest()[:16]


@contextlib.contextmanager
def run_scope(flow_name: str, operator_id: str, *, policy: Policy | None, month: str | None = None,
              lock_scope: str | None = None) -> Iterator[runs.RunScope]:
    """Open the run of this flow (keyed by its Prefect flow-run id); see :func:`services.runs.run_scope`.

    ``policy`` is the run's policy (its content hash is recorded), or ``None`` for a flow that applies none.
    ``lock_scope`` narrows the one-RUNNING-run lock below the month (a move-in case); default the month.
    """
    settings = get_settings()
    migrate.ensure_upgraded(settings.resolved_database_url)
    run_id = flow_run.get_id()
    with runs.run_scope(engine_for(settings), flow_name=flow_name, operator_id=operator_id, month=month,
                        policy_version=policy.version if policy is not None else NO_POLICY,
                        lock_scope=lock_scope, run_id=str(run_id) if run_id else None,
                        is_alive=flow_run_alive) as scope:
        yield scope
