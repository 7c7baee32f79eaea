"""Issue 12 §9: a receipt of an admission that arrives after a later one re-assesses the whole stay.

April (4/1–4/10 of a stay that began on March 25) was stored and paid as if it were the first receipt
(days 1–10, 5,000 co-pay). The March receipt (7 days) arrives a month later: March carries days 1–7
(3,500) and April only days 8–10 (1,500) — the per-admission cap of 5,000 is charged once — so April is
owed a supplementary 3,500 (copay.inpatient.*; domain.md §1.4, S12, S17).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from policy import load_policy
from rules.checkdigits import with_modulus10_w21
from services import benefits as pipeline
from services.eligibility import reason_sets
from store import benefit_models as bm
from store import models
from store.bulk import insert_frame, read_frame
from store.db import session_scope
from tests.integration.test_benefits_store import CLAIMS_HEADER, CLINIC, INSURER

POLICY = load_policy()
CHILD = "1000000001"
REC = with_modulus10_w21("000001")


def _inbox(directory, rows, extract_date):
    directory.mkdir()
    (directory / "claims.csv").write_text("\r\n".join([CLAIMS_HEADER, *rows]) + "\r\n", encoding="utf-8")
    (directory / "manifest.json").write_text(f'{{"encoding": "utf-8", "extract_date": "{extract_date}"}}')
    return directory


def _month(engine, directory, month, ring, run_id):
    claim_inbox = pipeline.load_claim_files(directory, month)
    assert claim_inbox.quarantine.empty
    with session_scope(engine) as session:
        conn = session.connection()
        assessed = pipeline.assess_new_claims(conn, claim_inbox, POLICY)
        pipeline.store_claims(conn, assessed, claim_inbox.payees, month=month, run_id=run_id, policy=POLICY,
                              ring=ring)
        settled = pipeline.settle_claims(conn, assessed, month=month, run_id=run_id)
        totals = pipeline.month_totals(assessed, settled, {})
    return assessed.set_index("claim_id"), settled, totals


def test_late_earlier_receipt_lowers_the_later_cap_and_the_difference_is_paid(engine, tmp_path, key_ring):
    with session_scope(engine) as session:
        conn = session.connection()
        insert_frame(conn, models.Person.__table__, pd.DataFrame({
            "person_id": [CHILD], "household_id": ["2000000001"], "relationship_code": "03",
            "birth_date": [dt.date(2012, 9, 1)], "sex_code": "1", "dv_support_flag": False, "row_digest": "x"}))
        insert_frame(conn, models.Recipient.__table__, pd.DataFrame({
            "person_id": [CHILD], "recipient_no": [REC], "public_payer_number": "88041009",
            "assigned_run_id": "seed"}))
        insert_frame(conn, models.EligibilityPeriod.__table__, reason_sets.encode(conn, pd.DataFrame({
            "person_id": [CHILD], "valid_from": [dt.date(2012, 9, 1)], "valid_to": [dt.date(2030, 3, 31)],
            "status": "ELIGIBLE", "end_reason": ["AGE"], "reason_codes": "", "policy_version": "t",
            "run_id": "seed"})))
    # April: 10 days (4/1–4/10) stored first, charged as days 1–10 = 5,000
    april = (f"K2,2025-05,2025-04,2025-04-01,2025-04-10,10,{CLINIC},INPATIENT,0,AD9,2025-03-25,10000,{INSURER},"
             f"{REC},,,,,,,0,,,,,")
    march = (f"K1,2025-06,2025-03,2025-03-25,2025-03-31,7,{CLINIC},INPATIENT,0,AD9,2025-03-25,7000,{INSURER},{REC},"
             ",,,,,,0,,,,,")
    first, settled_first, _ = _month(engine, _inbox(tmp_path / "may", [april], "2025-05-31"), "2025-05", key_ring,
                                     "run-1")
    assert first.loc["K2", "copay_amount"] == 5_000
    assert settled_first["payment_amount"] == 30_000 - 5_000

    later, _, totals = _month(engine, _inbox(tmp_path / "june", [march], "2025-06-30"), "2025-06", key_ring,
                               "run-2")
    # March carries days 1–7 (3,500); April now days 8–17: days 8–10 charged (1,500), cap 5,000 in all
    assert later.loc["K1", "copay_amount"] == 3_500
    assert later.loc["K2", "copay_amount"] == 1_500 and bool(later.loc["K2", "admission_reassessed"])
    assert totals["receipts"] == 1  # the month's own receipts only
    with session_scope(engine) as session:
        pay = read_frame(session.connection(), bm.BenefitPayment.__table__, ["claim_id", "kind", "amount", "month"])
        stored = read_frame(session.connection(), bm.BenefitClaim.__table__, ["claim_id", "copay_amount",
                                                                               "processed_month"])
    june = pay.loc[pay["month"] == "2025-06"].set_index("claim_id")
    assert june.loc["K2", ["kind", "amount"]].tolist() == ["SUPPLEMENTARY", 3_500]
    assert june.loc["K1", ["kind", "amount"]].tolist() == ["INITIAL", 21_000 - 3_500]
    assert stored.set_index("claim_id").loc["K2", ["copay_amount", "processed_month"]].tolist() == [1_500, "2025-05"]
    # a re-run of June books nothing more
    _, again, _ = _month(engine, _inbox(tmp_path / "june2", [march], "2025-06-30"), "2025-06", key_ring, "run-3")
    assert again["payments"] == 0 and again["refund_claims"] == 0
