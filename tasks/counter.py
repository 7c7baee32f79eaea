"""Adapter tasks of the counter flows: each wraps :func:`services.counter.actions.apply_action`."""

from __future__ import annotations

from prefect.artifacts import create_markdown_artifact

from config.settings import get_settings
from policy import Policy
from privacy.crypto import load_key_ring
from privacy.errors import sanitised
from services.counter import actions
from services.movein import steps as movein_steps
from store.db import engine_for, session_scope
from tasks.common import pipeline_task


@pipeline_task(name="apply-counter-action")
@sanitised(stage="counter_action")
def apply_counter_action(fields: dict, policy: Policy, run_id: str, operator_id: str) -> dict:
    """The action in one transaction: inputs, re-determination, money, PMH outbox, documents, records.

    ``fields`` are the :class:`services.counter.actions.CounterForm` fields from the flow's form.
    """
    form = actions.CounterForm(**fields)
    settings = get_settings()
    with session_scope(engine_for()) as session:
        return actions.apply_action(session, form, ring=load_key_ring(settings), policy=policy,
                                    operator_id=operator_id, run_id=run_id, home=settings.home,
                                    issue_date=actions.today_tokyo())


@pipeline_task(name="send-to-pmh")
@sanitised(stage="pmh_send")
def send_to_pmh(run_id: str, operator_id: str) -> dict:
    """Drain the PMH outbox once; PMH trouble leaves the rows queued for the next sync."""
    return movein_steps.send_to_pmh(run_id, operator_id)


def summary_markdown(result: dict) -> str:
    """The action's result for staff: codes, counts and file paths (no name, address or number)."""
    lines = [f"# {result['action']} — {result['outcome']}", "", f"受付番号 `{result['action_id']}`"]
    if result.get("already_done"):
        lines += ["", "この受付番号は処理済みです（変更なし）。"]
    if result.get("held_reason"):
        lines += ["", f"保留の理由: {result['held_reason']}"]
    if result.get("decisions") is not None:
        lines += ["", "| 決定 | 件数 |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in result["decisions"].items()] or ["| （なし） | 0 |"]
    if result.get("money"):
        money = result["money"]
        lines += ["", f"再審査 {money['claims_reassessed']} 件、"
                      f"追加支給 {money['payments']} 件 {money['payment_amount']:,} 円、"
                      f"返還請求 {money['refund_claims']} 件 {money['refund_amount']:,} 円"]
    lines += ["", f"PMH 送信待ち: {result.get('pmh_outbox_rows', 0)} 件"]
    if result.get("print"):
        lines += ["", "印刷物: " + ", ".join(f"`{path}`" for path in result["print"]["files"]),
                  f"索引: `{result['print']['index']}`"]
    return "\n".join(lines)


@pipeline_task(name="publish-counter-summary")
@sanitised(stage="publish_summary")
def publish_summary(result: dict) -> dict:
    """Markdown artifact of the action (codes, counts and paths only); returns the same."""
    create_markdown_artifact(key="counter-action", markdown=summary_markdown(result),
                             description=f"{result['action']} {result['action_id']}")
    return result
