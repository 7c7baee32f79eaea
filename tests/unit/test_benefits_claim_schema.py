"""claims.csv / reimbursement_applications.csv: a file with bad rows, UTF-8 and CP932, fast format checks."""

from __future__ import annotations

import pandas as pd
import pytest

from connectors.files import read_input_csv
from rules.checkdigits import with_modulus10_w21
from schemas import claims as schema
from schemas.checks import using_reference_date
from schemas.validate import validate_frame

CLINIC = with_modulus10_w21("041071236")
REC = with_modulus10_w21("000001")
GOOD = f"C1,2025-07,2025-06,2025-06-10,2025-06-10,1,{CLINIC},OUTPATIENT,1,,,500,06130488,{REC},,,,,,,,,,,,"

BAD_ROWS = {
    "bad institution check digit": f"C2,2025-07,2025-06,2025-06-10,2025-06-10,1,0410712360,OUTPATIENT,1,,,500,"
                                   f"06130488,{REC},,,,,,,,,,,,",
    "bad recipient check digit": f"C3,2025-07,2025-06,2025-06-10,2025-06-10,1,{CLINIC},OUTPATIENT,1,,,500,06130488,"
                                 "0000010,,,,,,,,,,,,",
    "inpatient without admission": f"C4,2025-07,2025-06,2025-06-10,2025-06-12,3,{CLINIC},INPATIENT,0,,,500,06130488,"
                                   f"{REC},,,,,,,,,,,,",
    "dates outside the service month": f"C5,2025-07,2025-06,2025-05-31,2025-06-01,2,{CLINIC},OUTPATIENT,0,,,500,"
                                       f"06130488,{REC},,,,,,,,,,,,",
    "amount with a letter": f"C6,2025-07,2025-06,2025-06-10,2025-06-10,1,{CLINIC},OUTPATIENT,0,,,500,06130488,{REC},"
                            "52,12a,,,,,,,,,,",
    "unknown care type": f"C7,2025-07,2025-06,2025-06-10,2025-06-10,1,{CLINIC},HOSPICE,0,,,500,06130488,{REC},"
                         ",,,,,,,,,,,",
    "law number without amount": f"C8,2025-07,2025-06,2025-06-10,2025-06-10,1,{CLINIC},OUTPATIENT,0,,,500,06130488,"
                                 f"{REC},52,,,,,,,,,,,",
    "unknown 区分": f"C9,2025-07,2025-06,2025-06-10,2025-06-10,1,{CLINIC},OUTPATIENT,0,,,500,06130488,{REC},,,,,,,,"
                  "x,,,,",
    "billed before service": f"C10,2025-05,2025-06,2025-06-10,2025-06-10,1,{CLINIC},OUTPATIENT,0,,,500,06130488,"
                             f"{REC},,,,,,,,,,,,",
    "duplicate claim id": f"C1,2025-07,2025-06,2025-06-11,2025-06-11,1,{CLINIC},OUTPATIENT,0,,,500,06130488,{REC},"
                          ",,,,,,,,,,,",
}


@pytest.mark.parametrize("encoding", ["utf-8", "cp932"])
def test_a_claim_file_with_bad_rows_quarantines_exactly_those(tmp_path, encoding):
    lines = [",".join(schema.CLAIM_COLUMNS), GOOD, *BAD_ROWS.values()]
    path = tmp_path / "claims.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    raw = read_input_csv(path, schema.CLAIM_COLUMNS)
    with using_reference_date("2025-06-30"):
        result = validate_frame(raw, schema.ClaimSchema, "claims.csv", extract_date="2025-06-30")
    bad_rows = set(result.quarantine["row_number"])
    # header = 1, the good row = 2, bad rows from 3; the duplicate id also quarantines the first C1.
    assert bad_rows == set(range(2, 3 + len(BAD_ROWS)))
    assert not result.quarantine["masked_value"].astype(str).str.contains(REC).any()


def test_stage_frame_turns_points_into_yen_and_prefixes_applications():
    claims = pd.DataFrame([{c: None for c in schema.CLAIM_COLUMNS}]).assign(
        claim_id="C1", billing_month="2025-07", service_month="2025-06",
        first_service_date=pd.Timestamp("2025-06-10"), last_service_date=pd.Timestamp("2025-06-10"),
        service_days=1, institution_code=CLINIC, care_type="OUTPATIENT", first_visit_flag="1", total_points=523,
        insurer_number="06130488", recipient_no=REC, high_cost_amount=None, meal_amount="100")
    apps = pd.DataFrame([{c: None for c in schema.REIMBURSEMENT_COLUMNS}]).assign(
        application_id="A1", application_date=pd.Timestamp("2025-06-20"), reason_code="ORTHOSIS",
        service_month="2025-06", first_service_date=pd.Timestamp("2025-06-10"),
        last_service_date=pd.Timestamp("2025-06-10"), service_days=1, care_type="ORTHOSIS", first_visit_flag="0",
        total_cost_amount=50_000, receipt_amount=50_000, insurer_number="06130488", recipient_no=REC)
    stage = schema.claims_stage_frame(claims, apps, "2025-07").set_index("claim_id")
    assert stage.loc["C1", "total_cost_amount"] == 5_230 and bool(stage.loc["C1", "first_visit_flag"])
    assert pd.isna(stage.loc["C1", "high_cost_amount"]) and stage.loc["C1", "meal_amount"] == 100
    assert stage.loc["R-A1", "route"] == "REIMBURSEMENT" and stage.loc["R-A1", "billing_month"] == "2025-07"


