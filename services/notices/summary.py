"""The month's summary for the Prefect UI: aggregate counts only, never a person."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from store import models

DECISION_LABELS = {
    "NEW": "新規（受給者証交付）", "CHANGE": "変更", "RENEWAL": "更新", "SUSPEND_INCOME": "支給停止（所得）",
    "LOSS_MOVE_OUT": "喪失（転出）", "LOSS_DEATH": "喪失（死亡）", "LOSS_AGE": "喪失（年齢到達）",
    "LOSS_WELFARE": "喪失（生活保護）",
    "LOSS_INSURANCE": "喪失（保険資格喪失）", "LOSS_PLACEMENT": "喪失（措置）",
}


@dataclass(frozen=True)
class MonthSummary:
    """Rows for the table artifacts, a markdown page and the totals returned by the flow."""

    decision_rows: list[dict]
    quarantine_rows: list[dict]
    markdown: str
    totals: dict


def month_summary(conn: Connection, *, month: str, run_id: str, counts: dict) -> MonthSummary:
    """Count the month's decisions by type and this run's quarantined cells by file, column and check."""
    d = models.Decision.__table__
    decided = dict(conn.execute(
        select(d.c.decision_type, func.count()).where(d.c.month == month).group_by(d.c.decision_type)).all())
    decision_rows = [{"decision_type": k, "label": v, "count": int(decided.get(k, 0))}
                     for k, v in DECISION_LABELS.items()]
    q = models.QuarantinedRow.__table__
    quarantine = conn.execute(
        select(q.c.file_name, q.c.column_name, q.c.check_name, func.count(func.distinct(q.c.row_number)))
        .where(q.c.file_sha256.in_(select(models.RunInput.__table__.c.sha256)
                                   .where(models.RunInput.__table__.c.run_id == run_id)))
        .group_by(q.c.file_name, q.c.column_name, q.c.check_name)
        .order_by(q.c.file_name, q.c.column_name, q.c.check_name)).all()
    quarantine_rows = [{"file": f, "column": c, "check": k, "rows": int(n)} for f, c, k, n in quarantine]
    files = counts.get("ingest", {}).get("files", [])
    lines = [f"# Monthly run {month}", "", f"Run `{run_id}`", "", "| file | rows | accepted | quarantined |",
             "|---|---:|---:|---:|"]
    lines += [f"| {f['file_name']} | {f['row_count']} | {f['accepted_count']} | {f['quarantined_count']} |"
              for f in files]
    lines += ["", "| decision | count |", "|---|---:|"]
    lines += [f"| {r['label']} | {r['count']} |" for r in decision_rows]
    exported = counts.get("export", {})
    if exported:
        lines += ["", "Lists written: " + ", ".join(f"{k} {v}" for k, v in exported.items())]
    totals = {
        "month": month,
        "decisions": {r["decision_type"]: r["count"] for r in decision_rows},
        "quarantined_rows": int(sum(f["quarantined_count"] for f in files)),
        "accepted_rows": int(sum(f["accepted_count"] for f in files)),
    }
    return MonthSummary(decision_rows, quarantine_rows, "\n".join(lines), totals)
