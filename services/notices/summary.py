"""The month's summary for the Prefect UI: aggregate counts and file paths only, never a person.

It tells the run's story to staff (in Japanese): what *this* run changed next to the month's totals (a
re-run shows zero changes, not the month again), the input files with their quarantined rows, the
benefit totals of the month, the PMH linkage by status, and where every output was written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, func, select

from rules.dates import month_bounds
from services.intake.quarantine import month_quarantine
from services.receivables.ledger import totals as receivable_totals
from store import models
from store.benefit_models import BenefitPayment, Receivable

DECISION_LABELS = {
    "NEW": "新規（受給者証交付）", "CHANGE": "変更", "RENEWAL": "更新", "SUSPEND_INCOME": "支給停止（所得）",
    "LOSS_MOVE_OUT": "喪失（転出）", "LOSS_DEATH": "喪失（死亡）", "LOSS_AGE": "喪失（年齢到達）",
    "LOSS_WELFARE": "喪失（生活保護）",
    "LOSS_INSURANCE": "喪失（保険資格喪失）", "LOSS_PLACEMENT": "喪失（措置）",
}
PAYMENT_LABELS = {"INITIAL": "当初支給", "SUPPLEMENTARY": "追加支給"}
PMH_LABELS = {"PENDING": "送信待ち", "SENDING": "送信中", "SENT": "送信済み（結果待ち）", "COMPLETED": "登録完了",
              "REJECTED": "PMHが拒否", "REJECTED_LOCAL": "送信前エラー", "FAILED": "失敗"}


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


def _counts(conn: Connection, column, *where) -> dict[str, int]:
    return {str(k): int(v) for k, v in conn.execute(select(column, func.count()).where(*where).group_by(column)).all()}


def benefit_totals(conn: Connection, month: str) -> dict:
    """Payments of the payment month by kind, and the 返還請求 issued in it (counts and yen)."""
    pay, rec = BenefitPayment.__table__, Receivable.__table__
    payments = conn.execute(select(pay.c.kind, func.count(), func.coalesce(func.sum(pay.c.amount), 0))
                            .where(pay.c.month == month).group_by(pay.c.kind)).all()
    refunds = conn.execute(select(func.count(), func.coalesce(func.sum(rec.c.amount), 0))
                           .where(rec.c.issued_month == month)).one()
    return {"payments": {str(k): {"count": int(n), "amount": int(a)} for k, n, a in payments},
            "refund_claims": {"count": int(refunds[0]), "amount": int(refunds[1])}}


def output_files(directories: Sequence[Path], *, listed: int = 20) -> list[str]:
    """The files written under each output directory (temporary files excluded).

    A directory with more than ``listed`` files (e.g. a day of PMH upload batches) is shown as one line
    with its file count.
    """
    found: list[str] = []
    for directory in directories:
        if not Path(directory).is_dir():
            continue
        files = sorted(str(p) for p in Path(directory).rglob("*") if p.is_file() and not p.name.startswith("."))
        found += files if len(files) <= listed else [f"{directory}/ （{len(files)} ファイル）"]
    return found


#: How a month was decided (services.eligibility.incremental.plan reasons), for staff.
DECIDE_MODE_LABELS = {
    "incremental": "差分判定（入力が変わった児童と、月の期日に当たる児童のみ再判定）",
    "first-month": "全件判定（初回）",
    "requested": "全件判定（指定による）",
    "policy-changed": "全件判定（制度パラメータの変更）",
    "rules-changed": "全件判定（判定プログラムまたは祝日表の更新）",
    "horizon-moved": "全件判定（判定期間の更新: 受給者証の年度切替）",
    "month-not-consecutive": "全件判定（前月が未処理）",
}


def decide_mode_lines(decide: dict) -> list[str]:
    """One line saying how the month was decided and how many children were re-determined."""
    reason = decide.get("mode_reason")
    if not reason:
        return []
    lines = ["", f"判定方式: {DECIDE_MODE_LABELS.get(reason, reason)}、再判定した児童 "
                 f"{int(decide.get('children_recomputed', 0)):,} 人"]
    held = int(decide.get("held_no_recipient_number", 0))
    if held:  # services.eligibility.decide.assign_recipients
        lines.append(f"**要対応: 受給者番号の枠（6桁の連番）を使い切ったため、新規 {held:,} 人を保留しました。"
                     f"公費負担者番号の追加が必要です。保留した児童は翌月以降の判定で再び新規の対象になります。**")
    return lines


def month_summary(conn: Connection, *, month: str, run_id: str, counts: dict,
                  output_dirs: Sequence[Path] = ()) -> MonthSummary:
    """This run's changes and the month's totals, inputs and quarantine, benefits, PMH and output paths."""
    d = models.Decision.__table__
    decided = _counts(conn, d.c.decision_type, d.c.month == month)
    this_run = _counts(conn, d.c.decision_type, d.c.month == month, d.c.run_id == run_id)
    decision_rows = [{"decision_type": k, "label": v, "this_run": int(this_run.get(k, 0)),
                      "count": int(decided.get(k, 0))} for k, v in DECISION_LABELS.items()]
    q = models.QuarantinedRow.__table__
    quarantine = conn.execute(
        select(q.c.file_name, q.c.column_name, q.c.check_name, func.count(func.distinct(q.c.row_number)))
        .where(q.c.file_sha256.in_(select(models.RunInput.__table__.c.sha256)
                                   .where(models.RunInput.__table__.c.run_id == run_id)))
        .group_by(q.c.file_name, q.c.column_name, q.c.check_name)
        .order_by(q.c.file_name, q.c.column_name, q.c.check_name)).all()
    quarantine_rows = [{"file": f, "column": c, "check": k, "rows": int(n)} for f, c, k, n in quarantine]
    o = models.PmhOutbox.__table__
    pmh_all = _counts(conn, o.c.status)
    pmh_run = _counts(conn, o.c.status, o.c.created_run_id == run_id)
    money = benefit_totals(conn, month)
    files = counts.get("ingest", {}).get("files", [])
    outputs = output_files(output_dirs)

    lines = [f"# 月次処理 {month}", "", f"実行ID `{run_id}`", "", "## 決定（この実行での変更と月の合計）", "",
             "| 決定 | この実行 | 月の合計 |", "|---|---:|---:|"]
    lines += [f"| {r['label']} | {r['this_run']} | {r['count']} |" for r in decision_rows]
    lines += ["", f"この実行で新たに記録した決定: **{sum(this_run.values())} 件**"
                  + ("（再実行: 変更なし）" if decided and not this_run else "")]
    lines += decide_mode_lines(counts.get("decide", {}))
    lines += ["", "## 入力ファイル", "", "| ファイル | 行数 | 取込 | 保留（quarantine） |", "|---|---:|---:|---:|"]
    lines += [f"| {f['file_name']} | {f['row_count']} | {f['accepted_count']} | {f['quarantined_count']} |"
              for f in files]
    lines += ["", f"## 給付（支払月 {month}）", "", "| 区分 | 件数 | 金額（円） |", "|---|---:|---:|"]
    lines += [f"| {PAYMENT_LABELS.get(k, k)} | {v['count']} | {v['amount']:,} |" for k, v in money["payments"].items()]
    lines += [f"| 返還請求 | {money['refund_claims']['count']} | {money['refund_claims']['amount']:,} |", "",
              "## PMH連携", "", "| 状態 | 全体 | うちこの実行 |", "|---|---:|---:|"]
    lines += [f"| {PMH_LABELS.get(k, k)} | {v} | {pmh_run.get(k, 0)} |" for k, v in sorted(pmh_all.items())]
    lines += ["", "## 出力先", ""] + ([f"- `{path}`" for path in outputs] or ["- （まだありません）"])
    unmapped = counts.get("ingest", {}).get("gaiji_unmapped", [])
    if unmapped:
        lines += ["", "## 外字表にない外字（登録してください。氏名はそのまま保存しています）", "",
                  "| 宛名番号（マスク） | 外字 |", "|---|---:|"]
        lines += [f"| {g['person']} | {g['characters']} |" for g in unmapped]
    warnings = counts.get("ingest", {}).get("warnings", [])
    if warnings:
        lines += ["", "## 警告", ""] + [f"- {w}" for w in warnings]
    owed = receivable_totals(conn, as_of=month_bounds(month)[1].date())
    lines += ["", "## 債権（返還金）", "", "| 区分 | 件数・金額 |", "|---|---:|",
              f"| 調定 | {owed['receivables']} 件 |",
              f"| 調定額 | {owed['claimed_amount']:,} 円 |", f"| 収入済額 | {owed['collected_amount']:,} 円 |",
              f"| 不納欠損額 | {owed['written_off_amount']:,} 円 |", f"| 未収額 | {owed['open_amount']:,} 円 |",
              f"| うち納期限経過 | {owed['overdue_amount']:,} 円 |"]
    detail = month_quarantine(conn, month, run_id=run_id)
    detail_rows = [{"file": r.file_name, "line": int(r.row_number), "column": r.column_name, "check": r.check_name,
                    "masked_value": r.masked_value if isinstance(r.masked_value, str) else "", "reason": r.reason_ja}
                   for r in detail.head(DETAIL_LIMIT).itertuples(index=False)]
    lines += ["", f"保留行 {len(detail)} 件の内容（ファイル・行・列・理由・マスク済みの値）は成果物 "
                  f"`monthly-quarantine` に（先頭 {DETAIL_LIMIT} 件）、",
              f"全件は `kodomo quarantine --month {month}` で見られます。"]
    totals = {
        "month": month,
        "receivables": owed,
        "decisions": {r["decision_type"]: r["count"] for r in decision_rows},
        "decisions_this_run": {r["decision_type"]: r["this_run"] for r in decision_rows},
        "quarantined_rows": int(sum(f["quarantined_count"] for f in files)),
        "accepted_rows": int(sum(f["accepted_count"] for f in files)),
        "pmh_outbox": pmh_all,
        "benefits": money,
        "outputs": outputs,
        "warnings": list(warnings),
        "gaiji_unmapped_persons": len(unmapped),
    }
    decide = counts.get("decide", {})
    if decide.get("mode"):  # how the month was decided (services.eligibility.incremental), aggregates only
        totals["decide"] = {"mode": decide["mode"], "reason": decide["mode_reason"],
                            "children_recomputed": int(decide.get("children_recomputed", 0)),
                            "held_no_recipient_number": int(decide.get("held_no_recipient_number", 0))}
    return MonthSummary(decision_rows, quarantine_rows, "\n".join(lines), totals, detail_rows)
