"""Plain step functions of the ``move-in`` and ``resident-changes`` flows (the tasks are thin adapters).

Each step opens its own session (style.md point 16) and returns ids, counts or in-memory objects. A
refused or failed step writes an access record with ``outcome`` ``refused``/``failed`` in its own short
transaction and re-raises; nothing of the case itself is stored.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from config.settings import get_settings
from connectors import inquiry as iq
from connectors.files import InputFileError
from policy import load_policy
from privacy.crypto import load_key_ring
from services import runs
from services.movein import cases, changes, service
from services.notices import lists as export
from store import migrate
from store.db import engine_for, session_scope


def engine():
    """The process engine for the configured database."""
    return engine_for(get_settings().resolved_database_url)


_PREPARED: set[str] = set()


def prepare_database() -> None:
    """Migrate the database and make sure the move-in tables exist (once per database and process)."""
    url = get_settings().resolved_database_url
    if url in _PREPARED:
        return
    migrate.upgrade(url)
    _PREPARED.add(url)


def begin_run(flow_name: str, operator_id: str, run_id: str | None = None) -> str:
    """Record the start of a run in the project's run table; returns the run id."""
    prepare_database()
    run_id = run_id or f"local-{uuid.uuid4()}"
    with engine().begin() as conn:
        runs.start_run(conn, run_id=run_id, flow_name=flow_name, month=None, operator_id=operator_id,
                       policy_version=load_policy().version)
    return run_id


def finish_run(run_id: str, status: str, counts: dict) -> None:
    """Record the outcome of a run."""
    with engine().begin() as conn:
        runs.finish_run(conn, run_id=run_id, status=status, counts=counts)


def _record_failure(ctx, request, operator_id: str, run_id: str, exc: Exception) -> None:
    outcome = "refused" if isinstance(exc, (iq.ConsentMissing, cases.CaseError, iq.InquiryRejected)) else "failed"
    purpose = f"move-in:{getattr(exc, 'code', None) or type(exc).__name__}".lower()[:64]
    with session_scope(engine()) as session:
        service.record_failure(session, ctx=ctx, request=request, operator_id=operator_id, run_id=run_id,
                               outcome=outcome, purpose=purpose)


def resolve_case(request: service.MoveInRequest, run_id: str) -> service.CaseContext:
    """Find the case and its consent (read-only); a refusal is recorded and re-raised."""
    settings = get_settings()
    try:
        with session_scope(engine()) as session:
            return service.resolve_case(session, request, load_key_ring(settings), load_policy())
    except (iq.InquiryError, cases.CaseError) as exc:
        _record_failure(None, request, request.operator_id, run_id, exc)
        raise


def run_inquiries(ctx: service.CaseContext, request: service.MoveInRequest, run_id: str,
                  connectors: iq.InquiryConnectors | None = None) -> service.Gathered:
    """Ask the outside systems (no database writes); a failure is recorded and re-raised."""
    connectors = connectors or iq.connectors_from_settings(get_settings())
    try:
        return service.gather(ctx, request, connectors, load_policy())
    except (iq.InquiryError, cases.CaseError) as exc:
        _record_failure(ctx, request, request.operator_id, run_id, exc)
        raise


def apply_case(gathered: service.Gathered, run_id: str, operator_id: str) -> dict:
    """Store and re-determine in one transaction; returns masked ids and counts."""
    settings = get_settings()
    with session_scope(engine()) as session:
        result = service.apply_case(session, gathered, ring=load_key_ring(settings), policy=load_policy(),
                                    run_id=run_id, operator_id=operator_id)
    result["month"] = pd.Timestamp(gathered.context.as_of).strftime("%Y-%m")
    return result


def issue_notices(month: str, run_id: str, operator_id: str) -> dict:
    """Rewrite the month's issuance / notice lists (they now include the case's decisions)."""
    settings = get_settings()
    with session_scope(engine()) as session:  # no key ring: the routine lists carry no names
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
    from sqlalchemy import func

    from connectors.pmh import PmhError
    from services.pmh import sync
    from store.models import PmhOutbox

    with engine().connect() as conn:
        pending = int(conn.execute(select(func.count()).select_from(PmhOutbox)
                                   .where(PmhOutbox.status == "PENDING")).scalar_one())
    if pending > max_backlog:
        return {"skipped": "backlog", "pending": pending}
    try:
        return sync.send_outbox(run_id, operator_id, client=client)
    except PmhError as exc:
        return {"error": getattr(exc, "code", type(exc).__name__)}


