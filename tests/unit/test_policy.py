"""Policy parameters: dated values (domain.md §1.2–1.9, §3), the strict loader and its lookups.

EXPECTED restates domain.md by hand; it is checked against the YAML on the day before, of and after
every effective date, and it must list every parameter and every effective date, so a new era cannot
land without an expectation.
"""

from __future__ import annotations

import ast
import datetime as dt
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pydantic
import pytest

from policy import DEFAULT_DIRECTORY, PolicyError, UnknownParameterError, load_policy, read_policy
from policy import docs as policy_docs
from policy import loader as policy_loader
from rules import checkdigits, high_cost

D = dt.date
HC_2012_UPPER = {"base_amount": 150000, "threshold": 500000, "rate_percent": 1, "many_times_amount": 83400,
                 "annual_cap": None}
HC_2012_GENERAL = {"base_amount": 80100, "threshold": 267000, "rate_percent": 1, "many_times_amount": 44400,
                   "annual_cap": None}
HC_A = {"base_amount": 252600, "threshold": 842000, "rate_percent": 1, "many_times_amount": 140100, "annual_cap": None}
HC_I = {"base_amount": 167400, "threshold": 558000, "rate_percent": 1, "many_times_amount": 93000, "annual_cap": None}
HC_U = {"base_amount": 80100, "threshold": 267000, "rate_percent": 1, "many_times_amount": 44400, "annual_cap": None}
HC_U_2026 = {"base_amount": 85800, "threshold": 286000, "rate_percent": 1, "many_times_amount": 44400,
             "annual_cap": 530000}
HC_E = {"base_amount": 57600, "threshold": 0, "rate_percent": 0, "many_times_amount": 44400, "annual_cap": None}
HC_O = {"base_amount": 35400, "threshold": 0, "rate_percent": 0, "many_times_amount": 24600, "annual_cap": None}

# name → [(effective_from, value in force from that day)], from domain.md
# 教示文 (行政不服審査法 §18, §82; 行政事件訴訟法 §14, §46), as printed on every notice of a disposition.
APPEAL_REVIEW_REQUEST = (
    "この処分に不服がある場合は、この処分があったことを知った日の翌日から起算して3か月以内に、仙台市長に対して審査請求をする"
    "ことができます（行政不服審査法第2条、第4条、第18条第1項）。ただし、この処分があったことを知った日の翌日から起算して"
    "3か月以内であっても、処分の日の翌日から起算して1年を経過すると、審査請求をすることができなくなります（同法第18条第2項）。"
)
APPEAL_LAWSUIT = (
    "この処分の取消しを求める訴えは、この処分があったことを知った日の翌日から起算して6か月以内に、仙台市を被告として（訴訟に"
    "おいて仙台市を代表する者は仙台市長となります。）提起することができます（行政事件訴訟法第11条第1項、第14条第1項）。"
    "ただし、審査請求をした場合には、その審査請求に対する裁決があったことを知った日の翌日から起算して6か月以内に提起すること"
    "ができます（同法第14条第3項）。なお、処分の日又は裁決の日の翌日から起算して1年を経過すると、訴えを提起することができなくなります（同法第14条第2項）。"
)

