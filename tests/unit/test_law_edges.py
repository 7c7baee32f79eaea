"""Issue 12: the rules at their legal edges — one named test per defect, each failing on the old code."""

from __future__ import annotations

import ast
import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from policy import load_policy
from rules import benefits, high_cost, residence
from rules.decisions import apply_decisions, decide_month
from rules.eligibility import cached_policy, determine_eligibility
from services.benefits.files import held_receipts
from services.eligibility.calendar import national_holidays
from services.eligibility.decide import pmh_changes
from services.notices.lists import ISSUANCE_TYPES
from tests.unit.benefit_fixtures import claim, frame, recipient_no, references
from tests.unit.test_eligibility import CHILD, FATHER, build, on

POLICY = load_policy()


@pytest.fixture(scope="module")
def policy():
    return cached_policy(POLICY)


def _policy_with(tmp_path: Path, file: str, old: str, new: str):
    """The real policy with one parameter file edited (an alternative the city can switch to)."""
    root = tmp_path / "parameters"
    shutil.copytree(Path(__file__).resolve().parents[2] / "policy" / "parameters", root)
    target = root / file
    text = target.read_text(encoding="utf-8")
    assert old in text
    target.write_text(text.replace(old, new), encoding="utf-8")
    return load_policy(root)


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


# --- 2. a receipt without 区分 ----------------------------------------------------------------------------

JHS1_2026 = "2013-09-01"


def _assess(*rows, policy=POLICY):
    df = frame(*rows)
    return benefits.assess_claims(df, *references(df), policy).set_index("claim_id")


def _t13(claim_id="t13", **extra):
    return claim(claim_id, birth=JHS1_2026, first="2026-05-01", last="2026-05-20", care="INPATIENT", total=400_000,
                 admission="A" + claim_id, **extra)


def test_receipt_without_category_is_held_not_assessed_as_category_o():
    result = _assess(_t13()).iloc[0]
    assert (result["is_payable"], result["subsidy_amount"], result["hold_reason"]) == (
        False, 0, "HIGH_COST_CATEGORY_UNKNOWN")
    assert result["hold_code"] == "HIGH_COST_CATEGORY_UNKNOWN:high_cost.missing_category=hold@2012-01-01(S29,S30,S12)"
    assert pd.isna(result["rejection_reason"])


def test_held_receipt_is_assessed_when_the_category_is_supplied():
    assert _assess(_t13(category="u")).iloc[0]["subsidy_amount"] == 81_430  # T13


def test_chronic_disease_receipt_without_category_is_held_and_pays_2200_with_it():
    held = _assess(_t13(other=79_230)).iloc[0]
    assert held["hold_reason"] == "HIGH_COST_CATEGORY_UNKNOWN"
    assert _assess(_t13(other=79_230, category="u")).iloc[0]["subsidy_amount"] == 2_200


def test_household_exempt_from_resident_tax_derives_category_o():
    df = frame(_t13())
    df["resident_tax_exempt"] = pd.array([True], dtype="boolean")
    result = benefits.assess_claims(df, *references(df), POLICY).iloc[0]
    assert (result["high_cost_rule"], result["subsidy_amount"]) == ("DERIVED_TAX_EXEMPT", 35_400)


def test_below_the_lowest_limit_the_category_does_not_matter_and_nothing_is_held():
    result = _assess(claim("small", birth=JHS1_2026, first="2026-05-10", total=20_000)).iloc[0]
    assert (result["high_cost_rule"], result["subsidy_amount"]) == ("NONE", 6_000)
    assert pd.isna(result["hold_reason"])


def test_missing_category_alternative_lowest_limit_behind_a_parameter(tmp_path):
    alternative = _policy_with(tmp_path, "high_cost/missing_category.yaml", "value: hold", "value: lowest_limit")
    result = _assess(_t13(), policy=alternative).iloc[0]
    assert (result["high_cost_rule"], result["subsidy_amount"]) == ("COMPUTED_FALLBACK", 35_400)


