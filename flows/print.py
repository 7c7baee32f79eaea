"""The print run of a month: the month's decisions → 受給者証 and notices as PDF batches with an index."""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from pydantic import Field

from tasks import common
from tasks import print as t
from tasks.common import PROOF_OR_EMPTY, OperatorIdParam

Month = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="Month decided, YYYY-MM")]
OperatorId = OperatorIdParam  # the one id pattern (privacy.operators): a My Number never fits
IssueDate = Annotated[str, Field(pattern=r"^(\d{4}-\d{2}-\d{2})?$", title="交付日",
                                 description="印刷する交付日。空欄＝今日", json_schema_extra={"format": "date"})]


@flow(name="print-run", flow_run_name="print {month}", log_prints=False, persist_result=False,
      validate_parameters=True)
def print_run(month: Month, operator_id: OperatorId = "system-scheduler", issue_date: IssueDate = "",
              operator_proof: Annotated[str, Field(pattern=PROOF_OR_EMPTY, title="本人確認")] = "") -> dict:
    """Print the month's documents to ``<KODOMO_HOME>/print/<month>/`` (0700), one PDF per batch + index.

    Args:
        month: the month whose decisions are printed (YYYY-MM).
        operator_id: the staff member or service principal (must be registered; the print is recorded).
        issue_date: the 交付日 printed on the documents; empty = today (Asia/Tokyo).
        operator_proof: single-use proof of identity from ``kodomo login`` (a reprint started from the UI
            needs it; chained from monthly-run, the parent's proof counts).
    """
    operator = common.authorise_operator(operator_id, "run", operator_proof or None)
    policy = common.load_run_policy()
    with common.run_scope("print-run", operator, month=month, policy=policy) as run:
        issued = t.resolve_issue_date(issue_date)
        result = t.publish_summary(t.print_month(month, issued, policy, run.run_id, operator))
        run.counts = {"pages": result["pages"]}
    return result
