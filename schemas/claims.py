"""``claims.csv`` (現物給付 receipts) and ``reimbursement_applications.csv`` (償還払い), and their stage frame.

docs/formats/claims.md and docs/formats/reimbursement_applications.md describe the files. Optional amounts
are digit strings here (empty = none) and become integers in :func:`claims_stage_frame`, so that one bad
cell quarantines its row instead of failing the column.

Check digits (モジュラス10 ウエイト2・1, domain.md §5): 医療機関コード (10 digits), 保険者番号 (6 or 8),
公費受給者番号 (7).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from rules.checkdigits import modulus10_w21_check_digits
from schemas.checks import CHECKS, FLAG_CODES, MIN_DATE, CheckInfo, not_after_reference, not_before


def row_check(name: str, columns: tuple[str, ...], reason: str):
    """Like ``schemas.checks.row_check``, with ``ignore_na=False``.

    These checks treat missing values themselves, and pandera's per-check ``frame.isna()`` would otherwise
    cost seconds on a million rows.
    """
    CHECKS[name] = CheckInfo(columns, reason)
    return pa.dataframe_check(name=name, ignore_na=False)


def column_check(column: str, name: str, reason: str):
    """Like ``schemas.checks.column_check``, with ``ignore_na=False`` (the checks pass missing values)."""
    CHECKS[name] = CheckInfo((column,), reason)
    return pa.check(column, name=name, ignore_na=False)

#: 入院 (医科), 入院外 (医科 外来), 歯科, 調剤, 治療用装具 (償還払い only).
CARE_TYPES = ["INPATIENT", "OUTPATIENT", "DENTAL", "PHARMACY", "ORTHOSIS"]
#: high_cost.limit keys: 区分ア イ ウ エ オ.
HIGH_COST_CATEGORIES = ["a", "i", "u", "e", "o"]
#: Why the family paid and applies (domain.md §1.7; S19, S23).
REIMBURSEMENT_REASONS = ["OUT_OF_PREFECTURE", "ORTHOSIS", "CERTIFICATE_NOT_SHOWN", "NON_AGREEMENT_INSTITUTION"]

HALF_KANA = r"^[ｦ-ﾟ0-9A-Z ().\-/]{1,30}$"

OTHER_SLOTS = (1, 2, 3)
AMOUNT_COLUMNS = ("other_amount_1", "other_amount_2", "other_amount_3", "high_cost_amount",
                  "additional_benefit_amount", "meal_amount")


# ---------------------------------------------------------------------------------------------
# Fast format checks: unicode code points as a numpy matrix (no per-value Python, no regex), so that a
# year of receipts (1.5 million rows) validates in seconds. Each check looks at one value at a time, so it
# runs once per distinct value where a column repeats (months, codes, amounts) and only on the present
# values. Missing values pass (``not_nullable`` reports a missing required value).
# ---------------------------------------------------------------------------------------------


def _per_value(values: pd.Series, kernel, missing_result, dtype) -> np.ndarray:
    """``kernel(text)`` (one result per string of the object array ``text``) for every value of ``values``.

    Computed on the distinct values when a sample of the column repeats (most of this file's columns hold
    a dozen months or a few thousand codes among a million rows), else on every present value (ids).
    Missing values get ``missing_result``.
    """
    text = values.to_numpy(dtype=object)
    sample = text[:4096]
    if len(pd.unique(sample)) * 2 <= len(sample):
        codes, distinct = pd.factorize(text)  # missing values get code -1: the last slot of ``by_code``
        by_code = np.full(len(distinct) + 1, missing_result, dtype=dtype)
        by_code[:-1] = kernel(np.asarray(distinct, dtype=object))
        return by_code[codes]
    present = values.notna().to_numpy(dtype=bool)
    out = np.full(len(values), missing_result, dtype=dtype)
    out[present] = kernel(text[present])
    return out


def _code_points(text: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(length, code points[n, width] as int32) of each string of ``text``.

    Values longer than ``width`` get length ``width + 1`` (so every length test fails for them).
    """
    if len(text) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, width), dtype=np.int32)
    matrix = text.astype(f"U{width + 1}").view(np.int32).reshape(len(text), width + 1)
    length = np.count_nonzero(matrix, axis=1)
    return length, matrix[:, :width]


