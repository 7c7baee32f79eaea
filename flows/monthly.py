"""The monthly run: ingest → validate → persist → decide → export → summary → benefits → PMH sync."""

from __future__ import annotations

from prefect import flow

from flows.benefits import benefit_run
from flows.parameters import Month, OperatorId, monthly_run_name, previous_month
from flows.pmh_sync import pmh_sync
from flows.print import print_run
from tasks import common
from tasks import monthly as t
from tasks.common import LocalPathParam, OperatorProofParam


@flow(name="monthly-run", flow_run_name=monthly_run_name, log_prints=False, persist_result=False,
      validate_parameters=True)
def monthly_run(month: Month | None = None, inbox: LocalPathParam | None = None,
                operator_id: OperatorId = "system-scheduler", run_benefits: bool = True,
                sync_pmh: bool = True, operator_proof: OperatorProofParam | None = None, full: bool = False) -> dict:
    """Decide one month for every child from the inbox of that month.

    Args:
        month: the month decided (YYYY-MM); empty = the previous month in Asia/Tokyo, which is what the
            scheduled run on the 1st at 02:00 JST decides.
        inbox: inbox directory with the month's files; default ``<KODOMO_HOME>/inbox/<month>``.
        operator_id: the staff member or service principal running it (must be registered).
        run_benefits: also assess the month's receipts when the inbox holds them (benefit-run subflow).
        sync_pmh: drain the PMH outbox at the end (pmh-sync subflow).
        operator_proof: single-use proof of identity from ``kodomo login`` (empty: see
            ``tasks.common.authorise_operator``); a spent proof is worthless in the stored parameters.
        full: read every input file again and recompute every child, instead of skipping the files stored
            unchanged (``services.intake.unchanged``) and re-determining only the children whose inputs changed
            or whom a date of the month crosses (``services.eligibility.incremental``); the result is the same.
    """
    operator = common.authorise_operator(operator_id, "run", operator_proof)
    month = month or previous_month()  # the same default as the run's name
    policy = common.load_run_policy()
    inbox = t.resolve_inbox(month, inbox)
    with common.run_scope("monthly-run", operator, month=month, policy=policy) as run:
        inbox_data = t.load_inbox(inbox, None if full else run.run_id)  # full: every file read again
        counts = {"ingest": inbox_data.counts()}
        counts["persist"] = t.persist_inputs(inbox_data, run.run_id, operator)
        del inbox_data  # stored: the month is decided from the database, so the frames' memory is let go
        counts["decide"] = t.decide_month(month, policy, run.run_id, operator, full)
        counts["export"] = t.export_lists(month, run.run_id, operator)
        counts["summary"] = t.publish_summary(month, run.run_id, counts)
        run.counts = counts
    counts["summary"]["print"] = print_run(month=month, operator_id=operator)
    if run_benefits and t.has_claims(inbox):
        counts["summary"]["benefits"] = benefit_run(month=month, inbox=inbox, operator_id=operator)
    if sync_pmh:
        try:
            counts["summary"]["pmh"] = pmh_sync(operator_id=operator)
        except common.RunAlreadyRunningError:
            # The daily pmh-sync is running: it sends this month's outbox rows too. The month is decided
            # and stored; refusing the second sync must not fail it.
            counts["summary"]["pmh"] = {"skipped": "pmh-sync already running (it sends this month's rows)"}
    counts["summary"] |= t.publish_summary(month, run.run_id, counts)  # again, with benefit, print and PMH outputs
    return counts["summary"]
