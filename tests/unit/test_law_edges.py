"""Issue 12: the rules at their legal edges — one named test per defect, each failing on the old code."""

from __future__ import annotations

import pandas as pd
import pytest

from policy import load_policy
from rules import benefits
from rules.decisions import apply_decisions, decide_month
from rules.eligibility import cached_policy, determine_eligibility
from tests.unit.benefit_fixtures import claim, frame, recipient_no
from tests.unit.test_eligibility import CHILD, build

POLICY = load_policy()


@pytest.fixture(scope="module")
def policy():
    return cached_policy(POLICY)


def _certificate(valid_from, valid_to, status="ELIGIBLE", person=CHILD):
    return pd.DataFrame({"person_id": [person], "valid_from": [pd.Timestamp(valid_from)],
                         "valid_to": [pd.Timestamp(valid_to)], "status": [status]})


# --- 1. loss of insurance ------------------------------------------------------------------------------


def _insurance_ends_2026_01_14():
    return build([(CHILD, "2015-05-10", "2015-05-20")], insurance=[(CHILD, "2015-05-10", "2026-01-14")])


def test_late_reported_insurance_loss_is_a_retroactive_loss_with_the_true_end_date(policy):
    periods = determine_eligibility(_insurance_ends_2026_01_14(), policy, as_of="2026-02-01")
    assert periods.iloc[-1]["end_reason"] == "INSURANCE"
    held = _certificate("2025-10-01", "2026-09-30")
    out = decide_month(periods, held, "2026-02", policy)
    assert out[["decision_type", "effective_date", "valid_to", "status"]].values.tolist() == [
        ["LOSS_INSURANCE", pd.Timestamp("2026-01-15"), pd.Timestamp("2026-01-14"), "LOST"]]
    assert (out.iloc[0]["rule"], out.iloc[0]["parameter"], out.iloc[0]["source"]) == (
        "INSURANCE_REQUIRED", "eligibility.requires_health_insurance", "S12,S56")
    # idempotent: the state after the loss decides nothing more
    assert decide_month(periods, apply_decisions(held, out), "2026-02", policy).empty


def test_insurance_loss_in_the_month_is_a_loss_not_a_change(policy):
    periods = determine_eligibility(_insurance_ends_2026_01_14(), policy, as_of="2026-01-01")
    out = decide_month(periods, _certificate("2025-10-01", "2026-09-30"), "2026-01", policy)
    assert out["decision_type"].tolist() == ["LOSS_INSURANCE"]


def test_receipts_after_the_insurance_end_are_claimed_back(policy):
    periods = determine_eligibility(_insurance_ends_2026_01_14(), policy, as_of="2026-02-01")
    claims = frame(claim("inside", birth="2015-05-10", first="2026-01-10"),
                   claim("after", birth="2015-05-10", first="2026-01-20"))
    recipients = pd.DataFrame({"person_id": [CHILD], "recipient_no": [recipient_no(1)]})
    persons = pd.DataFrame({"person_id": [CHILD], "birth_date": [pd.Timestamp("2015-05-10")]})
    checked = benefits.check_claim_eligibility(claims, recipients, persons, periods, POLICY).set_index("claim_id")
    assert pd.isna(checked.loc["inside", "rejection_reason"])
    assert checked.loc["after", ["rejection_reason", "ineligibility_cause"]].tolist() == [
        "NOT_ELIGIBLE_ON_SERVICE_DATE", "INSURANCE"]
    entitled = checked.reset_index().assign(subsidy_amount=[3_000, 0])
    ledger = pd.DataFrame({"claim_id": ["inside", "after"], "paid_amount": [3_000, 3_000],
                           "refund_claimed_amount": [0, 0]})
    result = benefits.reconcile_payments(entitled, ledger).set_index("claim_id")
    assert result.loc["after", ["adjustment_type", "amount"]].tolist() == ["REFUND_CLAIM", 3_000]
    assert "inside" not in result.index
