"""Benefit amounts per receipt: domain.md §9 cases T5–T15, T20, T21, T24 and the edge cases of issue 3."""

from __future__ import annotations

import pandas as pd
import pytest

from policy import load_policy
from rules import benefits, high_cost
from tests.unit.benefit_fixtures import TOKYO_CLINIC, claim, frame, references

POLICY = load_policy()

GRADE3_2025 = "2016-09-01"      # 小学3年 in FY2025
PRESCHOOL_2025 = "2020-01-15"   # 5 years old, 未就学 until 2026-03-31
JHS1_2025 = "2012-09-01"        # 中学1年 in FY2025
JHS1_2026 = "2013-09-01"        # 中学1年 in FY2026
HS2_2026 = "2009-08-01"         # 高校2年生世代 (16) in FY2026
GRADE2_2025 = "2016-09-01"      # 小学2年 in January 2025


def assess(*rows: dict) -> pd.DataFrame:
    df = frame(*rows)
    return benefits.assess_claims(df, *references(df), POLICY).set_index("claim_id")


@pytest.mark.parametrize(
    ("row", "copay", "subsidy"),
    [
        pytest.param(claim("t5", birth=GRADE3_2025, first="2025-06-10", total=5_000, first_visit=True), 500, 1_000,
                     id="T5 小3 初診 3割1500 pays 500, subsidy 1000"),
        pytest.param(claim("t6", birth=GRADE3_2025, first="2025-06-11", total=2_000), 0, 600,
                     id="T6 小3 再診 3割600 pays nothing"),
        pytest.param(claim("t7", birth=PRESCHOOL_2025, first="2025-06-10", total=4_000, first_visit=True), 0, 800,
                     id="T7 未就学 2割800 free"),
        pytest.param(claim("t11", birth=HS2_2026, first="2026-05-10", total=8_000, first_visit=True), 0, 2_400,
                     id="T11 高2 2026-05 初診 3割2400 free"),
    ],
)
def test_outpatient_cases(row, copay, subsidy):
    result = assess(row).iloc[0]
    assert result["rejection_reason"] is pd.NA or pd.isna(result["rejection_reason"])
    assert (result["copay_amount"], result["subsidy_amount"]) == (copay, subsidy)


def test_t8_admission_of_14_days_pays_5000_with_limit_certificate():
    row = claim("t8", birth=JHS1_2025, first="2025-05-01", last="2025-05-14", care="INPATIENT", total=300_000,
                admission="A8", category="u")
    result = assess(row).iloc[0]
    assert result["copay_charged_days"] == 10
    assert result["copay_amount"] == 5_000
    # 3割 90,000; 区分ウ limit 80,100 + 1% × 33,000 = 80,430 → 高額療養費 9,570
    assert result["high_cost_deducted_amount"] == 9_570
    assert result["subsidy_amount"] == 80_430 - 5_000


@pytest.mark.parametrize(
    ("rows", "family"),
    [
        pytest.param(
            [claim("t9-1", birth=GRADE2_2025, first="2025-01-01", last="2025-01-31", care="INPATIENT", total=300_000,
                   other=87_800, high_cost=0, admission="A9"),
             claim("t9-2", birth=GRADE2_2025, first="2025-02-01", last="2025-02-10", care="INPATIENT", total=100_000,
                   other=27_800, high_cost=0, admission="A9")],
            {"t9-1": 2_200, "t9-2": 0}, id="T9 小慢 cap 2200, admitted 1-1 to 2-10: January 2200, February 0"),
        pytest.param(
            [claim("t10-1", birth=GRADE2_2025, first="2025-01-31", care="INPATIENT", total=10_000, other=800,
                   high_cost=0, admission="A10"),
             claim("t10-2", birth=GRADE2_2025, first="2025-02-01", last="2025-02-28", care="INPATIENT",
                   total=300_000, other=87_800, high_cost=0, admission="A10"),
             claim("t10-3", birth=GRADE2_2025, first="2025-03-01", last="2025-03-10", care="INPATIENT",
                   total=100_000, other=27_800, high_cost=0, admission="A10")],
            {"t10-1": 500, "t10-2": 2_200, "t10-3": 0},
            id="T10 小慢 cap 2200, admitted 1-31 to 3-10: January 500, February 2200, March 0"),
    ],
)
def test_chronic_disease_cap_interplay(rows, family):
    result = assess(*rows)
    assert result["copay_amount"].to_dict() == family
    assert (result["subsidy_amount"] + result["copay_amount"] == 2_200).all()