def _digit_rows(length: np.ndarray, points: np.ndarray, lengths: tuple[int, ...]) -> np.ndarray:
    width = points.shape[1]
    beyond = np.arange(width)[None, :] >= length[:, None]
    return (((points >= 48) & (points <= 57)) | beyond).all(axis=1) & np.isin(length, lengths)


def digits_of_length(values: pd.Series, lengths: tuple[int, ...]) -> pd.Series:
    """True where the value is ASCII digits with one of ``lengths`` (or missing)."""
    def kernel(text: np.ndarray) -> np.ndarray:
        return _digit_rows(*_code_points(text, max(lengths)), lengths)

    return pd.Series(_per_value(values, kernel, True, bool), index=values.index)


def ascii_id(values: pd.Series, max_length: int = 20) -> pd.Series:
    """True where the value is 1…``max_length`` ASCII letters, digits or hyphens (or missing)."""
    def kernel(text: np.ndarray) -> np.ndarray:
        length, points = _code_points(text, max_length)
        position = np.arange(max_length)
        allowed = (((points >= 48) & (points <= 57)) | ((points >= 65) & (points <= 90))
                   | ((points >= 97) & (points <= 122)) | (points == 45))
        return ((allowed | (position[None, :] >= length[:, None])).all(axis=1)
                & (length >= 1) & (length <= max_length))

    return pd.Series(_per_value(values, kernel, True, bool), index=values.index)


def modulus10_w21(values: pd.Series, lengths: tuple[int, ...]) -> pd.Series:
    """モジュラス10 ウエイト2・1分割 check digit valid, or missing (domain.md §5; rules.checkdigits)."""
    def kernel(text: np.ndarray) -> np.ndarray:
        length, points = _code_points(text, max(lengths))
        well_formed = _digit_rows(length, points, lengths)
        digits = (points - 48).astype(np.int16)
        ok = np.zeros(len(text), dtype=bool)
        for size in lengths:
            rows = np.flatnonzero(well_formed & (length == size))
            if len(rows) == 0:
                continue
            expected = modulus10_w21_check_digits(digits[rows, : size - 1])
            ok[rows] = expected == digits[rows, size - 1]
        return ok

    return pd.Series(_per_value(values, kernel, True, bool), index=values.index)


def _months_of_text(text: np.ndarray) -> np.ndarray:
    length, points = _code_points(text, 7)
    digits = (points - 48).astype(np.int64)
    shape = (length == 7) & (points[:, 4] == 45) & np.delete((points >= 48) & (points <= 57), 4, axis=1).all(axis=1)
    year = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
    month = digits[:, 5] * 10 + digits[:, 6]
    good = shape & (month >= 1) & (month <= 12)
    out = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[M]")
    out[good] = ((year[good] - 1970) * 12 + month[good] - 1).astype("datetime64[M]")
    return out


def _months(values: pd.Series) -> np.ndarray:
    """``YYYY-MM`` → datetime64[M] (NaT when missing or malformed), from code points."""
    return _per_value(values, _months_of_text, np.datetime64("NaT"), "datetime64[M]")


def year_month(values: pd.Series) -> pd.Series:
    """True where the value is ``YYYY-MM`` (or missing)."""
    return pd.Series(values.isna().to_numpy() | ~np.isnat(_months(values)), index=values.index)


