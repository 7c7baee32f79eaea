"""UKE bills: ingest a facility file, check it, book the approved amounts, close and pay the bill.

One transaction per call; the caller owns it (repository functions take a connection, never commit).

* :func:`ingest_file` — a read :class:`connectors.uke.UkeFile`: new receipts and corrections are matched and
  assessed (services.claims.check), stored by identity, and booked into the bill of their 審査支払機関 and
  請求年月: ``CHARGE`` for an approved receipt; a correction (same identity, other content) first
  ``REVERSAL``-s what the earlier version was charged. The same file twice changes nothing (file SHA-256,
  receipt content digest, entry keys claim | kind | version).
* :func:`withdraw` — 取下げ: the receipt is withdrawn and its charge reversed in the given (next) bill.
* :func:`refresh_bill` — 件数, 日数, 点数, 金額 of a bill from its receipts and entries.
* :func:`close_bill` — the payment record (approved − reversals) and the CSV 請求内訳 for finance.
* :func:`write_review_lists` — the review list (unmatched/mismatched KO) and the 過誤/再審査 requests.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Connection, func, select, update

from connectors.uke import PAYER_LABELS, UkeFile
from policy import Policy
from privacy.crypto import KeyRing
from rules import benefits
from services.benefits.assessment import attach_admission_history
from services.claims import check
from services.intake.persist import keyed_digest
from services.notices.lists import write_csv_atomically
from store import claims_models as cm
from store import models
from store.bulk import insert_frame, insert_missing, read_frame, read_frame_in

#: Receipt fields that make its content (a change = a correction by the 審査支払機関).
CONTENT_COLUMNS = [
    "billing_month", "receipt_type", "care_type", "sex_code", "birth_date", "first_service_date",
    "last_service_date", "service_days", "first_visit_flag", "admission_date", "total_points", "insurer_number",
    "insured_self_pay_amount", "meal_amount", "high_cost_category", "high_cost_many_times_flag",
    "specific_disease_code", "public_payer_number", "recipient_no", "billed_days", "billed_points",
    "billed_subsidy_amount", "billed_copay_amount",
]
STORED_COLUMNS = [
    "claim_id", "payer", "institution_code", "service_month", "receipt_no", "billing_month", "receipt_type",
    "care_type", "public_payer_number", "recipient_no", "person_id", "first_service_date", "last_service_date",
    "service_dates_source", "service_days", "admission_id", "admission_date", "total_points", "insurer_number",
    "insured_self_pay_amount", "meal_amount", "high_cost_category", "high_cost_many_times_flag",
    "specific_disease_code", "first_visit_flag", "billed_days", "billed_points", "billed_subsidy_amount",
    "billed_copay_amount", "city_subsidy_amount", "city_copay_amount", "city_self_pay_amount", "copay_rule_amount",
    "status", "review_reason", "differing_rule", "rule_detail", "version", "content_digest", "file_sha256",
    "source_line", "run_id",
]


class BillClosedError(ValueError):
    """The bill of this 審査支払機関 and month is already paid; a late file belongs to a later bill."""

    safe_message = True


def bill_key(payer: str, month: str) -> str:
    """Bill identity: 審査支払機関 | 請求年月."""
    return f"{payer}|{month}"


def _closed(conn: Connection, key: str) -> bool:
    table = cm.UkeBill.__table__
    paid = conn.execute(select(table.c.payment_amount).where(table.c.bill_key == key)).first()
    return paid is not None and paid[0] is not None


def load_references(conn: Connection) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Recipients (with 公費負担者番号), persons (birth date, sex) and eligibility periods."""
    recipients = read_frame(conn, models.Recipient.__table__, ["person_id", "recipient_no", "public_payer_number"])
    persons = read_frame(conn, models.Person.__table__, ["person_id", "birth_date", "sex_code"])
    periods = read_frame(conn, models.EligibilityPeriod.__table__,
                         ["person_id", "valid_from", "valid_to", "status", "end_reason"])
    return recipients, persons, periods