EXPECTED: dict[str, list[tuple[dt.date, object]]] = {
    "program.start_date": [(D(2012, 1, 1), "2012-01-01")],
    "program.public_payer_number": [(D(2012, 1, 1), "88041009")],
    "program.certification_name": [(D(2012, 1, 1), "仙台市子ども医療費受給者証"),
                                   (D(2026, 4, 1), "仙台市こども医療費受給者証")],
    "age_limit.outpatient": [(D(2012, 1, 1), 9), (D(2017, 10, 1), 15), (D(2026, 4, 1), 18)],
    "age_limit.inpatient": [(D(2012, 1, 1), 15), (D(2026, 4, 1), 18)],
    "income_limit.base_amount": [(D(2012, 1, 1), 5_320_000), (D(2021, 10, 1), 6_220_000), (D(2023, 4, 1), None)],
    "income_limit.per_dependent_amount": [(D(2012, 1, 1), 380_000), (D(2021, 10, 1), 380_000),
                                          (D(2023, 4, 1), None)],
    "income_limit.elderly_dependent_addition": [(D(2012, 1, 1), 60_000), (D(2023, 4, 1), None)],
    "income_limit.flat_deduction": [(D(2012, 1, 1), 80_000), (D(2023, 4, 1), None)],
    "income_limit.income_year_switch_month": [(D(2012, 1, 1), 10), (D(2023, 4, 1), None)],
    "income_limit.judged_guardian": [(D(2012, 1, 1), "each_guardian"), (D(2023, 4, 1), None)],
    "copay.outpatient.first_visit_amount": [(D(2012, 1, 1), 500), (D(2017, 10, 1), 500), (D(2026, 4, 1), 0)],
    "copay.outpatient.revisit_amount": [(D(2012, 1, 1), 0)],
    "copay.outpatient.free_age": [(D(2012, 1, 1), 3), (D(2017, 10, 1), 6)],
    "copay.outpatient.free_age_basis": [(D(2012, 1, 1), "completed_age"), (D(2017, 10, 1), "school_year_end")],
    "copay.inpatient.daily_amount": [(D(2012, 1, 1), 500), (D(2026, 4, 1), 0)],
    "copay.inpatient.max_charged_days": [(D(2012, 1, 1), 10)],
    "copay.inpatient.cap_per_admission": [(D(2012, 1, 1), 5000), (D(2026, 4, 1), 0)],
    "copay.inpatient.free_age": [(D(2012, 1, 1), 6)],
    "copay.inpatient.free_age_basis": [(D(2012, 1, 1), "school_year_end")],
    "copay.pharmacy_amount": [(D(2012, 1, 1), 0)],
    "copay.capped_at_self_pay": [(D(2012, 1, 1), True)],
    "insurance.self_pay_percent_preschool": [(D(2012, 1, 1), 20)],
    "insurance.self_pay_percent": [(D(2012, 1, 1), 30)],
    "insurance.preschool_boundary_age": [(D(2012, 1, 1), 6)],
    "high_cost.limit.a": [(D(2012, 1, 1), HC_2012_UPPER), (D(2015, 1, 1), HC_A), (D(2026, 8, 1), HC_A)],
    "high_cost.limit.i": [(D(2012, 1, 1), HC_2012_UPPER), (D(2015, 1, 1), HC_I), (D(2026, 8, 1), HC_I)],
    "high_cost.limit.u": [(D(2012, 1, 1), HC_2012_GENERAL), (D(2015, 1, 1), HC_U), (D(2026, 8, 1), HC_U_2026)],
    "high_cost.limit.e": [(D(2012, 1, 1), HC_2012_GENERAL), (D(2015, 1, 1), HC_E), (D(2026, 8, 1), HC_E)],
    "high_cost.limit.o": [(D(2012, 1, 1), HC_O), (D(2015, 1, 1), HC_O), (D(2026, 8, 1), HC_O)],
    "high_cost.rate_rounding": [(D(2012, 1, 1), "half_up")],
    "registration.window_days": [(D(2012, 1, 1), 30), (D(2017, 10, 1), 30)],
    "registration.late_start_rule": [(D(2012, 1, 1), "first_of_application_month"),
                                     (D(2017, 10, 1), "first_of_application_month")],
    "registration.deadline_rolls_to_next_open_day": [(D(2012, 1, 1), True)],
    "certificate.renewal_month_day": [(D(2012, 1, 1), "10-01"), (D(2023, 4, 1), "10-01")],
    "reimbursement.claim_deadline_years": [(D(2012, 1, 1), 5)],
    "reimbursement.in_kind_prefecture_code": [(D(2012, 1, 1), "04"), (D(2015, 4, 1), "04")],
    "reimbursement.therapeutic_devices_reimbursed": [(D(2012, 1, 1), True)],
    "benefit.meal_cost_subsidised": [(D(2012, 1, 1), False)],
    "benefit.additional_benefit_basis": [(D(2012, 1, 1), "actually_paid")],
    "eligibility.excludes_public_assistance": [(D(2012, 1, 1), True)],
    "eligibility.requires_health_insurance": [(D(2012, 1, 1), True)],
    "high_cost.missing_category": [(D(2012, 1, 1), "hold")],
    "registration.year_end_closure": [(D(2012, 1, 1), "12-29/01-03")],
    "income_limit.limit_comparison": [(D(2012, 1, 1), "at_or_over")],
    "high_cost.unconfirmed_amounts": [(D(2026, 8, 1), "keep_previous")],
    "income_limit.single_parent_deduction": [(D(2021, 10, 1), 350_000)],
    "income_limit.widow_deduction": [(D(2012, 1, 1), 270_000)],
    "income_limit.working_student_deduction": [(D(2012, 1, 1), 270_000)],
    "income_limit.specified_dependent_addition": [(D(2012, 1, 1), 0)],
    "eligibility.excludes_institutional_placement": [(D(2012, 1, 1), True)],
    "payee.child_self_registration_age": [(D(2026, 4, 1), 15)],
    "receivables.kind": [(D(2012, 1, 1), "PRIVATE")],
    "receivables.due_days_after_notice": [(D(2012, 1, 1), 20)],
    "receivables.reminder_after_days": [(D(2012, 1, 1), 20)],
    "receivables.reminder_deadline_days": [(D(2012, 1, 1), 10)],
    "receivables.prescription_years": [(D(2012, 1, 1), 5), (D(2020, 4, 1), 5)],
    "notices.issuer_title": [(D(2012, 1, 1), "仙台市長")],
    "notices.appeal_review_request": [(D(2016, 4, 1), APPEAL_REVIEW_REQUEST)],
    "notices.appeal_lawsuit": [(D(2005, 4, 1), APPEAL_LAWSUIT)],
}


