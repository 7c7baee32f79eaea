"""Monthly certificate decisions (rules.decisions) from literal eligibility periods."""

from __future__ import annotations

import pandas as pd
import pytest

from policy import load_policy
from rules.decisions import DECISION_COLUMNS, apply_decisions, decide_month
from rules.eligibility import EligibilityInputs, cached_policy, determine_eligibility

A, B = "0000000001", "0000000002"
CODES_2026 = (
    "REGISTRATION_WINDOW:registration.window_days=30@2017-10-01;AGE_LIMIT:age_limit.inpatient=15@2012-01-01;"
    "AGE_LIMIT:age_limit.inpatient=18@2026-04-01;NO_INCOME_TEST:income_limit.base_amount=None@2023-04-01"
)
SOURCES_2026 = "S12;S12,S13;S1,S2,S3;S5,S6"
CODES_OVER = (
    "REGISTRATION_WINDOW:registration.window_days=30@2012-01-01;AGE_LIMIT:age_limit.inpatient=15@2012-01-01;"
    "INCOME_OVER_LIMIT:income_limit.base_amount=6220000@2021-10-01"
)
SOURCES_OVER = "S12;S12,S13;S7,S8"
CODES_WITHIN = (
    "REGISTRATION_WINDOW:registration.window_days=30@2012-01-01;AGE_LIMIT:age_limit.inpatient=15@2012-01-01;"
    "INCOME_WITHIN_LIMIT:income_limit.base_amount=5320000@2012-01-01"
)
SOURCES_WITHIN = "S12;S12,S13;S9"


@pytest.fixture(scope="module")
def policy():
    return cached_policy(load_policy())


def periods(*rows):
    """Rows: (person_id, valid_from, valid_to, status, end_reason[, reason_codes, sources])."""
    full = [
        (*r, CODES_2026, SOURCES_2026) if len(r) == 5 else r
        for r in rows
    ]
    df = pd.DataFrame(full, columns=["person_id", "valid_from", "valid_to", "status", "end_reason", "reason_codes",
                                     "sources"])
    df["valid_from"] = pd.to_datetime(df["valid_from"]).astype("datetime64[ns]")
    df["valid_to"] = pd.to_datetime(df["valid_to"]).astype("datetime64[ns]")
    return df


def certificates(*rows):
    df = pd.DataFrame(rows, columns=["person_id", "valid_from", "valid_to", "status"])
    df["valid_from"] = pd.to_datetime(df["valid_from"]).astype("datetime64[ns]")
    df["valid_to"] = pd.to_datetime(df["valid_to"]).astype("datetime64[ns]")
    return df


def summary(decisions):
    return [
        (r.person_id, r.decision_type, r.effective_date.date().isoformat(), r.valid_from.date().isoformat(),
         None if pd.isna(r.valid_to) else r.valid_to.date().isoformat(), r.status)
        for r in decisions.itertuples()
    ]


def assert_idempotent(p, previous, month, policy):
    """Re-running the month on the state the decisions produce decides nothing more."""
    first = decide_month(p, previous, month, policy)
    state = apply_decisions(previous, first)
    assert decide_month(p, state, month, policy).empty
    return first


# --- NEW ------------------------------------------------------------------------------------------------


def test_new_for_a_newborn_covers_from_birth_to_the_day_before_the_renewal(policy):
    p = periods((A, "2026-04-20", "2027-12-31", "ELIGIBLE", "OPEN"))
    out = assert_idempotent(p, None, "2026-05", policy)
    assert summary(out) == [(A, "NEW", "2026-04-20", "2026-04-20", "2026-09-30", "ELIGIBLE")]
    row = out.iloc[0]
    assert row["reason_code"] == "REGISTRATION_WINDOW:registration.window_days=30@2017-10-01"
    assert (row["rule"], row["parameter"], row["source"]) == ("REGISTRATION_WINDOW", "registration.window_days", "S12")
    assert list(out.columns) == DECISION_COLUMNS