def test_held_receipt_is_neither_refunded_nor_paid():
    entitled = _assess(_t13()).reset_index()
    ledger = pd.DataFrame({"claim_id": ["t13"], "paid_amount": [81_430], "refund_claimed_amount": [0]})
    assert benefits.reconcile_payments(entitled, ledger).empty


def test_review_list_names_the_held_receipt_with_its_reason():
    listed = held_receipts(_assess(_t13(), _t13("ok", category="u")).reset_index())
    assert listed["レセプト番号"].tolist() == ["t13"]
    assert listed["理由コード"].tolist() == ["HIGH_COST_CATEGORY_UNKNOWN:high_cost.missing_category=hold@2012-01-01(S29,S30,S12)"]


# --- 3. a receipt crossing the start or end of eligibility ---------------------------------------------------

SCHOOLCHILD = "2015-05-10"


def _periods_for(df, valid_from, valid_to, end_reason):
    recipients, persons, _ = references(df)
    periods = pd.DataFrame({"person_id": recipients["person_id"], "valid_from": pd.Timestamp(valid_from),
                            "valid_to": pd.Timestamp(valid_to), "status": "ELIGIBLE", "end_reason": end_reason})
    return recipients, persons, periods


def test_receipt_crossing_the_welfare_start_pays_the_covered_visit_and_lists_the_other():
    # services on 6/3 and 6/20, eligibility ending 6/14 (生活保護 from 6/15); 3割 of 6,000 = 1,800 for two days
    df = frame(claim("x", birth=SCHOOLCHILD, first="2026-06-03", last="2026-06-20", total=6_000, days=2))
    df["service_dates"] = ["03;20"]
    result = benefits.assess_claims(df, *_periods_for(df, "2020-01-01", "2026-06-14", "WELFARE"), POLICY).iloc[0]
    assert pd.isna(result["rejection_reason"])
    assert (result["covered_days"], result["day_count"], result["subsidy_amount"]) == (1, 2, 900)
    assert result["uncovered_days"] == (
        "2026-06-20:WELFARE_EXCLUSION:eligibility.excludes_public_assistance(S56,S11)")


def test_receipt_crossing_the_registration_start_without_a_date_list_is_split_by_calendar_day():
    # an admission 6/1–6/10 (10 days), registered from 6/6: 5 of 10 days covered
    df = frame(claim("y", birth=SCHOOLCHILD, first="2026-06-01", last="2026-06-10", care="INPATIENT",
                     total=100_000, admission="Y", category="u"))
    result = benefits.assess_claims(df, *_periods_for(df, "2026-06-06", "2030-03-31", "AGE"), POLICY).iloc[0]
    assert (result["covered_days"], result["day_count"]) == (5, 10)
    assert result["subsidy_amount"] == 30_000 * 5 // 10  # 2026: no co-pay
    assert result["family_payment_amount"] == 15_000
    assert result["uncovered_days"].split(";")[0] == "2026-06-01:REGISTRATION:registration.window_days(S12)"


def test_receipt_wholly_outside_eligibility_is_still_rejected():
    df = frame(claim("z", birth=SCHOOLCHILD, first="2026-06-20", total=6_000))
    result = benefits.assess_claims(df, *_periods_for(df, "2020-01-01", "2026-06-14", "WELFARE"), POLICY).iloc[0]
    assert (result["rejection_reason"], result["ineligibility_cause"]) == ("NOT_ELIGIBLE_ON_SERVICE_DATE", "WELFARE")
    assert result["subsidy_amount"] == 0


# --- 4. the closed-day rule of the registration deadline ----------------------------------------------------

HOLIDAYS = national_holidays(2024, 2027)


def test_deadline_on_a_saturday_rolls_to_monday_and_the_newborn_is_covered_from_birth(policy):
    # born 2025-05-08; day 30 = Saturday 2025-06-07; applied Monday 2025-06-09
    inputs = build([(CHILD, "2025-05-08", "2025-06-09")])
    periods = determine_eligibility(inputs, policy, "2025-05-01", "2025-12-31", closed_days=HOLIDAYS)
    assert periods.iloc[0]["valid_from"] == pd.Timestamp("2025-05-08")
    assert "REGISTRATION_WINDOW" in periods.iloc[0]["reason_codes"]