def _boundary_cases():
    one = dt.timedelta(days=1)
    for name, eras in EXPECTED.items():
        for position, (start, value) in enumerate(eras):
            before = eras[position - 1][1] if position else None
            yield pytest.param(name, start - one, before,
                               id=f"{name} is {before!r} on {start - one}, the day before {start}")
            yield pytest.param(name, start, value, id=f"{name} becomes {value!r} on {start}")
            yield pytest.param(name, start + one, value, id=f"{name} is still {value!r} on {start + one}")


@pytest.fixture(scope="module")
def policy():
    return load_policy()


# ------------------------------------------------------------------------------------------------
# Values on, before and after every effective date
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "day", "expected"), list(_boundary_cases()))
def test_value_in_force_around_each_effective_date(policy, name, day, expected):
    got = policy.at(day).get(name)
    assert (dict(got) if policy.parameter(name).is_mapping and got is not None else got) == expected
    fields = list(expected or {}) if policy.parameter(name).is_mapping else [None]
    for field in fields:  # the vectorised lookup agrees on the boundary days too
        looked_up = policy.series(name, pd.Series([pd.Timestamp(day)]), field=field).iloc[0]
        wanted = expected if field is None else expected[field]
        assert pd.isna(looked_up) if wanted is None else looked_up == wanted


def test_expectations_cover_every_parameter_and_every_effective_date(policy):
    assert set(EXPECTED) == set(policy.parameter_names())
    for name, eras in EXPECTED.items():
        assert [start for start, _ in eras] == list(policy.effective_dates(name)), name


@pytest.mark.parametrize(
    ("day", "outpatient", "inpatient"),
    [
        pytest.param("2011-12-31", None, None, id="before 2012 the 乳幼児 regime is out of scope: nothing in force"),
        pytest.param("2017-09-30", 9, 15, id="on 2017-09-30 outpatient runs to 小3 and inpatient to 中3"),
        pytest.param("2017-10-01", 15, 15, id="from 2017-10-01 outpatient also runs to 中3"),
        pytest.param("2026-03-31", 15, 15, id="on 2026-03-31 both still end at 15歳到達年度末"),
        pytest.param("2026-04-01", 18, 18, id="from 2026-04-01 both end at 18歳到達年度末"),
    ],
)
def test_age_limits_by_regime(policy, day, outpatient, inpatient):
    snapshot = policy.at(day)
    assert (snapshot.get("age_limit.outpatient"), snapshot.get("age_limit.inpatient")) == (outpatient, inpatient)


@pytest.mark.parametrize(
    ("day", "dependents", "income", "over_limit"),
    [
        pytest.param("2021-09-15", 3, 7_000_000, True, id="T16 2021-09 three dependents 7,000,000 is over 6,460,000"),
        pytest.param("2022-01-15", 3, 7_000_000, False, id="T17 2022-01 the relaxed limit 7,360,000 admits them"),
    ],
)
def test_income_limit_examples(policy, day, dependents, income, over_limit):
    snapshot = policy.at(day)
    limit = snapshot.get("income_limit.base_amount") + dependents * snapshot.get("income_limit.per_dependent_amount")
    assert (income > limit) is over_limit