@pytest.mark.parametrize(
    ("values", "lengths", "expected"),
    [
        pytest.param(["06130488", "040105", "06130487", "0613048", None, "０６１３０４８８"], (6, 8),
                     [True, True, False, False, True, False], id="insurer numbers"),
        pytest.param(["3410712362", "3410712363", "341071236X"], (10,), [True, False, False], id="institution codes"),
    ],
)
def test_fast_check_digit_agrees_with_the_reference_examples(values, lengths, expected):
    assert schema.modulus10_w21(pd.Series(values, dtype=object), lengths).tolist() == expected


@pytest.mark.parametrize(
    ("page", "columns", "model"),
    [
        pytest.param("claims.md", schema.CLAIM_COLUMNS, schema.ClaimSchema, id="claims.csv"),
        pytest.param("reimbursement_applications.md", schema.REIMBURSEMENT_COLUMNS,
                     schema.ReimbursementApplicationSchema, id="reimbursement_applications.csv"),
    ],
)
def test_the_example_rows_of_the_format_pages_are_valid(tmp_path, page, columns, model):
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "formats" / page).read_text(encoding="utf-8")
    example = re.search(r"```csv\n(.*?)```", text, re.S).group(1)
    path = tmp_path / "example.csv"
    path.write_text(example, encoding="utf-8")
    frame = read_input_csv(path, columns)
    with using_reference_date("2025-06-30"):
        result = validate_frame(frame, model, page, extract_date="2025-06-30")
    assert len(frame) == 2 and result.quarantine.empty


@pytest.mark.parametrize(
    ("dates", "good"),
    [
        pytest.param("10", True, id="one day"),
        pytest.param("", True, id="empty: only first/last known"),
        pytest.param("11", False, id="outside first..last"),
        pytest.param("10;10", False, id="fewer distinct days than 実日数"),
        pytest.param("1", False, id="not two digits"),
    ],
)
def test_service_dates_must_fit_the_receipt(tmp_path, dates, good):
    path = tmp_path / "claims.csv"
    path.write_text("\r\n".join([",".join(schema.CLAIM_COLUMNS), GOOD + dates]) + "\r\n", encoding="utf-8")
    with using_reference_date("2025-06-30"):
        result = validate_frame(read_input_csv(path, schema.CLAIM_COLUMNS), schema.ClaimSchema, "claims.csv",
                                extract_date="2025-06-30")
    assert result.quarantine.empty is good


@pytest.mark.parametrize(("check", "values"), [
    (schema.year_month, ["2025-04", "2025-13", "2025-4", "abcd-ef", "", None, "2026-03"]),
    (lambda v: schema.digits_of_length(v, (2,)), ["12", "1", "123", "1a", "", None, "07"]),
    (schema.ascii_id, ["A-1", "a" * 21, "ab_c", "", None, "x"]),
    (lambda v: schema.modulus10_w21(v, (7,)), [with_modulus10_w21("123456"), "1234567", "12345", "abcdefg", None]),
])
def test_checks_per_distinct_value_agree_with_checks_per_row(check, values):
    # A repeating column is checked once per distinct value; one value alone is checked as it stands.
    column = pd.Series(values * 1000, dtype="str")
    one_by_one = [bool(check(pd.Series([v], dtype="str")).iloc[0]) for v in values]
    assert check(column).tolist() == one_by_one * 1000
    assert not all(one_by_one) and any(one_by_one)


def test_amounts_parse_like_pandas():
    values = pd.Series(["0", "0012", None, "9999999999", "7"], dtype="str")
    assert schema._amount(values).tolist() == [0, 12, 0, 9_999_999_999, 7]
    nullable = schema._amount(values, nullable=True)
    assert str(nullable.dtype) == "Int64" and nullable.isna().tolist() == [False, False, True, False, False]
    # Anything numpy cannot read as an integer goes through pandas' parser, as before: unparsable = missing.
    assert schema._amount(pd.Series(["abc", "5"], dtype="str"), nullable=True).isna().tolist() == [True, False]
    assert schema._amount(pd.Series(["abc", "5"], dtype="str")).tolist() == [0, 5]