def test_new_with_older_history_starts_on_the_first_of_the_month(policy):
    p = periods((A, "2015-07-01", "2027-12-31", "ELIGIBLE", "OPEN"))
    out = assert_idempotent(p, pd.DataFrame(columns=["person_id", "valid_from", "valid_to", "status"]),
                            "2026-05", policy)
    assert summary(out) == [(A, "NEW", "2026-05-01", "2026-05-01", "2026-09-30", "ELIGIBLE")]


def test_new_is_cut_by_the_age_limit(policy):
    p = periods((A, "2026-04-01", "2027-03-31", "ELIGIBLE", "AGE"))
    out = decide_month(p, None, "2026-11", policy)
    assert summary(out) == [(A, "NEW", "2026-11-01", "2026-11-01", "2027-03-31", "ELIGIBLE")]


def test_previous_state_containing_this_months_new_gives_no_second_new(policy):
    p = periods((A, "2026-04-20", "2027-12-31", "ELIGIBLE", "OPEN"))
    previous = certificates((A, "2026-04-20", "2026-09-30", "ELIGIBLE"))
    assert decide_month(p, previous, "2026-05", policy).empty


def test_new_after_an_earlier_loss(policy):
    p = periods((A, "2018-01-01", "2024-05-19", "ELIGIBLE", "MOVE_OUT"), (A, "2025-01-10", "2027-12-31", "ELIGIBLE",
                                                                          "OPEN"))
    previous = certificates((A, "2023-10-01", "2024-05-19", "LOST"))
    out = assert_idempotent(p, previous, "2025-01", policy)
    assert summary(out) == [(A, "NEW", "2025-01-10", "2025-01-10", "2025-09-30", "ELIGIBLE")]


def test_no_decision_for_a_month_without_eligibility(policy):
    p = periods((A, "2026-04-20", "2027-12-31", "ELIGIBLE", "OPEN"))
    assert decide_month(p, None, "2026-03", policy).empty
    assert decide_month(p.iloc[0:0], None, "2026-05", policy).empty


# --- RENEWAL --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("month", "expected"),
    [
        pytest.param("2026-08", [], id="the month before the expiry month: nothing"),
        pytest.param("2026-09", [(A, "RENEWAL", "2026-10-01", "2026-10-01", "2027-09-30", "ELIGIBLE")],
                     id="certificate expires 09-30: renewal issued ahead, valid from 10-01"),
        pytest.param("2026-10", [(A, "RENEWAL", "2026-10-01", "2026-10-01", "2027-09-30", "ELIGIBLE")],
                     id="renewal month with the old certificate still stored: renewal"),
    ],
)
def test_renewal_on_october_1(policy, month, expected):
    p = periods((A, "2015-07-01", "2028-12-31", "ELIGIBLE", "OPEN"))
    previous = certificates((A, "2025-10-01", "2026-09-30", "ELIGIBLE"))
    out = assert_idempotent(p, previous, month, policy)
    assert summary(out) == expected
    if expected:
        assert out.iloc[0]["reason_code"] == "CERTIFICATE_RENEWAL:certificate.renewal_month_day=10-01@2023-04-01"
        assert out.iloc[0]["parameter"] == "certificate.renewal_month_day"


def test_renewal_is_cut_by_the_age_limit(policy):
    p = periods((A, "2015-07-01", "2027-03-31", "ELIGIBLE", "AGE"))
    previous = certificates((A, "2025-10-01", "2026-09-30", "ELIGIBLE"))
    out = decide_month(p, previous, "2026-09", policy)
    assert summary(out) == [(A, "RENEWAL", "2026-10-01", "2026-10-01", "2027-03-31", "ELIGIBLE")]


def test_renewal_after_months_without_a_run(policy):
    p = periods((A, "2015-07-01", "2028-12-31", "ELIGIBLE", "OPEN"))
    previous = certificates((A, "2023-10-01", "2024-09-30", "ELIGIBLE"))
    out = assert_idempotent(p, previous, "2026-02", policy)
    assert summary(out) == [(A, "RENEWAL", "2026-02-01", "2026-02-01", "2026-09-30", "ELIGIBLE")]