def run_move_in(request: service.MoveInRequest, *, run_id: str | None = None,
                connectors: iq.InquiryConnectors | None = None, notices: bool = True,
                pmh: bool = False, pmh_client=None) -> dict:
    """The whole case without Prefect (CLI ``--no-prefect``, benchmark): the same steps as the flow."""
    run_id = begin_run("move-in", request.operator_id, run_id)
    try:
        ctx = resolve_case(request, run_id)
        gathered = run_inquiries(ctx, request, run_id, connectors)
        result = apply_case(gathered, run_id, request.operator_id)
        if notices:
            result["notices"] = issue_notices(result["month"], run_id, request.operator_id)
        if pmh:
            result["pmh"] = send_to_pmh(run_id, request.operator_id, pmh_client)
    except BaseException:
        finish_run(run_id, "FAILED", {})
        raise
    finish_run(run_id, "COMPLETED", {k: v for k, v in result.items() if k not in ("members", "decided")})
    result["run_id"] = run_id
    return result


# -- resident changes --------------------------------------------------------------------------------
def pending_event_files(events_path: str | Path) -> list[str]:
    """A file → itself; a directory → its ``resident_events*.csv`` not yet processed by a completed run."""
    path = Path(events_path)
    if path.is_file():
        return [str(path)]
    if not path.is_dir():
        raise InputFileError(path.name, "no events file or directory at this path")
    from connectors.files import file_sha256
    from store import models

    files = sorted(path.glob("resident_events*.csv"))
    if not files:
        return []
    run_t, input_t = models.Run.__table__, models.RunInput.__table__
    with engine().connect() as conn:
        done = set(conn.execute(
            select(input_t.c.sha256).join(run_t, run_t.c.run_id == input_t.c.run_id)
            .where(run_t.c.flow_name == "resident-changes", run_t.c.status == "COMPLETED")).scalars())
    return [str(f) for f in files if file_sha256(f) not in done]


def read_events(events_file: str, as_of: dt.date) -> changes.EventBatch:
    """Read and validate one events file (and its sibling applications/insurance files)."""
    return changes.read_batch(events_file, as_of)


def apply_events(batch: changes.EventBatch, run_id: str, operator_id: str, as_of: dt.date) -> dict:
    """Store the batch and re-determine the affected households in one transaction."""
    settings = get_settings()
    with session_scope(engine()) as session:
        result = changes.apply_batch(session, batch, ring=load_key_ring(settings), policy=load_policy(),
                                     run_id=run_id, operator_id=operator_id, as_of=as_of)
    result["month"] = pd.Timestamp(as_of).strftime("%Y-%m")
    return result


def today() -> dt.date:
    """Today in Asia/Tokyo."""
    return pd.Timestamp.now(tz="Asia/Tokyo").date()


def run_resident_changes(events_path: str, operator_id: str, *, as_of: dt.date | None = None,
                         run_id: str | None = None, notices: bool = True, pmh: bool = False) -> dict:
    """The resident-changes flow without Prefect (CLI ``--no-prefect``)."""
    as_of = as_of or today()
    run_id = begin_run("resident-changes", operator_id, run_id)
    results = []
    try:
        for events_file in pending_event_files(events_path):
            results.append(apply_events(read_events(events_file, as_of), run_id, operator_id, as_of))
        summary = summarise_batches(results, as_of)
        if notices and results:
            summary["notices"] = issue_notices(summary["month"], run_id, operator_id)
        if pmh and results:
            summary["pmh"] = send_to_pmh(run_id, operator_id)
    except BaseException:
        finish_run(run_id, "FAILED", {})
        raise
    finish_run(run_id, "COMPLETED", summary)
    summary["run_id"] = run_id
    return summary


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