def test_an_application_after_the_next_open_day_is_late(policy):
    inputs = build([(CHILD, "2025-05-08", "2025-06-10")])
    periods = determine_eligibility(inputs, policy, "2025-05-01", "2025-12-31", closed_days=HOLIDAYS)
    assert periods.iloc[0]["valid_from"] == pd.Timestamp("2025-06-01")


def test_deadline_rolls_over_national_holidays_and_the_year_end_closure(policy):
    # 2025-12-01 birth: day 30 = Wednesday 2025-12-31 (closed 12/29–1/3, then Sat/Sun 1/3–1/4) → Monday 2026-01-05
    on_time = determine_eligibility(build([(CHILD, "2025-12-01", "2026-01-05")]), policy, "2025-11-01",
                                    "2026-06-30", closed_days=HOLIDAYS)
    assert on_time.iloc[0]["valid_from"] == pd.Timestamp("2025-12-01")
    late = determine_eligibility(build([(CHILD, "2025-12-01", "2026-01-06")]), policy, "2025-11-01",
                                 "2026-06-30", closed_days=HOLIDAYS)
    assert late.iloc[0]["valid_from"] == pd.Timestamp("2026-01-01")
    # 2025-04-05 birth: day 30 = Monday 2025-05-05 (こどもの日), 5/6 振替休日 → Wednesday 2025-05-07
    holiday = determine_eligibility(build([(CHILD, "2025-04-05", "2025-05-07")]), policy, "2025-04-01",
                                    "2025-12-31", closed_days=HOLIDAYS)
    assert holiday.iloc[0]["valid_from"] == pd.Timestamp("2025-04-05")
    # without the national calendar 5/5 would be an open day: the application of 5/7 would be late
    no_calendar = determine_eligibility(build([(CHILD, "2025-04-05", "2025-05-07")]), policy, "2025-04-01",
                                        "2025-12-31")
    assert no_calendar.iloc[0]["valid_from"] == pd.Timestamp("2025-05-01")


def test_closed_day_rule_switched_off_by_its_parameter(tmp_path):
    alternative = cached_policy(_policy_with(tmp_path, "registration/deadline_rolls_to_next_open_day.yaml",
                                             "value: true", "value: false"))
    periods = determine_eligibility(build([(CHILD, "2025-05-08", "2025-06-09")]), alternative, "2025-05-01",
                                    "2025-12-31", closed_days=HOLIDAYS)
    assert periods.iloc[0]["valid_from"] == pd.Timestamp("2025-06-01")


# --- 5. 生活保護 from the household on the date ----------------------------------------------------------------


def test_welfare_of_the_household_the_child_lived_in_excludes_those_months(policy):
    """The child lived in the 生活保護 household H1 until 2024-06-30, then moved to H2 (M3 世帯変更)."""
    extract = pd.DataFrame({"person_id": [CHILD, FATHER], "household_id": ["H1", "H1"],
                            "relationship_code": ["03", "01"],
                            "birth_date": pd.to_datetime(["2015-05-10", "1980-01-01"])})
    events = pd.DataFrame({"event_id": ["E1"], "person_id": [CHILD], "household_id": ["H2"],
                           "event_code": ["M3"], "event_date": pd.to_datetime(["2024-07-01"])})
    history = residence.household_spells(extract, events, extract_date="2023-12-31")
    latest = residence.collect_persons(extract, events.assign(relationship_code="03",
                                                              birth_date=pd.Timestamp("2015-05-10")),
                                       extract_date="2023-12-31")
    inputs = replace(build([(CHILD, "2015-05-10", "2015-05-20")],
                           welfare=[("W1", "H1", "2024-01-01", None)]),
                     residents=latest, households=history)
    periods = determine_eligibility(inputs, policy, "2023-10-01", "2024-12-31")
    assert on(periods, CHILD, "2023-12-31") is not None
    assert on(periods, CHILD, "2024-03-01") is None  # 生活保護 of H1 while the child belonged to it
    assert on(periods, CHILD, "2024-07-01") is not None  # H2: eligible again
    assert on(periods, CHILD, "2023-12-31")["end_reason"] == "WELFARE"


