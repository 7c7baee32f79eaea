"""Tiny literal builders for the benefit tests (synthetic data only)."""

from __future__ import annotations

import pandas as pd

from rules.checkdigits import with_modulus10_w21

MIYAGI_CLINIC = with_modulus10_w21("041071236")   # 都道府県 04 (宮城)
TOKYO_CLINIC = with_modulus10_w21("131071236")    # 都道府県 13 (東京)


def recipient_no(n: int) -> str:
    return with_modulus10_w21(f"{n:06d}")


def claim(claim_id: str, *, birth: str, first: str, last: str | None = None, care: str = "OUTPATIENT",
          total: int = 10_000, first_visit: bool = False, days: int | None = None, admission: str | None = None,
          other: int = 0, high_cost: int | None = None, category: str | None = None, added: int = 0,
          meal: int = 0, route: str = "IN_KIND", institution: str = MIYAGI_CLINIC, applied: str | None = None,
          person: int = 1, prior_days: int = 0) -> dict:
    last = last or first
    if days is None:
        days = (pd.Timestamp(last) - pd.Timestamp(first)).days + 1 if care == "INPATIENT" else 1
    return {
        "claim_id": claim_id, "route": route, "first_service_date": pd.Timestamp(first),
        "last_service_date": pd.Timestamp(last), "service_days": days, "institution_code": institution,
        "care_type": care, "first_visit_flag": first_visit, "admission_id": admission,
        "total_cost_amount": total, "recipient_no": recipient_no(person), "insurer_number": "06130488",
        "other_law_no_1": "52" if other else None, "other_amount_1": other,
        "other_law_no_2": None, "other_amount_2": 0, "other_law_no_3": None, "other_amount_3": 0,
        "high_cost_amount": high_cost, "high_cost_category": category, "high_cost_many_times_flag": False,
        "additional_benefit_amount": added, "meal_amount": meal,
        "application_date": pd.Timestamp(applied) if applied else pd.NaT, "birth_date": pd.Timestamp(birth),
        "admission_prior_days": prior_days, "admission_prior_copay_amount": 0, "_person": person,
    }


def frame(*rows: dict) -> pd.DataFrame:
    df = pd.DataFrame(list(rows))
    df["high_cost_amount"] = df["high_cost_amount"].astype("Int64")
    df["high_cost_category"] = df["high_cost_category"].astype("string")
    df["admission_id"] = df["admission_id"].astype("string")
    return df


def references(df: pd.DataFrame, *, valid_from: str = "2012-01-01", valid_to: str = "2030-03-31",
               status: str = "ELIGIBLE", end_reason: str = "AGE"):
    """recipients, persons, periods for every person in ``df`` (one open period each)."""
    people = df.drop_duplicates("_person")
    person_ids = [f"{9000000000 + p}" for p in people["_person"]]
    recipients = pd.DataFrame({"person_id": person_ids, "recipient_no": people["recipient_no"].to_list()})
    persons = pd.DataFrame({"person_id": person_ids, "birth_date": people["birth_date"].to_list()})
    periods = pd.DataFrame({"person_id": person_ids, "valid_from": pd.Timestamp(valid_from),
                            "valid_to": pd.Timestamp(valid_to), "status": status, "end_reason": end_reason})
    return recipients, persons, periods
