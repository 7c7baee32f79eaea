"""The benefit run of a month: receipts → assessment → payments and refund claims → files → summary.

The monthly flow calls it after eligibility (the stored periods are what the receipts are judged by).
"""

from __future__ import annotations

from prefect import flow

from flows.parameters import IsoDate, Month, OperatorId, benefit_run_name
from tasks import benefits as t
from tasks import common
from tasks.common import LocalPathParam, OperatorProofParam


@flow(name="benefit-run", flow_run_name=benefit_run_name, log_prints=False, persist_result=False,
      validate_parameters=True)
def benefit_run(month: Month, inbox: LocalPathParam, operator_id: OperatorId = "system-scheduler",
                transfer_date: IsoDate | None = None, operator_proof: OperatorProofParam | None = None) -> dict:
    """Assess the month's receipts and applications, book payments and 返還請求, write the files.

    Args:
        month: the processing month (YYYY-MM).
        inbox: directory holding claims.csv and/or reimbursement_applications.csv.
        operator_id: the staff member or service principal (must be registered).
        transfer_date: 取組日 of the 全銀 file; default the 25th of the month.
        operator_proof: single-use proof of identity from ``kodomo login`` (empty: see
            ``tasks.common.authorise_operator``); a spent proof is worthless in the stored parameters.
    """
    operator = common.authorise_operator(operator_id, "run", operator_proof)
    policy = common.load_run_policy()
    with common.run_scope("benefit-run", operator, month=month, policy=policy) as run:
        claim_inbox = t.load_claims(inbox, month, run.run_id)
        assessed = t.assess_claims(claim_inbox, policy)
        counts = {"load": claim_inbox.counts()}
        counts["store"] = t.store_claims(assessed, claim_inbox, month, policy, run.run_id, operator)
        reassessed = t.reassess_changed_claims(month, policy, run.run_id, assessed)
        counts["settle"] = t.settle_claims(assessed, reassessed, month, run.run_id)
        counts["payment_file"] = t.write_payment_file(month, transfer_date or f"{month}-25", run.run_id, operator)
        counts["reports"] = t.write_reports(month, assessed, run.run_id, operator)
        counts["summary"] = t.publish_summary(month, assessed, counts["settle"], counts["payment_file"])
        run.counts = counts
    return counts["summary"]