def assess_receipts(conn: Connection, receipts: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """Match, assess (rules of the service date) and compare each receipt (services.claims.check)."""
    recipients, persons, periods = load_references(conn)
    matched = check.match_recipients(receipts.reset_index(drop=True), recipients, persons)
    ok = matched[matched["review_reason"].isna()]
    assessed = pd.DataFrame()
    if len(ok):
        stage = check.stage_frame(ok)
        history = read_frame_in(conn, cm.UkeReceipt.__table__, ["claim_id", "admission_id", "first_service_date",
                                                                 "service_days", "copay_rule_amount"],
                                "admission_id", sorted(set(stage["admission_id"].dropna().astype(str))))
        history["first_service_date"] = pd.to_datetime(history["first_service_date"]).astype("datetime64[ns]")
        stage = attach_admission_history(stage, history)
        assessed = benefits.assess_claims(stage, recipients[["person_id", "recipient_no"]],
                                          persons[["person_id", "birth_date"]], periods, policy)
    return check.compare(matched, assessed)


def _outstanding(conn: Connection, claim_ids: list[str]) -> pd.Series:
    entries = read_frame_in(conn, cm.UkeBillEntry.__table__, ["claim_id", "amount"], "claim_id", claim_ids)
    return entries.groupby("claim_id")["amount"].sum() if len(entries) else pd.Series(dtype="int64")


def ingest_file(conn: Connection, uke: UkeFile, *, policy: Policy, ring: KeyRing, run_id: str) -> dict:
    """Store and book one read UKE file (see module doc); returns aggregate counts only."""
    files = cm.UkeFile.__table__
    if conn.execute(select(files.c.id).where(files.c.sha256 == uke.sha256)).first() is not None:
        return {"file": uke.file_name, "already_ingested": True, "new": 0, "corrected": 0, "unchanged": 0}
    key = bill_key(uke.payer, uke.billing_month)
    if _closed(conn, key):
        raise BillClosedError(f"{uke.file_name}: the bill {key} is already closed and paid")
    receipts = uke.receipts.copy()
    receipts["content_digest"] = keyed_digest(receipts, CONTENT_COLUMNS, ring) if len(receipts) else []
    table = cm.UkeReceipt.__table__
    ids = receipts["claim_id"].astype(str).tolist()
    existing = read_frame_in(conn, table, ["claim_id", "content_digest", "version", "status"], "claim_id", ids)
    known = receipts.merge(existing.rename(columns={"content_digest": "_old_digest"}), on="claim_id", how="left")
    unchanged = known["_old_digest"].eq(known["content_digest"]).fillna(False).to_numpy(dtype=bool)
    corrected = known["_old_digest"].notna().to_numpy(dtype=bool) & ~unchanged
    todo = known.loc[~unchanged].reset_index(drop=True)
    counts = {"file": uke.file_name, "already_ingested": False, "new": int((~unchanged & ~corrected).sum()),
              "corrected": int(corrected.sum()), "unchanged": int(unchanged.sum()), **uke.counts}
    if len(todo):
        outcome = assess_receipts(conn, todo.drop(columns=["_old_digest", "version", "status"]), policy)
        outcome["version"] = (todo["version"].fillna(0).astype("int64") + 1).to_numpy()
        outcome["file_sha256"] = uke.sha256
        outcome["run_id"] = run_id
        _store(conn, outcome, todo["_old_digest"].notna().to_numpy(dtype=bool))
        _book(conn, outcome, todo, key, run_id)
        counts.update({s.lower(): int((outcome["status"] == s).sum()) for s in cm.RECEIPT_STATUSES[:3]})
    insert_frame(conn, files, pd.DataFrame([{
        "sha256": uke.sha256, "file_name": uke.file_name, "payer": uke.payer,
        "institution_code": uke.institution_code, "billing_month": uke.billing_month,
        "receipts_read": uke.counts["receipts_read"], "receipts_accepted": uke.counts["receipts_accepted"],
        "receipts_quarantined": uke.counts["receipts_quarantined"],
        "receipts_without_city_public": uke.counts["receipts_without_city_public"],
        "other_public_records": uke.counts["other_public_records"], "run_id": run_id}]))
    refresh_bill(conn, uke.payer, uke.billing_month)
    return counts


def _store(conn: Connection, outcome: pd.DataFrame, is_correction: np.ndarray) -> None:
    rows = outcome[STORED_COLUMNS].copy()
    for column in ("city_subsidy_amount", "city_copay_amount", "city_self_pay_amount"):
        rows[column] = rows[column].astype("Int64")
    rows["receipt_no"] = rows["receipt_no"].astype(str)
    insert_frame(conn, cm.UkeReceipt.__table__, rows.loc[~is_correction])
    table = cm.UkeReceipt.__table__
    for record in rows.loc[is_correction].astype(object).where(rows.loc[is_correction].notna(), None).to_dict(
            "records"):
        for column in ("first_service_date", "last_service_date", "admission_date"):
            if record[column] is not None:
                record[column] = pd.Timestamp(record[column]).date()
        claim_id = record.pop("claim_id")
        conn.execute(update(table).where(table.c.claim_id == claim_id).values(**record))


def _book(conn: Connection, outcome: pd.DataFrame, todo: pd.DataFrame, key: str, run_id: str) -> None:
    """Reverse what earlier versions of corrected receipts were charged; charge the approved ones."""
    outstanding = _outstanding(conn, outcome["claim_id"].astype(str).tolist())
    previous = todo["version"].fillna(0).astype("int64").to_numpy()
    owed = outcome["claim_id"].map(outstanding).fillna(0).astype("int64").to_numpy()
    reverse = owed != 0
    entries = [pd.DataFrame({
        "entry_key": outcome.loc[reverse, "claim_id"] + "|REVERSAL|" + pd.Series(previous[reverse], index=outcome.index[
            reverse]).astype(str),
        "bill_key": key, "claim_id": outcome.loc[reverse, "claim_id"], "kind": "REVERSAL", "amount": -owed[reverse],
        "reason": "CORRECTION", "run_id": run_id})]
    approved = (outcome["status"] == "APPROVED").to_numpy()
    entries.append(pd.DataFrame({
        "entry_key": outcome.loc[approved, "claim_id"] + "|CHARGE|" + outcome.loc[approved, "version"].astype(str),
        "bill_key": key, "claim_id": outcome.loc[approved, "claim_id"], "kind": "CHARGE",
        "amount": outcome.loc[approved, "city_subsidy_amount"].astype("int64"), "reason": "APPROVED",
        "run_id": run_id}))
    insert_missing(conn, cm.UkeBillEntry.__table__, pd.concat(entries, ignore_index=True), ["entry_key"])


def withdraw(conn: Connection, claim_id: str, *, payer: str, month: str, run_id: str) -> int:
    """取下げ: mark the receipt WITHDRAWN and reverse its outstanding charge in the bill of ``month``."""
    key = bill_key(payer, month)
    if _closed(conn, key):
        raise BillClosedError(f"the bill {key} is already closed and paid")
    table = cm.UkeReceipt.__table__
    row = conn.execute(select(table.c.version, table.c.payer).where(table.c.claim_id == claim_id)).first()
    if row is None:
        raise KeyError(f"receipt {claim_id} is not known")
    if row.payer != payer:
        raise ValueError(f"receipt {claim_id} was billed by {row.payer}, not {payer}")
    owed = int(_outstanding(conn, [claim_id]).get(claim_id, 0))
    conn.execute(update(table).where(table.c.claim_id == claim_id).values(status="WITHDRAWN"))
    added = 0
    if owed:
        added = insert_missing(conn, cm.UkeBillEntry.__table__, pd.DataFrame([{
            "entry_key": f"{claim_id}|REVERSAL|{row.version}", "bill_key": key, "claim_id": claim_id,
            "kind": "REVERSAL", "amount": -owed, "reason": "WITHDRAWN", "run_id": run_id}]), ["entry_key"])
    refresh_bill(conn, payer, month)
    return added


def refresh_bill(conn: Connection, payer: str, month: str) -> dict:
    """Recompute one bill's totals from its receipts and entries (upsert)."""
    key = bill_key(payer, month)
    r, e, b = cm.UkeReceipt.__table__, cm.UkeBillEntry.__table__, cm.UkeBill.__table__
    receipts = read_frame(conn, r, ["status", "billed_days", "billed_points", "billed_subsidy_amount"],
                          where=(r.c.payer == payer) & (r.c.billing_month == month))
    entries = read_frame(conn, e, ["kind", "amount"], where=e.c.bill_key == key)
    status = receipts["status"]
    totals = {
        "receipts": int(len(receipts)), "days": int(receipts["billed_days"].sum()),
        "points": int(receipts["billed_points"].sum()), "billed_amount": int(receipts["billed_subsidy_amount"].sum()),
        "approved_receipts": int((status == "APPROVED").sum()),
        "approved_amount": int(entries.loc[entries["kind"] == "CHARGE", "amount"].sum()),
        "reversal_amount": int(-entries.loc[entries["kind"] == "REVERSAL", "amount"].sum()),
        "disputed_receipts": int((status == "DISPUTED").sum()),
        "disputed_amount": int(receipts.loc[status == "DISPUTED", "billed_subsidy_amount"].sum()),
        "review_receipts": int((status == "REVIEW").sum()),
    }
    if conn.execute(select(func.count()).select_from(b).where(b.c.bill_key == key)).scalar():
        conn.execute(update(b).where(b.c.bill_key == key).values(**totals))
    else:
        insert_frame(conn, b, pd.DataFrame([{"bill_key": key, "payer": payer, "billing_month": month, **totals}]))
    return totals


def close_bill(conn: Connection, payer: str, month: str, *, paid_on: dt.date, outbox: Path, run_id: str) -> dict:
    """Pay the bill (approved − reversals; once) and write ``uke_bill_<payer>_<month>.csv`` (請求内訳)."""
    key = bill_key(payer, month)
    b = cm.UkeBill.__table__
    totals = refresh_bill(conn, payer, month) if not _closed(conn, key) else None
    if totals is not None:
        amount = totals["approved_amount"] - totals["reversal_amount"]
        conn.execute(update(b).where(b.c.bill_key == key).values(payment_amount=amount, paid_on=paid_on,
                                                                  closed_run_id=run_id))
    bill = conn.execute(select(b).where(b.c.bill_key == key)).mappings().one()
    breakdown = bill_breakdown(conn, payer, month)
    path = outbox / f"uke_bill_{payer}_{month}.csv"
    write_csv_atomically(breakdown, path)
    return {"bill": key, "receipts": bill["receipts"], "days": bill["days"], "points": bill["points"],
            "billed_amount": bill["billed_amount"], "approved_amount": bill["approved_amount"],
            "reversal_amount": bill["reversal_amount"], "payment_amount": bill["payment_amount"],
            "newly_closed": totals is not None, "file": path.name}


def bill_breakdown(conn: Connection, payer: str, month: str) -> pd.DataFrame:
    """請求内訳: one line per receipt billed in the month and per entry of the bill (Japanese headers)."""
    key = bill_key(payer, month)
    r, e = cm.UkeReceipt.__table__, cm.UkeBillEntry.__table__
    entries = read_frame(conn, e, ["claim_id", "kind", "amount", "reason"], where=e.c.bill_key == key)
    billed = read_frame(conn, r, ["claim_id"], where=(r.c.payer == payer) & (r.c.billing_month == month))
    ids = sorted(set(entries["claim_id"]) | set(billed["claim_id"]))
    receipts = read_frame_in(conn, r, ["claim_id", "institution_code", "service_month", "receipt_no",
                                       "recipient_no", "billed_days", "billed_points", "billed_subsidy_amount",
                                       "city_subsidy_amount", "status", "differing_rule"], "claim_id", ids)
    paid = entries.groupby("claim_id")["amount"].sum() if len(entries) else pd.Series(dtype="int64")
    kinds = entries.groupby("claim_id")["kind"].agg(lambda k: "+".join(sorted(set(k)))) if len(entries) else {}
    receipts = receipts.sort_values("claim_id")
    return pd.DataFrame({
        "審査支払機関": PAYER_LABELS[payer], "請求年月": month, "レセプト識別": receipts["claim_id"],
        "医療機関コード": receipts["institution_code"], "診療年月": receipts["service_month"],
        "レセプト番号": receipts["receipt_no"], "受給者番号": receipts["recipient_no"],
        "日数": receipts["billed_days"], "点数": receipts["billed_points"],
        "請求額": receipts["billed_subsidy_amount"], "市の査定額": receipts["city_subsidy_amount"].astype("Int64"),
        "区分": receipts["claim_id"].map(kinds).fillna("").to_numpy() if len(receipts) else [],
        "支払額": receipts["claim_id"].map(paid).fillna(0).astype("int64").to_numpy() if len(receipts) else [],
        "状態": receipts["status"], "相違ルール": receipts["differing_rule"].fillna(""),
    })


def write_review_lists(conn: Connection, month: str, outbox: Path) -> dict:
    """``uke_review_<month>.csv`` (unmatched/mismatched KO) and ``uke_saishinsa_<month>.csv`` (過誤/再審査)."""
    r = cm.UkeReceipt.__table__
    rows = read_frame(conn, r, ["claim_id", "payer", "institution_code", "service_month", "receipt_no",
                                "recipient_no", "status", "review_reason", "billed_subsidy_amount",
                                "city_subsidy_amount", "billed_copay_amount", "city_copay_amount", "differing_rule",
                                "rule_detail"],
                      where=(r.c.billing_month == month) & r.c.status.in_(["REVIEW", "DISPUTED"]))
    for column in ("city_subsidy_amount", "city_copay_amount"):
        rows[column] = rows[column].astype("Int64")
    common = {"審査支払機関": rows["payer"].map(PAYER_LABELS), "レセプト識別": rows["claim_id"],
              "医療機関コード": rows["institution_code"], "診療年月": rows["service_month"],
              "レセプト番号": rows["receipt_no"], "受給者番号": rows["recipient_no"]}
    review = pd.DataFrame({**common, "理由": rows["review_reason"].map(check.REVIEW_REASONS),
                           "理由コード": rows["review_reason"]})[rows["status"].to_numpy() == "REVIEW"]
    disputed = pd.DataFrame({**common, "請求額": rows["billed_subsidy_amount"],
                             "市の査定額": rows["city_subsidy_amount"], "請求一部負担金": rows["billed_copay_amount"],
                             "市の一部負担金": rows["city_copay_amount"], "相違ルール": rows["differing_rule"],
                             "相違の説明": rows["differing_rule"].map(check.DIFFERING_RULES),
                             "根拠": rows["rule_detail"]})[rows["status"].to_numpy() == "DISPUTED"]
    write_csv_atomically(review, outbox / f"uke_review_{month}.csv")
    write_csv_atomically(disputed, outbox / f"uke_saishinsa_{month}.csv")
    return {"review": int(len(review)), "disputed": int(len(disputed))}