class _ReceiptFields(pa.DataFrameModel):
    """Columns shared by a 現物給付 receipt and a 償還払い application."""

    service_month: str = pa.Field(description="診療年月 (YYYY-MM)")
    first_service_date: pd.Timestamp = pa.Field(ge=MIN_DATE, description="first service day in the month")
    last_service_date: pd.Timestamp = pa.Field(ge=MIN_DATE, description="last service day in the month")
    service_days: int = pa.Field(ge=1, le=31, description="診療実日数 (inpatient: days of the stay in the month)")
    care_type: str = pa.Field(isin=CARE_TYPES, description="INPATIENT, OUTPATIENT, DENTAL, PHARMACY, ORTHOSIS")
    first_visit_flag: str = pa.Field(isin=FLAG_CODES, description="1 = the receipt includes a 初診")
    admission_id: str = pa.Field(nullable=True,
                                 description="入院 id (1-20 ASCII letters, digits, hyphens): the same for every "
                                 "monthly receipt of one admission")
    admission_date: pd.Timestamp = pa.Field(nullable=True, ge=MIN_DATE, description="入院年月日")
    insurer_number: str = pa.Field(description="保険者番号 (6 or 8 digits, check digit)")
    recipient_no: str = pa.Field(description="公費受給者番号 of the child (7 digits, check digit)")
    other_law_no_1: str = pa.Field(nullable=True, description="法別番号 (2 digits) of 他法 ① (公費①)")
    other_amount_1: str = pa.Field(nullable=True, description="amount 他法 ① pays (yen)")
    other_law_no_2: str = pa.Field(nullable=True, description="法別番号 (2 digits) of 他法 ②")
    other_amount_2: str = pa.Field(nullable=True, description="amount 他法 ② pays (yen)")
    other_law_no_3: str = pa.Field(nullable=True, description="法別番号 (2 digits) of 他法 ③")
    other_amount_3: str = pa.Field(nullable=True, description="amount 他法 ③ pays (yen)")
    high_cost_amount: str = pa.Field(nullable=True,
                                     description="高額療養費 paid or payable (yen); empty = compute from the 区分")
    high_cost_category: str = pa.Field(nullable=True, isin=HIGH_COST_CATEGORIES,
                                       description="適用区分 a/i/u/e/o = ア/イ/ウ/エ/オ")
    high_cost_many_times_flag: str = pa.Field(nullable=True, isin=FLAG_CODES, description="1 = 多数回該当")
    additional_benefit_amount: str = pa.Field(nullable=True,
                                              description="付加給付 actually paid by a 健保組合/共済 (yen)")
    meal_amount: str = pa.Field(nullable=True, description="食事療養標準負担額 (yen; never subsidised)")
    source_row: int = pa.Field(ge=1, description="row number in the source file")

    class Config:
        """Strict columns, coerced types."""

        strict = True
        coerce = True

    @column_check("insurer_number", "insurer_number_check_digit", "保険者番号 check digit is wrong")
    @classmethod
    def insurer_number_check_digit(cls, values: Series[str]) -> Series[bool]:
        return modulus10_w21(values, (6, 8))

    @column_check("recipient_no", "recipient_no_check_digit", "受給者番号 check digit is wrong")
    @classmethod
    def recipient_no_check_digit(cls, values: Series[str]) -> Series[bool]:
        return modulus10_w21(values, (7,))

    @column_check("service_month", "service_month_format", "診療年月 is not YYYY-MM")
    @classmethod
    def service_month_format(cls, values: Series[str]) -> Series[bool]:
        return year_month(values)

    @column_check("admission_id", "admission_id_format", "admission id is not 1-20 ASCII letters/digits/hyphens")
    @classmethod
    def admission_id_format(cls, values: Series[str]) -> Series[bool]:
        return ascii_id(values)

    @row_check("amounts_are_yen", ("other_amount_1",), "an amount is not 1-10 digits")
    @classmethod
    def amounts_are_yen(cls, frame: pd.DataFrame) -> Series[bool]:
        ok = pd.Series(True, index=frame.index)
        for column in AMOUNT_COLUMNS:
            ok &= digits_of_length(frame[column], tuple(range(1, 11)))
        return ok

    @row_check("law_numbers_are_two_digits", ("other_law_no_1",), "a 法別番号 is not 2 digits")
    @classmethod
    def law_numbers_are_two_digits(cls, frame: pd.DataFrame) -> Series[bool]:
        ok = pd.Series(True, index=frame.index)
        for i in OTHER_SLOTS:
            ok &= digits_of_length(frame[f"other_law_no_{i}"], (2,))
        return ok

    @column_check("first_service_date", "service_date_not_in_future", "service date is after the extract date")
    @classmethod
    def service_date_not_in_future(cls, values: Series[pd.Timestamp]) -> Series[bool]:
        return not_after_reference(values)

    @row_check("service_dates_ordered", ("last_service_date",), "last service date is before the first")
    @classmethod
    def service_dates_ordered(cls, frame: pd.DataFrame) -> Series[bool]:
        return not_before(frame["last_service_date"], frame["first_service_date"])

    @row_check("service_dates_in_service_month", ("service_month",),
               "service dates are outside the 診療年月")
    @classmethod
    def service_dates_in_service_month(cls, frame: pd.DataFrame) -> Series[bool]:
        month = _months(frame["service_month"])
        first = frame["first_service_date"].to_numpy(dtype="datetime64[M]")
        last = frame["last_service_date"].to_numpy(dtype="datetime64[M]")
        inside = (first == month) & (last == month)
        return pd.Series(inside | np.isnat(first) | np.isnat(last) | np.isnat(month), index=frame.index)

    @row_check("service_days_fit_dates", ("service_days",), "実日数 exceeds the days between first and last date")
    @classmethod
    def service_days_fit_dates(cls, frame: pd.DataFrame) -> Series[bool]:
        span = (frame["last_service_date"] - frame["first_service_date"]).dt.days + 1
        return ~(frame["service_days"] > span).fillna(False).astype(bool)

    @row_check("inpatient_has_admission", ("admission_id",), "an inpatient receipt needs admission_id and date")
    @classmethod
    def inpatient_has_admission(cls, frame: pd.DataFrame) -> Series[bool]:
        inpatient = frame["care_type"] == "INPATIENT"
        return ~(inpatient & (frame["admission_id"].isna() | frame["admission_date"].isna())).fillna(False)

    @row_check("admitted_before_service", ("admission_date",), "admission date is after the first service date")
    @classmethod
    def admitted_before_service(cls, frame: pd.DataFrame) -> Series[bool]:
        return not_before(frame["first_service_date"], frame["admission_date"])

    @row_check("other_programme_complete", ("other_law_no_1",), "a 他法 amount needs its 法別番号 and vice versa")
    @classmethod
    def other_programme_complete(cls, frame: pd.DataFrame) -> Series[bool]:
        ok = pd.Series(True, index=frame.index)
        for i in OTHER_SLOTS:
            ok &= frame[f"other_law_no_{i}"].isna() == frame[f"other_amount_{i}"].isna()
        return ok


