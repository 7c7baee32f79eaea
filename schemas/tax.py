"""``tax.csv``: 個人住民税 assessment data, one row per taxpayer × 課税年度 (docs/formats/tax.md).

``tax_year`` is the 課税年度; the income it assesses is that of calendar year ``tax_year - 1``
(地方税法 32条/313条: 前年所得課税). Amounts are integer yen, never negative.
"""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from schemas.checks import ID10, column_check, reference_date, row_check


class TaxSchema(pa.DataFrameModel):
    """One taxpayer × 課税年度 (tax.csv)."""

    person_id: str = pa.Field(matches_format={"pattern": ID10}, description="宛名番号 of the taxpayer")
    tax_year: int = pa.Field(ge=1990, le=2100, description="課税年度 (assesses the income of tax_year - 1)")
    total_income_amount: int = pa.Field(ge=0, description="総所得金額等 (yen)")
    casualty_loss_deduction_amount: int = pa.Field(ge=0, description="雑損控除額 (yen)")
    medical_deduction_amount: int = pa.Field(ge=0, description="医療費控除額 (yen)")
    small_business_deduction_amount: int = pa.Field(ge=0, description="小規模企業共済等掛金控除額 (yen)")
    disability_deduction_amount: int = pa.Field(ge=0, description="障害者控除額 (yen)")
    dependents_count: int = pa.Field(
        ge=0, le=30, description="扶養親族等の数 (控除対象配偶者 and 16歳未満 included)"
    )
    elderly_dependents_count: int = pa.Field(
        ge=0, le=30, description="of which 老人扶養親族 / 老人控除対象配偶者 (70歳以上)"
    )
    source_row: int = pa.Field(ge=1, description="row number in the source file")

    class Config:
        """Strict columns, coerced types, one row per (person_id, tax_year)."""

        strict = True
        coerce = True
        unique = ["person_id", "tax_year"]

    @column_check("tax_year", "tax_year_not_in_future", "課税年度 after the year of the extract date")
    @classmethod
    def tax_year_not_in_future(cls, values: Series[int]) -> Series[bool]:
        return ~(values > reference_date().year)

    @row_check(
        "elderly_within_dependents",
        ("elderly_dependents_count",),
        "more elderly dependents than dependents",
    )
    @classmethod
    def elderly_within_dependents(cls, frame) -> Series[bool]:
        return ~(frame["elderly_dependents_count"] > frame["dependents_count"]).fillna(False).astype(bool)