# --- CHANGE ---------------------------------------------------------------------------------------------


def test_2026_age_extension_lengthens_a_held_certificate(policy):
    # certificate issued under the 15 rule ends 2026-03-31; under the 18 rule the child (T4) goes on
    p = periods((A, "2015-07-01", "2029-03-31", "ELIGIBLE", "AGE"))
    previous = certificates((A, "2025-10-01", "2026-03-31", "ELIGIBLE"))
    out = assert_idempotent(p, previous, "2026-02", policy)
    assert summary(out) == [(A, "CHANGE", "2026-04-01", "2025-10-01", "2026-09-30", "ELIGIBLE")]
    row = out.iloc[0]
    assert row["reason_code"] == "AGE_LIMIT:age_limit.inpatient=18@2026-04-01"
    assert (row["rule"], row["parameter"], row["source"]) == ("AGE_LIMIT", "age_limit.inpatient", "S1,S2,S3")


def test_age_extension_seen_only_in_the_expiry_month_is_a_change(policy):
    p = periods((A, "2015-07-01", "2029-03-31", "ELIGIBLE", "AGE"))
    previous = certificates((A, "2025-10-01", "2026-03-31", "ELIGIBLE"))
    out = assert_idempotent(p, previous, "2026-03", policy)
    assert summary(out) == [(A, "CHANGE", "2026-04-01", "2025-10-01", "2026-09-30", "ELIGIBLE")]


def test_suspension_lifted_is_a_change(policy):
    p = periods(
        (A, "2022-10-01", "2023-03-31", "SUSPENDED_INCOME", "INCOME", CODES_OVER, SOURCES_OVER),
        (A, "2023-04-01", "2027-12-31", "ELIGIBLE", "OPEN"),
    )
    previous = certificates((A, "2022-10-01", "2023-03-31", "SUSPENDED_INCOME"))
    out = assert_idempotent(p, previous, "2023-03", policy)
    assert summary(out) == [(A, "CHANGE", "2023-04-01", "2023-04-01", "2023-09-30", "ELIGIBLE")]
    assert out.iloc[0]["reason_code"] == "NO_INCOME_TEST:income_limit.base_amount=None@2023-04-01"


# --- SUSPEND_INCOME -------------------------------------------------------------------------------------


def test_suspension_from_the_next_income_cycle_is_notified_ahead(policy):
    p = periods(
        (A, "2015-07-01", "2021-09-30", "ELIGIBLE", "INCOME", CODES_WITHIN, SOURCES_WITHIN),
        (A, "2021-10-01", "2022-09-30", "SUSPENDED_INCOME", "OPEN", CODES_OVER, SOURCES_OVER),
    )
    previous = certificates((A, "2020-10-01", "2021-09-30", "ELIGIBLE"))
    out = assert_idempotent(p, previous, "2021-09", policy)
    assert summary(out) == [(A, "SUSPEND_INCOME", "2021-10-01", "2021-10-01", "2022-09-30", "SUSPENDED_INCOME")]
    row = out.iloc[0]
    assert row["reason_code"] == "INCOME_OVER_LIMIT:income_limit.base_amount=6220000@2021-10-01"
    assert (row["rule"], row["source"]) == ("INCOME_OVER_LIMIT", "S7,S8")


def test_suspension_in_the_middle_of_a_certificate(policy):
    p = periods(
        (A, "2015-07-01", "2021-11-15", "ELIGIBLE", "INCOME", CODES_WITHIN, SOURCES_WITHIN),
        (A, "2021-11-16", "2022-09-30", "SUSPENDED_INCOME", "OPEN", CODES_OVER, SOURCES_OVER),
    )
    previous = certificates((A, "2021-10-01", "2022-09-30", "ELIGIBLE"))
    out = assert_idempotent(p, previous, "2021-11", policy)
    assert summary(out) == [(A, "SUSPEND_INCOME", "2021-11-16", "2021-11-16", "2022-09-30", "SUSPENDED_INCOME")]