def test_income_limit_is_abolished_from_2023_04_01(policy):
    assert policy.at("2023-05-01").get("income_limit.base_amount") is None  # T18: no income test at all
    assert "S5" in policy.at("2023-05-01").reference("income_limit.base_amount")


# ------------------------------------------------------------------------------------------------
# 高額療養費 table
# ------------------------------------------------------------------------------------------------


def _limits(policy, service_date: str, total_cost: int) -> dict[str, int]:
    """Monthly limit per 区分 label from the table: base + (total − threshold)⁺ × rate%, 1円未満四捨五入."""
    table = policy.table("high_cost.limit")
    day = pd.Timestamp(service_date)
    rows = table[(table["effective_from"] <= day) & (table["effective_to"].isna() | (table["effective_to"] >= day))]
    excess = (total_cost - rows["threshold"]).clip(lower=0)
    limit = rows["base_amount"] + (excess * rows["rate_percent"] + 50) // 100
    return {high_cost.CATEGORY_LABELS[k]: int(v) for k, v in zip(rows["key"], limit, strict=True)}


@pytest.mark.parametrize("service_date", ["2015-01-01", "2025-06-10", "2026-07-31"])
def test_t15_high_cost_limits_at_one_million(policy, service_date):
    assert _limits(policy, service_date, 1_000_000) == {
        "ア": 254_180, "イ": 171_820, "ウ": 87_430, "エ": 57_600, "オ": 35_400,
    }


def test_t13_high_cost_worked_example_category_u(policy):
    assert _limits(policy, "2026-05-10", 400_000)["ウ"] == 81_430  # 120,000 − 81,430 = 38,570 (S30)


def test_high_cost_category_u_from_2026_08_uses_85800(policy):
    assert _limits(policy, "2026-08-01", 1_000_000)["ウ"] == 85_800 + 7_140
    assert policy.at("2026-08-01").get("high_cost.limit.u")["annual_cap"] == 530_000
    assert policy.at("2026-08-01").is_assumption("high_cost.limit.a")


def test_high_cost_series_by_field_is_vectorised_per_category(policy):
    dates = pd.Series(pd.to_datetime(["2014-12-31", "2015-01-01", "2026-07-31", "2026-08-01"]), index=[7, 8, 9, 10])
    base = policy.series("high_cost.limit.u", dates, field="base_amount")
    cap = policy.series("high_cost.limit.u", dates, field="annual_cap")
    assert base.tolist() == [80100, 80100, 80100, 85800]
    assert cap.isna().tolist() == [True, True, True, False]
    assert list(base.index) == [7, 8, 9, 10]


def test_mapping_parameter_needs_a_field(policy):
    with pytest.raises(TypeError, match="field="):
        policy.series("high_cost.limit.u", pd.Series(pd.to_datetime(["2025-01-01"])))
    with pytest.raises(KeyError, match="no field"):
        policy.series("high_cost.limit.u", pd.Series(pd.to_datetime(["2025-01-01"])), field="nope")
    with pytest.raises(TypeError, match="scalars"):
        policy.series("age_limit.inpatient", pd.Series(pd.to_datetime(["2025-01-01"])), field="base_amount")


# ------------------------------------------------------------------------------------------------
# series(), eras(), snapshots
# ------------------------------------------------------------------------------------------------


def test_series_matches_at_for_random_dates(policy):
    rng = np.random.default_rng(20260401)
    days = pd.Timestamp("2011-06-01") + pd.to_timedelta(rng.integers(0, 6000, 300), unit="D")
    dates = pd.Series(days).where(rng.random(300) > 0.05)  # ~5% missing dates
    dates.index = pd.RangeIndex(1000, 1300)
    snapshots = {d: policy.at(d) for d in dates.dropna().unique()}
    for name in policy.parameter_names():
        parameter = policy.parameter(name)
        fields = list(next(e.value for e in parameter.entries if e.value is not None)) if parameter.is_mapping \
            else [None]
        for field in fields:
            got = policy.series(name, dates, field=field)
            assert got.index.equals(dates.index)
            for day, value in zip(dates, got, strict=True):
                expected = None if pd.isna(day) else snapshots[day].get(name)
                if field is not None and expected is not None:
                    expected = expected[field]
                assert (pd.isna(value) if expected is None else value == expected), (name, field, day)


