"""The benefit ledger: payments, 返還請求 (receivables), collections and write-offs.

The entitlement of each assessed receipt is compared with what was paid and claimed back
(:func:`rules.benefits.reconcile_payments`): initial and supplementary payments, refund claims, and
cancelled refund claims when eligibility is restored. Natural keys make a re-run create nothing twice.
Repository functions take a connection and never commit; the caller owns the transaction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Connection, bindparam, update

from rules import benefits
from store import benefit_models as bm
from store.bulk import insert_missing, read_frame, read_frame_in


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
    columns = ["claim_id", "person_id", "route", "subsidy_amount", "rejection_reason", "ineligibility_cause",
               "recipient_no", "service_month"]
    entitled = assessed[columns + (["hold_reason"] if "hold_reason" in assessed else [])]
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
