"""Adapter tasks of the monthly run: each wraps one plain function of ``services.intake``."""

from __future__ import annotations

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from config.settings import get_settings
from connectors.files import read_manifest
from policy import Policy
from privacy.crypto import load_key_ring
from privacy.errors import sanitised
from services import runs
from services.eligibility import decide
from services.intake import collisions, gaiji, ingest, persist, unchanged
from services.notices import lists as export
from services.notices import summary
from store.db import engine_for, session_scope
from tasks.common import pipeline_task


@pipeline_task(name="resolve-inbox")
@sanitised(stage="resolve_inbox")
def resolve_inbox(month: str, inbox: str | None) -> str:
    """The inbox directory of ``month`` (``<KODOMO_HOME>/inbox/<month>`` unless given)."""
    return inbox or str(get_settings().resolved_inbox_dir / month)


@pipeline_task(name="has-claims")
@sanitised(stage="has_claims")
def has_claims(inbox_dir: str) -> bool:
    """True when the inbox holds receipts or 償還払い applications for the benefit run."""
    return ingest.has_claim_files(inbox_dir)


def retry_if_transient(task, task_run, state) -> bool:
    """Prefect ``retry_condition_fn``: retry unless the failure says it is not transient.

    An ``InputFileError`` (a missing column, a bad encoding, a truncated file ...) must be fixed by the sender:
    retrying it only delays the operator's message by the retry delays (issue 10).
    """
    try:
        state.result()
    except Exception as exc:  # noqa: BLE001 - the state's own exception, re-raised by result()
        return getattr(exc, "transient", True)
    return True


@pipeline_task(name="load-inbox", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_if_transient)
@sanitised(stage="load_inbox")
def load_inbox(inbox_dir: str, run_id: str | None = None) -> ingest.Inbox:
    """Read and validate the inbox (retried on I/O trouble only: files may still be arriving).

    With the run's ``run_id``, the files the previous monthly ingest stored byte for byte are not read again
    (services.intake.unchanged). Rows whose My Number another person carries (in the inbox or stored) are
    quarantined here, so that the counts of the run summary include them and the persist step cannot abort
    on the unique blind index.
    """
    engine = engine_for()
    known = None
    ring = load_key_ring(get_settings())
    if run_id is not None:
        with engine.connect() as conn:
            known = unchanged.previous_inputs(conn, run_id=run_id, ring=ring,
                                              context=unchanged.ingest_context(read_manifest(inbox_dir)))
    # The city's 外字 table is <KODOMO_HOME>/gaiji.csv when present (docs/formats/gaiji.md).
    table = gaiji.load_table(get_settings().home / "gaiji.csv")
    with engine.connect() as conn:
        return collisions.checked_inbox(conn, lambda scope: ingest.load_inbox(inbox_dir, table, scope), known, ring)


@pipeline_task(name="persist-inputs")
@sanitised(stage="persist_inputs")
def persist_inputs(inbox: ingest.Inbox, run_id: str, operator_id: str) -> dict:
    """Store validated rows, the run's input files and the quarantine in one transaction."""
    ring = load_key_ring(get_settings())
    with session_scope(engine_for(), checkpoint_later=True) as session:
        conn = session.connection()
        unchanged.assert_still_unchanged(conn, inbox.known, run_id)
        runs.record_inputs(conn, run_id=run_id, inputs=inbox.inputs)
        runs.record_quarantine(conn, run_id=run_id, quarantine=inbox.quarantine)
        counts = persist.persist_inputs(conn, inbox.frames, ring, run_id, unchanged=inbox.unchanged_inputs(),
                                        lines=inbox.lines)
        persist.record_ingest_access(session, inbox=inbox, operator_id=operator_id, run_id=run_id)
    return counts.tables


@pipeline_task(name="decide-month")
@sanitised(stage="decide_month")
def decide_month(month: str, policy: Policy, run_id: str, operator_id: str, full: bool = False) -> dict:
    """Eligibility periods, the month's decisions, 受給者番号 and PMH outbox rows, in one transaction.

    Incremental unless ``full`` (services.eligibility.incremental decides when it must be full anyway).
    """
    with session_scope(engine_for(), checkpoint_later=True) as session:
        return decide.decide_month(session, month=month, policy=policy, run_id=run_id,
                                   operator_id=operator_id, full=full)


@pipeline_task(name="export-lists")
@sanitised(stage="export_lists")
def export_lists(month: str, run_id: str, operator_id: str) -> dict:
    """Write the issuance and notice lists (CP932 CSV, no names) for staff."""
    with session_scope(engine_for()) as session:
        return export.export_month_lists(session, month, None, get_settings().resolved_outbox_dir,
                                         operator_id=operator_id, run_id=run_id)


@pipeline_task(name="publish-summary")
@sanitised(stage="publish_summary")
def publish_summary(month: str, run_id: str, counts: dict) -> dict:
    """Summary artifacts: decisions by type and quarantined rows by reason (aggregates only)."""
    with engine_for().connect() as conn:
        settings = get_settings()
        outbox = settings.resolved_outbox_dir
        report = summary.month_summary(conn, month=month, run_id=run_id, counts=counts, output_dirs=[
            outbox / month, settings.home / "print" / month, outbox / "pmh"])
    create_table_artifact(key="monthly-decisions", table=report.decision_rows,
                          description=f"Decisions {month} (counts)")
    create_table_artifact(key="monthly-quarantine-counts", table=report.quarantine_rows,
                          description=f"Quarantined rows {month} by file, column and check")
    # Line numbers and masked values (never a full value): what the sender must fix, row by row.
    create_table_artifact(key="monthly-quarantine", table=report.quarantine_detail,
                          description=f"Quarantined cells {month}: file, line, column, check, masked value")
    create_markdown_artifact(key="monthly-summary", markdown=report.markdown, description=f"Monthly run {month}")
    return report.totals
