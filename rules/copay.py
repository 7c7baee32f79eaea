"""利用者一部負担金 (the family's co-pay under the subsidy), by the rules of each receipt's service date.

仙台市子ども医療費の助成に関する規則 第4条第2項〜第4項 (before 規則第103号); domain.md §1.2, §1.4:

* 2012-01-01 → 2017-09-30 (S12): 通院 0–2歳 free, 3歳〜小3 初診時500円 (再診 free); 入院 未就学 free,
  小1〜中3 500円 a day for the first 10 days of one admission (1回の入院), 11日目以降 free.
* 2017-10-01 → 2026-03-31 (S9, S56): 通院 未就学 free, 小1〜中3 初診時500円; 入院 as above; the
  admission co-pay is capped at 5,000円 (S17).
* from 2026-04-01 (規則第103号, S1, S3): no co-pay.

Everything above is data (``copay.*`` parameters); the code only knows the shapes: a free age band (by
completed age or by the school year after age N), a first-visit amount, a revisit amount, a pharmacy
amount, and a daily inpatient amount for days 1 … ``max_charged_days`` of an admission capped per admission.

Admission days are counted across month ends: one admission (``admission_id``) has one receipt per month,
so the day number of a receipt's first day = days of the same admission in earlier receipts + 1. Earlier
receipts are those in the frame (``groupby(admission_id).cumsum``) plus those processed in earlier runs
(``admission_prior_days`` / ``admission_prior_copay_amount``, read from the store). A receipt is charged
under the parameters in force on its first service date; receipts are monthly and every change so far
took effect on the 1st of a month, so a receipt never straddles two eras.

The co-pay is then capped at the self-pay left after insurance, other programmes and 高額療養費
(``copay.capped_at_self_pay``, rules.benefits) — that cap also yields the 小児慢性 interplay of FAQ Q9
(S16; cases T9, T10).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from policy import Policy
from rules import dates

#: copay_rule codes → (rule, parameters). Explains every co-pay (docs/benefits.md).
COPAY_RULES: dict[str, tuple[str, str]] = {
    "FREE_AGE_OUTPATIENT": ("通院: child in the free age band", "copay.outpatient.free_age, free_age_basis"),
    "FREE_AGE_INPATIENT": ("入院: child in the free age band (未就学)", "copay.inpatient.free_age, free_age_basis"),
    "FIRST_VISIT": ("通院・歯科 初診: a fixed co-pay per receipt with a first visit",
                    "copay.outpatient.first_visit_amount"),
    "REVISIT": ("通院・歯科 再診: repeat visits only", "copay.outpatient.revisit_amount"),
    "PHARMACY": ("調剤: dispensing receipt", "copay.pharmacy_amount"),
    "INPATIENT_DAYS": (
        "入院: daily amount for days 1..N of one admission (counted across month ends), capped per admission",
        "copay.inpatient.daily_amount, max_charged_days, cap_per_admission",
    ),
    "NONE_ORTHOSIS": ("治療用装具: no co-pay rule names fittings (償還払い only)",
                      "reimbursement.therapeutic_devices_reimbursed"),
}

INPATIENT = "INPATIENT"
OUTPATIENT = "OUTPATIENT"
DENTAL = "DENTAL"
PHARMACY = "PHARMACY"
ORTHOSIS = "ORTHOSIS"
CARE_TYPES = (INPATIENT, OUTPATIENT, DENTAL, PHARMACY, ORTHOSIS)


def _int(series: pd.Series) -> np.ndarray:
    return series.fillna(0).to_numpy(dtype=np.int64)


def _year_month(values: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    days = np.asarray(values, dtype="datetime64[D]")
    missing = np.isnat(days)
    months = days.astype("datetime64[M]").astype(np.int64)
    return months // 12 + 1970, months % 12 + 1, missing


def school_year_index(birth: pd.Series, service: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(k, missing): the service date is on or before the first March 31 after reaching N exactly when k < N.

    N歳に達する日 = the day before the N-th birthday (a Feb 29 birth reaches it on Feb 28, still in February),
    so its first March 31 on or after is March 31 of ``year(birth − 1 day) + N + (month(birth − 1 day) > 3)``
    (年齢計算ニ関スル法律, 民法143条; domain.md §6, S43–S45). A service date lies on or before March 31 of year
    E exactly when its school year (April–March, named by the year of its April) is before E; hence
    k = school year of the service − year(birth − 1 day) − (month(birth − 1 day) > 3). ``missing``: either date.
    """
    day_before = np.asarray(birth, dtype="datetime64[D]") - np.timedelta64(1, "D")
    b_year, b_month, b_missing = _year_month(day_before)
    s_year, s_month, s_missing = _year_month(service)
    return (s_year - (s_month <= 3)) - b_year - (b_month > 3), b_missing | s_missing


def within_school_year_after_age(birth: pd.Series, service: pd.Series, age: pd.Series | np.ndarray) -> np.ndarray:
    """``service <= rules.dates.school_year_end_after_age(birth, age)``, in integer arithmetic (fast path).

    See :func:`school_year_index`. Missing dates or N give False.
    """
    n = pd.Series(np.asarray(age)).astype("Float64")
    n_missing = n.isna().to_numpy()
    k, missing = school_year_index(birth, service)
    return (k < n.fillna(0).to_numpy(dtype=np.int64)) & ~missing & ~n_missing


