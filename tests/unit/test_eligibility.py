"""Eligibility periods (rules.eligibility) against the real policy parameters.

Acceptance cases T1–T4, T16–T19 and T25 come from domain.md §9; every effective date is checked the day
before, the day of and the day after.
"""

from __future__ import annotations

import pandas as pd
import pytest

from policy import load_policy
from rules.dates import date_reaching_age, school_year_end_after_age
from rules.eligibility import EligibilityInputs, cached_policy, determine_eligibility

FATHER, MOTHER = "0000000901", "0000000902"  # 世帯主 (01) and 配偶者 (02) of household H1
CHILD = "0000000001"
ZERO_DEDUCTIONS = {
    "casualty_loss_deduction_amount": 0,
    "medical_deduction_amount": 0,
    "small_business_deduction_amount": 0,
    "disability_deduction_amount": 0,
}


@pytest.fixture(scope="module")
def policy():
    return cached_policy(load_policy())


def build(
    kids,
    *,
    tax=(),
    welfare=(),
    residence=None,
    insurance=None,
    applications=None,
):
    """Inputs for children ``kids`` = [(person_id, birth_date, application_date or None)] in household H1."""
    residents = pd.DataFrame(
        [(pid, "H1", "03", birth) for pid, birth, _ in kids]
        + [(FATHER, "H1", "01", "1980-01-01"), (MOTHER, "H1", "02", "1982-01-01")],
        columns=["person_id", "household_id", "relationship_code", "birth_date"],
    )
    residents["birth_date"] = pd.to_datetime(residents["birth_date"])
    if residence is None:
        residence = [(pid, birth, None, None) for pid, birth, _ in kids]
    if insurance is None:
        insurance = [(pid, birth, None) for pid, birth, _ in kids]
    if applications is None:
        applications = [(f"a{pid}", pid, FATHER, applied) for pid, _, applied in kids if applied]
    tax_rows = [
        {"person_id": pid, "tax_year": year, "total_income_amount": total, "dependents_count": deps,
         "elderly_dependents_count": elderly, **{**ZERO_DEDUCTIONS, **extra}}
        for pid, year, total, deps, elderly, extra in tax
    ]
    tax_columns = ["person_id", "tax_year", "total_income_amount", *ZERO_DEDUCTIONS, "dependents_count",
                   "elderly_dependents_count"]
    return EligibilityInputs(
        residents=residents,
        residence=_dated(pd.DataFrame(residence, columns=["person_id", "start", "end", "end_reason"]),
                         ["start", "end"]),
        insurance=_dated(pd.DataFrame(insurance, columns=["person_id", "valid_from", "valid_to"]),
                         ["valid_from", "valid_to"]),
        welfare=_dated(pd.DataFrame(welfare, columns=["case_id", "household_id", "start_date", "end_date"]),
                       ["start_date", "end_date"]),
        tax=pd.DataFrame(tax_rows, columns=tax_columns),
        applications=_dated(
            pd.DataFrame(applications, columns=["application_id", "child_person_id", "guardian_person_id",
                                                "application_date"]),
            ["application_date"],
        ),
    )


def _dated(df, columns):
    for column in columns:
        df[column] = pd.to_datetime(df[column]).astype("datetime64[ns]")
    return df


def on(periods, person_id, day):
    """The period of ``person_id`` covering ``day`` (a Series) or None."""
    day = pd.Timestamp(day)
    hit = periods.loc[(periods["person_id"] == person_id) & (periods["valid_from"] <= day)
                      & (periods["valid_to"] >= day)]
    assert len(hit) <= 1
    return None if hit.empty else hit.iloc[0]


def status_on(periods, person_id, day):
    row = on(periods, person_id, day)
    return None if row is None else row["status"]


def run(policy, inputs, start="2012-01-01", end="2031-12-31"):
    return determine_eligibility(inputs, policy, start, end)


_RUNS: dict = {}


def shared(policy, key, make_inputs, start, end):
    """Run a scenario once per module (the parametrised day checks share it); a copy is returned."""
    if key not in _RUNS:
        _RUNS[key] = run(policy, make_inputs(), start, end)
    return _RUNS[key].copy()


# --- age: T1–T4 and the 2026-04-01 extension -------------------------------------------------------------


