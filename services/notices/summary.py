"""The month's summary for the Prefect UI: aggregate counts only, never a person."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from services.intake.quarantine import month_quarantine
from store import models

DECISION_LABELS = {
    "NEW": "新規（受給者証交付）", "CHANGE": "変更", "RENEWAL": "更新", "SUSPEND_INCOME": "支給停止（所得）",
    "LOSS_MOVE_OUT": "喪失（転出）", "LOSS_DEATH": "喪失（死亡）", "LOSS_AGE": "喪失（年齢到達）",
    "LOSS_WELFARE": "喪失（生活保護）",
}


@dataclass(frozen=True)
class MonthSummary:
    """Rows for the table artifacts, a markdown page and the totals returned by the flow."""

    decision_rows: list[dict]
    quarantine_rows: list[dict]
    markdown: str
    totals: dict
    #: One row per quarantined cell of this run: file, line, column, check, masked value, Japanese reason
    #: (at most ``DETAIL_LIMIT``; ``kodomo quarantine`` lists all of them).
    quarantine_detail: list[dict] = dataclasses.field(default_factory=list)


#: Rows of the quarantine detail artifact; beyond it the artifact says how many more there are.
DETAIL_LIMIT = 2000


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
    unmapped = counts.get("ingest", {}).get("gaiji_unmapped", [])
    if unmapped:
        lines += ["", "## 外字 not in the 外字 table (register them; the names are kept exactly)", "",
                  "| 宛名番号 (masked) | 外字 |", "|---|---:|"]
        lines += [f"| {g['person']} | {g['characters']} |" for g in unmapped]
    warnings = counts.get("ingest", {}).get("warnings", [])
    if warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in warnings]
    exported = counts.get("export", {})
    if exported:
        lines += ["", "Lists written: " + ", ".join(f"{k} {v}" for k, v in exported.items())]
    totals = {
        "month": month,
        "decisions": {r["decision_type"]: r["count"] for r in decision_rows},
        "quarantined_rows": int(sum(f["quarantined_count"] for f in files)),
        "accepted_rows": int(sum(f["accepted_count"] for f in files)),
        "warnings": list(warnings),
        "gaiji_unmapped_persons": len(unmapped),
    }
    detail = month_quarantine(conn, month, run_id=run_id)
    detail_rows = [{"file": r.file_name, "line": int(r.row_number), "column": r.column_name, "check": r.check_name,
                    "masked_value": r.masked_value if isinstance(r.masked_value, str) else "", "reason": r.reason_ja}
                   for r in detail.head(DETAIL_LIMIT).itertuples(index=False)]
    if len(detail) > DETAIL_LIMIT:
        lines += ["", f"Quarantine: {len(detail)} cells, the first {DETAIL_LIMIT} in the artifact; "
                      f"all with `kodomo quarantine --month {month}`"]
    return MonthSummary(decision_rows, quarantine_rows, "\n".join(lines), totals, detail_rows)
