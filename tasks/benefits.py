"""Adapter tasks of the benefit stage: each wraps one plain function of ``services.benefits``.

Tasks return counts, ids or frames that stay in-process (``persist_result=False``, ``cache_policy=NO_CACHE``
via :func:`tasks.common.pipeline_task`); exceptions leave them sanitised (codes, files, rows, columns).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from config.settings import get_settings
from connectors import zengin
from policy import Policy
from privacy.audit import record_access
from privacy.crypto import load_key_ring
from privacy.errors import sanitised
from services import runs
from services.benefits import assessment, files, intake, ledger
from store.db import engine_for, session_scope
from tasks.common import pipeline_task


def remitter_from_settings() -> zengin.Remitter:
    """The city's paying account (振込依頼人) from the settings (``KODOMO_ZENGIN_*``; demo values otherwise)."""
    settings = get_settings()
    return zengin.Remitter(
        code=settings.zengin_remitter_code, name=settings.zengin_remitter_name,
        bank_code=settings.zengin_bank_code, branch_code=settings.zengin_branch_code,
        account_type=settings.zengin_account_type, account_number=settings.zengin_account_number,
    )


@pipeline_task(name="load-claims", retries=2, retry_delay_seconds=5)
@sanitised(stage="load_claims")
def load_claims(inbox_dir: str, month: str, run_id: str) -> intake.ClaimInbox:
    """Read and validate claims.csv and reimbursement_applications.csv; record inputs and quarantine."""
    claim_inbox = intake.load_claim_files(inbox_dir, month)
    with engine_for().begin() as conn:
        runs.record_inputs(conn, run_id=run_id, inputs=claim_inbox.inputs)
        runs.record_quarantine(conn, run_id=run_id, quarantine=claim_inbox.quarantine)
    return claim_inbox


@pipeline_task(name="assess-claims")
@sanitised(stage="assess_claims")
def assess_claims(claim_inbox: intake.ClaimInbox, policy: Policy) -> pd.DataFrame:
    """Eligibility per receipt and amounts (rules.benefits) under the stored eligibility periods."""
    with engine_for().connect() as conn:
        return assessment.assess_new_claims(conn, claim_inbox, policy)


@pipeline_task(name="store-claims")
@sanitised(stage="store_claims")
def store_claims(assessed: pd.DataFrame, claim_inbox: intake.ClaimInbox, month: str, policy: Policy, run_id: str,
                 operator_id: str) -> dict:
    """Upsert the receipts and their assessment (payee accounts encrypted)."""
    with session_scope(engine_for()) as session:
        counts = assessment.store_claims(session.connection(), assessed, claim_inbox.payees, month=month, run_id=run_id,
                                    policy=policy, ring=load_key_ring(get_settings()))
        record_access(session, actor_id=operator_id, action="create", purpose="benefit-claims",
                      subject_ids=assessed["person_id"].dropna() if len(assessed) else [],
                      record_count=int(len(assessed)), run_id=run_id)
    return counts


@pipeline_task(name="reassess-changed-claims")
@sanitised(stage="reassess_claims")
def reassess_changed_claims(month: str, policy: Policy, run_id: str, assessed: pd.DataFrame) -> pd.DataFrame:
    """Re-assess earlier receipts of children whose eligibility changed in the month's eligibility run."""
    with session_scope(engine_for()) as session:
        conn = session.connection()
        persons = assessment.changed_persons(conn, month)
        if not persons:
            return pd.DataFrame()
        return assessment.reassess_stored_claims(conn, policy, month=month, run_id=run_id,
                                            ring=load_key_ring(get_settings()), person_ids=persons,
                                            exclude_claim_ids=assessed["claim_id"] if len(assessed) else None)


@pipeline_task(name="settle-claims")
@sanitised(stage="settle_claims")
def settle_claims(assessed: pd.DataFrame, reassessed: pd.DataFrame, month: str, run_id: str) -> dict:
    """Initial and supplementary payments, 返還請求 (idempotent per receipt and month)."""
    frames = [f for f in (assessed, reassessed) if len(f)]
    combined = pd.concat(frames, ignore_index=True) if frames else assessed
    with session_scope(engine_for()) as session:
        return ledger.settle_claims(session.connection(), combined, month=month, run_id=run_id)


@pipeline_task(name="write-payment-file")
@sanitised(stage="write_payment_file")
def write_payment_file(month: str, transfer_date: str, run_id: str, operator_id: str) -> dict:
    """The month's 全銀 総合振込 file, parsed back and checked against the database."""
    settings = get_settings()
    with session_scope(engine_for()) as session:
        result = files.write_payment_file(session.connection(), month, load_key_ring(settings),
                                          settings.resolved_outbox_dir / month, remitter_from_settings(),
                                          dt.date.fromisoformat(transfer_date))
        record_access(session, actor_id=operator_id, action="export", purpose="benefit-transfer-file",
                      subject_ids=None, record_count=int(result["transfers"]), run_id=run_id)
    return result


@pipeline_task(name="write-benefit-reports")
@sanitised(stage="write_reports")
def write_reports(month: str, assessed: pd.DataFrame, run_id: str, operator_id: str) -> dict:
    """Accounts summary, prefecture report and refund notice list (CP932 CSV)."""
    settings = get_settings()
    with session_scope(engine_for()) as session:
        result = files.write_reports(session.connection(), month, assessed, settings.resolved_outbox_dir / month)
        record_access(session, actor_id=operator_id, action="export", purpose="benefit-refund-notices",
                      subject_ids=None, record_count=int(result["refund_notices"]), run_id=run_id)
    return result


@pipeline_task(name="publish-benefit-summary")
@sanitised(stage="publish_summary")
def publish_summary(month: str, assessed: pd.DataFrame, settled: dict, payment_file: dict) -> dict:
    """Artifact with the month's totals, rejections by reason and refund-claim counts (aggregates only)."""
    totals = files.month_totals(assessed, settled, payment_file)
    rows = [{"rejection_reason": reason, "receipts": count} for reason, count in totals["rejections"].items()]
    create_table_artifact(key="benefit-rejections", table=rows or [{"rejection_reason": "-", "receipts": 0}],
                          description=f"Rejected receipts {month} by reason")
    markdown = "\n".join([
        f"# Benefits {month}", "",
        "| item | value |", "|---|---|",
        f"| receipts assessed | {totals['receipts']} |", f"| payable | {totals['payable']} |",
        f"| subsidy (yen) | {totals['subsidy_amount']} |", f"| payments booked | {totals['payments']} |",
        f"| payment amount (yen) | {totals['payment_amount']} |", f"| refund claims | {totals['refund_claims']} |",
        f"| refund amount (yen) | {totals['refund_amount']} |",
        f"| refund claims cancelled (eligibility restored) | {totals.get('refunds_cancelled', 0)} |",
        f"| transfers in 全銀 file | {payment_file.get('transfers', 0)} |",
        f"| 全銀 total (yen) | {payment_file.get('total_amount', 0)} |",
    ])
    create_markdown_artifact(key="benefit-summary", markdown=markdown, description=f"Benefit run {month}")
    return totals