AGE_CASES = {("2008-04-01", "2026-03-01"), ("2008-04-02", "2026-03-01"), ("2008-02-29", "2026-03-01"),
             ("2010-04-02", "2010-04-10")}


@pytest.mark.parametrize(
    ("birth", "applied", "day", "eligible", "valid_to"),
    [
        pytest.param("2008-04-01", "2026-03-01", "2026-04-01", False, None,
                     id="T1 born 2008-04-01 is not eligible on 2026-04-01 (18歳到達年度末 = 2026-03-31)"),
        pytest.param("2008-04-02", "2026-03-01", "2026-04-15", True, "2027-03-31",
                     id="T2 born 2008-04-02 is eligible on 2026-04-15 until 2027-03-31"),
        pytest.param("2008-02-29", "2026-03-01", "2026-04-01", False, None,
                     id="T3 born 2008-02-29 reaches 18 on 2026-02-28 and is not eligible from 2026-04-01"),
        pytest.param("2010-04-02", "2010-04-10", "2026-03-20", True, "2029-03-31",
                     id="T4 born 2010-04-02 is eligible on 2026-03-20 (old 15 rule)"),
        pytest.param("2010-04-02", "2010-04-10", "2026-04-20", True, "2029-03-31",
                     id="T4 born 2010-04-02 is eligible on 2026-04-20 in the same continuous period"),
    ],
)
def test_age_acceptance_cases(policy, birth, applied, day, eligible, valid_to):
    kids = [(f"00000000{i:02d}", b, a) for i, (b, a) in enumerate(sorted(AGE_CASES), start=10)]
    periods = shared(policy, "age", lambda: build(kids), "2012-01-01", "2031-12-31")
    person = dict(((b, a), pid) for pid, b, a in kids)[(birth, applied)]
    row = on(periods, person, day)
    assert (row is not None) == eligible
    if eligible:
        assert row["valid_to"] == pd.Timestamp(valid_to)
        assert row["end_reason"] == "AGE" if pd.Timestamp(valid_to) < pd.Timestamp("2031-12-31") else "OPEN"


def test_t3_leap_day_birth_reaches_18_on_february_28():
    birth = pd.Series(pd.to_datetime(["2008-02-29"]))
    assert date_reaching_age(birth, 18).iloc[0] == pd.Timestamp("2026-02-28")
    assert school_year_end_after_age(birth, 18).iloc[0] == pd.Timestamp("2026-03-31")


def test_t3_registered_child_ends_with_the_15_rule(policy):
    periods = run(policy, build([(CHILD, "2008-02-29", "2008-03-10")]), start="2022-04-01")
    last = periods.loc[periods["person_id"] == CHILD].iloc[-1]
    assert last["valid_to"] == pd.Timestamp("2023-03-31")
    assert last["end_reason"] == "AGE"


def test_t2_advance_application_starts_on_the_day_the_extension_makes_the_child_eligible(policy):
    periods = run(policy, build([(CHILD, "2008-04-02", "2025-12-01")]), start="2024-04-01")
    assert len(periods) == 1
    row = periods.iloc[0]
    assert (row["valid_from"], row["valid_to"]) == (pd.Timestamp("2026-04-01"), pd.Timestamp("2027-03-31"))
    assert "AGE_LIMIT:age_limit.inpatient=18@2026-04-01" in row["reason_codes"]
    assert "REGISTRATION_WINDOW:registration.window_days=30@2017-10-01" in row["reason_codes"]


@pytest.mark.parametrize(
    ("day", "eligible"),
    [
        pytest.param("2026-03-31", True, id="day before 2026-04-01: old rule, age 15 year still running"),
        pytest.param("2026-04-01", True, id="2026-04-01: 18 rule in force"),
        pytest.param("2026-04-02", True, id="day after 2026-04-01"),
    ],
)
def test_2026_04_01_extension_is_continuous_for_a_child_in_year_15(policy, day, eligible):
    # born 2010-04-02: 15歳到達年度末 2026-03-31, 18歳到達年度末 2029-03-31
    periods = shared(policy, "T4-2025", lambda: build([(CHILD, "2010-04-02", "2010-04-10")]), "2025-04-01",
                     "2031-12-31")
    assert (status_on(periods, CHILD, day) == "ELIGIBLE") == eligible
    row = on(periods, CHILD, day)
    assert row["valid_from"] == pd.Timestamp("2025-04-01")  # one period, not split at the era boundary
    assert row["reason_codes"].index("inpatient=15@2012-01-01") < row["reason_codes"].index("inpatient=18@2026-04-01")