# --- 6. the parents are income-tested, not the 世帯主 --------------------------------------------------------

GRANDFATHER, MOTHER_05 = "0000000903", "0000000904"


def _three_generations(applications, tax):
    residents = pd.DataFrame({
        "person_id": [CHILD, GRANDFATHER, MOTHER_05], "household_id": ["H1"] * 3,
        "relationship_code": ["05", "01", "05"],
        "birth_date": pd.to_datetime(["2014-06-01", "1955-01-01", "1985-01-01"])})
    apps = pd.DataFrame(applications, columns=["application_id", "child_person_id", "guardian_person_id",
                                               "spouse_person_id", "application_date"])
    apps["application_date"] = pd.to_datetime(apps["application_date"])
    return replace(build([(CHILD, "2014-06-01", None)], tax=tax), residents=residents, applications=apps)


def test_grandfather_who_is_head_of_household_is_not_income_tested(policy):
    inputs = _three_generations([("a1", CHILD, MOTHER_05, None, "2014-06-10")],
                                [(GRANDFATHER, 2020, 9_000_000, 0, 0, {}), (MOTHER_05, 2020, 3_000_000, 1, 0, {})])
    periods = determine_eligibility(inputs, policy, "2020-10-01", "2021-09-30")
    assert on(periods, CHILD, "2021-01-01")["status"] == "ELIGIBLE"


def test_the_applicants_spouse_from_the_application_is_tested_whatever_the_relationship(policy):
    inputs = _three_generations([("a1", CHILD, GRANDFATHER, MOTHER_05, "2014-06-10")],
                                [(GRANDFATHER, 2020, 3_000_000, 1, 0, {}), (MOTHER_05, 2020, 9_000_000, 0, 0, {})])
    periods = determine_eligibility(inputs, policy, "2020-10-01", "2021-09-30")
    row = on(periods, CHILD, "2021-01-01")
    assert row["status"] == "SUSPENDED_INCOME"
    assert "INCOME_OVER_LIMIT" in row["reason_codes"]


# --- 10. income exactly at the limit ---------------------------------------------------------------------------


def _at_the_limit(policy):
    # 6,540,000 − 80,000 = 6,460,000 = the limit with 3 dependants (2021-10 relaxed table: 7,360,000 from 2021-10)
    inputs = build([(CHILD, "2014-06-01", "2014-06-10")], tax=[(FATHER, 2020, 6_540_000, 3, 0, {})])
    return on(determine_eligibility(inputs, policy, "2020-10-01", "2021-09-30"), CHILD, "2021-01-01")["status"]


def test_income_exactly_at_the_limit_is_at_or_over_it(policy):
    assert _at_the_limit(policy) == "SUSPENDED_INCOME"


def test_income_exactly_at_the_limit_with_the_over_alternative(tmp_path):
    alternative = cached_policy(_policy_with(tmp_path, "income_limit/limit_comparison.yaml", "value: at_or_over",
                                             "value: over"))
    assert _at_the_limit(alternative) == "ELIGIBLE"


# --- 7. a suspended child is not renewed ------------------------------------------------------------------

OVER = ("REGISTRATION_WINDOW:registration.window_days=30@2012-01-01;AGE_LIMIT:age_limit.inpatient=15@2012-01-01;"
        "INCOME_OVER_LIMIT:income_limit.base_amount=6220000@2021-10-01")


def _suspended_periods():
    return pd.DataFrame({
        "person_id": [CHILD], "valid_from": [pd.Timestamp("2021-10-01")], "valid_to": [pd.Timestamp("2023-03-31")],
        "status": ["SUSPENDED_INCOME"], "end_reason": ["OPEN"], "reason_codes": [OVER], "sources": ["S12;S12,S13;S7,S8"]})


def test_suspended_child_at_the_renewal_date_gets_a_suspension_notice_not_a_renewal(policy):
    held = _certificate("2021-10-01", "2022-09-30", status="SUSPENDED_INCOME")
    out = decide_month(_suspended_periods(), held, "2022-09", policy)
    assert out["decision_type"].tolist() == ["SUSPEND_INCOME"]
    assert out.iloc[0]["rule"] == "INCOME_OVER_LIMIT"
    assert decide_month(_suspended_periods(), apply_decisions(held, out), "2022-09", policy).empty


