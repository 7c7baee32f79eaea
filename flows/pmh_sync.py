"""The ``pmh-sync`` flow: drain the PMH outbox (daily; also after the monthly run)."""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from pydantic import Field

from flows.parameters import OperatorId, pmh_sync_name
from tasks import common
from tasks import pmh as t
from tasks.common import OperatorProofParam


@flow(name="pmh-sync", flow_run_name=pmh_sync_name, log_prints=False, persist_result=False,
      validate_parameters=True)
def pmh_sync(operator_id: OperatorId = "system-scheduler", limit: Annotated[int, Field(ge=1)] | None = None,
             operator_proof: OperatorProofParam | None = None) -> dict:
    """Send queued PMH registrations/deletions, collect PMH-IDs, publish counts.

    Args:
        operator_id: the staff or system id the run acts for (needs the ``run`` action).
        limit: at most this many new outbox rows this run (None = all).
        operator_proof: single-use proof of identity from ``kodomo login`` (empty: see
            ``tasks.common.authorise_operator``); a spent proof is worthless in the stored parameters.
    """
    operator = common.authorise_operator(operator_id, "run", operator_proof)
    with common.run_scope("pmh-sync", operator, policy=None) as run:
        report = t.send_outbox(run.run_id, operator, limit)
        run.counts = t.publish_summary(report)
    return run.counts
