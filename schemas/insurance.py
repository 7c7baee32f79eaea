"""``insurance.csv``: the health insurance of each child, one row per coverage period.

See docs/formats/insurance.md. Coverage by public health insurance is a condition of the subsidy
(domain.md §1.3, S12/S56).
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from rules.checkdigits import valid_insurer_number
from schemas.checks import (
    ID10,
    INSURED_TYPE_CODES,
    INSURER_NUMBER,
    MIN_DATE,
    OPEN_END,
    column_check,
    not_before,
    row_check,
)


class InsuranceSchema(pa.DataFrameModel):
    """One insurance coverage period of a child (insurance.csv)."""

    person_id: str = pa.Field(matches_format={"pattern": ID10}, description="宛名番号 of the insured child")
    insurer_number: str = pa.Field(
        matches_format={"pattern": INSURER_NUMBER},
        description="保険者番号: 8 digits (被用者保険, 国保組合) or 6 digits (市町村国保), "
        "モジュラス10 ウエイト2・1 check digit",
    )
    insured_type_code: str = pa.Field(isin=INSURED_TYPE_CODES, description="本人/家族: 1 本人, 2 家族")
    valid_from: pd.Timestamp = pa.Field(ge=MIN_DATE, description="資格取得日 (YYYY-MM-DD)")
    valid_to: pd.Timestamp = pa.Field(
        nullable=True, ge=MIN_DATE, metadata={OPEN_END: True},
        description="資格喪失日の前日 (YYYY-MM-DD); empty or 9999-12-31 while covered"
    )
    source_row: int = pa.Field(ge=1, description="row number in the source file")

    class Config:
        """Strict columns, coerced types, one row per (person_id, insurer_number, valid_from)."""

        strict = True
        coerce = True
        unique = ["person_id", "insurer_number", "valid_from"]

    @column_check("insurer_number", "insurer_number_check_digit", "保険者番号 check digit is wrong")
    @classmethod
    def insurer_number_check_digit(cls, values: Series[str]) -> Series[bool]:
        return valid_insurer_number(values)

    @row_check("valid_to_not_before_valid_from", ("valid_to",), "coverage ends before it starts")
    @classmethod
    def valid_to_not_before_valid_from(cls, frame: pd.DataFrame) -> Series[bool]:
        return not_before(frame["valid_to"], frame["valid_from"])
