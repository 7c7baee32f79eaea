"""Benefit calculation per receipt: eligibility on the service date, insured self-pay, deductions, co-pay.

General formula of the municipal subsidy (domain.md §3.5; S12, S16, S17, S1, S9)::

    保険診療の自己負担額 (2割 / 3割 of 総医療費; meals excluded)
    − 他法の公費負担額 (national programmes first: 小慢, 育成, 養育 …; §4, S16, S52)
    − 高額療養費 (as given on the receipt, else computed from the 区分 table; §3.2–3.3, S29, S30, S33)
    − 付加給付 actually paid (健保組合・共済 only; §3.4, S31, S32)
    = 残る自己負担額
    − 利用者一部負担金 (rules.copay; never above the remaining self-pay)
    = 助成額 (integer yen, never negative)

食事療養標準負担額 is never subsidised (S12) and stays with the family. Every amount is evaluated under the
parameters in force on the receipt's first service date (the receipt is monthly; see rules.copay).

A receipt is paid only when the child holds the subsidy on every service date of the receipt
(:func:`check_claim_eligibility`); otherwise it gets a rejection reason and a zero subsidy. The same functions
re-assess stored receipts when eligibility changes later (late 転出/死亡 notices, backdated 生活保護), and
:func:`reconcile_payments` turns the difference into 返還請求 (refund claims) or supplementary payments.

Pure and vectorised: pandas/numpy only, no I/O, no per-row Python.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from policy import Policy
from rules import copay as copay_rules
from rules import dates, high_cost
from rules.eligibility.codes import source_ids

IN_KIND = "IN_KIND"
REIMBURSEMENT = "REIMBURSEMENT"

#: Rejection reasons, in the order they are tested (the first that applies is reported).
REJECTION_REASONS: dict[str, str] = {
    "NOT_REGISTERED": "受給者番号 unknown: the child holds no 受給者証 of this city",
    "DEADLINE_PASSED": "償還払い applied for after the claim deadline (reimbursement.claim_deadline_years)",
    "NOT_IN_KIND_INSTITUTION": "現物給付 receipt from an institution outside the in-kind prefecture, or a fitting "
                               "(reimbursement.in_kind_prefecture_code, therapeutic_devices_reimbursed)",
    "NOT_ELIGIBLE_ON_SERVICE_DATE": "no eligibility period covers every service date of the receipt",
    "SUSPENDED_INCOME": "eligibility suspended by the income limit on the service date",
    "OUTPATIENT_AGE_NOT_COVERED": "通院/歯科/調剤 above the outpatient age limit (age_limit.outpatient)",
    "INPATIENT_AGE_NOT_COVERED": "入院 above the inpatient age limit (age_limit.inpatient)",
}

#: Why a service day outside eligibility is not paid: end reason of the period → (rule code, parameter, sources).
#: ``NOT_YET_ELIGIBLE`` = before the registered start; ``SUSPENDED_INCOME`` = inside a suspended period.
UNCOVERED_DAY_CODES: dict[str, tuple[str, str, str]] = {
    "NOT_YET_ELIGIBLE": ("REGISTRATION", "registration.window_days", "S12"),
    "MOVE_OUT": ("RESIDENCE_END", "MOVE_OUT", "S12,S56"),
    "DEATH": ("RESIDENCE_END", "DEATH", "S12,S56"),
    "AGE": ("AGE_LIMIT", "age_limit.inpatient", "S1,S12"),
    "WELFARE": ("WELFARE_EXCLUSION", "eligibility.excludes_public_assistance", "S56,S11"),
    "PLACEMENT": ("PLACEMENT_EXCLUSION", "eligibility.excludes_institutional_placement", "S24"),
    "INSURANCE": ("INSURANCE_REQUIRED", "eligibility.requires_health_insurance", "S12,S56"),
    "SUSPENDED_INCOME": ("INCOME_OVER_LIMIT", "income_limit.base_amount", "S9,S7,S8"),
    "OPEN": ("NOT_ELIGIBLE", "-", "S12"),
}

#: share_rule codes (健康保険法 第110条第2項, S28, S27).
SHARE_RULES: dict[str, tuple[str, str]] = {
    "PRESCHOOL": ("義務教育就学前 (to the first March 31 after reaching 6): 2割",
                  "insurance.self_pay_percent_preschool, insurance.preschool_boundary_age"),
    "GENERAL": ("from the April 1 after that: 3割", "insurance.self_pay_percent"),
}

#: high_cost_rule codes.
HIGH_COST_RULES: dict[str, tuple[str, str]] = {
    "NONE": ("self-pay below the monthly limit: no 高額療養費", "high_cost.limit.<key>"),
    "GIVEN": ("高額療養費 paid or payable as stated on the receipt", "-"),
    "COMPUTED": ("computed from the receipt's 区分: self-pay − monthly limit", "high_cost.limit.<key>, rate_rounding"),
    "COMPUTED_FALLBACK": ("no 区分 on the receipt: computed with the lowest limit (区分オ), never over-pays",
                          "high_cost.missing_category=lowest_limit, high_cost.limit.o"),
    "DERIVED_TAX_EXEMPT": ("no 区分 on the receipt; the household is exempt from 住民税 (a fact the city holds): "
                           "区分オ", "high_cost.limit.o"),
    "HELD": ("no 区分 on the receipt and none derivable: held for review (区分不明)",
             "high_cost.missing_category=hold"),
}

#: Hold reasons: the receipt is neither paid nor rejected until staff supply the missing fact.
HOLD_REASONS: dict[str, str] = {
    "HIGH_COST_CATEGORY_UNKNOWN": "区分不明: no 高額療養費 and no 適用区分 on the receipt, and the self-pay is "
                                  "above the lowest monthly limit (high_cost.missing_category)",
}
MISSING_CATEGORY_PARAMETER = "high_cost.missing_category"

#: Age bands of the prefecture subsidy report (学校教育法 school stages by the school year after age N).
AGE_BANDS = {"PRESCHOOL": 6, "ELEMENTARY": 12, "JUNIOR_HIGH": 15, "HIGH_SCHOOL": 18}

OTHER_PROGRAMME_SLOTS = (1, 2, 3)


def _i64(series: pd.Series) -> np.ndarray:
    return series.fillna(0).to_numpy(dtype=np.int64)


def _codes(values: pd.Series, categories: pd.Index | pd.Series) -> np.ndarray:
    """Position of each value in the unique ``categories`` (-1 when absent or missing)."""
    index = pd.Index(pd.Series(categories).dropna().to_numpy(dtype=object))
    return index.get_indexer(values.to_numpy(dtype=object)).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Eligibility per receipt
# ---------------------------------------------------------------------------------------------


def _via_recipient(claim_rec_code: np.ndarray, code_of_recipient: np.ndarray) -> np.ndarray:
    """The code of each receipt's person, from the code of each recipient's person (-1 when unregistered)."""
    if len(code_of_recipient) == 0:
        return np.full(len(claim_rec_code), -1, dtype=np.int64)
    return np.where(claim_rec_code >= 0, code_of_recipient[np.maximum(claim_rec_code, 0)], -1)


def coalesce_periods(periods: pd.DataFrame) -> pd.DataFrame:
    """Merge adjacent or overlapping periods of one person with the same status into one interval.

    Periods split on a rule change (e.g. 2026-04-01) must not make a receipt that straddles the split
    look uncovered. Input/output columns: ``person_id, valid_from, valid_to, status, end_reason``.
    """
    if periods.empty:
        return periods[["person_id", "valid_from", "valid_to", "status", "end_reason"]].copy()
    p = periods.sort_values(["person_id", "valid_from"], kind="stable").reset_index(drop=True)
    previous_end = p.groupby("person_id", sort=False)["valid_to"].shift()
    previous_end = previous_end.groupby(p["person_id"], sort=False).cummax()
    previous_status = p.groupby("person_id", sort=False)["status"].shift()
    new_block = (
        previous_end.isna()
        | (p["valid_from"] > previous_end + pd.Timedelta(days=1))
        | (p["status"] != previous_status)
    )
    block = new_block.cumsum()
    grouped = p.groupby(block, sort=False)
    return pd.DataFrame({
        "person_id": grouped["person_id"].first(),
        "valid_from": grouped["valid_from"].min(),
        "valid_to": grouped["valid_to"].max(),
        "status": grouped["status"].first(),
        "end_reason": grouped["end_reason"].last(),
    }).reset_index(drop=True)


def check_claim_eligibility(claims: pd.DataFrame, recipients: pd.DataFrame, persons: pd.DataFrame,
                            periods: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """Attach ``person_id``, ``birth_date`` and a ``rejection_reason`` (NA when payable) to each receipt.

    Rules (first failing one wins, :data:`REJECTION_REASONS`):

    * the 受給者番号 must belong to a registered child (``recipients``: person_id, recipient_no);
    * 償還払い: applied for on or before ``first_service_date + reimbursement.claim_deadline_years``
      (時効, 地方自治法 第236条 [I]; domain.md §1.7);
    * 現物給付 only at institutions of the in-kind prefecture (医療機関コード digits 1–2), never fittings
      (domain.md §1.7; S23, S19);
    * one period (``periods``: person_id, valid_from, valid_to, status, end_reason; adjacent periods merged)
      covers first → last service date with status ELIGIBLE (SUSPENDED_INCOME → that reason);
    * 通院・歯科・調剤 only up to the first March 31 after ``age_limit.outpatient`` (2012–2017: 小3) and 入院
      up to ``age_limit.inpatient`` (規則 第2条第2項; S12, S9, S1).

    Also returns ``ineligibility_cause``: the ``end_reason`` (MOVE_OUT, DEATH, WELFARE …) of the period
    that ended before the service date, for the refund notice.
    """
    out = claims.copy(deep=False)  # copy-on-write: new columns never touch the input
    rec = recipients[["recipient_no", "person_id"]].drop_duplicates("recipient_no")
    claim_rec_code = _codes(out["recipient_no"], rec["recipient_no"])
    registered = claim_rec_code >= 0
    person_of_rec = rec["person_id"].to_numpy(dtype=object)
    person = np.where(registered, person_of_rec[np.maximum(claim_rec_code, 0)] if len(rec) else None, None)
    out["person_id"] = pd.Series(person, index=out.index, dtype=object)

    pers = persons[["person_id", "birth_date"]].drop_duplicates("person_id")
    birth_of = np.append(pd.to_datetime(pers["birth_date"]).to_numpy(dtype="datetime64[ns]"),
                         np.datetime64("NaT", "ns"))
    # Person tables are looked up once per recipient (small), then carried to the receipts by the recipient's
    # position: one string lookup per receipt instead of one per table.
    person_code = _via_recipient(claim_rec_code, _codes(rec["person_id"], pers["person_id"]))
    out["birth_date"] = pd.Series(birth_of[np.where(person_code >= 0, person_code, len(pers))], index=out.index)

    first = out["first_service_date"]
    last = out["last_service_date"].fillna(first)
    route = out["route"].to_numpy(dtype=object)

    # 償還払い deadline (時効), counted from the service date.
    late = np.zeros(len(out), dtype=bool)
    reimbursed = np.flatnonzero(route == REIMBURSEMENT)
    if len(reimbursed) and "application_date" in out:
        sub_first = first.iloc[reimbursed]
        years = policy.series("reimbursement.claim_deadline_years", sub_first).fillna(0).astype("int64")
        deadline = dates.add_years_clamped(sub_first, years)
        late[reimbursed] = (out["application_date"].iloc[reimbursed] > deadline).fillna(False).to_numpy(dtype=bool)

    # 現物給付 only inside the prefecture, never for fittings.
    in_kind_pref = policy.series("reimbursement.in_kind_prefecture_code", first).to_numpy(dtype=object,
                                                                                        na_value="").astype("U2")
    pref = out["institution_code"].to_numpy(dtype=object, na_value="").astype("U2")
    care = out["care_type"].to_numpy(dtype=object)
    devices = policy.series("reimbursement.therapeutic_devices_reimbursed", first).fillna(True).to_numpy(dtype=bool)
    not_in_kind = (route == IN_KIND) & ((pref != in_kind_pref) | ((care == copay_rules.ORTHOSIS) & devices))

    # Interval join: the latest (coalesced) period starting on or before the first service date.
    merged_periods = coalesce_periods(periods)
    categories = pd.Series(pd.unique(merged_periods["person_id"].to_numpy(dtype=object)))
    probe = pd.DataFrame({"_row": np.arange(len(out)),
                          "pid": _via_recipient(claim_rec_code, _codes(rec["person_id"], categories)),
                          "on": first.to_numpy(dtype="datetime64[ns]")})
    probe = probe[probe["on"].notna()].sort_values("on", kind="stable")
    table = pd.DataFrame({"pid": _codes(merged_periods["person_id"], categories),
                          "on": pd.to_datetime(merged_periods["valid_from"]).to_numpy(dtype="datetime64[ns]"),
                          "valid_to": pd.to_datetime(merged_periods["valid_to"]).to_numpy(dtype="datetime64[ns]"),
                          "status": merged_periods["status"].to_numpy(dtype=object),
                          "end_reason": merged_periods["end_reason"].to_numpy(dtype=object)})
    table = table.sort_values("on", kind="stable")
    hit = pd.merge_asof(probe, table, on="on", by="pid", direction="backward")
    valid_to = np.full(len(out), np.datetime64("NaT"), dtype="datetime64[ns]")
    status = np.full(len(out), None, dtype=object)
    end_reason = np.full(len(out), None, dtype=object)
    rows = hit["_row"].to_numpy()
    valid_to[rows] = hit["valid_to"].to_numpy(dtype="datetime64[ns]")
    status[rows] = hit["status"].to_numpy(dtype=object)
    end_reason[rows] = hit["end_reason"].to_numpy(dtype=object)
    last_ns = last.to_numpy(dtype="datetime64[ns]")
    first_ns = first.to_numpy(dtype="datetime64[ns]")
    covers_first = ~np.isnat(valid_to) & (first_ns <= valid_to)
    covers_all = covers_first & (last_ns <= valid_to)
    suspended = covers_first & (status == "SUSPENDED_INCOME")
    eligible = covers_all & (status == "ELIGIBLE")

    birth = out["birth_date"]
    is_in = care == copay_rules.INPATIENT
    over_out = ~is_in & ~copay_rules.within_school_year_after_age(birth, last, policy.series("age_limit.outpatient",
                                                                                             first))
    over_in = is_in & ~copay_rules.within_school_year_after_age(birth, last, policy.series("age_limit.inpatient",
                                                                                           first))

    # A receipt that crosses the start or end of eligibility: the days inside are paid, the days outside
    # are listed with their reason (issue 12 §3). Only the receipts not wholly covered are exploded by day.
    partial = registered & ~late & ~not_in_kind & ~eligible & ~np.isnat(first_ns)
    covered_days, uncovered, first_cause = _day_coverage(out, partial, merged_periods)
    partly = partial & (covered_days[0] > 0)
    eligible = eligible | partly
    suspended = suspended & ~partly

    # The first test that holds gives the reason, kept as a small integer (0 = payable) and then labelled: no
    # million-row string arrays.
    tests = {"NOT_REGISTERED": ~registered, "DEADLINE_PASSED": late, "NOT_IN_KIND_INSTITUTION": not_in_kind,
             "SUSPENDED_INCOME": suspended, "NOT_ELIGIBLE_ON_SERVICE_DATE": ~eligible,
             "OUTPATIENT_AGE_NOT_COVERED": over_out, "INPATIENT_AGE_NOT_COVERED": over_in}
    labels = np.array([None, *REJECTION_REASONS], dtype=object)
    number = {name: i for i, name in enumerate(labels)}
    reason = np.select(list(tests.values()), [number[name] for name in tests], default=0)
    out["rejection_reason"] = pd.Series(labels[reason], index=out.index)
    not_eligible = reason == number["NOT_ELIGIBLE_ON_SERVICE_DATE"]
    cause = np.where(not_eligible, end_reason, np.where(partly, first_cause, None))
    out["ineligibility_cause"] = pd.Series(cause.astype(object), index=out.index)
    out["covered_days"] = np.where(partly, covered_days[0], np.where(eligible, covered_days[1], 0)).astype(np.int64)
    out["day_count"] = covered_days[1].astype(np.int64)
    out["uncovered_days"] = pd.Series(np.where(partly, uncovered, None).astype(object), index=out.index,
                                      dtype="string")
    return out


def _service_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """``_row, date`` per service day of each receipt.

    The receipt's ``service_dates`` (days of the month, ``;``-separated, from the UKE calendar records), else
    every calendar day from first to last service date (the documented rule where only totals are known: the
    receipt's days are spread evenly over that span).
    """
    first = frame["first_service_date"].to_numpy(dtype="datetime64[D]")
    last = frame["last_service_date"].fillna(frame["first_service_date"]).to_numpy(dtype="datetime64[D]")
    listed = (frame["service_dates"].astype("string") if "service_dates" in frame
              else pd.Series(pd.NA, index=frame.index, dtype="string"))
    has_list = listed.notna().to_numpy(dtype=bool) & (listed.fillna("").str.len() > 0).to_numpy(dtype=bool)
    rows = np.arange(len(frame))
    parts = []
    if has_list.any():
        days = listed[has_list].str.split(";").explode()
        row_of = pd.Series(rows[has_list], index=listed.index[has_list]).loc[days.index].to_numpy()
        month_start = first.astype("datetime64[M]").astype("datetime64[D]")
        day = pd.to_numeric(days, errors="coerce").fillna(1).to_numpy(dtype=np.int64)
        parts.append(pd.DataFrame({"_row": row_of, "date": month_start[row_of] + (day - 1)}))
    spans = ~has_list
    if spans.any():
        length = np.maximum((last - first).astype(np.int64), 0)[spans] + 1
        row_of = np.repeat(rows[spans], length)
        offset = np.arange(length.sum()) - np.repeat(np.cumsum(length) - length, length)
        parts.append(pd.DataFrame({"_row": row_of, "date": first[row_of] + offset}))
    long = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"_row": [], "date": []})
    long["date"] = long["date"].astype("datetime64[ns]")
    return long.drop_duplicates(ignore_index=True)


def _day_coverage(out: pd.DataFrame, candidates: np.ndarray, periods: pd.DataFrame
                  ) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray, np.ndarray]:
    """Per receipt: (covered days, all days), the uncovered days with their reason, and the first reason.

    ``covered`` = service days inside an ELIGIBLE period. Each uncovered day is rendered as
    ``YYYY-MM-DD:<RULE>:<parameter>(<sources>)`` (:data:`UNCOVERED_DAY_CODES`), ``;``-joined.
    Receipts that are not candidates count their service days as all covered (no explosion: fast path).
    """
    n = len(out)
    total = np.maximum(out["service_days"].fillna(1).to_numpy(dtype=np.int64), 1)
    covered = total.copy()
    text = np.full(n, None, dtype=object)
    first_cause = np.full(n, None, dtype=object)
    if not candidates.any():
        return (covered, total), text, first_cause
    subset = out.loc[candidates]
    long = _service_dates(subset)
    rows = np.flatnonzero(candidates)
    long["_row"] = rows[long["_row"].to_numpy(dtype=np.int64)]
    categories = pd.Series(pd.unique(periods["person_id"].to_numpy(dtype=object)))
    long["pid"] = _codes(out["person_id"].iloc[long["_row"].to_numpy()].reset_index(drop=True), categories)
    table = pd.DataFrame({"pid": _codes(periods["person_id"], categories),
                          "date": pd.to_datetime(periods["valid_from"]).to_numpy(dtype="datetime64[ns]"),
                          "valid_to": pd.to_datetime(periods["valid_to"]).to_numpy(dtype="datetime64[ns]"),
                          "status": periods["status"].to_numpy(dtype=object),
                          "end_reason": periods["end_reason"].to_numpy(dtype=object)}).sort_values("date")
    hit = pd.merge_asof(long.sort_values("date", kind="stable"), table, on="date", by="pid", direction="backward")
    inside = (hit["date"] <= hit["valid_to"]).fillna(False).to_numpy(dtype=bool)
    ok = inside & (hit["status"].to_numpy(dtype=object) == "ELIGIBLE")
    why = np.where(hit["valid_to"].isna(), "NOT_YET_ELIGIBLE",
                   np.where(inside, "SUSPENDED_INCOME", hit["end_reason"].fillna("OPEN").to_numpy(dtype=object)))
    counts = pd.DataFrame({"_row": hit["_row"].to_numpy(), "ok": ok}).groupby("_row")["ok"].agg(["sum", "size"])
    covered[counts.index.to_numpy()] = counts["sum"].to_numpy(dtype=np.int64)
    total[counts.index.to_numpy()] = counts["size"].to_numpy(dtype=np.int64)
    labels = {k: f"{r}:{p}({src})" for k, (r, p, src) in UNCOVERED_DAY_CODES.items()}
    outside = hit.loc[~ok, ["_row", "date"]].assign(why=pd.Series(why[~ok]).map(labels).to_numpy())
    if len(outside):
        outside = outside.sort_values(["_row", "date"], kind="stable")
        rendered = outside["date"].dt.strftime("%Y-%m-%d") + ":" + outside["why"]
        joined = rendered.groupby(outside["_row"].to_numpy()).agg(";".join)
        text[joined.index.to_numpy()] = joined.to_numpy(dtype=object)
        causes = pd.Series(why[~ok], index=hit.index[~ok]).loc[outside.index]
        first = causes.groupby(outside["_row"].to_numpy()).first()
        first_cause[first.index.to_numpy()] = first.to_numpy(dtype=object)
    return (covered, total), text, first_cause


# ---------------------------------------------------------------------------------------------
# Amounts
# ---------------------------------------------------------------------------------------------


def insured_self_pay(frame: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """保険診療の自己負担額: 2割 up to the first March 31 after reaching 6, then 3割 (健康保険法 第110条, S28).

    Returns ``share_rule``, ``self_pay_percent`` and ``self_pay_amount`` = floor(総医療費 × percent / 100)
    (exact for receipts, whose 総医療費 is points × 10 yen).
    """
    service = frame["first_service_date"]
    preschool = copay_rules.within_school_year_after_age(
        frame["birth_date"], service, policy.series("insurance.preschool_boundary_age", service))
    percent = np.where(preschool, _i64(policy.series("insurance.self_pay_percent_preschool", service)),
                       _i64(policy.series("insurance.self_pay_percent", service)))
    total = _i64(frame["total_cost_amount"])
    return pd.DataFrame({
        "share_rule": pd.Categorical(np.where(preschool, "PRESCHOOL", "GENERAL"), categories=list(SHARE_RULES)),
        "self_pay_percent": percent.astype(np.int64),
        "self_pay_amount": (total * percent // 100).astype(np.int64),
    }, index=frame.index)


def calculate_benefits(frame: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """The subsidy of every receipt, with each intermediate amount and the rule that produced it.

    Args:
        frame: receipts as in schemas.claims (``total_cost_amount``, ``other_amount_1..3``,
            ``high_cost_amount`` (nullable = not stated), ``high_cost_category``,
            ``high_cost_many_times_flag``, ``additional_benefit_amount``, ``meal_amount``, dates, care type,
            admission fields) plus ``birth_date`` and optionally ``rejection_reason``.
        policy: the dated parameters.

    Returns:
        ``frame`` plus the amount columns (all int64 yen): ``self_pay_amount``, ``other_public_amount``,
        ``high_cost_limit_amount``, ``high_cost_deducted_amount``, ``additional_benefit_deducted_amount``,
        ``remaining_self_pay_amount``, ``copay_rule_amount``, ``copay_amount``, ``subsidy_amount``,
        ``family_payment_amount`` (co-pay + meals); the explanation columns ``share_rule``,
        ``self_pay_percent``, ``copay_rule``, ``copay_charged_days``, ``copay_capped``, ``high_cost_rule``;
        and ``is_payable``. A rejected receipt keeps its amounts for explanation but has subsidy 0.
    """
    out = frame.copy(deep=False)
    service = out["first_service_date"]
    share = insured_self_pay(out, policy)
    for column in share:
        out[column] = share[column]
    self_pay = share["self_pay_amount"].to_numpy(dtype=np.int64)

    # 1. Other public programmes first (their own caps are already in their amounts).
    other = sum(_i64(out[f"other_amount_{i}"]) for i in OTHER_PROGRAMME_SLOTS if f"other_amount_{i}" in out)
    other = np.minimum(np.maximum(other, 0), self_pay)
    after_other = self_pay - other

    # 2. 高額療養費: as stated, else computed from the 区分. Without a 区分 (and above the lowest limit, where
    # the 区分 decides the amount): 区分オ when the household is exempt from 住民税 (the city's fact,
    # ``resident_tax_exempt``), else held for review (high_cost.missing_category = hold; never guessed).
    stated = out["high_cost_amount"] if "high_cost_amount" in out else pd.Series(pd.NA, index=out.index)
    has_stated = stated.notna().to_numpy(dtype=bool)
    category = (out["high_cost_category"] if "high_cost_category" in out
                else pd.Series(pd.NA, index=out.index, dtype=object))  # read as text by high_cost.monthly_limit
    many = (out["high_cost_many_times_flag"] if "high_cost_many_times_flag" in out
            else pd.Series(False, index=out.index))
    total_cost = out["total_cost_amount"].fillna(0).astype("int64")
    has_category = category.notna().to_numpy(dtype=bool)
    exempt = (out["resident_tax_exempt"].astype("boolean").fillna(False).to_numpy(dtype=bool)
              if "resident_tax_exempt" in out else np.zeros(len(out), dtype=bool))
    derived = ~has_stated & ~has_category & exempt
    lowest = high_cost.monthly_limit(total_cost, pd.Series(high_cost.FALLBACK_KEY, index=out.index, dtype=object),
                                     service, policy, many_times=many).to_numpy(dtype=np.int64)
    missing_rule = policy.series(MISSING_CATEGORY_PARAMETER, service).astype("string").fillna("hold").to_numpy(
        dtype=object)
    unknown = ~has_stated & ~has_category & ~derived & (self_pay > lowest)
    held = unknown & (missing_rule == "hold")
    limit = high_cost.monthly_limit(total_cost, category, service, policy, many_times=many).to_numpy(dtype=np.int64)
    computed = np.maximum(self_pay - limit, 0)
    refund = np.where(has_stated, _i64(stated), computed)
    deducted_high_cost = np.where(held, 0, np.minimum(np.maximum(refund, 0), after_other))
    rule_number = {name: i for i, name in enumerate(HIGH_COST_RULES)}  # selected as codes of the categorical
    high_cost_rule = np.select(
        [has_stated, held, computed == 0, has_category, derived],
        [rule_number[name] for name in ("GIVEN", "HELD", "NONE", "COMPUTED", "DERIVED_TAX_EXEMPT")],
        default=rule_number["COMPUTED_FALLBACK"])
    after_high_cost = after_other - deducted_high_cost

    # 3. 付加給付 actually paid (S32: some societies refuse it where a subsidy applies → only what was paid;
    # benefit.additional_benefit_basis = actually_paid, the only basis the receipts can support).
    bases = set(policy.series("benefit.additional_benefit_basis", service).dropna().unique())
    if bases - {"actually_paid"}:
        raise NotImplementedError(f"benefit.additional_benefit_basis {sorted(bases)} is not implemented")
    added = np.minimum(np.maximum(_i64(out["additional_benefit_amount"]), 0), after_high_cost)
    remaining = after_high_cost - added

    # 4. 利用者一部負担金, never above what is left of the self-pay.
    co = copay_rules.rule_copay(out, policy)
    rule_amount = co["copay_rule_amount"].to_numpy(dtype=np.int64)
    capped_flag = policy.series("copay.capped_at_self_pay", service).fillna(True).to_numpy(dtype=bool)
    copay = np.where(capped_flag, np.minimum(rule_amount, remaining), rule_amount)
    subsidy = np.maximum(remaining - copay, 0)
    # A receipt partly inside eligibility (issue 12 §3): the subsidy is split by service day — covered days /
    # all service days (floor, integer yen); the family bears the self-pay of the days outside.
    partial = np.zeros(len(out), dtype=bool)
    if "covered_days" in out and "day_count" in out:
        days = np.maximum(_i64(out["day_count"]), 1)
        covered = np.clip(_i64(out["covered_days"]), 0, days)
        partial = covered < days
        subsidy = np.where(partial, subsidy * covered // days, subsidy)
    if "receipt_amount" in out:
        # 償還払い: never more than the family actually paid, meals excluded.
        paid = out["receipt_amount"].astype("Int64")
        ceiling = np.maximum(_i64(paid) - _i64(out["meal_amount"]), 0)
        subsidy = np.where(paid.notna().to_numpy(dtype=bool), np.minimum(subsidy, ceiling), subsidy)

    rejected = (out["rejection_reason"].notna().to_numpy(dtype=bool) if "rejection_reason" in out
                else np.zeros(len(out), dtype=bool))
    on_hold = held & ~rejected  # a rejection needs no 区分
    payable = ~rejected & ~on_hold
    out["other_public_amount"] = other.astype(np.int64)
    out["high_cost_limit_amount"] = limit
    out["high_cost_deducted_amount"] = deducted_high_cost.astype(np.int64)
    out["high_cost_rule"] = pd.Categorical.from_codes(high_cost_rule, categories=list(HIGH_COST_RULES))
    out["additional_benefit_deducted_amount"] = added.astype(np.int64)
    out["remaining_self_pay_amount"] = remaining.astype(np.int64)
    out["copay_rule"] = co["copay_rule"]
    out["copay_charged_days"] = co["copay_charged_days"]
    out["copay_rule_amount"] = rule_amount
    out["copay_amount"] = copay.astype(np.int64)
    out["copay_capped"] = copay < rule_amount
    out["subsidy_amount"] = np.where(payable, subsidy, 0).astype(np.int64)
    family = np.where(payable & ~partial, copay, np.where(payable, remaining - subsidy, remaining))
    # 食事療養標準負担額 (benefit.meal_cost_subsidised: false, S12) stays with the family unless subsidised.
    meal = _i64(out["meal_amount"])
    meal_paid = np.where(payable & policy.series("benefit.meal_cost_subsidised", service).fillna(False)
                         .to_numpy(dtype=bool), meal, 0)
    out["subsidy_amount"] = out["subsidy_amount"].to_numpy(dtype=np.int64) + meal_paid
    out["family_payment_amount"] = (family + meal - meal_paid).astype(np.int64)
    out["is_payable"] = payable
    out["hold_reason"] = pd.Series(np.where(on_hold, "HIGH_COST_CATEGORY_UNKNOWN", None).astype(object),
                                   index=out.index, dtype="string")
    out["hold_code"] = _hold_codes(on_hold, service, policy, out.index)
    return out


def _hold_codes(on_hold: np.ndarray, service: pd.Series, policy: Policy, index: pd.Index) -> pd.Series:
    """The hold reason code of each held receipt: rule, parameter and legal source.

    ``HIGH_COST_CATEGORY_UNKNOWN:high_cost.missing_category=hold@<effective>(<sources>)``.
    """
    codes = pd.Series(pd.NA, index=index, dtype="string")
    if not on_hold.any():
        return codes
    eras = policy.eras(MISSING_CATEGORY_PARAMETER)
    starts = pd.to_datetime(eras["effective_from"]).to_numpy(dtype="datetime64[ns]")
    position = np.searchsorted(starts, service.to_numpy(dtype="datetime64[ns]"), side="right") - 1
    labels = np.array([f"HIGH_COST_CATEGORY_UNKNOWN:{MISSING_CATEGORY_PARAMETER}={v}@{pd.Timestamp(f):%Y-%m-%d}"
                       f"({source_ids(r)})"
                       for v, f, r in zip(eras["value"], eras["effective_from"], eras["reference"], strict=True)],
                      dtype=object)
    chosen = labels[np.clip(position, 0, len(labels) - 1)]
    codes[on_hold] = chosen[on_hold]
    return codes


def assess_claims(claims: pd.DataFrame, recipients: pd.DataFrame, persons: pd.DataFrame,
                  periods: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """:func:`check_claim_eligibility` then :func:`calculate_benefits` (the monthly benefit stage)."""
    return calculate_benefits(check_claim_eligibility(claims, recipients, persons, periods, policy), policy)


def explain(frame: pd.DataFrame) -> pd.Series:
    """One readable line per receipt naming the rule and parameter behind each amount (for staff lists)."""
    share = frame["share_rule"].astype(str).map({k: v[1] for k, v in SHARE_RULES.items()})
    copay = frame["copay_rule"].astype(str).map({k: v[1] for k, v in copay_rules.COPAY_RULES.items()})
    high = frame["high_cost_rule"].astype(str)
    reason = frame["rejection_reason"].astype("string").fillna("PAYABLE") if "rejection_reason" in frame else "PAYABLE"
    return (
        "share=" + frame["share_rule"].astype(str) + "(" + frame["self_pay_percent"].astype(str) + "%; " + share
        + ") high_cost=" + high + " copay=" + frame["copay_rule"].astype(str) + "(" + copay + ")"
        + np.where(frame["copay_capped"], " capped_at_self_pay(copay.capped_at_self_pay)", "")
        + " status=" + reason
    )


# ---------------------------------------------------------------------------------------------
# Overpayments, underpayments
# ---------------------------------------------------------------------------------------------


def reconcile_payments(entitled: pd.DataFrame, ledger: pd.DataFrame) -> pd.DataFrame:
    """Compare what each receipt is entitled to now with what was paid and claimed back so far.

    Args:
        entitled: ``claim_id, person_id, route, subsidy_amount, rejection_reason, ineligibility_cause``
            (the re-assessment under the current eligibility periods).
        ledger: one or more rows per receipt with ``paid_amount`` (payments, incl. supplementary),
            ``refund_claimed_amount`` (返還請求 in force — issued, collected or written off; a cancelled one
            counts only with what was collected) and ``refund_collected_amount`` (what was collected on them).

    Rules (the balance of the receipt is ``due − (paid − claimed)``):

    * balance < 0 → ``REFUND_CLAIM`` (返還請求) of the difference, with the rejection reason;
    * balance > 0 and a refund claim still uncollected (open or written off) → the eligibility was restored:
      ``cancel_refunds`` (the city drops the uncollected part); the balance is then ``due − (paid −
      collected)`` — what the family already repaid comes back as a supplementary payment;
    * balance > 0 otherwise → ``SUPPLEMENTARY`` (or ``INITIAL`` for a receipt never paid);
    * a cancellation alone is ``CANCEL_REFUNDS``.

    Returns:
        One row per receipt with something to do: ``claim_id, person_id, route, adjustment_type, amount``
        (positive int64 yen; 0 for CANCEL_REFUNDS), ``reason_code`` (rejection reason, ``AMOUNT_CHANGED``,
        ``NEW_CLAIM`` or ``ELIGIBILITY_RESTORED``), ``ineligibility_cause``, ``cancel_refunds``. A second run
        over the same data yields nothing, because the ledger then holds the effects.
    """
    if "hold_reason" in entitled:  # a held receipt is decided later, when its missing fact is supplied
        entitled = entitled.loc[entitled["hold_reason"].isna().to_numpy(dtype=bool)]
    columns = [c for c in ("paid_amount", "refund_claimed_amount", "refund_collected_amount") if c in ledger]
    led = ledger.groupby("claim_id", sort=False)[columns].sum()
    frame = entitled.join(led, on="claim_id")
    known = frame["paid_amount"].notna().to_numpy(dtype=bool)
    paid = _i64(frame["paid_amount"])
    claimed = _i64(frame["refund_claimed_amount"])
    collected = (_i64(frame["refund_collected_amount"]) if "refund_collected_amount" in frame else claimed)
    due = _i64(frame["subsidy_amount"])
    balance = due - (paid - claimed)
    cancel = (balance > 0) & (claimed > collected)
    delta = np.where(cancel, due - (paid - collected), balance)
    kind = np.select([delta < 0, (delta > 0) & known, delta > 0, cancel],
                     ["REFUND_CLAIM", "SUPPLEMENTARY", "INITIAL", "CANCEL_REFUNDS"], default="")
    rejection = frame["rejection_reason"].astype("string").to_numpy(dtype=object)
    cause = (frame["ineligibility_cause"].astype("string").to_numpy(dtype=object) if "ineligibility_cause" in frame
             else np.full(len(frame), None, dtype=object))
    reason = np.select(
        [kind == "REFUND_CLAIM", cancel, kind == "INITIAL"],
        [np.where(pd.isna(rejection), np.where(pd.isna(cause), "AMOUNT_CHANGED", "DAYS_NOT_ELIGIBLE"), rejection),
         "ELIGIBILITY_RESTORED", "NEW_CLAIM"],
        default="AMOUNT_CHANGED",
    )
    result = pd.DataFrame({
        "claim_id": frame["claim_id"].to_numpy(),
        "person_id": frame["person_id"].to_numpy(),
        "route": frame["route"].to_numpy(),
        "adjustment_type": kind,
        "amount": np.abs(delta).astype(np.int64),
        "reason_code": reason,
        "ineligibility_cause": (frame["ineligibility_cause"].to_numpy()
                                if "ineligibility_cause" in frame else None),
        "cancel_refunds": cancel,
    })
    return result[result["adjustment_type"] != ""].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------


def age_band(birth: pd.Series, service: pd.Series) -> pd.Series:
    """School stage on the service date, the bands of the prefecture subsidy report (domain.md §2, §6).

    PRESCHOOL (to 6歳到達年度末), ELEMENTARY (12), JUNIOR_HIGH (15), HIGH_SCHOOL (18), else OVER_AGE.
    """
    # One school-year index per receipt, compared with each band's age (rules.copay.school_year_index).
    k, missing = copay_rules.school_year_index(birth, service)
    labels = np.array([*AGE_BANDS, "OVER_AGE"], dtype=object)
    band = np.select([~missing & (k < n) for n in AGE_BANDS.values()], np.arange(len(AGE_BANDS)),
                     default=len(AGE_BANDS))
    return pd.Series(labels[band], index=service.index, dtype="string")


def summarise_for_prefecture(assessed: pd.DataFrame) -> pd.DataFrame:
    """Totals of paid receipts by service month, age band and 入院/入院外 (prefecture subsidy report)."""
    needed = [c for c in ("service_month", "first_service_date", "birth_date", "care_type", "total_cost_amount",
                          "self_pay_amount", "subsidy_amount") if c in assessed]
    paid = assessed.loc[assessed["is_payable"].to_numpy(dtype=bool), needed]
    setting = np.where(paid["care_type"].astype(str) == copay_rules.INPATIENT, "INPATIENT", "OUTPATIENT")
    keyed = pd.DataFrame({
        "service_month": (paid["service_month"].to_numpy(dtype=object) if "service_month" in paid
                          else paid["first_service_date"].dt.strftime("%Y-%m").to_numpy(dtype=object)),
        "age_band": age_band(paid["birth_date"], paid["first_service_date"]),
        "setting": setting,
        "total_cost_amount": _i64(paid["total_cost_amount"]),
        "self_pay_amount": _i64(paid["self_pay_amount"]),
        "subsidy_amount": _i64(paid["subsidy_amount"]),
    })
    summary = keyed.groupby(["service_month", "age_band", "setting"], sort=True).agg(
        receipts=("subsidy_amount", "size"), total_cost_amount=("total_cost_amount", "sum"),
        self_pay_amount=("self_pay_amount", "sum"), subsidy_amount=("subsidy_amount", "sum"),
    )
    return summary.reset_index()


def summarise_rejections(assessed: pd.DataFrame) -> pd.DataFrame:
    """Rejected receipts by reason: ``rejection_reason, receipts`` (no personal data)."""
    reasons = assessed["rejection_reason"].dropna()
    counts = reasons.value_counts().rename_axis("rejection_reason").reset_index(name="receipts")
    return counts.sort_values("rejection_reason", ignore_index=True)
