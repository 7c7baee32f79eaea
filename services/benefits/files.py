"""Files of the benefit stage: the 全銀 総合振込 file, CSV reports and refund notices, month totals.

The 全銀 file (connectors.zengin, docs/formats) is written for the month's 償還払 payments, one transfer
per payee account, and checked against the database (parsed back, totals compared). Staff files are
CP932 CSV in Japanese: the city's accounts, the prefecture subsidy report, the refund notice list.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection

from connectors import zengin
from privacy.crypto import KeyRing
from rules import benefits
from schemas.claims import PAYEE_COLUMNS
from services.notices.lists import write_csv_atomically
from store import benefit_models as bm
from store.bulk import read_frame

CAUSE_LABELS = {"MOVE_OUT": "転出", "DEATH": "死亡", "WELFARE": "生活保護", "AGE": "年齢到達",
                "INSURANCE": "保険資格喪失", "PLACEMENT": "措置", "NOT_YET_ELIGIBLE": "登録前",
                "SUSPENDED_INCOME": "支給停止", "OPEN": ""}



def month_transfers(conn: Connection, month: str, ring: KeyRing) -> pd.DataFrame:
    """The month's ZENGIN payments with the decrypted payee accounts (in memory only)."""
    pay, claim = bm.BenefitPayment.__table__, bm.BenefitClaim.__table__
    payments = read_frame(conn, pay, ["id", "claim_id", "amount"], where=(pay.c.month == month) & (
        pay.c.channel == "ZENGIN"))
    if payments.empty:
        return pd.DataFrame(columns=["payment_id", "claim_id", "amount", "customer_code", *PAYEE_COLUMNS])
    payees = read_frame(conn, claim, ["claim_id", "payee_enc"], where=claim.c.claim_id.in_(
        payments["claim_id"].tolist()))
    payees["payee"] = ring.decrypt_many(payees["payee_enc"].tolist(), table="benefit_claim", column="payee",
                                        row_keys=payees["claim_id"].tolist())
    accounts = pd.DataFrame([json.loads(p) for p in payees["payee"]], index=payees["claim_id"])
    frame = payments.join(accounts, on="claim_id")
    missing = frame["account_number"].isna()
    if missing.any():
        raise ValueError(f"{int(missing.sum())} ZENGIN payments have no payee account")
    # Group by account: one transfer per payee account and month.
    grouped = frame.groupby(PAYEE_COLUMNS, sort=True, as_index=False).agg(
        amount=("amount", "sum"), payment_id=("id", "min"), payments=("id", "size"))
    grouped["customer_code"] = "P" + grouped["payment_id"].astype(int).astype(str).str.zfill(9)
    return grouped


def write_payment_file(conn: Connection, month: str, ring: KeyRing, outbox: Path, remitter: zengin.Remitter,
                       transfer_date: dt.date) -> dict:
    """Write ``zengin_<month>.txt`` and check it against the database (parsed back, totals compared)."""
    transfers = month_transfers(conn, month, ring)
    path = zengin.write_transfer_file(outbox / f"zengin_{month}.txt", transfers, remitter, transfer_date)
    parsed = zengin.parse_transfer_file(path.read_bytes())
    pay = bm.BenefitPayment.__table__
    db = read_frame(conn, pay, ["amount"], where=(pay.c.month == month) & (pay.c.channel == "ZENGIN"))
    db_total = int(db["amount"].sum()) if len(db) else 0
    if parsed.trailer["total"] != db_total:
        raise ValueError("the 全銀 file total differs from the database")
    return {"file": path.name, "transfers": parsed.trailer["count"], "total_amount": parsed.trailer["total"],
            "payments": int(len(db))}


def _month_receipts(assessed: pd.DataFrame) -> pd.DataFrame:
    """The month's own receipts: without the stored ones re-assessed with a late receipt of their admission."""
    if "admission_reassessed" not in assessed or assessed.empty:
        return assessed
    return assessed.loc[~assessed["admission_reassessed"].to_numpy(dtype=bool)]


#: Staff CSVs are read by people: Japanese headers and code values (issue 15).
STAFF_COLUMNS = {"channel": "支払先", "route": "給付方法", "kind": "区分", "service_month": "診療年月",
                 "age_band": "年齢区分", "setting": "入院・入院外", "receipts": "件数", "total_cost_amount": "総医療費",
                 "self_pay_amount": "自己負担額", "subsidy_amount": "助成額"}
STAFF_VALUES = {
    "channel": {"ZENGIN": "口座振込（申請者）", "REVIEW_BODY": "審査支払機関", "RECEIVABLE": "返還請求"},
    "route": {"IN_KIND": "現物給付", "REIMBURSEMENT": "償還払い", "ALL": "全体"},
    "kind": {"INITIAL": "当初支給", "SUPPLEMENTARY": "追加支給", "REFUND_CLAIM": "返還請求"},
    "age_band": {"PRESCHOOL": "未就学", "ELEMENTARY": "小学生", "JUNIOR_HIGH": "中学生", "HIGH_SCHOOL": "高校生年代"},
    "setting": {"INPATIENT": "入院", "OUTPATIENT": "入院外"},
}