def test_first_decision_for_a_suspended_child_is_a_suspension(policy):
    p = periods((A, "2021-10-01", "2022-09-30", "SUSPENDED_INCOME", "OPEN", CODES_OVER, SOURCES_OVER))
    out = decide_month(p, None, "2021-10", policy)
    assert summary(out) == [(A, "SUSPEND_INCOME", "2021-10-01", "2021-10-01", "2022-09-30", "SUSPENDED_INCOME")]


# --- LOSS_* ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("end_reason", "valid_to", "decision", "rule", "source"),
    [
        pytest.param("MOVE_OUT", "2026-06-14", "LOSS_MOVE_OUT", "RESIDENCE_END", "S12,S56",
                     id="move out: effective the day after the last resident day"),
        pytest.param("DEATH", "2026-06-20", "LOSS_DEATH", "RESIDENCE_END", "S12,S56", id="death"),
        pytest.param("AGE", "2026-06-30", "LOSS_AGE", "AGE_LIMIT", "S1,S2,S3", id="age limit"),
        pytest.param("WELFARE", "2026-06-09", "LOSS_WELFARE", "WELFARE_EXCLUSION", "S56,S11", id="生活保護"),
    ],
)
def test_losses(policy, end_reason, valid_to, decision, rule, source):
    codes = CODES_2026 + ";WELFARE_EXCLUSION:eligibility.excludes_public_assistance=True@2012-01-01"
    p = periods((A, "2015-07-01", valid_to, "ELIGIBLE", end_reason, codes, SOURCES_2026 + ";S56,S11"))
    previous = certificates((A, "2025-10-01", "2026-09-30", "ELIGIBLE"))
    out = assert_idempotent(p, previous, "2026-06", policy)
    effective = (pd.Timestamp(valid_to) + pd.Timedelta(days=1)).date().isoformat()
    assert summary(out) == [(A, decision, effective, "2025-10-01", valid_to, "LOST")]
    assert (out.iloc[0]["rule"], out.iloc[0]["source"]) == (rule, source)
    assert decide_month(p, previous, "2026-05", policy).empty  # not yet
    assert decide_month(p, apply_decisions(previous, out), "2026-07", policy).empty  # not again


def test_first_run_with_a_period_ending_in_the_month_gives_new_and_loss(policy):
    p = periods((A, "2026-01-10", "2026-06-14", "ELIGIBLE", "MOVE_OUT"))
    out = assert_idempotent(p, None, "2026-06", policy)
    assert [d[1] for d in summary(out)] == ["NEW", "LOSS_MOVE_OUT"]
    assert apply_decisions(None, out)["status"].tolist() == ["LOST"]


def test_open_or_income_ends_are_no_loss(policy):
    p = periods(
        (A, "2015-07-01", "2026-06-30", "ELIGIBLE", "OPEN"),
        (B, "2015-07-01", "2026-06-30", "ELIGIBLE", "INCOME"),
        (B, "2026-07-01", "2026-12-31", "SUSPENDED_INCOME", "OPEN", CODES_OVER, SOURCES_OVER),
    )
    previous = certificates((A, "2025-10-01", "2026-09-30", "ELIGIBLE"), (B, "2025-10-01", "2026-09-30", "ELIGIBLE"))
    out = decide_month(p, previous, "2026-06", policy)
    assert [d[1] for d in summary(out)] == ["SUSPEND_INCOME"]


# --- determinism, wiring with eligibility ---------------------------------------------------------------


def test_deterministic_whatever_the_row_order(policy):
    p = periods(
        (A, "2026-04-20", "2027-12-31", "ELIGIBLE", "OPEN"),
        (B, "2015-07-01", "2026-06-14", "ELIGIBLE", "MOVE_OUT"),
    )
    previous = certificates((B, "2025-10-01", "2026-09-30", "ELIGIBLE"))
    one = decide_month(p, previous, "2026-06", policy)
    two = decide_month(p.iloc[::-1], previous, "2026-06", policy)
    pd.testing.assert_frame_equal(one, two)


