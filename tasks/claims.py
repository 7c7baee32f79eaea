"""Adapter tasks of the UKE claims flow: each wraps plain functions of ``connectors.uke`` and ``services.claims``.

The flow (flows/claims.py) reads every ``*.UKE`` of one directory under ``<KODOMO_HOME>/inbox``, books each
file in its own transaction (services.claims.bill.ingest_file: the same file twice changes nothing), writes the
review list and the 過誤/再審査 requests of the month, optionally pays the month's bills, and publishes a
Japanese summary of aggregates (no name, birth date, 受給者番号 or 保険者番号: docs/formats/uke.md).

A bad file (``UkeFileError``: encoding, structure, counts) is refused whole and named with its line and problem;
the other files are still booked, and the flow run ends Failed with the refused files in its state message.
Only reading is retried, and only for I/O trouble (:func:`retry_on_io_trouble`): a bad file, a refused path or a
programming error is not transient.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from prefect.artifacts import create_markdown_artifact
from sqlalchemy import select

from config.settings import get_settings
from connectors.files import InputFileError
from connectors.uke import PAYER_LABELS, UkeFile, UkeFileError, read_uke
from policy import Policy
from privacy.audit import record_access
from privacy.crypto import load_key_ring
from privacy.errors import sanitised
from privacy.paths import MONTH_PATTERN, confine  # noqa: F401 - MONTH_PATTERN: the flow's month parameter
from services import runs
from services.claims import bill, check
from store import claims_models as cm
from store.db import engine_for, session_scope
from tasks.common import pipeline_task

#: Where the flow looks when no directory is given: ``<inbox>/<month>/uke`` (the generator writes ``DIR/uke``).
DEFAULT_SUBDIRECTORY = "uke"
#: Aggregate counts per file shown in the summary (connectors.uke counts and services.claims.bill outcomes).
FILE_COUNTS = ["receipts_read", "receipts_accepted", "receipts_quarantined", "receipts_without_city_public",
               "other_public_records", "new", "corrected", "unchanged", "approved", "disputed", "review"]


class UkeFilesRefusedError(InputFileError):
    """Some files of the directory were refused whole (the others were booked); the message names each one."""


class UkeFileUnreadableError(InputFileError):
    """A file or the directory could not be read (I/O): it may still be arriving, so the read is retried."""

    transient = True


def retry_on_io_trouble(task, task_run, state) -> bool:
    """Prefect ``retry_condition_fn``: retry only a failure that says it is transient (I/O), nothing else.

    A bad file (``UkeFileError``), a refused path or a programming error gives the same answer on every try.
    """
    try:
        state.result()
    except Exception as exc:  # noqa: BLE001 - the state's own exception, re-raised by result()
        return bool(getattr(exc, "transient", False))
    return False


@dataclass
class UkeRead:
    """The files read (in-process only: they hold names and birth dates) and the files refused whole."""

    files: list[UkeFile] = field(default_factory=list)
    refused: list[dict] = field(default_factory=list)

    def counts(self) -> dict:
        """Aggregates over the files read (no values)."""
        totals = pd.DataFrame([f.counts for f in self.files]).sum() if self.files else pd.Series(dtype="int64")
        return {"files": len(self.files), "refused_files": len(self.refused),
                **{k: int(v) for k, v in totals.items()}}

    def quarantine_rows(self) -> list[dict]:
        """Where each quarantined receipt failed: file, line, record type, field, check (never the value)."""
        return [{"file": uke.file_name, "line": int(q.row_number), "record": q.record_type, "field": q.column_name,
                 "check": q.check_name} for uke in self.files for q in uke.quarantine.itertuples(index=False)]


@pipeline_task(name="resolve-uke-directory")
@sanitised(stage="resolve_uke_directory")
def resolve_directory(month: str, directory: str | None, operator_id: str) -> str:
    """The directory to read, confined to ``<KODOMO_HOME>/inbox`` (relative paths are taken from there).

    Default ``<inbox>/<month>/uke``. A path outside the inbox is refused and recorded (privacy.paths.confine);
    a missing directory is named relative to the inbox.
    """
    settings = get_settings()
    inbox = Path(settings.resolved_inbox_dir)
    given = Path(directory) if directory else Path(month) / DEFAULT_SUBDIRECTORY
    resolved = confine(given if given.is_absolute() else inbox / given, "inbox", actor_id=operator_id,
                       purpose="flow:uke-claims", settings=settings)
    if not resolved.is_dir():
        raise InputFileError(str(resolved.relative_to(inbox.resolve())) if resolved != inbox.resolve() else ".",
                             "no such directory under the inbox")
    return str(resolved)


@pipeline_task(name="read-uke-files", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_on_io_trouble)
@sanitised(stage="read_uke_files")
def read_files(directory: str, month: str, policy: Policy, run_id: str) -> UkeRead:
    """Read every ``*.UKE`` of ``directory`` (any case); refuse a bad file or one of another 請求年月, whole.

    The files read and their quarantined receipts are recorded with the run (``run_input``, ``quarantined_row``;
    the quarantine holds masked values only). Retried on I/O trouble only: files may still be arriving.
    """
    city = check.city_payer_numbers(policy)
    read = UkeRead()
    try:
        paths = sorted(Path(directory).iterdir())
    except OSError as trouble:
        raise UkeFileUnreadableError(Path(directory).name, f"directory cannot be listed ({type(trouble).__name__})"
                                     ) from None
    for path in paths:
        if path.suffix.upper() != ".UKE" or not path.is_file():
            continue
        try:
            uke = read_uke(path, city)
        except OSError as trouble:
            raise UkeFileUnreadableError(path.name, f"cannot be read ({type(trouble).__name__})") from None
        except UkeFileError as refusal:  # refused whole; the other files are still read
            read.refused.append({"file": path.name, "problem": str(refusal)})
            continue
        if uke.billing_month != month:
            read.refused.append({"file": path.name, "problem": f"{path.name}: 請求年月 {uke.billing_month} is not "
                                                               f"the month of this run ({month})"})
            continue
        read.files.append(uke)
    with engine_for().begin() as conn:
        runs.record_inputs(conn, run_id=run_id, inputs=pd.DataFrame([{
            "file_name": uke.file_name[:128], "sha256": uke.sha256, "row_count": uke.counts["receipts_read"],
            "accepted_count": uke.counts["receipts_accepted"],
            "quarantined_count": uke.counts["receipts_quarantined"]} for uke in read.files]))
        for uke in read.files:
            quarantine = uke.quarantine.assign(
                file_sha256=uke.sha256,
                column_name=(uke.quarantine["record_type"] + " " + uke.quarantine["column_name"]).str[:64])
            runs.record_quarantine(conn, run_id=run_id, quarantine=quarantine)
    return read


@pipeline_task(name="ingest-uke-files")
@sanitised(stage="ingest_uke_files")
def ingest_files(read: UkeRead, policy: Policy, run_id: str, operator_id: str) -> dict:
    """Book each file in its own transaction (match, assess, compare, bill); a closed bill refuses its file.

    Returns the per-file aggregate counts and the files refused (read or booking), for the summary.
    """
    settings = get_settings()
    ring = load_key_ring(settings)
    booked, refused = [], list(read.refused)
    for uke in read.files:
        try:
            with session_scope(engine_for()) as session:
                counts = bill.ingest_file(session.connection(), uke, policy=policy, ring=ring, run_id=run_id)
                record_access(session, actor_id=operator_id, action="create", purpose="uke-ingest",
                              subject_ids=[], record_count=int(len(uke.receipts)), run_id=run_id)
        except bill.BillClosedError as refusal:  # a late file belongs to a later bill
            refused.append({"file": uke.file_name, "problem": str(refusal)})
            continue
        booked.append({"file": uke.file_name, **{k: int(counts.get(k, 0)) for k in FILE_COUNTS},
                       "already_ingested": bool(counts.get("already_ingested", False))})
    return {"files": booked, "refused": refused}


@pipeline_task(name="write-uke-review-lists")
@sanitised(stage="write_uke_review_lists")
def write_review_lists(month: str, run_id: str, operator_id: str) -> dict:
    """``uke_review_<month>.csv`` (unmatched/mismatched KO) and ``uke_saishinsa_<month>.csv`` (過誤/再審査)."""
    outbox = Path(get_settings().resolved_outbox_dir) / month
    with session_scope(engine_for()) as session:
        counts = bill.write_review_lists(session.connection(), month, outbox)
        record_access(session, actor_id=operator_id, action="export", purpose="uke-review",
                      subject_ids=[], record_count=int(counts["review"] + counts["disputed"]), run_id=run_id)
    return {**counts, "files": [str(outbox / f"uke_review_{month}.csv"),
                                str(outbox / f"uke_saishinsa_{month}.csv")]}


@pipeline_task(name="close-uke-bills")
@sanitised(stage="close_uke_bills")
def close_bills(month: str, paid_on: str, run_id: str, operator_id: str) -> list[dict]:
    """Pay every bill of ``month`` (approved − reversals; once) and write its 請求内訳 CSV."""
    outbox = Path(get_settings().resolved_outbox_dir) / month
    table = cm.UkeBill.__table__
    closed = []
    with session_scope(engine_for()) as session:
        conn = session.connection()
        payers = conn.execute(select(table.c.payer).where(table.c.billing_month == month)
                              .order_by(table.c.payer)).scalars().all()
        for payer in payers:
            result = bill.close_bill(conn, payer, month, paid_on=dt.date.fromisoformat(paid_on), outbox=outbox,
                                     run_id=run_id)
            closed.append({**result, "file": str(outbox / result["file"])})
        record_access(session, actor_id=operator_id, action="export", purpose="uke-bill",
                      subject_ids=[], record_count=len(closed), run_id=run_id)
    return closed


@pipeline_task(name="uke-bill-totals")
@sanitised(stage="uke_bill_totals")
def bill_totals(month: str) -> list[dict]:
    """Totals of every bill of ``month`` (both 審査支払機関), as stored."""
    table = cm.UkeBill.__table__
    with engine_for().connect() as conn:
        rows = conn.execute(select(table).where(table.c.billing_month == month)
                            .order_by(table.c.payer)).mappings().all()
    return [{key: (value.isoformat() if isinstance(value, dt.date) else value) for key, value in row.items()
             if key != "id"} for row in rows]


def summary_markdown(month: str, ingested: dict, quarantine: list[dict], review: dict, bills: list[dict],
                     closed: list[dict], payment_requested: bool = False) -> str:
    """The Japanese summary: counts, 承認/過誤/保留, bill totals, refused files, quarantined lines, output paths.

    Aggregates, file names, line numbers and field names only: no name, birth date, 受給者番号 or value.
    """
    files = ingested["files"]

    def total(key: str) -> int:
        return sum(f[key] for f in files)

    lines = [
        f"# UKE 請求チェック {month}", "",
        "## 件数（この実行）", "", "| 項目 | 件数 |", "|---|---|",
        f"| 読込ファイル | {len(files)} |", f"| 拒否ファイル | {len(ingested['refused'])} |",
        f"| 読込済みのため変更なし（同じファイル） | {sum(f['already_ingested'] for f in files)} |",
        f"| レセプト（読込） | {total('receipts_read')} |", f"| 本市の公費（KO）あり | {total('receipts_accepted')} |",
        f"| 隔離（不正レコード） | {total('receipts_quarantined')} |",
        f"| 本市の公費なし | {total('receipts_without_city_public')} |",
        f"| 他公費・他市のKO（無視） | {total('other_public_records')} |",
        f"| 新規 | {total('new')} |", f"| 訂正 | {total('corrected')} |", f"| 変更なし | {total('unchanged')} |",
        f"| 承認 | {total('approved')} |", f"| 過誤・再審査 | {total('disputed')} |",
        f"| 保留（要確認） | {total('review')} |",
        "", "## 請求書（請求年月の累計）", "",
        "| 審査支払機関 | 件数 | 日数 | 点数 | 請求額（円） | 承認件数 | 承認額（円） | 戻入額（円） | 過誤件数 | "
        "過誤請求額（円） | 保留件数 | 支払額（円） | 支払日 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for b in bills:
        lines.append(
            f"| {PAYER_LABELS.get(b['payer'], b['payer'])} | {b['receipts']} | {b['days']} | {b['points']} | "
            f"{b['billed_amount']} | {b['approved_receipts']} | {b['approved_amount']} | {b['reversal_amount']} | "
            f"{b['disputed_receipts']} | {b['disputed_amount']} | {b['review_receipts']} | "
            f"{'未払' if b['payment_amount'] is None else b['payment_amount']} | {b['paid_on'] or '—'} |")
    if not bills:
        lines.append("| （なし） | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 未払 | — |")
    if payment_requested and not closed:
        lines += ["", "**支払は行っていません**：拒否したファイルがあります。送付元の修正後に再実行してください。"]
    lines += ["", "## ファイル別", "", "| ファイル | 読込 | 本市KO | 隔離 | 承認 | 過誤 | 保留 |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {f['file']} | {f['receipts_read']} | {f['receipts_accepted']} | {f['receipts_quarantined']} | "
              f"{f['approved']} | {f['disputed']} | {f['review']} |" for f in files] or ["| （なし） | | | | | | |"]
    if ingested["refused"]:
        lines += ["", "## 拒否したファイル（送付元に修正を依頼）", "", "| ファイル | 理由 |", "|---|---|"]
        lines += [f"| {r['file']} | {r['problem']} |" for r in ingested["refused"]]
    if quarantine:
        lines += ["", "## 隔離したレセプト（行・レコード・項目・検査；値は表示しない）", "",
                  "| ファイル | 行 | レコード | 項目 | 検査 |", "|---|---|---|---|---|"]
        lines += [f"| {q['file']} | {q['line']} | {q['record']} | {q['field']} | {q['check']} |" for q in quarantine]
    review_list, saishinsa = review["files"]
    lines += ["", "## 出力ファイル", "", "| 書類 | 件数 | パス |", "|---|---|---|",
              f"| 要確認リスト（保留） | {review['review']} | `{review_list}` |",
              f"| 過誤・再審査請求リスト | {review['disputed']} | `{saishinsa}` |"]
    lines += [f"| 請求内訳（{PAYER_LABELS[c['bill'].split('|')[0]]}） | {c['receipts']} | `{c['file']}` |"
              for c in closed]
    return "\n".join(lines) + "\n"


@pipeline_task(name="publish-uke-summary")
@sanitised(stage="publish_uke_summary")
def publish_summary(month: str, read: UkeRead, ingested: dict, review: dict, bills: list[dict],
                    closed: list[dict], payment_requested: bool = False) -> dict:
    """Markdown artifact ``uke-claims-summary`` (Japanese, aggregates only) and the flow's return value."""
    create_markdown_artifact(key="uke-claims-summary", description=f"UKE 請求チェック {month}",
                             markdown=summary_markdown(month, ingested, read.quarantine_rows(), review, bills,
                                                       closed, payment_requested))
    files = ingested["files"]
    return {
        "month": month, "files": len(files), "refused_files": [r["file"] for r in ingested["refused"]],
        **{key: sum(f[key] for f in files) for key in FILE_COUNTS},
        "bills": [{k: b[k] for k in ("payer", "receipts", "billed_amount", "approved_receipts", "approved_amount",
                                     "reversal_amount", "disputed_receipts", "review_receipts", "payment_amount")}
                  for b in bills],
        "outputs": list(review["files"]) + [c["file"] for c in closed],
    }


@pipeline_task(name="refuse-bad-uke-files")
@sanitised(stage="refuse_bad_uke_files")
def raise_for_refused(ingested: dict) -> None:
    """End the run Failed when a file was refused: the state message names each file, line and problem."""
    if ingested["refused"]:
        raise UkeFilesRefusedError(", ".join(r["file"] for r in ingested["refused"]),
                              "refused whole, the other files were booked: "
                              + " / ".join(r["problem"] for r in ingested["refused"]))
