"""The benefit stage against a real database (SQLite and PostgreSQL): payments, 全銀 file, refund claims."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import select

from connectors import zengin
from policy import load_policy
from rules.checkdigits import with_modulus10_w21
from services import benefits as pipeline
from services.eligibility import reason_sets
from store import benefit_models as bm
from store import models
from store.bulk import insert_frame, read_frame
from store.db import session_scope

POLICY = load_policy()
CITY = zengin.Remitter(code="1234567890", name="ｾﾝﾀﾞｲｼ", bank_code="0123", branch_code="456", account_type="1",
                       account_number="7654321")
CLINIC = with_modulus10_w21("041071236")
TOKYO = with_modulus10_w21("131071236")
INSURER = "06130488"
CHILD_A, CHILD_B = "1000000001", "1000000002"
REC_A, REC_B, REC_X = with_modulus10_w21("000001"), with_modulus10_w21("000002"), with_modulus10_w21("000099")

CLAIMS_HEADER = ("claim_id,billing_month,service_month,first_service_date,last_service_date,service_days,"
                 "institution_code,care_type,first_visit_flag,admission_id,admission_date,total_points,"
                 "insurer_number,recipient_no,other_law_no_1,other_amount_1,other_law_no_2,other_amount_2,"
                 "other_law_no_3,other_amount_3,high_cost_amount,high_cost_category,high_cost_many_times_flag,"
                 "additional_benefit_amount,meal_amount,service_dates")
APPLICATION_HEADER = ("application_id,application_date,reason_code,recipient_no,service_month,first_service_date,"
                      "last_service_date,service_days,institution_code,care_type,first_visit_flag,admission_id,"
                      "admission_date,total_cost_amount,receipt_amount,insurer_number,other_law_no_1,other_amount_1,"
                      "other_law_no_2,other_amount_2,other_law_no_3,other_amount_3,high_cost_amount,"
                      "high_cost_category,high_cost_many_times_flag,additional_benefit_amount,meal_amount,bank_code,"
                      "branch_code,account_type,account_number,account_holder_kana")


def _claims_csv() -> str:
    rows = [
        # A: 中1 in FY2025, outpatient 初診 3割 1,500 → co-pay 500, subsidy 1,000
        f"C1,2025-07,2025-06,2025-06-10,2025-06-10,1,{CLINIC},OUTPATIENT,1,,,500,{INSURER},{REC_A},,,,,,,,,,,,",
        # A: admission 5/28–5/31 (May receipt) then June 6/1–6/5: co-pay counts across the month end
        f"C2,2025-07,2025-06,2025-06-01,2025-06-05,5,{CLINIC},INPATIENT,0,AD1,2025-05-28,8000,{INSURER},{REC_A},"
        ",,,,,,0,,,,1500,",
        # B: revisit, 3割 600 → subsidy 600
        f"C3,2025-07,2025-06,2025-06-11,2025-06-11,1,{CLINIC},OUTPATIENT,0,,,200,{INSURER},{REC_B},,,,,,,,,,,,",
        # unknown 受給者番号 → NOT_REGISTERED
        f"C4,2025-07,2025-06,2025-06-12,2025-06-12,1,{CLINIC},OUTPATIENT,0,,,200,{INSURER},{REC_X},,,,,,,,,,,,",
        # bad rows: wrong institution check digit; inpatient without admission id; dates outside the month
        f"C5,2025-07,2025-06,2025-06-12,2025-06-12,1,0410712360,OUTPATIENT,0,,,200,{INSURER},{REC_A},,,,,,,,,,,,",
        f"C6,2025-07,2025-06,2025-06-12,2025-06-13,2,{CLINIC},INPATIENT,0,,,200,{INSURER},{REC_A},,,,,,,,,,,,",
        f"C7,2025-07,2025-06,2025-05-12,2025-06-13,2,{CLINIC},OUTPATIENT,0,,,200,{INSURER},{REC_A},,,,,,,,,,,,",
    ]
    return "\r\n".join([CLAIMS_HEADER, *rows]) + "\r\n"


def _applications_csv() -> str:
    rows = [
        # B: Tokyo clinic, paid 3割 2,400 at the window (T20)
        f"A1,2025-06-20,OUT_OF_PREFECTURE,{REC_B},2025-06,2025-06-03,2025-06-03,1,{TOKYO},OUTPATIENT,0,,,8000,2400,"
        f"{INSURER},,,,,,,,,,,,0009,123,1,1234567,ｽｽﾞｷ ﾊﾅｺ",
        # A: 治療用装具 (T21), 3割 of 50,000
        f"A2,2025-06-25,ORTHOSIS,{REC_A},2025-06,2025-06-05,2025-06-05,1,,ORTHOSIS,0,,,50000,50000,"
        f"{INSURER},,,,,,,,,,,,0001,001,1,7654321,ﾔﾏﾀﾞ ﾀﾛｳ",
    ]
    return "\r\n".join([APPLICATION_HEADER, *rows]) + "\r\n"


@pytest.fixture
def inbox(tmp_path):
    directory = tmp_path / "inbox"
    directory.mkdir()
    (directory / "claims.csv").write_bytes(_claims_csv().encode("cp932"))
    (directory / "reimbursement_applications.csv").write_bytes(_applications_csv().encode("cp932"))
    (directory / "manifest.json").write_text('{"encoding": "cp932", "extract_date": "2025-06-30"}')
    return directory


def _seed(conn, valid_to_a="2030-03-31", end_reason_a="AGE"):
    persons = pd.DataFrame({"person_id": [CHILD_A, CHILD_B], "household_id": ["2000000001", "2000000002"],
                            "relationship_code": "03", "birth_date": [dt.date(2012, 9, 1), dt.date(2012, 10, 1)],
                            "sex_code": "1", "dv_support_flag": False, "row_digest": "x"})
    insert_frame(conn, models.Person.__table__, persons)
    insert_frame(conn, models.Recipient.__table__, pd.DataFrame({
        "person_id": [CHILD_A, CHILD_B], "recipient_no": [REC_A, REC_B], "public_payer_number": "88041009",
        "assigned_run_id": "seed"}))
    _periods(conn, valid_to_a, end_reason_a)


def _periods(conn, valid_to_a, end_reason_a, run_id="seed"):
    conn.execute(models.EligibilityPeriod.__table__.delete())
    insert_frame(conn, models.EligibilityPeriod.__table__, reason_sets.encode(conn, pd.DataFrame({
        "person_id": [CHILD_A, CHILD_B], "valid_from": [dt.date(2012, 9, 1), dt.date(2012, 10, 1)],
        "valid_to": [pd.Timestamp(valid_to_a).date(), dt.date(2030, 3, 31)], "status": "ELIGIBLE",
        "end_reason": [end_reason_a, "AGE"], "reason_codes": "", "policy_version": "t", "run_id": run_id})))


def _run_month(engine, inbox_dir, month, ring, outbox, run_id="run-1", persons=None):
    claim_inbox = pipeline.load_claim_files(inbox_dir, month)
    with session_scope(engine) as session:
        conn = session.connection()
        assessed = pipeline.assess_new_claims(conn, claim_inbox, POLICY)
        pipeline.store_claims(conn, assessed, claim_inbox.payees, month=month, run_id=run_id, policy=POLICY,
                              ring=ring)
        again = pipeline.reassess_stored_claims(conn, POLICY, month=month, run_id=run_id, ring=ring,
                                                person_ids=persons, exclude_claim_ids=assessed["claim_id"])
        settled = pipeline.settle_claims(conn, pd.concat([assessed, again], ignore_index=True), month=month,
                                         run_id=run_id)
        transfer = pipeline.write_payment_file(conn, month, ring, outbox, CITY, dt.date(2025, 7, 10))
        reports = pipeline.write_reports(conn, month, assessed, outbox)
    return claim_inbox, assessed, settled, transfer, reports


def test_month_pays_once_writes_a_matching_transfer_file_and_claims_back_after_a_late_move_out(
        engine, inbox, tmp_path, key_ring):
    outbox = tmp_path / "outbox"
    with session_scope(engine) as session:
        _seed(session.connection())
        # An earlier month's receipt of the same admission (4 days in May).
        insert_frame(session.connection(), bm.BenefitClaim.__table__, pd.DataFrame([{
            "claim_id": "C0", "route": "IN_KIND", "person_id": CHILD_A, "recipient_no": REC_A,
            "billing_month": "2025-06", "service_month": "2025-05", "first_service_date": dt.date(2025, 5, 28),
            "last_service_date": dt.date(2025, 5, 31), "service_days": 4, "institution_code": CLINIC,
            "care_type": "INPATIENT", "first_visit_flag": False, "admission_id": "AD1",
            "admission_date": dt.date(2025, 5, 28), "total_cost_amount": 80_000, "insurer_number": INSURER,
            "other_amount_1": 0, "other_amount_2": 0, "other_amount_3": 0, "high_cost_amount": 0,
            "high_cost_many_times_flag": False, "additional_benefit_amount": 0, "meal_amount": 0,
            "status": "PAYABLE", "self_pay_percent": 30, "self_pay_amount": 24_000, "other_public_amount": 0,
            "high_cost_deducted_amount": 0, "additional_benefit_deducted_amount": 0, "copay_rule_amount": 2_000,
            "copay_amount": 2_000, "copay_charged_days": 4, "subsidy_amount": 22_000, "share_rule": "GENERAL",
            "copay_rule": "INPATIENT_DAYS", "high_cost_rule": "GIVEN", "processed_month": "2025-06",
            "assessed_month": "2025-06", "policy_version": "t", "run_id": "run-0", "row_digest": "old"}]))
        insert_frame(session.connection(), bm.BenefitPayment.__table__, pd.DataFrame([{
            "payment_key": "C0|INITIAL|2025-06", "claim_id": "C0", "person_id": CHILD_A, "route": "IN_KIND",
            "kind": "INITIAL", "channel": "REVIEW_BODY", "month": "2025-06", "amount": 22_000,
            "reason_code": "NEW_CLAIM", "run_id": "run-0"}]))

    claim_inbox, assessed, settled, transfer, reports = _run_month(engine, inbox, "2025-07", key_ring, outbox)

    # Bad rows are quarantined, the rest assessed.
    assert sorted(claim_inbox.quarantine["row_number"].unique().tolist()) == [6, 7, 8]
    result = assessed.set_index("claim_id")
    assert result.loc["C1", ["copay_amount", "subsidy_amount"]].tolist() == [500, 1_000]
    # June days are days 5-9 of the admission: 5 × 500 co-pay; 24,000 − 2,500; meals not subsidised.
    assert result.loc["C2", ["copay_charged_days", "copay_amount", "subsidy_amount"]].tolist() == [5, 2_500, 21_500]
    assert result.loc["C4", "rejection_reason"] == "NOT_REGISTERED"
    assert result.loc["R-A1", "subsidy_amount"] == 2_400
    assert result.loc["R-A2", "subsidy_amount"] == 15_000
    assert settled == {"payments": 5, "payment_amount": 1_000 + 21_500 + 600 + 2_400 + 15_000,
                       "refund_claims": 0, "refund_amount": 0, "refunds_cancelled": 0}

    # The 全銀 file parses back and its totals are the database's.
    parsed = zengin.parse_transfer_file((outbox / "zengin_2025-07.txt").read_bytes())
    assert parsed.trailer == {"count": 2, "total": 17_400}
    by_account = parsed.data.set_index("account_number")
    assert by_account.loc["1234567", ["bank_code", "branch_code", "amount"]].tolist() == ["0009", "123", 2_400]
    assert by_account.loc["7654321", "account_holder_kana"] == "ﾔﾏﾀﾞ ﾀﾛｳ"
    with session_scope(engine) as session:
        pay = bm.BenefitPayment.__table__
        db = read_frame(session.connection(), pay, ["amount"], where=pay.c.channel == "ZENGIN")
    assert int(db["amount"].sum()) == parsed.trailer["total"] == transfer["total_amount"]
    # The payee account is stored encrypted only.
    with session_scope(engine) as session:
        blob = session.execute(select(bm.BenefitClaim.payee_enc).where(bm.BenefitClaim.claim_id == "R-A1")).scalar()
    assert b"1234567" not in blob

    # Re-running the month creates nothing twice.
    _, _, settled_again, _, _ = _run_month(engine, inbox, "2025-07", key_ring, outbox)
    assert settled_again["payments"] == 0 and settled_again["refund_claims"] == 0

    # A late 転出 notice: child A moved out on 2025-06-04 → June receipts after that are claimed back.
    with session_scope(engine) as session:
        _periods(session.connection(), "2025-06-04", "MOVE_OUT", run_id="run-elig")
    empty = tmp_path / "empty"
    empty.mkdir()
    _, _, settled_late, _, reports_late = _run_month(engine, empty, "2025-08", key_ring, outbox, run_id="run-2",
                                                     persons=[CHILD_A])
    # C1 (6/10, 1,000) and R-A2 (6/5, 15,000); C2 (6/1–6/5 runs past 6/4) keeps its 4 covered days of 5
    # (issue 12 §3: 21,500 × 4 // 5 = 17,200 stays paid, 4,300 is claimed back); C0 (May) stays paid.
    c2_refund = 21_500 - 21_500 * 4 // 5
    assert settled_late["refund_claims"] == 3
    assert settled_late["refund_amount"] == 1_000 + 15_000 + c2_refund
    notices = pd.read_csv(outbox / "refund_notices_2025-08.csv", encoding="cp932", dtype=str)
    assert sorted(notices["レセプト番号"]) == ["C1", "C2", "R-A2"]
    assert set(notices["事由"]) == {"転出"}
    assert notices.set_index("レセプト番号")["理由コード"].to_dict() == {
        "C1": "NOT_ELIGIBLE_ON_SERVICE_DATE", "R-A2": "NOT_ELIGIBLE_ON_SERVICE_DATE", "C2": "DAYS_NOT_ELIGIBLE"}

    # Collections: partly paid, then paid; another written off.
    with session_scope(engine) as session:
        conn = session.connection()
        rec = read_frame(conn, bm.Receivable.__table__, ["id", "claim_id", "amount"]).set_index("claim_id")
        c1 = int(rec.loc["C1", "id"])
        pipeline.record_collections(conn, pd.DataFrame({"receivable_id": [c1], "payment_ref": ["N1"],
                                                        "paid_date": [dt.date(2025, 9, 1)], "amount": [400]}))
        pipeline.record_collections(conn, pd.DataFrame({"receivable_id": [c1, c1], "payment_ref": ["N1", "N2"],
                                                        "paid_date": [dt.date(2025, 9, 1), dt.date(2025, 10, 1)],
                                                        "amount": [400, 600]}))
        pipeline.write_off_receivables(conn, [int(rec.loc["C2", "id"])])
        states = read_frame(conn, bm.Receivable.__table__, ["claim_id", "status", "paid_amount",
                                                               "written_off_amount"]).set_index("claim_id")
    assert states.loc["C1", ["status", "paid_amount"]].tolist() == ["PAID", 1_000]
    assert states.loc["C2", ["status", "written_off_amount"]].tolist() == ["WRITTEN_OFF", c2_refund]
    assert states.loc["R-A2", "status"] == "ISSUED"

    # Eligibility restored (the notice was wrong): uncollected refund claims (open or written off) are
    # cancelled, and what the family already repaid (C1) is paid back.
    with session_scope(engine) as session:
        _periods(session.connection(), "2030-03-31", "AGE", run_id="run-elig2")
    _, _, settled_back, _, _ = _run_month(engine, empty, "2025-09", key_ring, outbox, run_id="run-3",
                                          persons=[CHILD_A])
    assert settled_back["payments"] == 1 and settled_back["payment_amount"] == 1_000
    assert settled_back["refunds_cancelled"] == 2
    with session_scope(engine) as session:
        states = read_frame(session.connection(), bm.Receivable.__table__, ["claim_id", "status"]).set_index(
            "claim_id")["status"].to_dict()
    assert states == {"C1": "PAID", "C2": "CANCELLED", "R-A2": "CANCELLED"}
    # And a further pass changes nothing.
    _, _, settled_still, _, _ = _run_month(engine, empty, "2025-09", key_ring, outbox, run_id="run-4",
                                           persons=[CHILD_A])
    assert (settled_still["payments"], settled_still["refund_claims"], settled_still["refunds_cancelled"]) == (0, 0, 0)
