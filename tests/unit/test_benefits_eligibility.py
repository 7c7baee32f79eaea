"""Eligibility per receipt against the stored periods, and refund / supplementary reconciliation."""

from __future__ import annotations

import pandas as pd
import pytest

from policy import load_policy
from rules import benefits
from tests.unit.benefit_fixtures import claim, frame, references

POLICY = load_policy()
CHILD = "2016-09-01"


def check(rows, **period):
    df = frame(*rows)
    recipients, persons, periods = references(df, **period)
    return benefits.check_claim_eligibility(df, recipients, persons, periods, POLICY).set_index("claim_id")


@pytest.mark.parametrize(
    ("row", "period", "reason"),
    [
        pytest.param(claim("ok", birth=CHILD, first="2025-06-10"), {}, None, id="eligible child is paid"),
        pytest.param(claim("moved", birth=CHILD, first="2025-06-10"), {"valid_to": "2025-05-31",
                     "end_reason": "MOVE_OUT"}, "NOT_ELIGIBLE_ON_SERVICE_DATE", id="after a 転出 not paid"),
        pytest.param(claim("susp", birth=CHILD, first="2020-06-10"), {"status": "SUSPENDED_INCOME"},
                     "SUSPENDED_INCOME", id="suspended by income"),
        pytest.param(claim("old", birth="2005-09-01", first="2015-06-10"), {}, "OUTPATIENT_AGE_NOT_COVERED",
                     id="2015 小4 outpatient not covered"),
        pytest.param(claim("oldin", birth="2005-09-01", first="2015-06-10", care="INPATIENT", admission="I"), {},
                     None, id="2015 小4 inpatient covered"),
        pytest.param(claim("late", birth=CHILD, first="2019-06-10", route="REIMBURSEMENT", applied="2024-06-11"), {},
                     "DEADLINE_PASSED", id="applied 5 years and a day after"),
        pytest.param(claim("intime", birth=CHILD, first="2019-06-10", route="REIMBURSEMENT", applied="2024-06-10"),
                     {}, None, id="applied on the last day of the 5 years"),
        pytest.param(claim("straddle", birth=CHILD, first="2025-06-10", last="2025-06-20", care="INPATIENT",
                           admission="S"), {"valid_to": "2025-06-15", "end_reason": "DEATH"},
                     None, id="receipt running past the end of eligibility: paid for the days inside"),
    ],
)
def test_rejection_reasons(row, period, reason):
    result = check([row], **period).iloc[0]
    assert (None if pd.isna(result["rejection_reason"]) else result["rejection_reason"]) == reason


def test_unknown_recipient_number_is_not_registered():
    df = frame(claim("x", birth=CHILD, first="2025-06-10", person=1))
    recipients, persons, periods = references(frame(claim("y", birth=CHILD, first="2025-06-10", person=2)))
    result = benefits.check_claim_eligibility(df, recipients, persons, periods, POLICY)
    assert result["rejection_reason"].tolist() == ["NOT_REGISTERED"]


def test_adjacent_periods_are_merged_and_the_cause_is_reported():
    df = frame(claim("a", birth=CHILD, first="2026-03-25", last="2026-04-05", care="INPATIENT", admission="A"),
               claim("b", birth=CHILD, first="2026-08-01"))
    recipients, persons, _ = references(df)
    pid = recipients["person_id"].iloc[0]
    periods = pd.DataFrame({"person_id": [pid, pid], "valid_from": pd.to_datetime(["2020-01-01", "2026-04-01"]),
                            "valid_to": pd.to_datetime(["2026-03-31", "2026-07-15"]), "status": "ELIGIBLE",
                            "end_reason": ["OPEN", "WELFARE"]})
    result = benefits.check_claim_eligibility(df, recipients, persons, periods, POLICY).set_index("claim_id")
    assert pd.isna(result.loc["a", "rejection_reason"])
    assert result.loc["b", "rejection_reason"] == "NOT_ELIGIBLE_ON_SERVICE_DATE"
    assert result.loc["b", "ineligibility_cause"] == "WELFARE"