def for_staff(frame: pd.DataFrame) -> pd.DataFrame:
    """Japanese code values and headers (codes without a label are kept as they are)."""
    out = frame.copy()
    for column, labels in STAFF_VALUES.items():
        if column in out:
            out[column] = out[column].map(lambda v, labels=labels: labels.get(v, v))
    return out.rename(columns=STAFF_COLUMNS)


def write_reports(conn: Connection, month: str, assessed: pd.DataFrame, outbox: Path) -> dict:
    """CSV (CP932) for the city's accounts, the prefecture subsidy report and the refund notice list."""
    assessed = _month_receipts(assessed)
    pay, rec = bm.BenefitPayment.__table__, bm.Receivable.__table__
    payments = read_frame(conn, pay, ["route", "kind", "channel", "amount"], where=pay.c.month == month)
    accounts = payments.groupby(["channel", "route", "kind"], as_index=False).agg(
        件数=("amount", "size"), 金額=("amount", "sum")) if len(payments) else pd.DataFrame(
        columns=["channel", "route", "kind", "件数", "金額"])
    receivables = read_frame(conn, rec, ["id", "claim_id", "person_id", "recipient_no", "service_month",
                                         "amount", "reason_code", "ineligibility_cause", "issued_month"],
                             where=rec.c.issued_month == month)
    refund_row = pd.DataFrame([{"channel": "RECEIVABLE", "route": "ALL", "kind": "REFUND_CLAIM",
                                "件数": int(len(receivables)), "金額": int(receivables["amount"].sum())
                                if len(receivables) else 0}])
    accounts = pd.concat([accounts, refund_row], ignore_index=True)
    accounts.insert(0, "支払月", month)
    write_csv_atomically(for_staff(accounts), outbox / f"benefit_accounts_{month}.csv")
    prefecture = (benefits.summarise_for_prefecture(assessed) if len(assessed) else pd.DataFrame(
        columns=["service_month", "age_band", "setting", "receipts", "total_cost_amount", "self_pay_amount",
                 "subsidy_amount"]))
    write_csv_atomically(for_staff(prefecture), outbox / f"prefecture_report_{month}.csv")
    notices = pd.DataFrame({
        "債権番号": receivables["id"], "宛名番号": receivables["person_id"], "受給者番号": receivables["recipient_no"],
        "診療年月": receivables["service_month"], "レセプト番号": receivables["claim_id"],
        "返還請求額": receivables["amount"], "理由コード": receivables["reason_code"],
        "事由": receivables["ineligibility_cause"].map(CAUSE_LABELS).fillna(""), "発行月": receivables["issued_month"],
    })
    write_csv_atomically(notices, outbox / f"refund_notices_{month}.csv")
    held = held_receipts(assessed)
    write_csv_atomically(held, outbox / f"held_receipts_{month}.csv")
    return {"accounts_rows": int(len(accounts)), "prefecture_rows": int(len(prefecture)),
            "refund_notices": int(len(notices)), "held_receipts": int(len(held))}


HOLD_LABELS = {"HIGH_COST_CATEGORY_UNKNOWN": "区分不明（高額療養費の適用区分を入力してください）"}


def held_receipts(assessed: pd.DataFrame) -> pd.DataFrame:
    """The review list of held receipts (保留レセプト一覧): what staff must supply, with rule and parameter."""
    columns = ["レセプト番号", "受給者番号", "診療年月", "保留理由", "理由コード"]
    if assessed.empty or "hold_reason" not in assessed:
        return pd.DataFrame(columns=columns)
    held = assessed.loc[assessed["hold_reason"].notna().to_numpy(dtype=bool)]
    return pd.DataFrame({
        "レセプト番号": held["claim_id"].to_numpy(), "受給者番号": held["recipient_no"].to_numpy(),
        "診療年月": held["service_month"].to_numpy() if "service_month" in held
        else held["first_service_date"].dt.strftime("%Y-%m").to_numpy(),
        "保留理由": held["hold_reason"].map(HOLD_LABELS).to_numpy(), "理由コード": held["hold_code"].to_numpy(),
    }, columns=columns)


def month_totals(assessed: pd.DataFrame, settled: dict, payment_file: dict) -> dict:
    """Aggregate totals of the month for the run artifact (no personal data)."""
    assessed = _month_receipts(assessed)
    rejected = benefits.summarise_rejections(assessed) if len(assessed) else pd.DataFrame(
        columns=["rejection_reason", "receipts"])
    return {
        "receipts": int(len(assessed)),
        "payable": int(assessed["is_payable"].sum()) if len(assessed) else 0,
        "held": int(assessed["hold_reason"].notna().sum()) if len(assessed) and "hold_reason" in assessed else 0,
        "subsidy_amount": int(assessed["subsidy_amount"].sum()) if len(assessed) else 0,
        "rejections": {str(r): int(n) for r, n in rejected.itertuples(index=False)},
        **settled, "transfer_file": payment_file,
    }
