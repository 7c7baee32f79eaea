"""UKE claims of a month (国保連 / 支払基金 bills of the city's 地単公費), run from the Prefect UI.

read the directory's ``*.UKE`` → book each file (match, assess, compare, bill) → review lists → pay the
bills when a payment date is given → Japanese summary (docs/formats/uke.md, "Prefect flow").
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from pydantic import Field

from tasks import claims as t
from tasks import common
from tasks.common import LocalPathParam, OperatorIdParam, OperatorProofParam

Month = Annotated[str, Field(pattern=t.MONTH_PATTERN, description="請求年月 of the bills, YYYY-MM")]
IsoDate = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$",
                               description="Payment date of the bills, YYYY-MM-DD (empty: do not pay yet)")]


@flow(name="uke-claims", flow_run_name="uke-claims {month}", log_prints=False, persist_result=False,
      validate_parameters=True)
def uke_claims(month: Month, directory: LocalPathParam | None = None,
               operator_id: OperatorIdParam = "system-scheduler", paid_on: IsoDate | None = None,
               operator_proof: OperatorProofParam | None = None) -> dict:
    """Check and book the month's UKE files; optionally pay the month's bills.

    Args:
        month: the 請求年月 (YYYY-MM); a file of another month is refused.
        directory: directory of ``*.UKE`` files under ``<KODOMO_HOME>/inbox`` (relative: from the inbox);
            default ``<inbox>/<month>/uke``. A path outside the inbox is refused and recorded.
        operator_id: the staff member or service principal (must be registered).
        paid_on: when given, the bills of the month are paid on this date (approved − reversals, once) and
            their 請求内訳 CSVs written; empty: check and book only. Not paid when a file was refused.
        operator_proof: single-use proof of identity from ``kodomo login`` (empty: see
            ``tasks.common.authorise_operator``); a spent proof is worthless in the stored parameters.
    """
    operator = common.authorise_operator(operator_id, "run", operator_proof)
    policy = common.load_run_policy()
    with common.run_scope("uke-claims", operator, month=month, policy=policy) as run:
        source = t.resolve_directory(month, directory, operator)
        read = t.read_files(source, month, policy, run.run_id)
        counts = {"read": read.counts()}
        counts["ingest"] = t.ingest_files(read, policy, run.run_id, operator)
        counts["review"] = t.write_review_lists(month, run.run_id, operator)
        # A refused file may belong to these bills: paying them now would shut out its corrected copy.
        counts["closed"] = (t.close_bills(month, paid_on, run.run_id, operator)
                            if paid_on and not counts["ingest"]["refused"] else [])
        counts["bills"] = t.bill_totals(month)
        counts["summary"] = t.publish_summary(month, read, counts["ingest"], counts["review"], counts["bills"],
                                              counts["closed"], payment_requested=paid_on is not None)
        run.counts = counts
        t.raise_for_refused(counts["ingest"])  # after the summary: the run ends FAILED, naming each file
    return counts["summary"]
