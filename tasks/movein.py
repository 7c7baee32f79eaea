"""Adapter tasks of the ``move-in`` and ``resident-changes`` flows.

Each wraps one plain step of :mod:`services.movein.steps`. No task retries on inquiries: transient HTTP
failures are retried inside the inquiry connectors only (style.md point 8); a case that still fails is
reported, and nothing of it is half-applied.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect.artifacts import create_markdown_artifact

from privacy.errors import sanitised
from services.movein import changes, service, steps
from services.movein.params import MoveInCase
from tasks.common import pipeline_task
from tasks.monthly import retry_if_transient


@pipeline_task(name="resolve-case")
@sanitised(stage="resolve_case")
def resolve_case(case: MoveInCase, run_id: str) -> service.CaseContext:
    """Find the case and its recorded consent; refuse an inquiry without consent (nothing queried)."""
    return steps.resolve_case(case.to_request(), run_id)


@pipeline_task(name="run-inquiries")
@sanitised(stage="run_inquiries")
def run_inquiries(context: service.CaseContext, case: MoveInCase, run_id: str) -> service.Gathered:
    """Registry, tax, 住基ネット and 中間サーバ inquiries (retried in the connectors only)."""
    return steps.run_inquiries(context, case.to_request(), run_id)


@pipeline_task(name="apply-case")
@sanitised(stage="apply_case")
def apply_case(gathered: service.Gathered, run_id: str, operator_id: str) -> dict:
    """Persons, income, application, re-determination and PMH outbox in one transaction."""
    return steps.apply_case(gathered, run_id, operator_id)


@pipeline_task(name="issue-notices")
@sanitised(stage="issue_notices")
def issue_notices(month: str, run_id: str, operator_id: str) -> dict:
    """Rewrite the month's issuance and notice lists for staff."""
    return steps.issue_notices(month, run_id, operator_id)


@pipeline_task(name="send-to-pmh")
@sanitised(stage="send_to_pmh")
def send_to_pmh(run_id: str, operator_id: str) -> dict:
    """Drain the PMH outbox once; PMH trouble leaves the rows queued for the next sync."""
    return steps.send_to_pmh(run_id, operator_id)


@pipeline_task(name="publish-case-summary")
@sanitised(stage="publish_summary")
def publish_case_summary(result: dict) -> dict:
    """Markdown artifact with masked ids and counts; returns the same (masked) summary."""
    create_markdown_artifact(key="move-in-case", markdown=service.summary_markdown(result),
                             description=f"Move-in case {result['case_id']}")
    return {k: result[k] for k in ("case_id", "status", "household", "members", "decided", "inquiries",
                                    "income_source", "previous_municipality")} | {
        "decisions": (result.get("determination") or {}).get("by_type", {}),
        "pmh_outbox_rows": (result.get("determination") or {}).get("pmh_outbox_rows", 0),
        "pmh": {k: v for k, v in (result.get("pmh") or {}).items() if k in ("completed", "records_sent",
                                                                          "failed", "error", "skipped")},
    }


@pipeline_task(name="list-event-files")
@sanitised(stage="list_event_files")
def list_event_files(events_file: str) -> list[str]:
    """The events file, or the new event files of a directory."""
    return steps.pending_event_files(events_file)


@pipeline_task(name="read-events", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_if_transient)
@sanitised(stage="read_events")
def read_events(events_file: str, as_of: dt.date) -> changes.EventBatch:
    """Read and validate one events file (retried: it may still be arriving)."""
    return steps.read_events(events_file, as_of)


@pipeline_task(name="apply-events")
@sanitised(stage="apply_events")
def apply_events(batch: changes.EventBatch, run_id: str, operator_id: str, as_of: dt.date) -> dict:
    """Persons, events and the affected households' re-determination in one transaction."""
    return steps.apply_events(batch, run_id, operator_id, as_of)


@pipeline_task(name="publish-changes-summary")
@sanitised(stage="publish_summary")
def publish_changes_summary(results: list[dict], files: list[str], as_of: dt.date) -> dict:
    """Markdown artifact per run (counts only); returns the totals."""
    for result, name in zip(results, files, strict=True):
        create_markdown_artifact(key="resident-changes", markdown=changes.summary_markdown(result, Path(name).name),
                                 description="Resident changes batch")
    return steps.summarise_batches(results, as_of)


def today() -> dt.date:
    """Today in Asia/Tokyo (plain helper for the flows)."""
    return steps.today()