def test_t12_no_copay_for_an_admission_from_2026_04():
    row = claim("t12", birth=JHS1_2026, first="2026-05-10", last="2026-05-21", care="INPATIENT", total=200_000,
                admission="A12", high_cost=0)
    result = assess(row).iloc[0]
    assert result["copay_amount"] == 0
    assert result["subsidy_amount"] == 60_000


def test_t13_high_cost_computed_from_category_u():
    row = claim("t13", birth=JHS1_2026, first="2026-05-01", last="2026-05-20", care="INPATIENT", total=400_000,
                admission="A13", category="u")
    result = assess(row).iloc[0]
    assert result["self_pay_amount"] == 120_000
    assert result["high_cost_deducted_amount"] == 38_570
    assert result["high_cost_rule"] == "COMPUTED"
    assert (result["copay_amount"], result["subsidy_amount"]) == (0, 81_430)


def test_t14_additional_benefit_actually_paid_is_deducted():
    row = claim("t14", birth=JHS1_2026, first="2026-05-01", last="2026-05-20", care="INPATIENT", total=400_000,
                admission="A14", category="u", added=56_000)
    assert assess(row).iloc[0]["subsidy_amount"] == 25_430


@pytest.mark.parametrize(
    ("key", "limit"),
    [pytest.param("a", 254_180, id="T15 区分ア 254180"), pytest.param("i", 171_820, id="T15 区分イ 171820"),
     pytest.param("u", 87_430, id="T15 区分ウ 87430"), pytest.param("e", 57_600, id="T15 区分エ 57600"),
     pytest.param("o", 35_400, id="T15 区分オ 35400")],
)
def test_t15_monthly_limits_for_one_million(key, limit):
    got = high_cost.monthly_limit(pd.Series([1_000_000]), pd.Series([key]), pd.Series([pd.Timestamp("2026-07-31")]),
                                  POLICY)
    assert got.iloc[0] == limit


def test_high_cost_category_u_changes_on_2026_08_01():
    got = high_cost.monthly_limit(pd.Series([400_000, 400_000]), pd.Series(["u", "u"]),
                                  pd.Series(pd.to_datetime(["2026-07-31", "2026-08-01"])), POLICY)
    assert got.tolist() == [81_430, 85_800 + 1_140]


def test_monthly_limit_of_mixed_keys_and_dates_equals_each_receipt_alone():
    # One sorted search serves every (区分, date) pair; a missing 区分 uses the fallback key (区分オ).
    keys = ["a", "U", None, "e", "o", "i", "u", None]
    days = pd.to_datetime(["2014-12-31", "2015-01-01", "2026-07-31", "2026-08-01", "2020-05-05", "2026-08-01",
                           "2026-07-31", "2026-08-01"])
    totals = [1_000_000, 400_000, 300_000, 1_200_000, 50_000, 800_000, 400_000, 90_000]
    together = high_cost.monthly_limit(pd.Series(totals), pd.Series(keys, dtype=object), pd.Series(days), POLICY)
    alone = [high_cost.monthly_limit(pd.Series([t]), pd.Series([k if k else "o"]), pd.Series([d]), POLICY).iloc[0]
             for t, k, d in zip(totals, keys, days, strict=True)]
    assert together.tolist() == alone
    assert together.iloc[2] == high_cost.monthly_limit(pd.Series([300_000]), pd.Series(["o"]),
                                                       pd.Series([days[2]]), POLICY).iloc[0] == 35_400
    with pytest.raises(ValueError, match="without a high_cost.limit parameter"):
        high_cost.monthly_limit(pd.Series([1]), pd.Series(["z"]), pd.Series([days[0]]), POLICY)


