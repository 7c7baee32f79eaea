"""Input schemas and validate_frame: every kind of bad row lands in quarantine, masked."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from schemas import INPUT_COLUMNS, INPUT_SCHEMAS
from schemas.stages import EligibilityPeriodSchema
from schemas.validate import QUARANTINE_COLUMNS, SchemaContractError, mask_value, validate_frame

EXTRACT = "2026-10-31"

GOOD = {
    "residents.csv": {
        "person_id": "0000000101", "household_id": "2000000001", "relationship_code": "03",
        "my_number": "123456789018", "name": "佐藤　陽葵", "name_kana": "サトウ　ヒマリ",
        "address": "仙台市青葉区一番町一丁目2-3", "birth_date": "2015-04-02", "sex_code": "2",
        "dv_support_flag": "0", "residence_start_date": "2015-04-02",
    },
    "resident_events.csv": {
        "event_id": "EV0000000001", "person_id": "0000000101", "household_id": "2000000001",
        "relationship_code": "03", "my_number": "123456789018", "name": "佐藤　陽葵", "name_kana": "サトウ　ヒマリ",
        "address": "仙台市青葉区一番町一丁目2-3", "birth_date": "2026-05-01", "sex_code": "2",
        "dv_support_flag": "0", "event_code": "A3", "event_date": "2026-05-01", "notified_date": "2026-05-08",
    },
    "tax.csv": {
        "person_id": "0000000001", "tax_year": "2026", "total_income_amount": "4600000",
        "casualty_loss_deduction_amount": "0", "medical_deduction_amount": "120000",
        "small_business_deduction_amount": "0", "disability_deduction_amount": "0", "dependents_count": "3",
        "elderly_dependents_count": "1",
    },
    "welfare.csv": {"case_id": "W0000001", "household_id": "2000000001", "start_date": "2024-06-01", "end_date": None},
    "insurance.csv": {
        "person_id": "0000000101", "insurer_number": "01040013", "insured_type_code": "2",
        "valid_from": "2015-04-02", "valid_to": None,
    },
    "applications.csv": {
        "application_id": "AP00000001", "child_person_id": "0000000101", "guardian_person_id": "0000000001",
        "application_date": "2015-04-20",
    },
}
#: A second good row per file (different keys), so that uniqueness checks have something to compare.
SECOND = {
    "residents.csv": {"person_id": "0000000102", "my_number": "983205673214", "birth_date": "2017-09-30",
                      "residence_start_date": "2020-01-15"},
    "resident_events.csv": {"event_id": "EV0000000002", "person_id": "0000000102", "event_code": "D1",
                            "birth_date": "2017-09-30", "event_date": "2026-06-30", "notified_date": "2026-06-20"},
    "tax.csv": {"tax_year": "2025"},
    "welfare.csv": {"case_id": "W0000002", "start_date": "2019-01-10", "end_date": "2021-03-31"},
    "insurance.csv": {"person_id": "0000000102", "insurer_number": "040014", "valid_from": "2017-09-30",
                      "valid_to": "2023-03-31"},
    "applications.csv": {"application_id": "AP00000002", "child_person_id": "0000000102",
                         "guardian_person_id": None},
}


#: Keys of the changed rows (rows 4, 5 ...), so that they duplicate nothing unless a test says so.
THIRD = {
    "residents.csv": {"person_id": "0000000103", "my_number": "000111111111"},
    "resident_events.csv": {"event_id": "EV0000000003"},
    "tax.csv": {"person_id": "0000000003"},
    "welfare.csv": {"case_id": "W0000003"},
    "insurance.csv": {"person_id": "0000000103"},
    "applications.csv": {"application_id": "AP00000003"},
}


def _frame(file_name: str, *changes: dict) -> pd.DataFrame:
    """Good row, second good row, then one row per change (applied to the good row with its own keys)."""
    rows = [GOOD[file_name], {**GOOD[file_name], **SECOND[file_name]}]
    rows += [{**GOOD[file_name], **THIRD[file_name], **change} for change in changes]
    frame = pd.DataFrame(rows, columns=INPUT_COLUMNS[file_name]).astype("str")
    frame = frame.mask(frame.isin(["None", "nan"]))
    frame["source_row"] = range(2, len(frame) + 2)
    return frame


def _validate(file_name: str, *changes: dict):
    return validate_frame(_frame(file_name, *changes), INPUT_SCHEMAS[file_name], file_name, EXTRACT)


@pytest.mark.parametrize("file_name", list(GOOD))
def test_good_rows_pass_and_come_back_typed(file_name):
    result = _validate(file_name)

    assert result.quarantine.empty and list(result.quarantine.columns) == QUARANTINE_COLUMNS
    assert len(result.good) == 2
    schema = INPUT_SCHEMAS[file_name].to_schema()
    for name, column in schema.columns.items():
        if str(column.dtype).startswith(("int", "datetime")):
            assert str(result.good[name].dtype) == str(column.dtype), name
    INPUT_SCHEMAS[file_name].validate(result.good)  # the good frame satisfies the model as is


CASES = [
    # file, change to the good row, expected (column_name, check_name) of the failure, masked value
    pytest.param("residents.csv", {"my_number": "123456789019"}, ("my_number", "my_number_check_digit"),
                 "**********19", id="residents: My Number with a wrong check digit"),
    pytest.param("residents.csv", {"my_number": "12345678901"}, ("my_number", "matches_format"),
                 "*********01", id="residents: My Number of 11 digits"),
    pytest.param("residents.csv", {"birth_date": "2023-02-30", "residence_start_date": "2023-03-01"},
                 ("birth_date", "coerce_dtype"), "********30", id="residents: impossible birth date"),
    pytest.param("residents.csv", {"birth_date": "2026-11-01", "residence_start_date": "2026-11-01"},
                 ("birth_date", "birth_date_not_in_future"), "********01",
                 id="residents: birth after the extract date"),
    pytest.param("residents.csv", {"birth_date": "1899-12-31", "residence_start_date": "2000-01-01"},
                 ("birth_date", "greater_than_or_equal_to"), "********31", id="residents: birth before 1900"),
    pytest.param("residents.csv", {"relationship_code": "07"}, ("relationship_code", "isin"), "*7",
                 id="residents: unknown 続柄 code"),
    pytest.param("residents.csv", {"sex_code": "3"}, ("sex_code", "isin"), "*", id="residents: unknown sex code"),
    pytest.param("residents.csv", {"name": None}, ("name", "not_nullable"), None, id="residents: missing name"),
    pytest.param("residents.csv", {"name_kana": "ｻﾄｳ ﾋﾏﾘ"}, ("name_kana", "matches_format"), "*******",
                 id="residents: half-width kana, fully masked"),
    pytest.param("residents.csv", {"residence_start_date": "2015-04-01"},
                 ("residence_start_date", "residence_start_not_before_birth"), "********01",
                 id="residents: residence before birth"),
    pytest.param("resident_events.csv", {"event_code": "Z1"}, ("event_code", "isin"), "*1",
                 id="events: unknown event code"),
    pytest.param("resident_events.csv", {"event_date": "2026-05-02", "notified_date": "2026-05-09"},
                 ("event_date", "birth_event_on_birth_date"), "********02", id="events: 出生 not on the birth date"),
    pytest.param("resident_events.csv", {"notified_date": "2026-04-30"},
                 ("notified_date", "notified_not_before_event"), "********30",
                 id="events: birth notified before it happened"),
    pytest.param("resident_events.csv", {"event_code": "A1", "event_date": "2026-04-01"},
                 ("event_date", "event_not_before_birth"), "********01", id="events: move-in before birth"),
    pytest.param("resident_events.csv", {"notified_date": "2026-11-02"},
                 ("notified_date", "notified_date_not_in_future"), "********02", id="events: notified in the future"),
    pytest.param("tax.csv", {"total_income_amount": "-5000", "tax_year": "2024"},
                 ("total_income_amount", "greater_than_or_equal_to"), "***00", id="tax: negative income"),
    pytest.param("tax.csv", {"medical_deduction_amount": "12a000", "tax_year": "2024"},
                 ("medical_deduction_amount", "coerce_dtype"), "****00", id="tax: amount that is not an integer"),
    pytest.param("tax.csv", {"elderly_dependents_count": "4", "tax_year": "2024"},
                 ("elderly_dependents_count", "elderly_within_dependents"), "*",
                 id="tax: more elderly than dependents"),
    pytest.param("tax.csv", {"tax_year": "20X4"}, ("tax_year", "coerce_dtype"), "**X4",
                 id="tax: tax year not a number"),
    pytest.param("tax.csv", {"tax_year": "2027"}, ("tax_year", "tax_year_not_in_future"), "**27",
                 id="tax: tax year after the extract year"),
    pytest.param("welfare.csv", {"end_date": "2024-05-31"}, ("end_date", "end_not_before_start"), "********31",
                 id="welfare: case ends before it starts"),
    pytest.param("welfare.csv", {"household_id": "H-0001"}, ("household_id", "matches_format"), "****01",
                 id="welfare: malformed household id"),
    pytest.param("insurance.csv", {"insurer_number": "01040014"}, ("insurer_number", "insurer_number_check_digit"),
                 "******14", id="insurance: 保険者番号 with a wrong check digit"),
    pytest.param("insurance.csv", {"insured_type_code": "3"}, ("insured_type_code", "isin"), "*",
                 id="insurance: unknown 本人/家族 code"),
    pytest.param("insurance.csv", {"valid_to": "2015-04-01"}, ("valid_to", "valid_to_not_before_valid_from"),
                 "********01", id="insurance: coverage ends before it starts"),
    pytest.param("applications.csv", {"application_id": "AP00000009", "application_date": "2027-01-05"},
                 ("application_date", "application_date_not_in_future"), "********05",
                 id="applications: dated after the extract"),
    pytest.param("applications.csv", {"application_id": "AP00000009", "child_person_id": "C123"},
                 ("child_person_id", "matches_format"), "**23", id="applications: malformed child id"),
]


@pytest.mark.parametrize(("file_name", "change", "expected", "masked"), CASES)
def test_each_kind_of_bad_row_is_quarantined_with_column_check_and_masked_value(file_name, change, expected, masked):
    result = _validate(file_name, change)

    assert len(result.good) == 2  # the two good rows only
    bad = result.quarantine
    assert set(bad["row_number"]) == {4}
    found = {(c, k.split("(")[0]) for c, k in zip(bad["column_name"], bad["check_name"], strict=True)}
    assert expected in found
    row = bad.loc[(bad["column_name"] == expected[0]) & bad["check_name"].str.startswith(expected[1])].iloc[0]
    assert (pd.isna(row["masked_value"]) and masked is None) or row["masked_value"] == masked
    assert row["file_name"] == file_name and row["reason"]


@pytest.mark.parametrize(
    ("file_name", "change", "columns"),
    [
        pytest.param("residents.csv", {"my_number": "983205673214"}, "my_number", id="residents: shared My Number"),
        pytest.param("residents.csv", {"person_id": "0000000102", "my_number": "000111111111"}, "person_id",
                     id="residents: duplicate person id"),
        pytest.param("resident_events.csv", {"event_id": "EV0000000002"}, "event_id", id="events: duplicate id"),
        pytest.param("tax.csv", {"person_id": "0000000001", "tax_year": "2025"}, "person_id,tax_year",
                     id="tax: duplicate person and year"),
        pytest.param("applications.csv", {"application_id": "AP00000002"}, "application_id",
                     id="applications: duplicate id"),
    ],
)
def test_every_occurrence_of_a_duplicate_key_is_quarantined(file_name, change, columns):
    result = _validate(file_name, change)

    assert set(result.quarantine["row_number"]) == {3, 4}
    assert set(result.quarantine["column_name"]) == {columns}
    assert result.good["source_row"].tolist() == [2]


def test_a_row_with_several_failures_lists_all_of_them_and_leaves_good_entirely():
    change = {"my_number": "123456789019", "birth_date": "2023-02-30", "sex_code": "9", "name": None}
    result = _validate("residents.csv", change)

    assert sorted(result.quarantine["column_name"]) == ["birth_date", "my_number", "name", "sex_code"]
    assert 4 not in set(result.good["source_row"])


def test_missing_integer_and_unparseable_values_are_reported_once_each():
    result = _validate("tax.csv", {"tax_year": "2024", "dependents_count": None, "medical_deduction_amount": "x"})

    checks = sorted(zip(result.quarantine["column_name"], result.quarantine["check_name"], strict=True))
    assert checks == [("dependents_count", "not_nullable"), ("medical_deduction_amount", "coerce_dtype('int64')")]


def test_dates_after_the_extract_date_depend_on_the_extract():
    frame = _frame("applications.csv", {"application_id": "AP00000003", "application_date": "2026-11-15"})
    model = INPUT_SCHEMAS["applications.csv"]

    assert len(validate_frame(frame, model, "applications.csv", "2026-10-31").quarantine) == 1
    assert validate_frame(frame, model, "applications.csv", "2026-11-30").quarantine.empty


def test_advance_notice_of_a_move_out_is_legal():
    result = _validate("resident_events.csv", {"event_id": "EV0000000003", "event_code": "D1",
                                               "event_date": "2026-07-01", "notified_date": "2026-06-20"})
    assert result.quarantine.empty


def test_the_quarantine_never_holds_a_full_my_number_or_name():
    frame = _frame(
        "residents.csv",
        {"person_id": "0000000103", "my_number": "123456789019", "name": "X" * 80},
        {"person_id": "0000000104", "my_number": "1234567890123", "address": "仙台市" * 80},
        {"person_id": "0000000105", "my_number": "983205673214"},
    )
    result = validate_frame(frame, INPUT_SCHEMAS["residents.csv"], "residents.csv", EXTRACT)

    text = " ".join(result.quarantine.astype(str).to_numpy().ravel())
    assert not re.search(r"[0-9]{4,}", text.replace("residents.csv", ""))
    assert "X" not in text and "仙台" not in text and "佐藤" not in text
    visible = result.quarantine["masked_value"].dropna().str.replace("*", "", regex=False).str.len()
    assert (visible <= 2).all()


@pytest.mark.parametrize(
    ("value", "masked"),
    [("123456789018", "**********18"), ("07", "*7"), ("3", "*"), ("", ""), (None, pd.NA), (4600000, "*****00")],
)
def test_mask_value_keeps_at_most_the_last_two_characters(value, masked):
    result = mask_value(value)
    assert (result is pd.NA and masked is pd.NA) or result == masked


def test_a_frame_without_a_documented_column_is_a_contract_error():
    frame = _frame("welfare.csv").drop(columns=["end_date"])
    with pytest.raises(SchemaContractError):
        validate_frame(frame, INPUT_SCHEMAS["welfare.csv"], "welfare.csv", EXTRACT)


def test_every_field_is_described_and_models_match_the_documented_columns():
    for file_name, model in INPUT_SCHEMAS.items():
        schema = model.to_schema()
        assert set(schema.columns) == {*INPUT_COLUMNS[file_name], "source_row"}
        assert all(column.description for column in schema.columns.values()), file_name
        assert schema.columns["source_row"].description == "row number in the source file"
        assert schema.strict is True and schema.coerce is True


def test_eligibility_period_stage_schema_checks_periods():
    periods = pd.DataFrame({
        "person_id": ["0000000101", "0000000101"],
        "valid_from": pd.to_datetime(["2026-04-01", "2026-07-01"]),
        "valid_to": pd.to_datetime(["2026-06-30", None]),
        "status": ["ELIGIBLE", "SUSPENDED_INCOME"],
        "end_reason": ["WELFARE", "OPEN"],
        "reason_codes": ["WELFARE@2026-07-01", None],
        "sources": ["S56", None],
    })
    assert len(EligibilityPeriodSchema.validate(periods)) == 2
    with pytest.raises(Exception, match="period_ends_after_start"):
        EligibilityPeriodSchema.validate(periods.assign(valid_to=pd.to_datetime(["2026-03-01", None])))


@pytest.mark.parametrize("file_name", list(INPUT_SCHEMAS))
def test_the_example_rows_of_the_format_pages_are_valid(tmp_path, file_name):
    from pathlib import Path

    from connectors.files import read_input_csv

    page = Path(__file__).parents[2] / "docs" / "formats" / file_name.replace(".csv", ".md")
    example = re.search(r"```csv\n(.*?)```", page.read_text(encoding="utf-8"), re.S).group(1)
    path = tmp_path / file_name
    path.write_text(example, encoding="utf-8")

    frame = read_input_csv(path, INPUT_COLUMNS[file_name])
    result = validate_frame(frame, INPUT_SCHEMAS[file_name], file_name, EXTRACT)

    assert len(frame) == 2 and result.quarantine.empty


def test_an_enclosing_reference_date_applies_when_no_extract_date_is_given():
    from schemas.checks import using_reference_date

    frame = _frame("applications.csv", {"application_date": "2026-11-15"})
    model = INPUT_SCHEMAS["applications.csv"]
    with using_reference_date("2026-10-31"):
        assert len(validate_frame(frame, model, "applications.csv").quarantine) == 1
    with using_reference_date("2026-12-31"):
        assert validate_frame(frame, model, "applications.csv").quarantine.empty
