"""The print run of a month: the month's decisions → 受給者証 and notices as PDF batches with an index."""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from pydantic import Field

from tasks import common
from tasks import print as t

Month = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="Month decided, YYYY-MM")]
OperatorId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,31}$", description="Staff or service id")]
IssueDate = Annotated[str, Field(pattern=r"^(\d{4}-\d{2}-\d{2})?$", title="交付日",
                                 description="印刷する交付日。空欄＝今日", json_schema_extra={"format": "date"})]


@flow(name="print-run", flow_run_name="print {month}", log_prints=False, persist_result=False,
      validate_parameters=True)
def print_run(month: Month, operator_id: OperatorId = "system-scheduler", issue_date: IssueDate = "") -> dict:
    """Print the month's documents to ``<KODOMO_HOME>/print/<month>/`` (0700), one PDF per batch + index.

    Args:
        month: the month whose decisions are printed (YYYY-MM).
        operator_id: the staff member or service principal (must be registered; the print is recorded).
        issue_date: the 交付日 printed on the documents; empty = today (Asia/Tokyo).
    """
    operator = common.authorise_operator(operator_id, "run")
    run_id = common.begin_run("print-run", operator, month=month)
    try:
        issued = t.resolve_issue_date(issue_date)
        result = t.publish_summary(t.print_month(month, issued, run_id, operator))
    except BaseException:
        common.finish_run(run_id, "FAILED", {})
        raise
    common.finish_run(run_id, "COMPLETED", {"pages": result["pages"]})
    return result