def test_stated_high_cost_wins_and_missing_category_is_held():
    rows = [claim("given", birth=JHS1_2026, first="2026-05-01", care="INPATIENT", total=400_000, admission="G",
                  high_cost=10_000),
            claim("fallback", birth=JHS1_2026, first="2026-05-01", care="INPATIENT", total=400_000, admission="F")]
    result = assess(*rows)
    assert result.loc["given", "high_cost_deducted_amount"] == 10_000
    assert result.loc["fallback", "high_cost_rule"] == "HELD"  # issue 12: never guess the 区分
    assert result.loc["fallback", "subsidy_amount"] == 0
    assert result.loc["fallback", "hold_reason"] == "HIGH_COST_CATEGORY_UNKNOWN"


def test_t20_out_of_prefecture_is_reimbursed_not_in_kind():
    paid = claim("t20", birth=HS2_2026, first="2026-06-03", total=8_000, first_visit=True, route="REIMBURSEMENT",
                 institution=TOKYO_CLINIC, applied="2026-06-20")
    in_kind = claim("t20b", birth=HS2_2026, first="2026-06-03", total=8_000, institution=TOKYO_CLINIC)
    result = assess(paid, in_kind)
    assert result.loc["t20", "subsidy_amount"] == 2_400
    assert result.loc["t20b", "rejection_reason"] == "NOT_IN_KIND_INSTITUTION"
    assert result.loc["t20b", "subsidy_amount"] == 0


def test_t21_therapeutic_fitting_is_reimbursed_after_the_insurer():
    fitting = claim("t21", birth=JHS1_2026, first="2026-06-01", care="ORTHOSIS", total=50_000, route="REIMBURSEMENT",
                    institution=None, applied="2026-07-01")
    in_kind = claim("t21b", birth=JHS1_2026, first="2026-06-01", care="ORTHOSIS", total=50_000)
    result = assess(fitting, in_kind)
    assert result.loc["t21", "subsidy_amount"] == 15_000
    assert result.loc["t21", "copay_rule"] == "NONE_ORTHOSIS"
    assert result.loc["t21b", "rejection_reason"] == "NOT_IN_KIND_INSTITUTION"


def test_t24_school_health_ticket_costs_nothing_but_the_subsidy_costs_the_first_visit():
    ticket = claim("ticket", birth=GRADE3_2025, first="2025-06-10", total=5_000, first_visit=True, other=1_500)
    subsidy = claim("subsidy", birth=GRADE3_2025, first="2025-06-10", total=5_000, first_visit=True)
    result = assess(ticket, subsidy)
    assert result.loc["ticket", "family_payment_amount"] == 0
    assert result.loc["ticket", "subsidy_amount"] == 0
    assert result.loc["subsidy", "family_payment_amount"] == 500


def test_t23_share_turns_from_20_to_30_percent_on_april_1():
    rows = [claim("mar", birth="2019-04-02", first="2026-03-31", total=10_000),
            claim("apr", birth="2019-04-02", first="2026-04-01", total=10_000)]
    result = assess(*rows)
    assert result["self_pay_percent"].to_dict() == {"mar": 20, "apr": 30}


