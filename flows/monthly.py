"""The monthly run: ingest → validate → persist → decide → export → summary."""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from pydantic import Field

from tasks import monthly as t

Month = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="Month to decide, YYYY-MM")]
OperatorId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,31}$", description="Staff or service id")]


@flow(name="monthly-run", log_prints=False, persist_result=False, validate_parameters=True)
def monthly_run(month: Month | None = None, inbox: str | None = None,
                operator_id: OperatorId = "system-scheduler") -> dict:
    """Decide one month for every child from the inbox of that month.

    Args:
        month: the month decided (YYYY-MM); empty = the previous month in Asia/Tokyo, which is what the
            scheduled run on the 1st at 02:00 JST decides.
        inbox: inbox directory with the month's files; default ``<KODOMO_HOME>/inbox/<month>``.
        operator_id: the staff member or service principal running it (must be registered).
    """
    operator = t.authorise_operator(operator_id, "run")
    month = t.resolve_month(month)
    run_id = t.begin_run("monthly-run", month, operator)
    try:
        inbox_data = t.load_inbox(t.resolve_inbox(month, inbox))
        counts = {"ingest": inbox_data.counts()}
        counts["persist"] = t.persist_inputs(inbox_data, run_id, operator)
        counts["decide"] = t.decide_month(month, run_id, operator)
        counts["export"] = t.export_lists(month, run_id, operator)
        counts["summary"] = t.publish_summary(month, run_id, counts)
    except BaseException:
        t.finish_run(run_id, "FAILED", {})
        raise
    t.finish_run(run_id, "COMPLETED", counts)
    return counts["summary"]
