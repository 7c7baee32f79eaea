"""The ``resident-changes`` flow: a batch of 異動 events → persons, households, notices, PMH outbox."""

from __future__ import annotations

import datetime as dt

from prefect import flow

from flows.parameters import OperatorId, city_today, resident_changes_name
from tasks import common
from tasks import movein as t
from tasks.common import LocalPathParam, OperatorProofParam


@flow(name="resident-changes", flow_run_name=resident_changes_name, log_prints=False, persist_result=False,
      validate_parameters=True)
def resident_changes(events_file: LocalPathParam, operator_id: OperatorId = "system-scheduler",
                     as_of: dt.date | None = None, send_to_pmh: bool = True,
                     operator_proof: OperatorProofParam | None = None) -> dict:
    """Process 異動 events as they arrive and re-determine the affected households.

    Args:
        events_file: a ``resident_events.csv`` (with optional ``applications.csv`` / ``insurance.csv`` next
            to it), or a directory whose new ``resident_events*.csv`` files are processed in name order.
        operator_id: the staff member or service principal running it (must be registered).
        as_of: processing date; empty = today (Asia/Tokyo). Decisions are made for its month.
        send_to_pmh: drain the PMH outbox after the decisions.
        operator_proof: single-use proof of identity from ``kodomo login`` (empty: see
            ``tasks.common.authorise_operator``); a spent proof is worthless in the stored parameters.
    """
    operator = common.authorise_operator(operator_id, "run", operator_proof)
    as_of = as_of or city_today()
    policy = common.load_run_policy()
    # One batch at a time: two concurrent runs would both pick up the same new files.
    with common.run_scope("resident-changes", operator, policy=policy, lock_scope="events") as run:
        files = t.list_event_files(events_file)
        results = [t.apply_events(t.read_events(name, as_of), policy, run.run_id, operator, as_of) for name in files]
        summary = t.publish_changes_summary(results, files, as_of)
        if results:
            summary["notices"] = t.issue_notices(summary["month"], run.run_id, operator)
            if send_to_pmh:
                summary["pmh"] = t.send_to_pmh(run.run_id, operator)
        run.counts = summary
    return summary
