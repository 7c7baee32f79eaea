"""The benefit stage of a month: receipts in, assessments, payments, refund claims, files out.

Plain functions (the Prefect tasks in ``tasks/benefits.py`` wrap them). Repository functions take a
connection and never commit; the caller owns the transaction.

1. :func:`load_claim_files` — read and validate ``claims.csv`` and ``reimbursement_applications.csv``.
2. :func:`assess_new_claims` — eligibility per receipt and amounts (rules.benefits) under the stored
   eligibility periods; admission days of earlier months come from the stored receipts.
3. :func:`store_claims` — upsert the receipts and their assessment (payee accounts encrypted).
4. :func:`reassess_stored_claims` — re-assess earlier receipts of children whose eligibility changed in the
   month's eligibility run (late 転出/死亡 notices, backdated 生活保護).
5. :func:`settle_claims` — compare entitlement with the ledger: initial and supplementary payments,
   返還請求 (receivables). Natural keys make a re-run create nothing twice.
6. :func:`write_payment_file`, :func:`write_reports` — 全銀 総合振込 file, CSV summaries, refund notices.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Connection, bindparam, select, update

from connectors import zengin
from connectors.files import file_sha256, read_input_csv, read_manifest
from policy import Policy
from privacy.crypto import KeyRing
from rules import benefits
from schemas.checks import using_reference_date
from schemas.claims import (
    CLAIM_COLUMNS,
    PAYEE_COLUMNS,
    REIMBURSEMENT_COLUMNS,
    ClaimSchema,
    ReimbursementApplicationSchema,
    claims_stage_frame,
)
from schemas.validate import validate_frame
from services.intake.persist import keyed_digest
from services.notices.lists import write_csv_atomically
from store import benefit_models as bm
from store import models
from store.bulk import insert_frame, insert_missing, read_frame, read_frame_in, upsert_frame

CLAIM_FILES = {"claims.csv": (CLAIM_COLUMNS, ClaimSchema), "reimbursement_applications.csv": (
    REIMBURSEMENT_COLUMNS, ReimbursementApplicationSchema)}

#: Stage-frame columns stored in ``benefit_claim`` (the inputs needed to recompute a receipt).
INPUT_COLUMNS = [
    "claim_id", "route", "recipient_no", "billing_month", "service_month", "first_service_date",
    "last_service_date", "service_days", "institution_code", "care_type", "first_visit_flag", "admission_id",
    "admission_date", "total_cost_amount", "receipt_amount", "insurer_number", "other_law_no_1", "other_amount_1",
    "other_law_no_2", "other_amount_2", "other_law_no_3", "other_amount_3", "high_cost_amount",
    "high_cost_category", "high_cost_many_times_flag", "additional_benefit_amount", "meal_amount",
    "application_date", "reimbursement_reason",
]
RESULT_COLUMNS = [
    "person_id", "status", "rejection_reason", "ineligibility_cause", "self_pay_percent", "self_pay_amount",
    "other_public_amount", "high_cost_deducted_amount", "additional_benefit_deducted_amount",
    "copay_rule_amount", "copay_amount", "copay_charged_days", "subsidy_amount", "share_rule", "copay_rule",
    "high_cost_rule",
]
CAUSE_LABELS = {"MOVE_OUT": "転出", "DEATH": "死亡", "WELFARE": "生活保護", "AGE": "年齢到達",
                "INSURANCE": "保険資格喪失", "OPEN": ""}


@dataclass
class ClaimInbox:
    """Validated receipts of an inbox (one stage frame), the payee accounts and the quarantine."""

    claims: pd.DataFrame
    payees: pd.DataFrame
    quarantine: pd.DataFrame
    inputs: pd.DataFrame = field(default_factory=pd.DataFrame)

    def counts(self) -> dict:
        """Aggregate counts (safe for logs and artifacts)."""
        return {"receipts": int(len(self.claims)), "quarantined_rows": int(self.quarantine["row_number"].nunique())
                if len(self.quarantine) else 0,
                "files": self.inputs.to_dict("records") if len(self.inputs) else []}


def load_claim_files(inbox_dir: str | Path, month: str | None = None) -> ClaimInbox:
    """Read and validate the claim files of an inbox (either may be absent)."""
    inbox = Path(inbox_dir)
    manifest = read_manifest(inbox)
    extract_date = manifest.get("extract_date")
    good: dict[str, pd.DataFrame] = {}
    quarantines, inputs = [], []
    for name, (columns, model) in CLAIM_FILES.items():
        path = inbox / name
        if not path.exists():
            continue
        raw = read_input_csv(path, columns, encoding=manifest.get("encoding"))
        with using_reference_date(extract_date):
            result = validate_frame(raw, model, name, extract_date=extract_date)
        good[name] = result.good
        digest = file_sha256(path)
        quarantines.append(result.quarantine.assign(file_sha256=digest))
        inputs.append({"file_name": name, "sha256": digest, "row_count": int(len(raw)),
                       "accepted_count": int(len(result.good)), "quarantined_count": result.quarantined_rows})
    claims = claims_stage_frame(good.get("claims.csv"), good.get("reimbursement_applications.csv"), month)
    applications = good.get("reimbursement_applications.csv")
    if applications is not None and len(applications):
        payees = applications[PAYEE_COLUMNS].assign(claim_id="R-" + applications["application_id"].astype(str))
    else:
        payees = pd.DataFrame(columns=["claim_id", *PAYEE_COLUMNS])
    quarantine = pd.concat(quarantines, ignore_index=True) if quarantines else pd.DataFrame(
        columns=["file_name", "file_sha256", "row_number", "column_name", "check_name", "masked_value", "reason"])
    return ClaimInbox(claims=claims, payees=payees, quarantine=quarantine, inputs=pd.DataFrame(inputs))


# ---------------------------------------------------------------------------------------------
# Assessment
# ---------------------------------------------------------------------------------------------


def load_references(conn: Connection, person_ids: list[str] | None = None) -> tuple[pd.DataFrame, ...]:
    """Recipients (person_id, recipient_no), persons (person_id, birth_date) and eligibility periods."""
    recipients = read_frame(conn, models.Recipient.__table__, ["person_id", "recipient_no"])
    persons = read_frame(conn, models.Person.__table__, ["person_id", "birth_date"])
    periods = read_frame(conn, models.EligibilityPeriod.__table__,
                         ["person_id", "valid_from", "valid_to", "status", "end_reason"])
    return recipients, persons, periods


def attach_admission_history(frame: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """Add ``admission_prior_days`` / ``admission_prior_copay_amount`` from the stored receipts.

    Only stored receipts of the same admission that started before each receipt and are not themselves in
    ``frame`` count (the rule adds the receipts in the frame itself).
    """
    out = frame.copy(deep=False)
    out["admission_prior_days"] = 0
    out["admission_prior_copay_amount"] = 0
    if stored.empty or out["admission_id"].isna().all():
        return out
    history = stored[~stored["claim_id"].isin(out["claim_id"])]
    probe = out.loc[out["admission_id"].notna(), ["claim_id", "admission_id", "first_service_date"]]
    joined = probe.merge(history[["admission_id", "first_service_date", "service_days", "copay_rule_amount"]],
                         on="admission_id", suffixes=("", "_prior"))
    joined = joined[joined["first_service_date_prior"] < joined["first_service_date"]]
    sums = joined.groupby("claim_id")[["service_days", "copay_rule_amount"]].sum()
    mapped = out["claim_id"].map(sums["service_days"])
    out["admission_prior_days"] = mapped.fillna(0).astype("int64")
    out["admission_prior_copay_amount"] = out["claim_id"].map(sums["copay_rule_amount"]).fillna(0).astype("int64")
    return out


def _stored_admissions(conn: Connection, admission_ids: pd.Series) -> pd.DataFrame:
    columns = ["claim_id", "admission_id", "first_service_date", "service_days", "copay_rule_amount"]
    return read_frame_in(conn, bm.BenefitClaim.__table__, columns, "admission_id",
                         sorted(set(admission_ids.dropna().astype(str))))


def assess(conn: Connection, claims: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """Eligibility and amounts of ``claims`` under the stored periods (rules.benefits.assess_claims)."""
    if claims.empty:
        return claims.assign(**{c: pd.Series(dtype=object) for c in RESULT_COLUMNS + ["is_payable", "birth_date"]})
    recipients, persons, periods = load_references(conn)
    frame = attach_admission_history(claims, _stored_admissions(conn, claims["admission_id"]))
    assessed = benefits.assess_claims(frame, recipients, persons, periods, policy)
    assessed["status"] = np.where(assessed["is_payable"], "PAYABLE", "REJECTED")
    return assessed


def assess_new_claims(conn: Connection, inbox: ClaimInbox, policy: Policy) -> pd.DataFrame:
    """Assess the receipts of the month's inbox."""
    return assess(conn, inbox.claims, policy)