@pytest.mark.parametrize(
    ("name", "dtype"),
    [
        pytest.param("age_limit.outpatient", "Int64", id="ages and money come back as nullable Int64"),
        pytest.param("eligibility.excludes_public_assistance", "boolean", id="flags come back as nullable boolean"),
        pytest.param("copay.outpatient.free_age_basis", "string", id="codes come back as string"),
    ],
)
def test_series_dtypes(policy, name, dtype):
    assert str(policy.series(name, pd.Series(pd.to_datetime(["2020-01-01", None]))).dtype) == dtype


def test_series_accepts_date_objects_and_strings(policy):
    assert policy.series("age_limit.inpatient", pd.Series([D(2026, 4, 1), "2026-03-31"])).tolist() == [18, 15]


def test_series_uses_the_local_calendar_day_of_aware_timestamps(policy):
    dates = pd.Series(pd.to_datetime(["2026-04-01 00:30"]).tz_localize("Asia/Tokyo"))
    assert policy.series("age_limit.inpatient", dates).tolist() == [18]
    assert policy.at(dates.iloc[0]).get("age_limit.inpatient") == 18


def test_series_of_an_empty_frame_is_empty(policy):
    got = policy.series("age_limit.inpatient", pd.Series([], dtype="datetime64[ns]"))
    assert got.empty and str(got.dtype) == "Int64"


def test_eras_lists_inclusive_ends_and_the_abolition(policy):
    eras = policy.eras("income_limit.base_amount")
    assert list(eras.columns) == ["effective_from", "effective_to", "value", "reference", "assumption"]
    assert eras["effective_from"].tolist() == [pd.Timestamp(d) for d in ("2012-01-01", "2021-10-01", "2023-04-01")]
    assert eras["effective_to"].iloc[0] == pd.Timestamp("2021-09-30")
    assert eras["effective_to"].iloc[1] == pd.Timestamp("2023-03-31")
    assert pd.isna(eras["effective_to"].iloc[2])
    assert eras["value"].iloc[:2].tolist() == [5_320_000, 6_220_000] and pd.isna(eras["value"].iloc[2])
    assert eras["assumption"].tolist() == [False, False, True]


def test_snapshot_reference_and_as_of(policy):
    snapshot = policy.at(pd.Timestamp("2026-04-01 13:00"))
    assert snapshot.as_of == D(2026, 4, 1)
    assert "規則第103号" in snapshot.reference("age_limit.outpatient")
    assert snapshot.version == policy.version
    before = policy.at("2026-03-31")
    assert before.get("payee.child_self_registration_age") is None
    assert "第4条" in before.reference("payee.child_self_registration_age")  # parameter-level source


def test_unknown_parameter_names_raise(policy):
    with pytest.raises(UnknownParameterError):
        policy.at("2025-01-01").get("age_limit.outpatinet")
    with pytest.raises(UnknownParameterError):
        policy.series("nope", pd.Series(pd.to_datetime(["2025-01-01"])))


def test_policy_and_values_are_frozen(policy):
    with pytest.raises(pydantic.ValidationError):
        policy.version = "x"
    snapshot = policy.at("2025-01-01")
    with pytest.raises(pydantic.ValidationError):
        snapshot.as_of = D(2020, 1, 1)
    with pytest.raises(TypeError):
        snapshot.get("high_cost.limit.u")["base_amount"] = 0
    assert policy.at("2025-01-01").get("high_cost.limit.u")["base_amount"] == 80100


def test_load_policy_is_cached_and_versioned(policy, tmp_path):
    assert load_policy() is policy
    assert load_policy(DEFAULT_DIRECTORY) is policy
    assert len(policy.version) == 12
    copy = tmp_path / "parameters"
    for path in DEFAULT_DIRECTORY.rglob("*.yaml"):
        target = copy / path.relative_to(DEFAULT_DIRECTORY)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    assert read_policy(copy).version == policy.version
    target = copy / "reimbursement" / "claim_deadline_years.yaml"
    target.write_text(target.read_text(encoding="utf-8").replace("value: 5", "value: 1"), encoding="utf-8")
    changed = read_policy(copy)
    assert changed.version != policy.version
    assert changed.at("2025-01-01").get("reimbursement.claim_deadline_years") == 1


