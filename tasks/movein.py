"""Adapter tasks of the ``move-in`` and ``resident-changes`` flows.

Each wraps one plain step of :mod:`services.movein.steps`. No task retries on inquiries: transient HTTP
failures are retried inside the inquiry connectors only (style.md point 8); a case that still fails is
reported, and nothing of it is half-applied.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect.artifacts import create_markdown_artifact

from policy import Policy
from privacy.errors import sanitised
from services.movein import changes, service, steps
from tasks.common import person_lock_scope, pipeline_task
from tasks.monthly import retry_if_transient


def case_request(case) -> service.MoveInRequest:
    """The plain request of :mod:`services.movein.service` from the flow's form (``flows.parameters.MoveInCase``)."""
    return service.MoveInRequest(
        operator_id=case.operator_id, income_source=case.income_source, case_id=case.case_id or None,
        person_id=case.person_id or None, certificate_path=case.certificate_path or None,
        consent_id=case.consent_id or None, previous_municipality_code=case.previous_municipality_code or None,
        insurer_number=case.insurer_number or None, insured_type_code=case.insured_type_code,
        insurance_valid_from=_date_or_none(case.insurance_valid_from),
        application_date=_date_or_none(case.application_date), as_of=_date_or_none(case.as_of),
    )


def _date_or_none(value: str | dt.date | None) -> dt.date | None:
    """The form's dates are ``YYYY-MM-DD`` text where empty means none."""
    if not value:
        return None
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def case_lock_scope(case) -> str:
    """One running run per case: the case id, else a digest of the 宛名番号 (never the number itself)."""
    if case.case_id:
        return f"case {case.case_id}"
    return person_lock_scope(case.person_id)


@pipeline_task(name="resolve-case")
@sanitised(stage="resolve_case")
def resolve_case(request: service.MoveInRequest, policy: Policy, run_id: str) -> service.CaseContext:
    """Find the case and its recorded consent; refuse an inquiry without consent (nothing queried)."""
    return steps.resolve_case(request, policy, run_id)


@pipeline_task(name="run-inquiries")
@sanitised(stage="run_inquiries")
def run_inquiries(context: service.CaseContext, request: service.MoveInRequest, policy: Policy,
                  run_id: str) -> service.Gathered:
    """Registry, tax, 住基ネット and 中間サーバ inquiries (retried in the connectors only)."""
    return steps.run_inquiries(context, request, policy, run_id)


@pipeline_task(name="apply-case")
@sanitised(stage="apply_case")
def apply_case(gathered: service.Gathered, policy: Policy, run_id: str, operator_id: str) -> dict:
    """Persons, income, application, re-determination and PMH outbox in one transaction."""
    return steps.apply_case(gathered, policy, run_id, operator_id)


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
        "new_decisions": (result.get("determination") or {}).get("new_decisions", 0),
        "case_changed": bool(result.get("case_changed")),
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
def apply_events(batch: changes.EventBatch, policy: Policy, run_id: str, operator_id: str, as_of: dt.date) -> dict:
    """Persons, events and the affected households' re-determination in one transaction."""
    return steps.apply_events(batch, policy, run_id, operator_id, as_of)


@pipeline_task(name="publish-changes-summary")
@sanitised(stage="publish_summary")
def publish_changes_summary(results: list[dict], files: list[str], as_of: dt.date) -> dict:
    """Markdown artifact per run (counts only); returns the totals."""
    for result, name in zip(results, files, strict=True):
        create_markdown_artifact(key="resident-changes", markdown=changes.summary_markdown(result, Path(name).name),
                                 description="Resident changes batch")
    return steps.summarise_batches(results, as_of)

