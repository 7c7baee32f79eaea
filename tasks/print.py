"""Adapter tasks of the print run: each wraps one plain function of :mod:`services.documents`."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from prefect.artifacts import create_table_artifact

from config.settings import get_settings
from policy import Policy
from privacy.crypto import load_key_ring
from privacy.errors import sanitised
from services.documents import month as month_print
from store.db import engine_for, session_scope
from tasks.common import pipeline_task


@pipeline_task(name="resolve-issue-date")
@sanitised(stage="resolve_issue_date")
def resolve_issue_date(issue_date: str | None) -> str:
    """The given 交付日, or today in Asia/Tokyo."""
    return issue_date or pd.Timestamp.now(tz="Asia/Tokyo").strftime("%Y-%m-%d")


@pipeline_task(name="print-month-documents")
@sanitised(stage="print_month")
def print_month(month: str, issue_date: str, policy: Policy, run_id: str, operator_id: str, workers: int = 1) -> dict:
    """Render the month's 受給者証 and notices to ``<KODOMO_HOME>/print/<month>/`` and record the print."""
    settings = get_settings()
    with session_scope(engine_for()) as session:
        written = month_print.print_month(
            session, month=month, ring=load_key_ring(settings), policy=policy, home=settings.home,
            issue_date=dt.date.fromisoformat(issue_date), operator_id=operator_id, run_id=run_id, workers=workers)
    return written.as_dict()


@pipeline_task(name="publish-print-summary")
@sanitised(stage="publish_summary")
def publish_summary(result: dict) -> dict:
    """Table artifact: one row per batch with its pages and where it was written (no personal data)."""
    rows = [{"書類": batch["name"], "ページ数": batch["pages"], "ファイル": ", ".join(batch["files"]),
             "索引": batch["index"]} for batch in result["batches"]]
    empty = [{"書類": "（なし）", "ページ数": 0, "ファイル": "", "索引": ""}]
    create_table_artifact(key="print-batches", table=rows or empty,
                          description=f"印刷 {result['month']}: バッチ・ページ数・出力先")
    return result