@pytest.mark.parametrize(
    ("day", "eligible"),
    [
        pytest.param("2026-03-31", False, id="day before 2026-04-01: already past 15歳到達年度末"),
        pytest.param("2026-04-01", True, id="2026-04-01: eligible again under the 18 rule"),
        pytest.param("2026-04-02", True, id="day after 2026-04-01"),
    ],
)
def test_2026_04_01_extension_brings_back_a_high_school_student(policy, day, eligible):
    periods = shared(policy, "koukou", lambda: build([(CHILD, "2009-04-02", "2026-02-15")]), "2025-04-01",
                     "2031-12-31")
    assert (on(periods, CHILD, day) is not None) == eligible


@pytest.mark.parametrize(
    "day",
    [
        pytest.param("2017-09-30", id="day before 2017-10-01"),
        pytest.param("2017-10-01", id="2017-10-01 (outpatient 9 → 15; overall limit stays 15)"),
        pytest.param("2017-10-02", id="day after 2017-10-01"),
    ],
)
def test_2017_10_01_outpatient_extension_leaves_the_certificate_period_unchanged(policy, day):
    # born 2005-04-02 (小6 in 2017): covered by the inpatient 15 limit before and after
    def make():
        return build([(CHILD, "2005-04-02", "2005-04-20")], tax=[(FATHER, y, 3_000_000, 1, 0, {}) for y in
                                                                range(2015, 2021)])

    periods = shared(policy, "2017", make, "2016-10-01", "2021-06-30")
    row = on(periods, CHILD, day)
    assert row["status"] == "ELIGIBLE"
    assert row["valid_from"] == pd.Timestamp("2016-10-01")
    assert row["valid_to"] == pd.Timestamp("2021-03-31")
    assert row["end_reason"] == "AGE"
    assert "AGE_LIMIT:age_limit.inpatient=15@2012-01-01" in row["reason_codes"]


# --- registration: T25 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("applied", "valid_from", "code"),
    [
        pytest.param("2015-07-15", "2015-07-01", "REGISTRATION_LATE",
                     id="T25 born 2015-05-10 applied 2015-07-15 is covered from 2015-07-01"),
        pytest.param("2015-06-09", "2015-05-10", "REGISTRATION_WINDOW",
                     id="applied on day 30 after birth is covered from birth"),
        pytest.param("2015-06-10", "2015-06-01", "REGISTRATION_LATE",
                     id="applied on day 31 is covered from the 1st of the application month"),
        pytest.param("2015-05-10", "2015-05-10", "REGISTRATION_WINDOW",
                     id="applied on the day of birth is covered from birth"),
    ],
)
def test_registration_window(policy, applied, valid_from, code):
    applied_dates = ["2015-05-10", "2015-06-09", "2015-06-10", "2015-07-15"]
    kids = [(f"00000000{i:02d}", "2015-05-10", a) for i, a in enumerate(applied_dates, start=20)]

    def make():
        return build(kids, tax=[(FATHER, 2014, 3_000_000, 2, 0, {}), (FATHER, 2015, 3_000_000, 2, 0, {})])

    periods = shared(policy, "registration", make, "2015-01-01", "2015-09-30")
    person = kids[applied_dates.index(applied)][0]
    row = periods.loc[periods["person_id"] == person].iloc[0]
    assert row["valid_from"] == pd.Timestamp(valid_from)
    assert row["status"] == "ELIGIBLE"
    assert row["reason_codes"].startswith(code)


def test_no_application_no_period(policy):
    assert run(policy, build([(CHILD, "2015-05-10", None)])).empty


def test_late_application_after_move_in_starts_on_the_first_of_the_application_month(policy):
    inputs = build(
        [(CHILD, "2018-01-01", "2024-09-03")],
        residence=[(CHILD, "2024-06-15", None, None)],
    )
    periods = run(policy, inputs, start="2024-01-01", end="2024-12-31")
    assert periods.iloc[0]["valid_from"] == pd.Timestamp("2024-09-01")