def test_a_year_of_months_from_eligibility_periods(policy):
    """T4 (born 2010-04-02) from 2025-09 to 2026-10: NEW with the next renewal, no loss at the old 15 limit."""
    residents = pd.DataFrame({"person_id": [A, "0000000901"], "household_id": ["H1", "H1"],
                              "relationship_code": ["03", "01"],
                              "birth_date": pd.to_datetime(["2010-04-02", "1980-01-01"])})
    inputs = EligibilityInputs(
        residents=residents,
        residence=pd.DataFrame({"person_id": [A], "start": pd.to_datetime(["2010-04-02"]), "end": [pd.NaT],
                                "end_reason": [None]}),
        insurance=pd.DataFrame({"person_id": [A], "valid_from": pd.to_datetime(["2010-04-02"]), "valid_to": [pd.NaT]}),
        welfare=pd.DataFrame({"case_id": [], "household_id": [], "start_date": pd.to_datetime([]),
                              "end_date": pd.to_datetime([])}),
        tax=pd.DataFrame(columns=["person_id", "tax_year", "total_income_amount", "casualty_loss_deduction_amount",
                                  "medical_deduction_amount", "small_business_deduction_amount",
                                  "disability_deduction_amount", "dependents_count", "elderly_dependents_count"]),
        applications=pd.DataFrame({"application_id": ["a"], "child_person_id": [A],
                                   "guardian_person_id": ["0000000901"],
                                   "application_date": pd.to_datetime(["2010-04-10"])}),
    )
    p = determine_eligibility(inputs, policy, "2025-01-01", "2027-12-31")
    state, seen = None, []
    for month in pd.period_range("2025-09", "2026-10", freq="M").strftime("%Y-%m"):
        out = decide_month(p, state, month, policy)
        seen += [(month, t) for t in out["decision_type"]]
        state = apply_decisions(state, out)
    assert seen == [("2025-09", "NEW"), ("2025-09", "RENEWAL"), ("2026-09", "RENEWAL")]
    assert state[["valid_from", "valid_to", "status"]].values.tolist() == [
        [pd.Timestamp("2026-10-01"), pd.Timestamp("2027-09-30"), "ELIGIBLE"]
    ]


def test_a_stored_active_status_counts_as_eligible(policy):
    p = periods((A, "2015-07-01", "2028-12-31", "ELIGIBLE", "OPEN"))
    assert decide_month(p, certificates((A, "2025-10-01", "2026-09-30", "ACTIVE")), "2026-05", policy).empty


def test_a_loss_reported_after_its_month_is_caught_up(policy):
    # 転出 on 2026-04-20 known only in the June run; the certificate is still held to 2026-09-30
    p = periods((A, "2015-07-01", "2026-04-19", "ELIGIBLE", "MOVE_OUT"))
    previous = certificates((A, "2025-10-01", "2026-09-30", "ELIGIBLE"))
    out = assert_idempotent(p, previous, "2026-06", policy)
    assert summary(out) == [(A, "LOSS_MOVE_OUT", "2026-04-20", "2025-10-01", "2026-04-19", "LOST")]
    assert decide_month(p, certificates((A, "2025-10-01", "2026-04-19", "LOST")), "2026-06", policy).empty


def test_new_in_the_month_before_renewal_comes_with_the_renewal(policy):
    p = periods((A, "2025-09-05", "2027-12-31", "ELIGIBLE", "OPEN"))
    out = assert_idempotent(p, None, "2025-09", policy)
    assert summary(out) == [
        (A, "NEW", "2025-09-05", "2025-09-05", "2025-09-30", "ELIGIBLE"),
        (A, "RENEWAL", "2025-10-01", "2025-10-01", "2026-09-30", "ELIGIBLE"),
    ]