def test_suspended_child_is_not_on_the_certificate_issuance_list(policy):
    held = _certificate("2021-10-01", "2022-09-30", status="SUSPENDED_INCOME")
    out = decide_month(_suspended_periods(), held, "2022-10", policy)
    assert not out["decision_type"].isin(list(ISSUANCE_TYPES)).any()


def test_pmh_record_of_a_suspension_ends_the_validity_the_day_before(policy):
    previous = _certificate("2021-10-01", "2022-09-30")
    decisions = pd.DataFrame({"person_id": [CHILD, "0000000002"], "decision_type": ["SUSPEND_INCOME"] * 2,
                              "effective_date": pd.to_datetime(["2021-11-16", "2021-10-01"]),
                              "valid_from": pd.to_datetime(["2021-11-16", "2021-10-01"]),
                              "valid_to": pd.to_datetime(["2022-09-30", "2022-09-30"])})
    changes = pmh_changes(previous, decisions)
    # the held certificate ends on 11/15 at PMH; a child suspended from the start has no PMH record at all
    assert changes[["person_id", "change_type", "valid_from", "valid_to"]].values.tolist() == [
        [CHILD, "1", pd.Timestamp("2021-10-01"), pd.Timestamp("2021-11-15")]]


# --- 8. 措置 exclusion ----------------------------------------------------------------------------------------


def _placed(policy):
    placements = pd.DataFrame({"person_id": [CHILD], "start_date": pd.to_datetime(["2026-06-10"]),
                               "end_date": pd.to_datetime(["2026-08-31"])})
    inputs = replace(build([(CHILD, "2015-05-10", "2015-05-20")]), placements=placements)
    return determine_eligibility(inputs, policy, "2026-01-01", "2026-12-31")


def test_child_placed_in_care_is_not_eligible_while_placed(policy):
    periods = _placed(policy)
    assert on(periods, CHILD, "2026-06-09")["end_reason"] == "PLACEMENT"
    assert on(periods, CHILD, "2026-06-10") is None and on(periods, CHILD, "2026-08-31") is None
    assert on(periods, CHILD, "2026-09-01") is not None  # covered again after the 措置 ends
    assert "PLACEMENT_EXCLUSION:eligibility.excludes_institutional_placement=True@2012-01-01" in on(
        periods, CHILD, "2026-06-09")["reason_codes"]


def test_placement_is_a_loss_with_its_rule_and_source(policy):
    out = decide_month(_placed(policy), _certificate("2025-10-01", "2026-09-30"), "2026-06", policy)
    loss = out.loc[out["decision_type"] == "LOSS_PLACEMENT"].iloc[0]
    assert (loss["effective_date"], loss["parameter"], loss["source"]) == (
        pd.Timestamp("2026-06-10"), "eligibility.excludes_institutional_placement", "S24")


def test_placement_exclusion_switched_off_by_its_parameter(tmp_path):
    alternative = cached_policy(_policy_with(tmp_path, "eligibility/excludes_institutional_placement.yaml",
                                             "value: true", "value: false"))
    assert on(_placed(alternative), CHILD, "2026-07-01") is not None


# --- declared parameters are read by a rule ----------------------------------------------------------------

#: Parameters read outside rules/ and services/ code literals, with the reason (reported to the lead).
READ_ELSEWHERE = {
    "program.certification_name": "PMH 受給者証名: services.pmh.payload.ProgramConfig still hard-codes the name",
}