def test_move_in_within_window_is_covered_from_the_move_in(policy):
    inputs = build([(CHILD, "2018-01-01", "2024-07-10")], residence=[(CHILD, "2024-06-15", None, None)])
    periods = run(policy, inputs, start="2024-01-01", end="2024-12-31")
    assert periods.iloc[0]["valid_from"] == pd.Timestamp("2024-06-15")


# --- residence, insurance, welfare (T19) -----------------------------------------------------------------


def test_move_out_and_death_end_reasons(policy):
    kids = [(CHILD, "2018-01-01", "2018-01-05"), ("0000000002", "2019-01-01", "2019-01-05")]
    residence = [(CHILD, "2018-01-01", "2024-05-19", "MOVE_OUT"), ("0000000002", "2019-01-01", "2024-07-07", "DEATH")]
    periods = run(policy, build(kids, residence=residence), start="2024-01-01", end="2024-12-31")
    assert periods[["person_id", "valid_to", "end_reason"]].values.tolist() == [
        [CHILD, pd.Timestamp("2024-05-19"), "MOVE_OUT"],
        ["0000000002", pd.Timestamp("2024-07-07"), "DEATH"],
    ]


def test_insurance_gap_ends_and_restarts_and_a_change_of_insurer_does_not(policy):
    insurance = [
        (CHILD, "2018-01-01", "2024-03-31"),
        (CHILD, "2024-04-01", "2024-06-30"),  # new insurer the next day: no break
        (CHILD, "2024-08-01", None),  # one month without insurance
    ]
    periods = run(policy, build([(CHILD, "2018-01-01", "2018-01-05")], insurance=insurance),
                  start="2024-01-01", end="2024-12-31")
    assert periods[["valid_from", "valid_to", "end_reason"]].values.tolist() == [
        [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-06-30"), "INSURANCE"],
        [pd.Timestamp("2024-08-01"), pd.Timestamp("2024-12-31"), "OPEN"],
    ]


def test_t19_welfare_household_is_not_eligible(policy):
    inputs = build([(CHILD, "2018-01-01", "2018-01-05")], welfare=[("W1", "H1", "2017-01-01", None)])
    assert run(policy, inputs, start="2024-01-01", end="2024-12-31").empty


@pytest.mark.parametrize(
    ("day", "eligible"),
    [
        pytest.param("2024-05-31", True, id="day before welfare starts"),
        pytest.param("2024-06-01", False, id="first day of welfare"),
        pytest.param("2024-12-31", False, id="last day of welfare"),
        pytest.param("2025-01-01", True, id="day after welfare ends"),
    ],
)
def test_t19_welfare_case_is_subtracted(policy, day, eligible):
    def make():
        return build([(CHILD, "2018-01-01", "2018-01-05")], welfare=[("W1", "H1", "2024-06-01", "2024-12-31")])

    periods = shared(policy, "T19", make, "2024-01-01", "2025-12-31")
    assert (on(periods, CHILD, day) is not None) == eligible
    first = periods.iloc[0]
    assert first["end_reason"] == "WELFARE"
    assert "WELFARE_EXCLUSION:eligibility.excludes_public_assistance=True@2012-01-01" in first["reason_codes"]


def test_welfare_of_another_household_does_not_matter(policy):
    inputs = build([(CHILD, "2018-01-01", "2018-01-05")], welfare=[("W1", "H9", "2017-01-01", None)])
    assert len(run(policy, inputs, start="2024-01-01", end="2024-12-31")) == 1


# --- income test: T16–T18, cycles, abolition -------------------------------------------------------------

# T16/T17 state 所得 after deductions: 7,500,000 − 80,000 (flat) − 200,000 (医療費) − 220,000 (小規模企業共済)
# = 7,000,000 exactly.
T16_TOTAL = 7_500_000
T16_DEDUCTIONS = {"medical_deduction_amount": 200_000, "small_business_deduction_amount": 220_000}


def t16_household(extra_tax=()):
    tax = [(FATHER, year, T16_TOTAL, 3, 0, T16_DEDUCTIONS) for year in (2019, 2020, 2021, 2022)]
    return build([(CHILD, "2014-06-01", "2014-06-10")], tax=[*tax, *extra_tax])


@pytest.mark.parametrize(
    ("day", "status", "code"),
    [
        pytest.param("2021-09-15", "SUSPENDED_INCOME", "INCOME_OVER_LIMIT:income_limit.base_amount=5320000@2012-01-01",
                     id="T16 2021-09: 所得 7,000,000 > 6,460,000 (3 dependents) is suspended"),
        pytest.param("2021-09-30", "SUSPENDED_INCOME", "INCOME_OVER_LIMIT:income_limit.base_amount=5320000@2012-01-01",
                     id="day before 2021-10-01: old limit 6,460,000"),
        pytest.param("2021-10-01", "ELIGIBLE", "INCOME_WITHIN_LIMIT:income_limit.base_amount=6220000@2021-10-01",
                     id="2021-10-01: relaxed limit 7,360,000"),
        pytest.param("2021-10-02", "ELIGIBLE", "INCOME_WITHIN_LIMIT:income_limit.base_amount=6220000@2021-10-01",
                     id="day after 2021-10-01"),
        pytest.param("2022-01-15", "ELIGIBLE", "INCOME_WITHIN_LIMIT:income_limit.base_amount=6220000@2021-10-01",
                     id="T17 2022-01: same household within 7,360,000 is eligible"),
    ],
)
def test_t16_t17_income_limit(policy, day, status, code):
    periods = shared(policy, "T16", t16_household, "2021-04-01", "2022-09-30")
    row = on(periods, CHILD, day)
    assert row["status"] == status
    assert code in row["reason_codes"]


def test_t16_suspension_is_not_a_loss(policy):
    periods = shared(policy, "T16", t16_household, "2021-04-01", "2022-09-30")
    assert periods[["valid_from", "valid_to", "status", "end_reason"]].values.tolist() == [
        [pd.Timestamp("2021-04-01"), pd.Timestamp("2021-09-30"), "SUSPENDED_INCOME", "INCOME"],
        [pd.Timestamp("2021-10-01"), pd.Timestamp("2022-09-30"), "ELIGIBLE", "OPEN"],
    ]
    assert periods["sources"].str.split(";").str.len().tolist() == periods["reason_codes"].str.split(
        ";").str.len().tolist()


@pytest.mark.parametrize(
    ("day", "status", "code"),
    [
        pytest.param("2023-03-31", "SUSPENDED_INCOME", "INCOME_OVER_LIMIT", id="day before 2023-04-01: test applies"),
        pytest.param("2023-04-01", "ELIGIBLE", "NO_INCOME_TEST:income_limit.base_amount=None@2023-04-01",
                     id="2023-04-01: income limit abolished"),
        pytest.param("2023-04-02", "ELIGIBLE", "NO_INCOME_TEST", id="day after 2023-04-01"),
        pytest.param("2023-05-15", "ELIGIBLE", "NO_INCOME_TEST",
                     id="T18 2023-05: 所得 20,000,000 is eligible (no income test)"),
    ],
)
def test_t18_abolition_of_the_income_limit(policy, day, status, code):
    rich = [(FATHER, year, 20_080_000, 3, 0, {}) for year in (2022, 2023, 2024)]
    periods = shared(policy, "T18", lambda: build([(CHILD, "2014-06-01", "2014-06-10")], tax=rich), "2022-10-01",
                     "2024-03-31")
    row = on(periods, CHILD, day)
    assert row["status"] == status
    assert code in row["reason_codes"]


@pytest.mark.parametrize(
    ("day", "status"),
    [
        pytest.param("2019-09-30", "SUSPENDED_INCOME", id="day before the Oct-1 switch: 課税年度 2018 (前々年 income)"),
        pytest.param("2019-10-01", "ELIGIBLE", id="Oct 1: 課税年度 2019 (前年 income)"),
        pytest.param("2019-10-02", "ELIGIBLE", id="day after the Oct-1 switch"),
        pytest.param("2020-01-15", "ELIGIBLE", id="January still uses 課税年度 2019 (前々年 income)"),
    ],
)
def test_income_cycle_switches_on_october_1(policy, day, status):
    tax = [(FATHER, 2018, 9_000_000, 1, 0, {}), (FATHER, 2019, 4_000_000, 1, 0, {})]
    periods = shared(policy, "cycle", lambda: build([(CHILD, "2014-06-01", "2014-06-10")], tax=tax), "2019-04-01",
                     "2020-09-30")
    assert status_on(periods, CHILD, day) == status


def test_missing_tax_data_is_income_unknown(policy):
    periods = run(policy, build([(CHILD, "2014-06-01", "2014-06-10")]), start="2019-10-01", end="2020-09-30")
    row = on(periods, CHILD, "2020-01-01")
    assert row["status"] == "SUSPENDED_INCOME"
    assert "INCOME_UNKNOWN:income_limit.base_amount=5320000@2012-01-01" in row["reason_codes"]


@pytest.mark.parametrize(
    ("father", "mother", "status"),
    [
        pytest.param((4_000_000, 3), (6_000_000, 0), "SUSPENDED_INCOME",
                     id="the higher-earning mother (6,000,000 − 80,000 > 5,320,000 with 0 dependents) decides"),
        pytest.param((6_000_000, 3), (1_000_000, 0), "ELIGIBLE",
                     id="the higher-earning father within his own limit (6,460,000) keeps the child eligible"),
        pytest.param((6_539_999, 3), None, "ELIGIBLE", id="one yen under the limit (6,460,000) is within it"),
        pytest.param((6_540_000, 3), None, "SUSPENDED_INCOME",
                     id="income exactly at the limit (6,460,000) is 以上: suspended (income_limit.limit_comparison)"),
        pytest.param((6_540_001, 3), None, "SUSPENDED_INCOME", id="one yen over the limit is suspended"),
    ],
)
def test_deciding_guardian_and_limit(policy, father, mother, status):
    tax = [(FATHER, 2020, father[0], father[1], 0, {})]
    if mother:
        tax.append((MOTHER, 2020, mother[0], mother[1], 0, {}))
    periods = run(policy, build([(CHILD, "2014-06-01", "2014-06-10")], tax=tax), start="2020-10-01",
                  end="2021-09-30")
    assert status_on(periods, CHILD, "2021-01-01") == status


def test_elderly_dependants_and_itemised_deductions_raise_the_margin(policy):
    # 6,100,000 − 80,000 − 270,000 (障害者控除) = 5,750,000; limit 5,320,000 + 380,000 + 60,000 = 5,760,000
    tax = [(FATHER, 2020, 6_100_000, 1, 1, {"disability_deduction_amount": 270_000})]
    periods = run(policy, build([(CHILD, "2014-06-01", "2014-06-10")], tax=tax), start="2020-10-01",
                  end="2021-09-30")
    assert status_on(periods, CHILD, "2021-01-01") == "ELIGIBLE"


def test_applicant_guardian_outside_the_household_is_tested(policy):
    other = "0000000950"
    inputs = build([(CHILD, "2014-06-01", "2014-06-10")], tax=[(other, 2020, 9_000_000, 0, 0, {})],
                   applications=[("a1", CHILD, other, "2014-06-10")])
    periods = run(policy, inputs, start="2020-10-01", end="2021-09-30")
    assert status_on(periods, CHILD, "2021-01-01") == "SUSPENDED_INCOME"


def test_output_contract(policy):
    periods = shared(policy, "T16", t16_household, "2021-04-01", "2022-09-30")
    assert list(periods.columns) == ["person_id", "valid_from", "valid_to", "status", "end_reason",
                                     "reason_codes", "sources"]
    assert str(periods["valid_from"].dtype) == "datetime64[ns]"
    assert periods["sources"].iloc[0].split(";")[0] == "S12"
    again = run(policy, t16_household(), start="2021-04-01", end="2022-09-30")
    pd.testing.assert_frame_equal(periods, again)


def test_as_of_gives_the_default_horizon(policy):
    periods = determine_eligibility(t16_household(), policy, as_of="2021-09-30")
    assert periods["valid_from"].min() == pd.Timestamp("2014-06-01")
    # one month past as_of, and on to the last day of a certificate issued then (renewal 10-01: 2022-09-30)
    assert periods["valid_to"].max() == pd.Timestamp("2022-09-30")
    assert periods.iloc[-1]["end_reason"] == "OPEN"