def test_copay_never_above_self_pay():
    row = claim("small", birth=GRADE3_2025, first="2025-06-10", total=1_000, first_visit=True)
    result = assess(row).iloc[0]
    assert (result["copay_rule_amount"], result["copay_amount"], result["subsidy_amount"]) == (500, 300, 0)
    assert bool(result["copay_capped"])


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [claim("may", birth=JHS1_2025, first="2025-05-28", last="2025-05-31", care="INPATIENT", total=80_000,
                   admission="M", high_cost=0),
             claim("jun", birth=JHS1_2025, first="2025-06-01", last="2025-06-05", care="INPATIENT", total=80_000,
                   admission="M", high_cost=0)],
            {"may": 2_000, "jun": 2_500}, id="month end: 4 days in May, days 5-9 in June"),
        pytest.param(
            [claim("m1", birth=JHS1_2025, first="2025-07-24", last="2025-07-31", care="INPATIENT", total=80_000,
                   admission="C", high_cost=0),
             claim("m2", birth=JHS1_2025, first="2025-08-01", last="2025-08-31", care="INPATIENT", total=80_000,
                   admission="C", high_cost=0),
             claim("m3", birth=JHS1_2025, first="2025-09-01", last="2025-09-08", care="INPATIENT", total=80_000,
                   admission="C", high_cost=0)],
            {"m1": 4_000, "m2": 1_000, "m3": 0}, id="three months: 8 days then days 9-10 then free"),
        pytest.param(
            [claim("mar26", birth=JHS1_2025, first="2026-03-25", last="2026-03-31", care="INPATIENT", total=80_000,
                   admission="X", high_cost=0),
             claim("apr26", birth=JHS1_2025, first="2026-04-01", last="2026-04-10", care="INPATIENT", total=80_000,
                   admission="X", high_cost=0)],
            {"mar26": 3_500, "apr26": 0}, id="across 2026-04-01: March charged, April free"),
        pytest.param(
            [claim("hist", birth=JHS1_2025, first="2025-06-01", last="2025-06-05", care="INPATIENT", total=80_000,
                   admission="H", high_cost=0, prior_days=8)],
            {"hist": 1_000}, id="8 days in an earlier run: only days 9-10 charged"),
        pytest.param(
            [claim("pre", birth=PRESCHOOL_2025, first="2025-06-01", last="2025-06-20", care="INPATIENT",
                   total=80_000, admission="P", high_cost=0)],
            {"pre": 0}, id="未就学 admission is free"),
    ],
)
def test_admission_days_counted_across_month_ends(rows, expected):
    assert assess(*rows)["copay_amount"].to_dict() == expected


def test_meals_are_never_subsidised():
    row = claim("meal", birth=JHS1_2026, first="2026-05-01", last="2026-05-05", care="INPATIENT", total=50_000,
                admission="ML", meal=2_500, high_cost=0)
    result = assess(row).iloc[0]
    assert result["subsidy_amount"] == 15_000
    assert result["family_payment_amount"] == 2_500


def test_explanations_name_rule_and_parameter():
    result = assess(claim("t5", birth=GRADE3_2025, first="2025-06-10", total=5_000, first_visit=True))
    text = benefits.explain(result).iloc[0]
    assert "FIRST_VISIT" in text and "copay.outpatient.first_visit_amount" in text and "30%" in text


def test_fast_school_year_boundary_matches_the_age_law_helpers():
    import numpy as np

    from rules import copay, dates

    rng = np.random.default_rng(5)
    births = pd.Series(pd.to_datetime(np.datetime64("2000-01-01") + rng.integers(0, 9_000, 3_000)))
    births.iloc[:6] = pd.to_datetime(["2008-04-01", "2008-04-02", "2008-02-29", "2012-02-29", "2019-04-01",
                                      "2019-04-02"])
    service = pd.Series(pd.to_datetime(np.datetime64("2010-01-01") + rng.integers(0, 8_000, 3_000)))
    service.iloc[:6] = pd.to_datetime(["2026-03-31", "2027-03-31", "2026-03-31", "2030-04-01", "2037-03-31",
                                       "2038-04-01"])
    ages = pd.Series(rng.choice([3, 6, 9, 12, 15, 18], 3_000))
    ages.iloc[:6] = 18
    expected = (service <= dates.school_year_end_after_age(births, ages)).to_numpy()
    assert (copay.within_school_year_after_age(births, service, ages) == expected).all()


def test_a_frame_with_a_repeated_index_gives_the_same_amounts():
    rows = [claim("may", birth=JHS1_2025, first="2025-05-28", last="2025-05-31", care="INPATIENT", total=80_000,
                  admission="M", high_cost=0),
            claim("jun", birth=JHS1_2025, first="2025-06-01", last="2025-06-05", care="INPATIENT", total=80_000,
                  admission="M", high_cost=0)]
    df = frame(*rows)
    df.index = [7, 7]
    result = benefits.assess_claims(df, *references(df), POLICY)
    assert result["copay_amount"].tolist() == [2_000, 2_500]
