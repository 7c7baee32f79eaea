"""Check a UKE bill: match each city KO to a recipient, assess the receipt, compare with the billed figure.

1. :func:`match_recipients` — 公費負担者番号 + 受給者番号 → the child; the RE 生年月日 and 男女区分 must be
   the child's. Unknown number or a different birth date/sex → ``REVIEW`` (never paid unseen).
2. :func:`stage_frame` — the receipt as rules.benefits reads it (総医療費 = 点数 × 10 円; 高額療養費 区分
   from 特記事項 区ア〜区オ, computed by the rules; no other 公費 amounts: a 併用 receipt then differs
   and goes to 過誤/再審査 rather than being paid on trust).
3. :func:`compare` — the city's own assessment (rules.benefits under the rules of the service date) against
   KO 負担金額 公費: equal → ``APPROVED``; different → ``DISPUTED`` (過誤/再審査 request) with both figures
   and the rule that differs (``differing_rule``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from policy import Policy
from rules import benefits

REVIEW_REASONS = {
    "UNMATCHED_RECIPIENT": "公費負担者番号 + 受給者番号 match no recipient of this city",
    "BIRTH_DATE_MISMATCH": "生年月日 on the receipt differs from the recipient's",
    "SEX_MISMATCH": "男女区分 on the receipt differs from the recipient's",
}
#: differing_rule codes of a 過誤/再審査 request.
DIFFERING_RULES = {
    "ELIGIBILITY": "the city finds no subsidy on the service dates (rejection reason in rule_detail)",
    "COPAY": "利用者一部負担金 differs (rules.copay; KO 一部負担金 vs the city's co-pay)",
    "HIGH_COST": "self-pay after 高額療養費 differs (rules.high_cost; 特記事項 区分)",
    "SELF_PAY": "insured self-pay (2割/3割 of 総医療費) differs (insurance.self_pay_percent*)",
}


def match_recipients(receipts: pd.DataFrame, recipients: pd.DataFrame, persons: pd.DataFrame) -> pd.DataFrame:
    """Add ``person_id`` and ``review_reason`` (NA when the KO matches a recipient with the same birth/sex).

    ``recipients``: person_id, recipient_no, public_payer_number; ``persons``: person_id, birth_date, sex_code.
    """
    keyed = recipients[["public_payer_number", "recipient_no", "person_id"]].drop_duplicates(
        ["public_payer_number", "recipient_no"])
    out = receipts.drop(columns=["person_id"], errors="ignore").merge(
        keyed, on=["public_payer_number", "recipient_no"], how="left")
    people = persons[["person_id", "birth_date", "sex_code"]].rename(
        columns={"birth_date": "_birth", "sex_code": "_sex"})
    out = out.merge(people, on="person_id", how="left")
    matched = out["person_id"].notna().to_numpy(dtype=bool)
    birth_ok = (pd.to_datetime(out["birth_date"]) == pd.to_datetime(out["_birth"])).to_numpy(dtype=bool)
    sex_ok = (out["sex_code"].astype("string") == out["_sex"].astype("string")).fillna(False).to_numpy(dtype=bool)
    reason = np.select([~matched, ~birth_ok, ~sex_ok],
                       ["UNMATCHED_RECIPIENT", "BIRTH_DATE_MISMATCH", "SEX_MISMATCH"], default="")
    out["review_reason"] = pd.Series(np.where(reason == "", None, reason), index=out.index, dtype=object)
    return out.drop(columns=["_birth", "_sex"])


def stage_frame(receipts: pd.DataFrame) -> pd.DataFrame:
    """The rules.benefits input of each receipt (schemas.claims.STAGE_COLUMNS and the birth date)."""
    n = len(receipts)
    frame = pd.DataFrame({
        "claim_id": receipts["claim_id"].to_numpy(dtype=object), "route": benefits.IN_KIND,
        "billing_month": receipts["billing_month"].to_numpy(dtype=object),
        "service_month": receipts["service_month"].to_numpy(dtype=object),
        "first_service_date": pd.to_datetime(receipts["first_service_date"]).astype("datetime64[ns]").to_numpy(),
        "last_service_date": pd.to_datetime(receipts["last_service_date"]).astype("datetime64[ns]").to_numpy(),
        "service_days": receipts["service_days"].astype("int64").to_numpy(),
        "institution_code": receipts["institution_code"].to_numpy(dtype=object),
        "care_type": receipts["care_type"].to_numpy(dtype=object),
        "first_visit_flag": receipts["first_visit_flag"].astype(bool).to_numpy(),
        "admission_id": receipts["admission_id"].astype(object).where(receipts["admission_id"].notna(), None)
        .to_numpy(dtype=object),
        "admission_date": pd.to_datetime(receipts["admission_date"]).astype("datetime64[ns]").to_numpy(),
        "total_cost_amount": receipts["total_points"].astype("int64").to_numpy() * 10,
        "receipt_amount": pd.array([pd.NA] * n, dtype="Int64"),
        "insurer_number": receipts["insurer_number"].to_numpy(dtype=object),
        "recipient_no": receipts["recipient_no"].to_numpy(dtype=object),
        "other_law_no_1": None, "other_amount_1": 0, "other_law_no_2": None, "other_amount_2": 0,
        "other_law_no_3": None, "other_amount_3": 0,
        "high_cost_amount": pd.array([pd.NA] * n, dtype="Int64"),
        "high_cost_category": pd.array(receipts["high_cost_category"].astype(object)
                                       .where(receipts["high_cost_category"].notna(), None), dtype="string"),
        "high_cost_many_times_flag": receipts["high_cost_many_times_flag"].astype(bool).to_numpy(),
        "additional_benefit_amount": 0, "meal_amount": receipts["meal_amount"].astype("int64").to_numpy(),
        "application_date": pd.NaT, "reimbursement_reason": None,
    }, index=receipts.index)
    frame["application_date"] = frame["application_date"].astype("datetime64[ns]")
    return frame


def compare(receipts: pd.DataFrame, assessed: pd.DataFrame) -> pd.DataFrame:
    """Outcome per receipt: status, city figures, differing rule and the rule detail.

    ``receipts`` carries ``review_reason`` (:func:`match_recipients`) and the billed KO figures; ``assessed``
    is rules.benefits.assess_claims of the matched receipts (index aligned, may be a subset).
    """
    out = receipts.copy()
    for column in ("city_subsidy_amount", "city_copay_amount", "city_self_pay_amount"):
        out[column] = pd.array([pd.NA] * len(out), dtype="Int64")
    out["copay_rule_amount"] = 0
    out["differing_rule"] = None
    out["rule_detail"] = None
    out["status"] = np.where(out["review_reason"].notna(), "REVIEW", "")
    if len(assessed):
        a = assessed
        idx = a.index
        city = a["subsidy_amount"].astype("int64")
        copay = a["copay_amount"].astype("int64")
        remaining = a["remaining_self_pay_amount"].astype("int64")
        billed = out.loc[idx, "billed_subsidy_amount"].astype("int64")
        billed_copay = out.loc[idx, "billed_copay_amount"].astype("int64")
        rejected = a["rejection_reason"].notna()
        equal = (city == billed) & ~rejected
        rule = np.select(
            [rejected, equal, copay != billed_copay, a["high_cost_deducted_amount"].astype("int64") > 0],
            ["ELIGIBILITY", "", "COPAY", "HIGH_COST"], default="SELF_PAY")
        out.loc[idx, "city_subsidy_amount"] = city.to_numpy()
        out.loc[idx, "city_copay_amount"] = copay.to_numpy()
        out.loc[idx, "city_self_pay_amount"] = remaining.to_numpy()
        out.loc[idx, "copay_rule_amount"] = a["copay_rule_amount"].astype("int64").to_numpy()
        out.loc[idx, "status"] = np.where(equal, "APPROVED", "DISPUTED")
        out.loc[idx, "differing_rule"] = np.where(rule == "", None, rule)
        out.loc[idx, "rule_detail"] = benefits.explain(a).to_numpy(dtype=object)
    return out


def city_payer_numbers(policy: Policy) -> frozenset[str]:
    """Every 公費負担者番号 the city has used (program.public_payer_number, all eras): KO of this city."""
    return frozenset(str(e.value) for e in policy.parameter("program.public_payer_number").entries if e.value)