def _entitled(claim_id, amount, reason=None, route="IN_KIND"):
    return {"claim_id": claim_id, "person_id": "9000000001", "route": route, "subsidy_amount": amount,
            "rejection_reason": reason, "ineligibility_cause": "DEATH" if reason else None}


def test_reconcile_issues_refunds_supplements_and_initial_payments_once():
    entitled = pd.DataFrame([_entitled("paid-now-ineligible", 0, "NOT_ELIGIBLE_ON_SERVICE_DATE"),
                             _entitled("underpaid", 1_500), _entitled("new", 800), _entitled("same", 600)])
    ledger = pd.DataFrame({"claim_id": ["paid-now-ineligible", "underpaid", "same"],
                           "paid_amount": [1_000, 1_000, 600], "refund_claimed_amount": [0, 0, 0]})
    result = benefits.reconcile_payments(entitled, ledger).set_index("claim_id")
    assert result.loc["paid-now-ineligible", ["adjustment_type", "amount", "reason_code"]].tolist() == [
        "REFUND_CLAIM", 1_000, "NOT_ELIGIBLE_ON_SERVICE_DATE"]
    assert result.loc["underpaid", ["adjustment_type", "amount"]].tolist() == ["SUPPLEMENTARY", 500]
    assert result.loc["new", ["adjustment_type", "amount"]].tolist() == ["INITIAL", 800]
    assert "same" not in result.index
    # After booking those effects, a second pass finds nothing to do.
    booked = pd.DataFrame({"claim_id": ["paid-now-ineligible", "underpaid", "underpaid", "same", "new"],
                           "paid_amount": [1_000, 1_000, 500, 600, 800],
                           "refund_claimed_amount": [1_000, 0, 0, 0, 0]})
    assert benefits.reconcile_payments(entitled, booked).empty


def test_restored_eligibility_cancels_uncollected_refunds_and_repays_what_was_collected():
    entitled = pd.DataFrame([_entitled("open", 1_000), _entitled("collected", 1_000), _entitled("partly", 1_000),
                             _entitled("written_off", 1_000), _entitled("still_out", 0, "NOT_ELIGIBLE_ON_SERVICE_DATE")])
    ledger = pd.DataFrame({
        "claim_id": ["open", "collected", "partly", "written_off", "still_out"],
        "paid_amount": [1_000] * 5, "refund_claimed_amount": [1_000] * 5,
        "refund_collected_amount": [0, 1_000, 300, 0, 0],
    })
    result = benefits.reconcile_payments(entitled, ledger).set_index("claim_id")
    assert result.loc["open", ["adjustment_type", "amount", "cancel_refunds"]].tolist() == ["CANCEL_REFUNDS", 0, True]
    assert result.loc["written_off", "adjustment_type"] == "CANCEL_REFUNDS"
    assert result.loc["collected", ["adjustment_type", "amount", "cancel_refunds"]].tolist() == [
        "SUPPLEMENTARY", 1_000, False]
    assert result.loc["partly", ["adjustment_type", "amount", "cancel_refunds"]].tolist() == [
        "SUPPLEMENTARY", 300, True]
    assert "still_out" not in result.index


def test_prefecture_summary_by_age_band_and_setting():
    df = frame(claim("pre", birth="2020-01-15", first="2025-06-10", total=4_000),
               claim("elem", birth=CHILD, first="2025-06-10", total=5_000, first_visit=True, person=2),
               claim("jhs", birth="2012-09-01", first="2025-06-10", last="2025-06-12", care="INPATIENT",
                     admission="J", total=30_000, high_cost=0, person=3))
    assessed = benefits.assess_claims(df, *references(df), POLICY)
    summary = benefits.summarise_for_prefecture(assessed).set_index(["age_band", "setting"])
    assert summary.loc[("PRESCHOOL", "OUTPATIENT"), "subsidy_amount"] == 800
    assert summary.loc[("ELEMENTARY", "OUTPATIENT"), "subsidy_amount"] == 1_000
    assert summary.loc[("JUNIOR_HIGH", "INPATIENT"), "subsidy_amount"] == 9_000 - 1_500