def _claim_rows(assessed: pd.DataFrame, month: str, run_id: str, policy: Policy, ring: KeyRing) -> pd.DataFrame:
    rows = assessed[INPUT_COLUMNS + RESULT_COLUMNS].copy()
    for column in ("share_rule", "copay_rule", "high_cost_rule"):
        rows[column] = rows[column].astype(str)
    rows["high_cost_amount"] = rows["high_cost_amount"].astype("Int64")
    rows["receipt_amount"] = rows["receipt_amount"].astype("Int64")
    rows["assessed_month"] = month
    rows["policy_version"] = policy.version
    rows["run_id"] = run_id
    rows["row_digest"] = keyed_digest(rows, INPUT_COLUMNS + RESULT_COLUMNS, ring)
    return rows


def store_claims(conn: Connection, assessed: pd.DataFrame, payees: pd.DataFrame, *, month: str, run_id: str,
                 policy: Policy, ring: KeyRing) -> dict:
    """Upsert receipts and their assessment; a changed receipt (再審査 correction) is updated in place."""
    if assessed.empty:
        return {"inserted": 0, "updated": 0, "unchanged": 0}
    rows = _claim_rows(assessed, month, run_id, policy, ring)
    rows["processed_month"] = month
    keys = rows["claim_id"].astype(str).tolist()
    # Payee accounts (applications only): compact JSON, encrypted with the claim id as row key.
    payee = payees[payees["claim_id"].isin(rows["claim_id"])].drop_duplicates("claim_id")
    payee_json = pd.Series(
        [json.dumps(record, ensure_ascii=False, sort_keys=True)
         for record in payee[PAYEE_COLUMNS].astype(str).to_dict("records")], index=payee["claim_id"].to_numpy(),
        dtype=object)
    texts = rows["claim_id"].map(payee_json).astype(object)
    rows["payee_enc"] = ring.encrypt_many(texts.where(texts.notna(), None).tolist(), table="benefit_claim",
                                          column="payee", row_keys=keys)
    table = bm.BenefitClaim.__table__
    existing = read_frame(conn, table, ["claim_id", "row_digest", "processed_month"],
                          where=table.c.claim_id.in_(keys) if len(keys) <= 10_000 else None)
    # A correction keeps the month it was first processed in.
    first_month = rows["claim_id"].map(existing.set_index("claim_id")["processed_month"]) if len(existing) else None
    if first_month is not None:
        rows["processed_month"] = first_month.fillna(month)
    counts = upsert_frame(conn, table, rows, ["claim_id"], digest_column="row_digest",
                          existing=existing[["claim_id", "row_digest"]])
    return {"inserted": counts.inserted, "updated": counts.updated, "unchanged": counts.unchanged}