def in_free_band(birth: pd.Series, service: pd.Series, age: pd.Series, basis: pd.Series) -> pd.Series:
    """True where the child is in a free age band.

    ``completed_age``: the age on the service date is below N; ``school_year_end``: the service date is on
    or before the first March 31 after reaching N (age law, rules.dates).
    """
    by_school_year = within_school_year_after_age(birth, service, age)
    by_age_rows = (basis == "completed_age").fillna(False).to_numpy(dtype=bool)
    result = np.where(by_age_rows, False, by_school_year)
    if by_age_rows.any():
        n = age[by_age_rows].fillna(0).astype("int64")
        younger = dates.age_on(birth[by_age_rows], service[by_age_rows]) < n
        result[by_age_rows] = younger.fillna(False).to_numpy(dtype=bool)
    return pd.Series(result, index=service.index)


def admission_day_offsets(inpatient: pd.DataFrame) -> pd.Series:
    """Days of the same admission *before* each inpatient receipt, counted across month ends.

    Vectorised: sort the inpatient receipts by admission and first service date, take the cumulative
    sum per ``admission_id`` and subtract the receipt's own days; add what earlier runs stored
    (``admission_prior_days``).
    """
    history = inpatient.get("admission_prior_days", pd.Series(0, index=inpatient.index)).fillna(0).astype("int64")
    ordered = inpatient.sort_values(["admission_id", "first_service_date", "claim_id"], kind="stable")
    days = ordered["service_days"].fillna(0).astype("int64")
    before = days.groupby(ordered["admission_id"].to_numpy(), sort=False).cumsum() - days
    return (before.reindex(inpatient.index) + history).astype("int64")


def rule_copay(frame: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """The co-pay each receipt carries under the rules of its service date, before the self-pay cap.

    Args:
        frame: receipts with ``claim_id, care_type, first_service_date, service_days, first_visit_flag,
            admission_id, birth_date`` (optional ``admission_prior_days``, ``admission_prior_copay_amount``
            from earlier runs).
        policy: the dated parameters (``copay.*``).

    Returns:
        A frame on the same index: ``copay_rule`` (a :data:`COPAY_RULES` code), ``copay_rule_amount``
        (int64 yen) and ``copay_charged_days`` (inpatient days that carried the daily amount).
    """
    service = frame["first_service_date"]
    birth = frame["birth_date"]
    care = frame["care_type"].to_numpy(dtype=object)
    is_in = care == INPATIENT
    is_out = (care == OUTPATIENT) | (care == DENTAL)
    is_pharm = care == PHARMACY

    free_out = in_free_band(birth, service, policy.series("copay.outpatient.free_age", service),
                            policy.series("copay.outpatient.free_age_basis", service)).to_numpy()
    free_in = in_free_band(birth, service, policy.series("copay.inpatient.free_age", service),
                           policy.series("copay.inpatient.free_age_basis", service)).to_numpy()
    first = frame["first_visit_flag"].fillna(False).to_numpy(dtype=bool)
    first_amount = _int(policy.series("copay.outpatient.first_visit_amount", service))
    revisit_amount = _int(policy.series("copay.outpatient.revisit_amount", service))
    pharmacy_amount = _int(policy.series("copay.pharmacy_amount", service))

    # Inpatient: day number across month ends, then the per-admission cap over the rule amounts. Only the
    # inpatient rows take part (grouped by admission_id); days in the free band count as days of the stay.
    daily = _int(policy.series("copay.inpatient.daily_amount", service))
    max_days = _int(policy.series("copay.inpatient.max_charged_days", service))
    cap = _int(policy.series("copay.inpatient.cap_per_admission", service))
    days = _int(frame["service_days"])
    charged_days = np.zeros(len(frame), dtype=np.int64)
    inpatient_amount = np.zeros(len(frame), dtype=np.int64)
    rows = np.flatnonzero(is_in)
    if len(rows):
        sub = frame.iloc[rows].reset_index(drop=True)  # positional: the caller's index may repeat
        sub = sub.assign(admission_id=sub["admission_id"].fillna(sub["claim_id"]))
        prior_days = admission_day_offsets(sub).to_numpy(dtype=np.int64)
        charged = np.where(free_in[rows], 0, np.clip(max_days[rows] - prior_days, 0, days[rows]))
        amount = charged * daily[rows]
        prior_copay = _int(sub["admission_prior_copay_amount"]) if "admission_prior_copay_amount" in sub else 0
        ordered = pd.DataFrame({"key": sub["admission_id"].to_numpy(), "d": sub["first_service_date"].to_numpy(),
                                "c": sub["claim_id"].to_numpy(), "amount": amount}).sort_values(
            ["key", "d", "c"], kind="stable")
        before = (ordered["amount"].groupby(ordered["key"].to_numpy(), sort=False).cumsum() - ordered["amount"])
        before = before.sort_index().to_numpy(dtype=np.int64)
        room = np.maximum(cap[rows] - prior_copay - before, 0)
        charged_days[rows] = charged
        inpatient_amount[rows] = np.minimum(amount, room)

    rule_number = {name: i for i, name in enumerate(COPAY_RULES)}  # selected as codes of the categorical
    code = np.select(
        [is_in & free_in, is_in, is_out & free_out, is_out & first, is_out, is_pharm],
        [rule_number[name] for name in ("FREE_AGE_INPATIENT", "INPATIENT_DAYS", "FREE_AGE_OUTPATIENT",
                                        "FIRST_VISIT", "REVISIT", "PHARMACY")],
        default=rule_number["NONE_ORTHOSIS"],
    )
    amount = np.select(
        [is_in & free_in, is_in, is_out & free_out, is_out & first, is_out, is_pharm],
        [0, inpatient_amount, 0, first_amount, revisit_amount, pharmacy_amount],
        default=0,
    ).astype(np.int64)
    return pd.DataFrame(
        {
            "copay_rule": pd.Categorical.from_codes(code, categories=list(COPAY_RULES)),
            "copay_rule_amount": np.maximum(amount, 0),
            "copay_charged_days": charged_days.astype(np.int64),
        },
        index=frame.index,
    )
