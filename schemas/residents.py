"""``residents.csv``: the 住民票 extract, one row per person (docs/formats/residents.md).

The extract holds everyone registered on ``extract_date`` plus the persons removed (除票) during the
events window, so that ``resident_events.csv`` can end their residence (rules.residence).
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from rules.checkdigits import valid_my_number
from schemas.checks import (
    FLAG_CODES,
    ID10,
    KANA,
    MIN_DATE,
    MY_NUMBER,
    RELATIONSHIP_CODES,
    SEX_CODES,
    column_check,
    free_of_control_characters,
    not_after_reference,
    not_before,
    row_check,
)


class PersonRecordSchema(pa.DataFrameModel):
    """Person columns shared by ``residents.csv`` and ``resident_events.csv`` (住民記録)."""

    household_id: str = pa.Field(matches_format={"pattern": ID10}, description="世帯番号: 10 ASCII digits")
    relationship_code: str = pa.Field(
        isin=RELATIONSHIP_CODES,
        description="続柄 to the 世帯主: 01 世帯主, 02 配偶者, 03 子, 04 父母, 05 その他親族, 09 その他",
    )
    my_number: str = pa.Field(
        matches_format={"pattern": MY_NUMBER},
        description="個人番号 (12 digits, statutory check digit); encrypted on load, never stored in clear",
    )
    name: str = pa.Field(str_length={"min_value": 1, "max_value": 60}, description="氏名 (kanji)")
    name_kana: str = pa.Field(matches_format={"pattern": KANA}, description="氏名フリガナ (full-width katakana)")
    address: str = pa.Field(str_length={"min_value": 1, "max_value": 200}, description="住所")
    birth_date: pd.Timestamp = pa.Field(
        ge=MIN_DATE, description="生年月日 (YYYY-MM-DD), not before 1900 nor after the extract date"
    )
    sex_code: str = pa.Field(isin=SEX_CODES, description="性別: 1 男, 2 女")
    dv_support_flag: str = pa.Field(
        isin=FLAG_CODES, description="住民基本台帳 支援措置 (DV等): 1 = do not disclose (PMH isNotDisclosed)"
    )

    class Config:
        """Strict: exactly the documented columns; coerce strings to the declared types."""

        strict = True
        coerce = True

    @column_check("my_number", "my_number_check_digit", "My Number check digit is wrong")
    @classmethod
    def my_number_check_digit(cls, values: Series[str]) -> Series[bool]:
        return valid_my_number(values)

    @column_check("name", "name_no_control_characters", "name holds a control character (NUL, ESC, line break ...)")
    @classmethod
    def name_no_control_characters(cls, values: Series[str]) -> Series[bool]:
        return free_of_control_characters(values)

    @column_check("address", "address_no_control_characters",
                  "address holds a control character (NUL, ESC, line break ...)")
    @classmethod
    def address_no_control_characters(cls, values: Series[str]) -> Series[bool]:
        return free_of_control_characters(values)

    @column_check("birth_date", "birth_date_not_in_future", "birth date is after the extract date")
    @classmethod
    def birth_date_not_in_future(cls, values: Series[pd.Timestamp]) -> Series[bool]:
        return not_after_reference(values)


class ResidentSchema(PersonRecordSchema):
    """One row per person of the 住民票 extract (residents.csv)."""

    person_id: str = pa.Field(
        matches_format={"pattern": ID10}, unique=True, description="宛名番号: 10 ASCII digits, unique"
    )
    residence_start_date: pd.Timestamp = pa.Field(
        ge=MIN_DATE, description="住民となった日 (birth or move-in), YYYY-MM-DD"
    )
    source_row: int = pa.Field(ge=1, description="row number in the source file")

    @column_check("my_number", "my_number_unique", "My Number appears on more than one person")
    @classmethod
    def my_number_unique(cls, values: Series[str]) -> Series[bool]:
        return ~values.duplicated(keep=False)

    @column_check(
        "residence_start_date", "residence_start_not_in_future", "residence starts after the extract date"
    )
    @classmethod
    def residence_start_not_in_future(cls, values: Series[pd.Timestamp]) -> Series[bool]:
        return not_after_reference(values)

    @row_check(
        "residence_start_not_before_birth", ("residence_start_date",), "residence starts before the birth date"
    )
    @classmethod
    def residence_start_not_before_birth(cls, frame: pd.DataFrame) -> Series[bool]:
        return not_before(frame["residence_start_date"], frame["birth_date"])