def test_assumptions_are_listed_with_notes(policy):
    assumptions = policy.assumptions()
    keys = {(a.name, a.effective_from) for a in assumptions}
    assert ("program.public_payer_number", D(2012, 1, 1)) in keys
    assert ("income_limit.elderly_dependent_addition", D(2012, 1, 1)) in keys
    assert ("high_cost.limit.a", D(2026, 8, 1)) in keys
    assert ("high_cost.limit.u", D(2015, 1, 1)) not in keys  # ウ is confirmed by S29/S30
    assert ("registration.window_days", D(2012, 1, 1)) not in keys  # [C] for 2012–2017 (S12)
    assert ("registration.window_days", D(2017, 10, 1)) in keys
    assert all(a.note for a in assumptions)


def test_docs_assumptions_md_is_up_to_date(policy):
    assert policy_docs.ASSUMPTIONS_PATH.read_text(encoding="utf-8") == policy_docs.render_assumptions(policy), (
        "run: .venv/bin/python -m policy.docs"
    )


def test_meals_are_never_subsidised(policy):
    assert policy.eras("benefit.meal_cost_subsidised")["value"].tolist() == [False]


# ------------------------------------------------------------------------------------------------
# 公費負担者番号
# ------------------------------------------------------------------------------------------------


def test_public_payer_number_has_a_valid_check_digit(policy):
    number = policy.at("2026-04-01").get("program.public_payer_number")
    assert number == checkdigits.with_modulus10_w21("8804100") == "88041009"
    assert checkdigits.is_valid_modulus10_w21(number, (8,))
    assert number[2:4] == "04"  # 宮城県


def _loader_accepts_payer_number(number: str) -> bool:
    try:
        policy_loader._check_public_payer_number(number)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("number", ["53046017", "06130488", "01040013", "54016027", "53046018", "06130487", "1234567a"])
def test_loader_check_digit_agrees_with_rules_checkdigits(number):
    assert _loader_accepts_payer_number(number) == checkdigits.is_valid_modulus10_w21(number, (8,))


def test_loader_check_digit_agrees_on_random_numbers():
    rng = np.random.default_rng(7)
    for value in rng.integers(0, 10**8, 500):
        number = f"{value:08d}"
        assert _loader_accepts_payer_number(number) == checkdigits.is_valid_modulus10_w21(number, (8,))


