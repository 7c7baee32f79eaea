"""Plain step functions of the ``move-in`` and ``resident-changes`` flows (the tasks are thin adapters).

Each step opens its own session (style.md point 16) and returns ids, counts or in-memory objects. A
refused or failed step writes an access record with ``outcome`` ``refused``/``failed`` in its own short
transaction and re-raises; nothing of the case itself is stored. The policy is the run's (loaded once by
the flow and passed down); the run itself is opened by the flow (``tasks.common.run_scope``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from sqlalchemy import func, select

from config.settings import get_settings
from connectors import inquiry as iq
from connectors.files import InputFileError, file_sha256
from connectors.pmh import PmhError
from policy import Policy
from privacy.crypto import load_key_ring
from services.movein import cases, changes, service
from services.notices import lists as export
from services.pmh import sync
from store import models
from store.db import engine_for, session_scope


def _record_failure(ctx, request, operator_id: str, run_id: str, exc: Exception) -> None:
    outcome = "refused" if isinstance(exc, (iq.ConsentMissing, cases.CaseError, iq.InquiryRejected)) else "failed"
    purpose = f"move-in:{getattr(exc, 'code', None) or type(exc).__name__}".lower()[:64]
    with session_scope(engine_for()) as session:
        service.record_failure(session, ctx=ctx, request=request, operator_id=operator_id, run_id=run_id,
                               outcome=outcome, purpose=purpose)


def resolve_case(request: service.MoveInRequest, policy: Policy, run_id: str) -> service.CaseContext:
    """Find the case and its consent (read-only); a refusal is recorded and re-raised."""
    settings = get_settings()
    try:
        with session_scope(engine_for(settings)) as session:
            return service.resolve_case(session, request, load_key_ring(settings), policy)
    except (iq.InquiryError, cases.CaseError) as exc:
        _record_failure(None, request, request.operator_id, run_id, exc)
        raise


def run_inquiries(ctx: service.CaseContext, request: service.MoveInRequest, policy: Policy, run_id: str,
                  connectors: iq.InquiryConnectors | None = None) -> service.Gathered:
    """Ask the outside systems (no database writes); a failure is recorded and re-raised."""
    connectors = connectors or iq.connectors_from_settings(get_settings())
    try:
        return service.gather(ctx, request, connectors, policy)
    except (iq.InquiryError, cases.CaseError) as exc:
        _record_failure(ctx, request, request.operator_id, run_id, exc)
        raise


def apply_case(gathered: service.Gathered, policy: Policy, run_id: str, operator_id: str) -> dict:
    """Store and re-determine in one transaction; returns masked ids and counts."""
    settings = get_settings()
    with session_scope(engine_for(settings)) as session:
        result = service.apply_case(session, gathered, ring=load_key_ring(settings), policy=policy,
                                    run_id=run_id, operator_id=operator_id)
    result["month"] = pd.Timestamp(gathered.context.as_of).strftime("%Y-%m")
    return result


def issue_notices(month: str, run_id: str, operator_id: str) -> dict:
    """Rewrite the month's issuance / notice lists (they now include the case's decisions)."""
    settings = get_settings()
    with session_scope(engine_for(settings)) as session:  # no key ring: the routine lists carry no names
        return export.export_month_lists(session, month, None, settings.resolved_outbox_dir,
                                         operator_id=operator_id, run_id=run_id)


#: A case drains the PMH outbox itself only when the backlog is small; a large backlog (e.g. right after a
#: monthly run) is left to the PMH sync deployment so that a counter case never waits for it.
MAX_PMH_BACKLOG = 500


def send_to_pmh(run_id: str, operator_id: str, client=None, max_backlog: int = MAX_PMH_BACKLOG) -> dict:
    """Drain the PMH outbox once; PMH trouble leaves the rows queued, it never fails the case.

    Uses the PMH sync's own step (:func:`services.pmh.sync.send_outbox`), which also writes the access
    record of the transfer to PMH (SEC-07).
    """
    with engine_for().connect() as conn:
        pending = int(conn.execute(select(func.count()).select_from(models.PmhOutbox)
                                   .where(models.PmhOutbox.status == "PENDING")).scalar_one())
    if pending > max_backlog:
        return {"skipped": "backlog", "pending": pending}
    try:
        return sync.send_outbox(run_id, operator_id, client=client)
    except PmhError as exc:
        return {"error": getattr(exc, "code", type(exc).__name__)}


# -- resident changes --------------------------------------------------------------------------------
def pending_event_files(events_path: str | Path) -> list[str]:
    """A file → itself; a directory → its ``resident_events*.csv`` not yet processed by a completed run."""
    path = Path(events_path)
    if path.is_file():
        return [str(path)]
    if not path.is_dir():
        raise InputFileError(path.name, "no events file or directory at this path")
    files = sorted(path.glob("resident_events*.csv"))
    if not files:
        return []
    run_t, input_t = models.Run.__table__, models.RunInput.__table__
    with engine_for().connect() as conn:
        done = set(conn.execute(
            select(input_t.c.sha256).join(run_t, run_t.c.run_id == input_t.c.run_id)
            .where(run_t.c.flow_name == "resident-changes", run_t.c.status == "COMPLETED")).scalars())
    return [str(f) for f in files if file_sha256(f) not in done]


def read_events(events_file: str, as_of: dt.date) -> changes.EventBatch:
    """Read and validate one events file (and its sibling applications/insurance files)."""
    return changes.read_batch(events_file, as_of)


def apply_events(batch: changes.EventBatch, policy: Policy, run_id: str, operator_id: str, as_of: dt.date) -> dict:
    """Store the batch and re-determine the affected households in one transaction."""
    settings = get_settings()
    with session_scope(engine_for(settings)) as session:
        result = changes.apply_batch(session, batch, ring=load_key_ring(settings), policy=policy,
                                     run_id=run_id, operator_id=operator_id, as_of=as_of)
    result["month"] = pd.Timestamp(as_of).strftime("%Y-%m")
    return result


def summarise_batches(results: list[dict], as_of: dt.date) -> dict:
    """Totals over the processed files (aggregates only)."""
    by_type: dict[str, int] = {}
    for r in results:
        for k, v in (r.get("determination") or {}).get("by_type", {}).items():
            by_type[k] = by_type.get(k, 0) + v
    return {
        "month": pd.Timestamp(as_of).strftime("%Y-%m"),
        "files": len(results),
        "events": sum(r["batch"]["events"] for r in results),
        "quarantined_cells": sum(r["batch"]["quarantined_cells"] for r in results),
        "households": sum((r.get("determination") or {}).get("households", 0) for r in results),
        "by_type": by_type,
        "pmh_outbox_rows": sum((r.get("determination") or {}).get("pmh_outbox_rows", 0) for r in results),
    }
