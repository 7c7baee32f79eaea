"""The ``pmh-sync`` flow: drain the PMH outbox (daily; also after the monthly run)."""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from pydantic import Field

from tasks import common
from tasks import pmh as t
from tasks.common import OperatorIdParam, OperatorProofParam


@flow(name="pmh-sync", log_prints=False, persist_result=False, validate_parameters=True)
def pmh_sync(operator_id: OperatorIdParam = "system-scheduler", limit: Annotated[int, Field(ge=1)] | None = None,
             operator_proof: OperatorProofParam | None = None) -> dict:
    """Send queued PMH registrations/deletions, collect PMH-IDs, publish counts.

    Args:
        operator_id: the staff or system id the run acts for (needs the ``run`` action).
        limit: at most this many new outbox rows this run (None = all).
        operator_proof: single-use proof of identity from ``kodomo login`` (empty: see
            ``tasks.common.authorise_operator``); a spent proof is worthless in the stored parameters.
    """
    operator = common.authorise_operator(operator_id, "run", operator_proof)
    run_id = common.begin_run("pmh-sync", operator, policy_version="n/a")
    try:
        report = t.send_outbox(run_id, operator, limit)
        summary = t.publish_summary(report)
    except BaseException:
        common.finish_run(run_id, "FAILED", {})
        raise
    common.finish_run(run_id, "COMPLETED", summary)
    return summary