def test_policy_package_imports_no_orchestration_or_io_libraries():
    forbidden = {"prefect", "sqlalchemy", "requests", "rules"}
    allowed = {"rules.checkdigits"}  # the one check-digit module (pure; it never imports policy)
    for path in Path(policy_loader.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not {n.split(".")[0] for n in names if n not in allowed} & forbidden, (path.name, names)


# ------------------------------------------------------------------------------------------------
# Load-time rejections
# ------------------------------------------------------------------------------------------------

GOOD = """\
description: A test amount.
metadata:
  unit: currency-JPY
  reference: Test ordinance art. 1
values:
  2020-01-01:
    value: 100
    metadata:
      reference: Council decision 1
  2021-01-01:
    value: 200
    metadata:
      reference: Council decision 2
"""


def _write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_good_minimal_file_loads(tmp_path):
    policy = read_policy(_write(tmp_path, "group/amount.yaml", GOOD).parent.parent)
    assert policy.parameter_names() == ("group.amount",)
    assert policy.at("2020-12-31").get("group.amount") == 100


BAD = [
    pytest.param("group/amount.yaml", GOOD.replace("2021-01-01", "2019-01-01"), "strictly increasing",
                 id="unsorted effective dates are rejected"),
    pytest.param("group/amount.yaml", GOOD.replace("2021-01-01", "2020-01-01"), "duplicate key",
                 id="a duplicate effective date is rejected"),
    pytest.param("group/amount.yaml", GOOD.replace("2021-01-01:", "'2020-01-01':"), "strictly increasing",
                 id="a duplicate date written once quoted and once bare is rejected"),
    pytest.param("group/amount.yaml", GOOD.replace("  unit: currency-JPY\n", ""), "unit",
                 id="a file without a unit is rejected"),
    pytest.param("group/amount.yaml", GOOD.replace("  reference: Test ordinance art. 1\n", ""), "reference",
                 id="a file without a reference is rejected"),
    pytest.param("group/amount.yaml", GOOD.replace("      reference: Council decision 2\n",
                                                   "      assumption: false\n"), "reference",
                 id="a value without its own reference is rejected"),
    pytest.param("group/amount.yaml",
                 GOOD.replace("    metadata:\n      reference: Council decision 2\n", ""),
                 "metadata",
                 id="a value without metadata is rejected"),
    pytest.param("group/amount.yaml", GOOD + "documentation: extra\n", "documentation",
                 id="an unknown top-level key is rejected"),
    pytest.param("group/amount.yaml", GOOD.replace("reference: Council decision 1", "reference: C1\n      source: x"),
                 "source", id="an unknown key in a value's metadata is rejected"),
    pytest.param("group/amount.yaml", GOOD.replace("  unit: currency-JPY", "  unit: currency-JPY\n  owner: me"),
                 "owner", id="an unknown key in the file metadata is rejected"),
    pytest.param("group/amount.yaml", GOOD.replace("currency-JPY", "yen"), "unit",
                 id="an unknown unit is rejected"),
    pytest.param("group/amount.yaml", GOOD.replace("value: 200", "value: '200'"), "does not fit unit",
                 id="a money value written as text is rejected"),
    pytest.param("group/amount.yaml", GOOD.replace("value: 200", "value: 200.5"), "does not fit unit",
                 id="a fractional yen amount is rejected"),
    pytest.param("group/amount.yaml", GOOD.replace("value: 100", "value: null"), "first value",
                 id="a parameter that starts with null is rejected"),
    pytest.param("group/amount.yaml", GOOD.replace("reference: Council decision 2",
                                                   "reference: Council decision 2\n      assumption: true"),
                 "note", id="an assumption without a note is rejected"),
    pytest.param("group/amount.yaml", GOOD.replace("2021-01-01:", "2021-01-01 10:00:00:"), "without a time",
                 id="an effective date with a time is rejected"),
    pytest.param("group/amount.yaml", GOOD.replace("2021-01-01:", "'2021-13-01':"), "ISO date",
                 id="an impossible effective date is rejected"),
    pytest.param("group/amount.yaml", GOOD.replace("values:\n", "values: {}\n").split("  2020")[0], "values",
                 id="a file without any value is rejected"),
    pytest.param("group/Amount.yaml", GOOD, "parameter name", id="an upper-case file name is rejected"),
    pytest.param("group/amount.yml", GOOD, ".yaml", id="a .yml file is rejected instead of being ignored"),
    pytest.param("group/amount.yaml", "- just a list\n", "mapping", id="a file that is not a mapping is rejected"),
    pytest.param("group/amount.yaml", GOOD.replace("unit: currency-JPY", "unit: mapping").replace(
        "value: 100", "value: {a: 1}").replace("value: 200", "value: {b: 1}"), "change shape",
                 id="mapping keys that change between eras are rejected"),
    pytest.param("group/amount.yaml", GOOD.replace("unit: currency-JPY", "unit: mapping").replace(
        "value: 100", "value: {a: {nested: 1}}").replace("value: 200", "value: {a: 2}"), "value",
                 id="a nested mapping value is rejected"),
    pytest.param("program/public_payer_number.yaml", GOOD.replace("currency-JPY", "code").replace(
        "value: 100", "value: '88041009'").replace("value: 200", "value: '88041008'"), "check digit",
                 id="a public payer number with a wrong check digit is rejected"),
    pytest.param("program/public_payer_number.yaml", GOOD.replace("currency-JPY", "code").replace(
        "value: 100", "value: '8804100'").replace("value: 200", "value: '88041009'"), "check digit",
                 id="a public payer number with seven digits is rejected"),
]


@pytest.mark.parametrize(("relative", "text", "message"), BAD)
def test_load_time_rejections(tmp_path, relative, text, message):
    _write(tmp_path, "other/ok.yaml", GOOD)
    _write(tmp_path, relative, text)
    with pytest.raises(PolicyError, match=message) as raised:
        read_policy(tmp_path)
    assert "ok.yaml" not in str(raised.value)  # the message names the bad file


def test_an_empty_directory_is_rejected(tmp_path):
    with pytest.raises(PolicyError, match="no parameter files"):
        read_policy(tmp_path)


def test_a_missing_directory_is_rejected(tmp_path):
    with pytest.raises(PolicyError, match="not a directory"):
        load_policy(tmp_path / "missing")
