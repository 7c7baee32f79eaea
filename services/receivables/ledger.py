"""消込 from a bank payment file, and the ledgers an auditor reads (債権管理簿, aging, 督促 batch).

Bank payment file (docs/receivables.md §消込): CSV, UTF-8 or CP932 (strict), header
``payment_ref,paid_date,payment_number,amount``; ``payment_number`` is the 納付番号 printed on the 納付書
(:func:`payment_number`: the receivable id in 9 digits + a モジュラス10 ウエイト2・1 check digit).
A row that matches an open receivable is recorded (partial and over payments included, see
services.receivables.accounts); any other row goes to the review list (``payment_review``) with its reason.
Re-importing the same file records nothing twice (payment_ref per receivable; review key file | ref).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from connectors.files import file_sha256, read_input_csv
from policy import Policy
from rules.checkdigits import is_valid_modulus10_w21, with_modulus10_w21
from services.notices.lists import write_csv_atomically
from services.receivables import accounts
from store import benefit_models as bm
from store import claims_models as cm
from store.bulk import insert_missing, read_frame

BANK_COLUMNS = ["payment_ref", "paid_date", "payment_number", "amount"]
REVIEW_REASONS = {
    "BAD_ROW": "the row is malformed (date YYYY-MM-DD, amount in yen, payment_ref 1-32 characters)",
    "UNKNOWN_PAYMENT_NUMBER": "納付番号 has a wrong check digit or names no receivable",
    "RECEIVABLE_CLOSED": "the receivable is paid, written off or cancelled: refund or re-book by hand",
    "NO_NOTICE": "the receivable has no 調定 (no 返還請求書 was issued)",
}
#: 未収金 age bands: days past the 納期限 (upper bound inclusive), for the aging report.
AGE_BANDS = [("納期限内", -10**9, 0), ("1〜30日", 1, 30), ("31〜90日", 31, 90), ("91〜180日", 91, 180),
             ("181〜365日", 181, 365), ("1〜3年", 366, 1095), ("3年超", 1096, 10**9)]


def payment_number(receivable_id: int) -> str:
    """納付番号 of a receivable (10 digits, check digit last)."""
    return with_modulus10_w21(f"{receivable_id:09d}")


def import_payments(conn: Connection, path: Path, *, policy: Policy, operator_id: str) -> dict:
    """Match and record every row of a bank payment file; unmatched rows go to the review list."""
    frame = read_input_csv(path, BANK_COLUMNS)
    digest = file_sha256(path)
    counts = {"rows": int(len(frame)), "recorded": 0, "already_recorded": 0, "partial": 0, "overpaid": 0,
              "review": 0}
    reviews = []
    for row in frame.itertuples(index=False):
        paid = pd.to_datetime(row.paid_date, format="%Y-%m-%d", errors="coerce")
        amount = str(row.amount) if isinstance(row.amount, str) else ""
        ref = row.payment_ref if isinstance(row.payment_ref, str) else ""
        number = row.payment_number if isinstance(row.payment_number, str) else ""
        review = {"review_key": f"{digest[:32]}|{ref or row.source_row}", "file_name": path.name,
                  "line": int(row.source_row), "payment_ref": ref[:32] or "-",
                  "paid_date": paid.date() if pd.notna(paid) else None,
                  "amount": int(amount) if amount.isdigit() else 0}
        if pd.isna(paid) or not amount.isdigit() or int(amount) <= 0 or not 1 <= len(ref) <= 32:
            reviews.append({**review, "reason": "BAD_ROW"})
            continue
        if not is_valid_modulus10_w21(number, (10,)):
            reviews.append({**review, "reason": "UNKNOWN_PAYMENT_NUMBER"})
            continue
        receivable_id = int(number[:9])
        try:
            info = accounts.account(conn, receivable_id)
        except accounts.ReceivableError:
            reviews.append({**review, "reason": "UNKNOWN_PAYMENT_NUMBER"})
            continue
        if info["account"] is None:
            reviews.append({**review, "reason": "NO_NOTICE"})
            continue
        if info["receivable"]["status"] not in accounts.OPEN_STATUSES:
            paid_refs = read_frame(conn, bm.ReceivablePayment.__table__, ["payment_ref"],
                                   where=bm.ReceivablePayment.__table__.c.receivable_id == receivable_id)
            if ref in set(paid_refs["payment_ref"]):
                counts["already_recorded"] += 1
            else:
                reviews.append({**review, "reason": "RECEIVABLE_CLOSED"})
            continue
        result = accounts.record_payment(conn, receivable_id, payment_ref=ref, paid_date=paid.date(),
                                         amount=int(amount), policy=policy, operator_id=operator_id)
        counts["recorded" if result["recorded"] else "already_recorded"] += 1
        counts["partial"] += int(result["recorded"] and result["status"] == "PARTLY_PAID")
        counts["overpaid"] += int(result["recorded"] and result["overpaid_amount"] > 0)
    if reviews:
        counts["review"] = int(insert_missing(conn, cm.PaymentReview.__table__, pd.DataFrame(reviews),
                                              ["review_key"]))
    return counts


def ledger_frame(conn: Connection, *, as_of: dt.date) -> pd.DataFrame:
    """One row per receivable with its account: amounts, dates, kind, age in days past the 納期限."""
    rec, acc = bm.Receivable.__table__, cm.ReceivableAccount.__table__
    receivables = read_frame(conn, rec, ["id", "claim_id", "person_id", "recipient_no", "service_month",
                                         "issued_month", "amount", "paid_amount", "written_off_amount", "status",
                                         "reason_code", "ineligibility_cause"])
    details = read_frame(conn, acc, ["receivable_id", "kind", "legal_basis", "notice_date", "due_date",
                                     "prescription_date", "reminder_count", "last_reminder_date",
                                     "overpaid_amount"])
    frame = receivables.merge(details, left_on="id", right_on="receivable_id", how="left")
    inst = read_frame(conn, cm.ReceivableInstallment.__table__, ["receivable_id", "seq"])
    frame["installments"] = frame["id"].map(inst.groupby("receivable_id")["seq"].max()).fillna(0).astype("int64")
    frame["open_amount"] = np.where(frame["status"].isin(accounts.OPEN_STATUSES),
                                    frame["amount"] - frame["paid_amount"] - frame["written_off_amount"], 0)
    due = pd.to_datetime(frame["due_date"])
    frame["days_past_due"] = (pd.Timestamp(as_of) - due).dt.days
    return frame.sort_values("id").reset_index(drop=True)


def aging(conn: Connection, *, as_of: dt.date) -> pd.DataFrame:
    """未収金 by age band (days past the 納期限): 件数 and 金額 per band, receivables with a 調定 only."""
    frame = ledger_frame(conn, as_of=as_of)
    frame = frame[(frame["open_amount"] > 0) & frame["due_date"].notna()]
    rows = []
    for label, low, high in AGE_BANDS:
        band = frame[(frame["days_past_due"] >= low) & (frame["days_past_due"] <= high)]
        rows.append({"区分": label, "件数": int(len(band)), "未収金額": int(band["open_amount"].sum())})
    return pd.DataFrame(rows)


def totals(conn: Connection, *, as_of: dt.date) -> dict:
    """Receivable totals for the monthly summary (aggregates only)."""
    frame = ledger_frame(conn, as_of=as_of)
    return {"receivables": int(len(frame)), "claimed_amount": int(frame["amount"].sum()),
            "collected_amount": int(frame["paid_amount"].sum()),
            "written_off_amount": int(frame["written_off_amount"].sum()),
            "open_amount": int(frame["open_amount"].sum()),
            "overdue_amount": int(frame.loc[frame["days_past_due"] > 0, "open_amount"].sum()),
            "overpaid_amount": int(frame["overpaid_amount"].fillna(0).sum())}


def write_ledger(conn: Connection, *, as_of: dt.date, outbox: Path) -> dict:
    """債権管理簿 (``saiken_kanribo_<date>.csv``) and the aging report (``miushu_aging_<date>.csv``), CP932."""
    frame = ledger_frame(conn, as_of=as_of)
    status_labels = {"ISSUED": "未納", "PARTLY_PAID": "一部納付", "PAID": "完納", "WRITTEN_OFF": "不納欠損",
                     "CANCELLED": "取消"}

    def day(column: str) -> pd.Series:
        return pd.to_datetime(frame[column]).dt.strftime("%Y-%m-%d").fillna("")

    book = pd.DataFrame({
        "債権番号": frame["id"], "納付番号": frame["id"].map(payment_number), "債権の種類":
        frame["kind"].map(accounts.KIND_LABELS).fillna("未調定"), "根拠法令": frame["legal_basis"].fillna(""),
        "宛名番号": frame["person_id"], "受給者番号": frame["recipient_no"], "診療年月": frame["service_month"],
        "レセプト番号": frame["claim_id"], "発生理由": frame["reason_code"], "調定日": day("notice_date"),
        "調定額": frame["amount"], "納期限": day("due_date"), "収入済額": frame["paid_amount"],
        "不納欠損額": frame["written_off_amount"], "未収額": frame["open_amount"],
        "過納額": frame["overpaid_amount"].fillna(0).astype("int64"), "督促回数":
        frame["reminder_count"].fillna(0).astype("int64"), "最終督促日": day("last_reminder_date"),
        "分納回数": frame["installments"], "時効完成日": day("prescription_date"),
        "状態": frame["status"].map(status_labels),
    })
    write_csv_atomically(book, outbox / f"saiken_kanribo_{as_of.isoformat()}.csv")
    aged = aging(conn, as_of=as_of)
    write_csv_atomically(aged, outbox / f"miushu_aging_{as_of.isoformat()}.csv")
    return {"ledger_rows": int(len(book)), "open_amount": int(book["未収額"].sum()),
            "files": [f"saiken_kanribo_{as_of.isoformat()}.csv", f"miushu_aging_{as_of.isoformat()}.csv"]}


def write_reminder_batch(batch: pd.DataFrame, *, today: dt.date, outbox: Path) -> str:
    """督促状 batch list (``tokusoku_<date>.csv``): the print run of the reminders recorded today."""
    frame = pd.DataFrame({
        "債権番号": batch["receivable_id"], "納付番号": batch["receivable_id"].map(payment_number),
        "督促回数": batch["reminder_no"], "未納の納期限": batch["due_date"].astype(str),
        "未収額": batch["open_amount"], "督促日": today.isoformat(), "指定期限": batch["deadline"].astype(str),
    })
    name = f"tokusoku_{today.isoformat()}.csv"
    write_csv_atomically(frame, outbox / name)
    return name


def write_notice_list(notices: pd.DataFrame, *, notice_date: dt.date, outbox: Path) -> str:
    """返還請求書 / 納付書 list (``henkan_seikyu_<date>.csv``) of the receivables issued on ``notice_date``."""
    frame = pd.DataFrame({
        "債権番号": notices["id"], "納付番号": notices["id"].map(payment_number), "宛名番号": notices["person_id"],
        "受給者番号": notices["recipient_no"], "診療年月": notices["service_month"],
        "レセプト番号": notices["claim_id"], "返還請求額": notices["amount"],
        "債権の種類": notices["kind"].map(accounts.KIND_LABELS), "調定日": notice_date.isoformat(),
        "納期限": pd.to_datetime(notices["due_date"]).dt.strftime("%Y-%m-%d"),
    })
    name = f"henkan_seikyu_{notice_date.isoformat()}.csv"
    write_csv_atomically(frame, outbox / name)
    return name