class ClaimSchema(_ReceiptFields):
    """One 現物給付 receipt as the 審査支払機関 (国保連 / 支払基金) hand it to the city (claims.csv)."""

    claim_id: str = pa.Field(unique=True, description="receipt id (レセプト管理番号; 1-20 ASCII), unique")
    billing_month: str = pa.Field(description="請求年月 (YYYY-MM)")
    institution_code: str = pa.Field(description="医療機関コード: 10 digits (都道府県 2 … 検証番号 1)")
    total_points: int = pa.Field(ge=0, le=99_999_999, description="総点数 (総医療費 = points × 10 yen)")
    service_dates: str = pa.Field(nullable=True,
                                  description="診療日 of the month as 2-digit days, ';'-separated (UKE calendar "
                                  "records); empty = only first/last known")

    @row_check("service_dates_fit_receipt", ("service_dates",),
               "service_dates are not ';'-separated 2-digit days from first to last service date, one per 実日数")
    @classmethod
    def service_dates_fit_receipt(cls, frame: pd.DataFrame) -> Series[bool]:
        # Once per distinct list (a month's calendars repeat), then column-wise per receipt: every listed day
        # lies between first and last service day ⇔ the smallest ≥ first day and the largest ≤ last day.
        listed = frame["service_dates"]
        present = listed.notna().to_numpy(dtype=bool)
        ok = np.ones(len(frame), dtype=bool)
        if not present.any():
            return pd.Series(ok, index=frame.index)
        codes, distinct = pd.factorize(listed.to_numpy(dtype=object)[present])
        text = pd.Series(np.asarray(distinct, dtype=object)).astype("string")
        well_formed = text.str.fullmatch(r"[0-9]{2}(;[0-9]{2})*").fillna(False).to_numpy(dtype=bool)
        count = np.where(well_formed, (text.str.len().to_numpy(dtype=np.int64) + 1) // 3, 0)
        width = 3 * max(int(count.max()), 1)
        # Day j of a list is at characters 3j and 3j+1 of its text.
        chars = (np.asarray(text.where(well_formed, "").to_numpy(dtype=str), dtype=f"<U{width}")
                 .view(np.uint32).reshape(-1, width).astype(np.int64))
        days = (chars[:, 0::3] - 48) * 10 + (chars[:, 1::3] - 48)
        used = np.arange(days.shape[1])[None, :] < count[:, None]
        smallest = np.where(used, days, 99).min(axis=1)
        largest = np.where(used, days, -1).max(axis=1)
        ordered = np.sort(np.where(used, days, 100 + np.arange(days.shape[1])[None, :]), axis=1)
        distinct_days = (np.diff(ordered, axis=1) != 0).all(axis=1)
        count, smallest, largest = count[codes], smallest[codes], largest[codes]
        first = frame["first_service_date"].dt.day.to_numpy(dtype="float64")[present]
        last = frame["last_service_date"].dt.day.to_numpy(dtype="float64")[present]
        inside = (count == 0) | np.isnan(first) | np.isnan(last) | ((smallest >= first) & (largest <= last))
        counted = count == frame["service_days"].to_numpy(dtype="float64", na_value=np.nan)[present]
        ok[present] = well_formed[codes] & inside & distinct_days[codes] & counted
        return pd.Series(ok, index=frame.index)

    @column_check("institution_code", "institution_code_check_digit", "医療機関コード check digit is wrong")
    @classmethod
    def institution_code_check_digit(cls, values: Series[str]) -> Series[bool]:
        return modulus10_w21(values, (10,))

    @column_check("claim_id", "claim_id_format", "claim id is not 1-20 ASCII letters/digits/hyphens")
    @classmethod
    def claim_id_format(cls, values: Series[str]) -> Series[bool]:
        return ascii_id(values)

    @column_check("billing_month", "billing_month_format", "請求年月 is not YYYY-MM")
    @classmethod
    def billing_month_format(cls, values: Series[str]) -> Series[bool]:
        return year_month(values)

    @row_check("billed_after_service", ("billing_month",), "請求年月 is before the 診療年月")
    @classmethod
    def billed_after_service(cls, frame: pd.DataFrame) -> Series[bool]:
        billed, served = _months(frame["billing_month"]), _months(frame["service_month"])
        return pd.Series(~(billed < served), index=frame.index)


class ReimbursementApplicationSchema(_ReceiptFields):
    """One 償還払い application (reimbursement_applications.csv): one receipt and the payee account."""

    application_id: str = pa.Field(unique=True, description="受付番号 (1-20 ASCII), unique")
    application_date: pd.Timestamp = pa.Field(ge=MIN_DATE, description="申請日 (受付日)")
    reason_code: str = pa.Field(isin=REIMBURSEMENT_REASONS, description="why the family paid at the window")
    institution_code: str = pa.Field(nullable=True,
                                     description="医療機関コード (10 digits); empty for a 治療用装具 maker")
    total_cost_amount: int = pa.Field(ge=0, le=999_999_999,
                                      description="総医療費 recognised by the insurer (装具: 療養費 基準額), yen")
    receipt_amount: int = pa.Field(ge=0, le=999_999_999, description="amount the family paid (領収額), yen")
    bank_code: str = pa.Field(str_matches=r"^[0-9]{4}$", description="金融機関コード")
    branch_code: str = pa.Field(str_matches=r"^[0-9]{3}$", description="支店コード")
    account_type: str = pa.Field(isin=["1", "2"], description="預金種目: 1 普通, 2 当座")
    account_number: str = pa.Field(str_matches=r"^[0-9]{7}$", description="口座番号 (7 digits)")
    account_holder_kana: str = pa.Field(str_matches=HALF_KANA, description="口座名義 (half-width kana, 全銀 set)")

    @column_check("institution_code", "institution_code_check_digit", "医療機関コード check digit is wrong")
    @classmethod
    def institution_code_check_digit(cls, values: Series[str]) -> Series[bool]:
        return modulus10_w21(values, (10,))

    @column_check("application_id", "application_id_format", "application id is not 1-20 ASCII characters")
    @classmethod
    def application_id_format(cls, values: Series[str]) -> Series[bool]:
        return ascii_id(values)

    @row_check("applied_after_service", ("application_date",), "application date is before the service")
    @classmethod
    def applied_after_service(cls, frame: pd.DataFrame) -> Series[bool]:
        return not_before(frame["application_date"], frame["first_service_date"])

    @row_check("institution_unless_fitting", ("institution_code",), "a receipt needs its 医療機関コード")
    @classmethod
    def institution_unless_fitting(cls, frame: pd.DataFrame) -> Series[bool]:
        return ~((frame["care_type"] != "ORTHOSIS") & frame["institution_code"].isna()).fillna(False)


CLAIM_COLUMNS = [
    "claim_id", "billing_month", "service_month", "first_service_date", "last_service_date", "service_days",
    "institution_code", "care_type", "first_visit_flag", "admission_id", "admission_date", "total_points",
    "insurer_number", "recipient_no", "other_law_no_1", "other_amount_1", "other_law_no_2", "other_amount_2",
    "other_law_no_3", "other_amount_3", "high_cost_amount", "high_cost_category", "high_cost_many_times_flag",
    "additional_benefit_amount", "meal_amount", "service_dates",
]
REIMBURSEMENT_COLUMNS = [
    "application_id", "application_date", "reason_code", "recipient_no", "service_month", "first_service_date",
    "last_service_date", "service_days", "institution_code", "care_type", "first_visit_flag", "admission_id",
    "admission_date", "total_cost_amount", "receipt_amount", "insurer_number", "other_law_no_1", "other_amount_1",
    "other_law_no_2", "other_amount_2", "other_law_no_3", "other_amount_3", "high_cost_amount",
    "high_cost_category", "high_cost_many_times_flag", "additional_benefit_amount", "meal_amount", "bank_code",
    "branch_code", "account_type", "account_number", "account_holder_kana",
]
PAYEE_COLUMNS = ["bank_code", "branch_code", "account_type", "account_number", "account_holder_kana"]

#: Columns of the claims stage frame (rules.benefits input), in order.
STAGE_COLUMNS = [
    "claim_id", "route", "billing_month", "service_month", "first_service_date", "last_service_date",
    "service_days", "institution_code", "care_type", "first_visit_flag", "admission_id", "admission_date",
    "total_cost_amount", "receipt_amount", "insurer_number", "recipient_no",
    "other_law_no_1", "other_amount_1", "other_law_no_2", "other_amount_2", "other_law_no_3", "other_amount_3",
    "high_cost_amount", "high_cost_category", "high_cost_many_times_flag", "additional_benefit_amount",
    "meal_amount", "application_date", "reimbursement_reason", "service_dates",
]


def _amount(values: pd.Series, *, nullable: bool = False) -> pd.Series:
    """Whole yen of each value: ``Int64`` (missing stays missing) when ``nullable``, else int64 (missing = 0)."""
    present = values.notna().to_numpy(dtype=bool)
    try:
        # Validated digit strings (or integers): numpy's own parser, on the present values only (most of
        # these columns are empty).
        parsed = values.to_numpy(dtype=object)[present].astype(str).astype(np.int64)
    except (ValueError, OverflowError):  # anything else: pandas' general parser, unparsable = missing
        numbers = pd.to_numeric(values, errors="coerce")
        return numbers.astype("Int64") if nullable else numbers.fillna(0).astype("int64")
    numbers = np.zeros(len(values), dtype=np.int64)
    numbers[present] = parsed
    if nullable:
        return pd.Series(pd.arrays.IntegerArray(numbers, ~present), index=values.index, name=values.name)
    return pd.Series(numbers, index=values.index, name=values.name)


def claims_stage_frame(claims: pd.DataFrame | None = None, applications: pd.DataFrame | None = None,
                       billing_month: str | None = None) -> pd.DataFrame:
    """Turn validated ``claims.csv`` and ``reimbursement_applications.csv`` rows into one claims stage frame.

    ``route`` is ``IN_KIND`` or ``REIMBURSEMENT``; 総医療費 of a receipt = 総点数 × 10 yen (療担規則, 1点10円);
    flags become booleans, optional amounts integers (0 when empty; ``high_cost_amount`` stays missing so
    rules.benefits computes it). An application's ``claim_id`` is ``R-`` + its ``application_id``, so the
    two files can never collide.
    """
    parts = []
    if claims is not None and len(claims):
        c = claims.copy(deep=False)
        c["route"] = "IN_KIND"
        c["total_cost_amount"] = c["total_points"].astype("int64") * 10
        c["receipt_amount"] = pd.NA
        c["application_date"] = pd.NaT
        c["reimbursement_reason"] = pd.NA
        parts.append(c)
    if applications is not None and len(applications):
        a = applications.rename(columns={"reason_code": "reimbursement_reason"})
        a["claim_id"] = "R-" + a.pop("application_id").astype("string")
        a = a.assign(route="REIMBURSEMENT",
                     billing_month=billing_month or a["application_date"].dt.strftime("%Y-%m"))
        parts.append(a)
    if not parts:
        frame = pd.DataFrame({column: pd.Series(dtype=object) for column in STAGE_COLUMNS})
    else:
        frame = pd.concat(parts, ignore_index=True, sort=False)
    out = pd.DataFrame(index=frame.index)
    for column in STAGE_COLUMNS:
        out[column] = frame.get(column, pd.NA)
    for column in ("first_service_date", "last_service_date", "admission_date", "application_date"):
        out[column] = pd.to_datetime(out[column]).astype("datetime64[ns]")
    out["first_visit_flag"] = out["first_visit_flag"].eq("1").fillna(False).astype(bool)
    out["high_cost_many_times_flag"] = out["high_cost_many_times_flag"].eq("1").fillna(False).astype(bool)
    out["service_days"] = out["service_days"].astype("int64")
    out["total_cost_amount"] = out["total_cost_amount"].astype("int64")
    out["receipt_amount"] = _amount(out["receipt_amount"], nullable=True)
    out["high_cost_amount"] = _amount(out["high_cost_amount"], nullable=True)
    for column in ("other_amount_1", "other_amount_2", "other_amount_3", "additional_benefit_amount",
                   "meal_amount"):
        out[column] = _amount(out[column])
    if "source_row" in frame:
        out["source_row"] = frame["source_row"].to_numpy(dtype=np.int64)
    return out