def _code_literals(*folders: str) -> set[str]:
    """String constants of the code in ``folders`` — docstrings excluded (a mention is not a use)."""
    root = Path(__file__).resolve().parents[2]
    found: set[str] = set()
    for folder in folders:
        for path in (root / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            docstrings = {id(node.value) for node in ast.walk(tree)
                          if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
            found |= {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
                      and isinstance(node.value, str) and id(node) not in docstrings}
    return found


def test_every_parameter_file_is_read_by_a_rule():
    literals = _code_literals("rules", "services")
    tables = {"high_cost.limit"}  # read whole with Policy.table(prefix)
    unread = [name for name in POLICY.parameter_names()
              if name not in literals and name.rsplit(".", 1)[0] not in tables and name not in READ_ELSEWHERE]
    assert unread == [], f"declared but read by no rule: {unread}"


# --- the three big assumptions: each alternative behind a parameter, both outcomes ------------------------------


def test_renewal_every_october_1_and_the_alternative_without_yearly_renewal(policy, tmp_path):
    periods = determine_eligibility(build([(CHILD, "2026-04-20", "2026-05-01")]), policy, as_of="2026-05-01")
    assert decide_month(periods, None, "2026-05", policy).iloc[0]["valid_to"] == pd.Timestamp("2026-09-30")
    alternative = cached_policy(_policy_with(
        tmp_path, "certificate/renewal_month_day.yaml",
        'value: "10-01"\n    metadata:\n      reference: domain.md §1.6 — after',
        'value: null\n    metadata:\n      reference: domain.md §1.6 — after'))
    periods = determine_eligibility(build([(CHILD, "2026-04-20", "2026-05-01")]), alternative, as_of="2026-05-01")
    out = decide_month(periods, None, "2026-05", alternative)
    assert out["decision_type"].tolist() == ["NEW"] and pd.isna(out.iloc[0]["valid_to"])  # open: no renewal


def test_late_registration_starts_on_the_first_of_the_month_or_on_the_application_day(policy, tmp_path):
    inputs = build([(CHILD, "2025-05-08", "2025-07-15")])
    periods = determine_eligibility(inputs, policy, "2025-05-01", "2025-12-31", closed_days=HOLIDAYS)
    assert periods.iloc[0]["valid_from"] == pd.Timestamp("2025-07-01")
    text = "  2017-10-01:\n    value: first_of_application_month"
    alternative = cached_policy(_policy_with(tmp_path, "registration/late_start_rule.yaml", text,
                                             "  2017-10-01:\n    value: application_date"))
    periods = determine_eligibility(inputs, alternative, "2025-05-01", "2025-12-31", closed_days=HOLIDAYS)
    assert periods.iloc[0]["valid_from"] == pd.Timestamp("2025-07-15")
    assert "REGISTRATION_LATE:registration.late_start_rule=application_date@2017-10-01" in periods.iloc[0][
        "reason_codes"]


def test_registration_window_is_a_parameter(policy, tmp_path):
    inputs = build([(CHILD, "2025-05-08", "2025-06-20")])
    assert determine_eligibility(inputs, policy, "2025-05-01", "2025-12-31").iloc[0]["valid_from"] == pd.Timestamp(
        "2025-06-01")
    alternative = cached_policy(_policy_with(tmp_path, "registration/window_days.yaml",
                                             "  2017-10-01:\n    value: 30", "  2017-10-01:\n    value: 60"))
    assert determine_eligibility(inputs, alternative, "2025-05-01", "2025-12-31").iloc[0][
        "valid_from"] == pd.Timestamp("2025-05-08")


@pytest.mark.parametrize(("key", "kept", "scaled"), [
    pytest.param("a", 252_600 + 1_580, 270_600 + 1_580, id="ア: 252,600 × 85,800/80,100 → 270,600"),
    pytest.param("u", 85_800 + 7_140, 85_800 + 7_140, id="ウ: confirmed (85,800 + 1% over 286,000), unchanged"),
    pytest.param("o", 35_400, 37_900, id="オ: 35,400 → 37,900"),
])
def test_2026_08_high_cost_amounts_kept_or_scaled_like_u(tmp_path, key, kept, scaled):
    total, day = pd.Series([1_000_000]), pd.Series([pd.Timestamp("2026-08-10")])
    assert high_cost.monthly_limit(total, pd.Series([key]), day, POLICY).iloc[0] == kept
    alternative = _policy_with(tmp_path, "high_cost/unconfirmed_amounts.yaml", "value: keep_previous",
                               "value: scale_like_u")
    assert high_cost.monthly_limit(total, pd.Series([key]), day, alternative).iloc[0] == scaled
    before = pd.Series([pd.Timestamp("2026-07-31")])
    assert high_cost.monthly_limit(total, pd.Series([key]), before, alternative).iloc[0] == high_cost.monthly_limit(
        total, pd.Series([key]), before, POLICY).iloc[0]


# --- parameters applied instead of removed ------------------------------------------------------------------


def test_child_without_a_guardian_registers_alone_only_from_the_april_after_15(policy):
    # born 2010-05-10: reaches 15 on 2025-05-09, school year ends 2026-03-31 → alone from 2026-04-01
    early = build([(CHILD, "2010-05-10", None)], applications=[("a1", CHILD, None, "2026-03-20")])
    assert determine_eligibility(early, policy, "2026-01-01", "2026-12-31").empty
    alone = build([(CHILD, "2010-05-10", None)], applications=[("a1", CHILD, None, "2026-04-02")])
    periods = determine_eligibility(alone, policy, "2026-01-01", "2026-12-31")
    assert periods.iloc[0]["valid_from"] == pd.Timestamp("2026-04-01")  # in-window for the 4/1 extension


def test_meals_stay_with_the_family_unless_the_parameter_subsidises_them(tmp_path):
    row = claim("m", birth=JHS1_2026, first="2026-05-01", last="2026-05-05", care="INPATIENT", total=50_000,
                admission="M", category="u", meal=2_450)
    result = _assess(row).iloc[0]
    assert (result["subsidy_amount"], result["family_payment_amount"]) == (15_000, 2_450)
    alternative = _policy_with(tmp_path, "benefit/meal_cost_subsidised.yaml", "value: false", "value: true")
    result = _assess(row, policy=alternative).iloc[0]
    assert (result["subsidy_amount"], result["family_payment_amount"]) == (17_450, 0)


# --- 10. income deductions of the 児童手当 convention ----------------------------------------------------------


def _with_flags(inputs, flags):
    """The tax records with the status flags of the 住民税 assessment (ひとり親・寡婦・勤労学生)."""
    return replace(inputs, tax=inputs.tax.assign(**flags))


@pytest.mark.parametrize(("flags", "status"), [
    pytest.param({}, "SUSPENDED_INCOME", id="no status deduction: 5,790,000 − 80,000 over 5,700,000"),
    pytest.param({"widow_flag": 1}, "ELIGIBLE", id="寡婦控除 270,000 brings it under"),
    pytest.param({"working_student_flag": 1}, "ELIGIBLE", id="勤労学生控除 270,000"),
    pytest.param({"single_parent_flag": 1}, "SUSPENDED_INCOME", id="ひとり親控除 only from the 2021-10 cycle"),
])
def test_status_deductions_lower_the_income(policy, flags, status):
    inputs = _with_flags(build([(CHILD, "2014-06-01", "2014-06-10")], tax=[(FATHER, 2020, 5_790_000, 1, 0, {})]),
                         flags)
    periods = determine_eligibility(inputs, policy, "2020-10-01", "2021-09-30")
    assert on(periods, CHILD, "2021-01-01")["status"] == status


def test_single_parent_deduction_from_the_2021_10_cycle(policy):
    # 2021-10 cycle: 課税年度 2021, limit 6,220,000 + 380,000 = 6,600,000; 6,900,000 − 80,000 − 350,000 = 6,470,000
    inputs = _with_flags(build([(CHILD, "2014-06-01", "2014-06-10")], tax=[(FATHER, 2021, 6_900_000, 1, 0, {})]),
                         {"single_parent_flag": 1})
    periods = determine_eligibility(inputs, policy, "2021-10-01", "2022-09-30")
    assert on(periods, CHILD, "2022-01-01")["status"] == "ELIGIBLE"
    without = build([(CHILD, "2014-06-01", "2014-06-10")], tax=[(FATHER, 2021, 6_900_000, 1, 0, {})])
    assert on(determine_eligibility(without, policy, "2021-10-01", "2022-09-30"), CHILD, "2022-01-01")[
        "status"] == "SUSPENDED_INCOME"