def _stage_from_store(stored: pd.DataFrame) -> pd.DataFrame:
    frame = stored[INPUT_COLUMNS].copy()
    for column in ("high_cost_amount", "receipt_amount"):
        frame[column] = frame[column].astype("Int64")
    for column in ("first_visit_flag", "high_cost_many_times_flag"):
        frame[column] = frame[column].astype(bool)
    for column in ("first_service_date", "last_service_date", "admission_date", "application_date"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
    return frame


def changed_persons(conn: Connection, month: str) -> list[str]:
    """Children whose periods or 受給者番号 were written by the latest monthly run of ``month``."""
    run = models.Run.__table__
    latest = conn.execute(select(run.c.run_id).where(run.c.month == month, run.c.flow_name == "monthly-run")
                          .order_by(run.c.started_at.desc()).limit(1)).scalar()
    if latest is None:
        return []
    period = models.EligibilityPeriod.__table__
    recipient = models.Recipient.__table__
    ids = set(read_frame(conn, period, ["person_id"], where=period.c.run_id == latest)["person_id"])
    ids |= set(read_frame(conn, recipient, ["person_id"], where=recipient.c.assigned_run_id == latest)["person_id"])
    return sorted(ids)


def reassess_stored_claims(conn: Connection, policy: Policy, *, month: str, run_id: str, ring: KeyRing,
                           person_ids: list[str] | None, exclude_claim_ids: pd.Series | None = None) -> pd.DataFrame:
    """Re-assess stored receipts of ``person_ids`` (``None`` = every stored receipt) and store the results.

    Also picks up receipts rejected as NOT_REGISTERED whose 受給者番号 has been assigned since.
    """
    table = bm.BenefitClaim.__table__
    columns = INPUT_COLUMNS + ["person_id", "row_digest"]
    if person_ids is None:
        stored = read_frame(conn, table, columns)
    else:
        recipient = models.Recipient.__table__
        numbers = read_frame(conn, recipient, ["recipient_no"], where=recipient.c.person_id.in_(person_ids))
        stored = read_frame_in(conn, table, columns, "person_id", person_ids)
        if len(numbers):  # rejected as NOT_REGISTERED before the 受給者番号 was assigned
            stored = pd.concat([stored, read_frame(conn, table, columns, where=(table.c.person_id.is_(None)) & (
                table.c.recipient_no.in_(numbers["recipient_no"].tolist())))], ignore_index=True)
    if exclude_claim_ids is not None and len(stored):
        stored = stored[~stored["claim_id"].isin(exclude_claim_ids)]
    if stored.empty:
        return pd.DataFrame()
    assessed = assess(conn, _stage_from_store(stored.drop_duplicates("claim_id")), policy)
    rows = _claim_rows(assessed, month, run_id, policy, ring)
    existing = stored[["claim_id", "row_digest"]].drop_duplicates("claim_id")
    changed = rows.merge(existing.rename(columns={"row_digest": "_old"}), on="claim_id")
    changed = changed[changed["row_digest"] != changed["_old"]]
    if len(changed):
        keep = ["claim_id", *RESULT_COLUMNS, "assessed_month", "policy_version", "run_id", "row_digest"]
        upsert_frame(conn, table, changed[keep], ["claim_id"], digest_column="row_digest", existing=existing)
    return assessed


# ---------------------------------------------------------------------------------------------
# Payments and receivables
# ---------------------------------------------------------------------------------------------


def ledger(conn: Connection, claim_ids: pd.Series) -> pd.DataFrame:
    """Per receipt: payments, refund claims in force and collections so far.

    A cancelled refund claim counts only with what was collected on it.
    """
    ids = sorted(set(claim_ids.astype(str)))
    pay, rec = bm.BenefitPayment.__table__, bm.Receivable.__table__
    paid_frame = read_frame_in(conn, pay, ["claim_id", "amount"], "claim_id", ids)
    refunds = read_frame_in(conn, rec, ["claim_id", "amount", "paid_amount", "status"], "claim_id", ids)
    in_force = np.where(refunds["status"] == "CANCELLED", refunds["paid_amount"], refunds["amount"])
    return pd.concat([
        pd.DataFrame({"claim_id": paid_frame["claim_id"], "paid_amount": paid_frame["amount"].astype("int64"),
                      "refund_claimed_amount": 0, "refund_collected_amount": 0}),
        pd.DataFrame({"claim_id": refunds["claim_id"], "paid_amount": 0,
                      "refund_claimed_amount": pd.Series(in_force, dtype="int64"),
                      "refund_collected_amount": refunds["paid_amount"].astype("int64")}),
    ], ignore_index=True)


def cancel_refunds(conn: Connection, claim_ids: list[str]) -> int:
    """Eligibility restored: cancel the receivables of ``claim_ids`` that are not collected in full."""
    if not claim_ids:
        return 0
    table = bm.Receivable.__table__
    result = conn.execute(update(table).where(
        table.c.claim_id.in_(claim_ids), table.c.status.in_(["ISSUED", "PARTLY_PAID", "WRITTEN_OFF"]))
        .values(status="CANCELLED"))
    return int(result.rowcount or 0)


def settle_claims(conn: Connection, assessed: pd.DataFrame, *, month: str, run_id: str) -> dict:
    """Book the difference between entitlement and ledger: payments and 返還請求 (idempotent)."""
    if assessed.empty:
        return {"payments": 0, "payment_amount": 0, "refund_claims": 0, "refund_amount": 0, "refunds_cancelled": 0}
    entitled = assessed[["claim_id", "person_id", "route", "subsidy_amount", "rejection_reason",
                         "ineligibility_cause", "recipient_no", "service_month"]]
    adjustments = benefits.reconcile_payments(entitled, ledger(conn, entitled["claim_id"]))
    adjustments = adjustments.merge(entitled[["claim_id", "recipient_no", "service_month"]], on="claim_id")
    cancelled = cancel_refunds(conn, adjustments.loc[adjustments["cancel_refunds"], "claim_id"].tolist())
    pays = adjustments[adjustments["adjustment_type"].isin(["INITIAL", "SUPPLEMENTARY"])]
    payments = pd.DataFrame({
        "payment_key": pays["claim_id"] + "|" + pays["adjustment_type"] + "|" + month,
        "claim_id": pays["claim_id"], "person_id": pays["person_id"], "route": pays["route"],
        "kind": pays["adjustment_type"],
        "channel": np.where(pays["route"] == benefits.REIMBURSEMENT, "ZENGIN", "REVIEW_BODY"),
        "month": month, "amount": pays["amount"].astype("int64"), "reason_code": pays["reason_code"],
        "run_id": run_id,
    })
    refunds = adjustments[adjustments["adjustment_type"] == "REFUND_CLAIM"]
    receivables = pd.DataFrame({
        "receivable_key": refunds["claim_id"] + "|" + month, "claim_id": refunds["claim_id"],
        "person_id": refunds["person_id"], "recipient_no": refunds["recipient_no"],
        "service_month": refunds["service_month"], "issued_month": month,
        "amount": refunds["amount"].astype("int64"), "paid_amount": 0, "written_off_amount": 0, "status": "ISSUED",
        "reason_code": refunds["reason_code"], "ineligibility_cause": refunds["ineligibility_cause"],
        "run_id": run_id,
    })
    new_payments = insert_missing(conn, bm.BenefitPayment.__table__, payments, ["payment_key"])
    new_receivables = insert_missing(conn, bm.Receivable.__table__, receivables, ["receivable_key"])
    return {"payments": int(new_payments), "payment_amount": int(payments["amount"].sum()) if new_payments else 0,
            "refund_claims": int(new_receivables),
            "refund_amount": int(receivables["amount"].sum()) if new_receivables else 0,
            "refunds_cancelled": cancelled}


def record_collections(conn: Connection, collections: pd.DataFrame) -> int:
    """Record 入金 against receivables (``receivable_id, payment_ref, paid_date, amount``) and update status.

    PAID when collected ≥ claimed, PARTLY_PAID when something was collected; idempotent per payment_ref.
    """
    added = insert_missing(conn, bm.ReceivablePayment.__table__, collections, ["receivable_id", "payment_ref"])
    _refresh_receivables(conn, collections["receivable_id"].astype("int64").unique().tolist())
    return added


def write_off_receivables(conn: Connection, receivable_ids: list[int]) -> int:
    """不納欠損: write off what is still open on ``receivable_ids``."""
    table = bm.Receivable.__table__
    current = read_frame(conn, table, ["id", "amount", "paid_amount"], where=table.c.id.in_(receivable_ids))
    records = pd.DataFrame({"_id": current["id"], "written_off_amount": current["amount"] - current["paid_amount"],
                            "status": "WRITTEN_OFF"}).astype(object).to_dict("records")
    if records:
        conn.execute(update(table).where(table.c.id == bindparam("_id")).values(
            written_off_amount=bindparam("written_off_amount"), status=bindparam("status")), records)
    return len(records)


def _refresh_receivables(conn: Connection, receivable_ids: list[int]) -> None:
    table, pays = bm.Receivable.__table__, bm.ReceivablePayment.__table__
    collected = read_frame(conn, pays, ["receivable_id", "amount"], where=pays.c.receivable_id.in_(receivable_ids))
    totals = collected.groupby("receivable_id")["amount"].sum()
    current = read_frame(conn, table, ["id", "amount", "status"], where=table.c.id.in_(receivable_ids))
    paid = current["id"].map(totals).fillna(0).astype("int64")
    status = np.where(current["status"].isin(["WRITTEN_OFF", "CANCELLED"]), current["status"],
                      np.where(paid >= current["amount"], "PAID", np.where(paid > 0, "PARTLY_PAID", "ISSUED")))
    records = pd.DataFrame({"_id": current["id"].astype(int), "paid_amount": paid.astype(int), "status": status})
    if len(records):
        conn.execute(update(table).where(table.c.id == bindparam("_id")).values(
            paid_amount=bindparam("paid_amount"), status=bindparam("status")),
            records.astype(object).to_dict("records"))


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


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
    return {"accounts_rows": int(len(accounts)), "prefecture_rows": int(len(prefecture)),
            "refund_notices": int(len(notices))}


def month_totals(assessed: pd.DataFrame, settled: dict, payment_file: dict) -> dict:
    """Aggregate totals of the month for the run artifact (no personal data)."""
    rejected = benefits.summarise_rejections(assessed) if len(assessed) else pd.DataFrame(
        columns=["rejection_reason", "receipts"])
    return {
        "receipts": int(len(assessed)),
        "payable": int(assessed["is_payable"].sum()) if len(assessed) else 0,
        "subsidy_amount": int(assessed["subsidy_amount"].sum()) if len(assessed) else 0,
        "rejections": {str(r): int(n) for r, n in rejected.itertuples(index=False)},
        **settled, "transfer_file": payment_file,
    }


__all__ = [
    "ClaimInbox", "assess", "assess_new_claims", "changed_persons", "insert_frame", "load_claim_files",
    "month_totals", "reassess_stored_claims", "record_collections", "settle_claims", "store_claims",
    "write_off_receivables", "write_payment_file", "write_reports",
]
