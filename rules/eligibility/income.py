"""The guardian income test (所得制限) of the こども医療費助成.

Legal rule (S9, S7, S8, S5, S51; domain.md §1): while ``income_limit.base_amount`` is in force
(2012-01-01 → 2023-03-31) a child whose deciding guardian's 所得 exceeds the limit is *suspended*
(支給停止, ``SUSPENDED_INCOME``), not lost; from 2023-04-01 (S5) there is no test. The details, and the
assumptions [I] (income cycles, deciding guardian, flat deduction), are in :func:`income_status_pieces`.
Not modelled: the COVID special of 2021-10 → 2022-02-28 (S20: households over the limit whose income fell to the
住民税非課税 level could apply) — the city holds no record of those applications; a child admitted under it
must be entered as an income record within the limit (tax.csv) for the cycle concerned.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from rules import intervals as iv
from rules.eligibility.codes import BOUNDARY_RANK, ReasonCodes, format_code, source_ids
from rules.eligibility.components import component
from rules.eligibility.eras import era_segments, is_set, policy_eras

INCOME_PARAMETERS = (
    "income_limit.base_amount",
    "income_limit.per_dependent_amount",
    "income_limit.elderly_dependent_addition",
    "income_limit.flat_deduction",
    "income_limit.income_year_switch_month",
    "income_limit.judged_guardian",
    "income_limit.limit_comparison",
    "income_limit.single_parent_deduction",
    "income_limit.widow_deduction",
    "income_limit.working_student_deduction",
    "income_limit.specified_dependent_addition",
)
#: Status deductions of the 児童手当 convention [I]: tax.csv flag column → parameter (a fixed amount each).
STATUS_DEDUCTIONS = {
    "single_parent_flag": "income_limit.single_parent_deduction",
    "widow_flag": "income_limit.widow_deduction",
    "working_student_flag": "income_limit.working_student_deduction",
}
OPTIONAL_TAX_COLUMNS = (*STATUS_DEDUCTIONS, "specified_dependents_count")
HEAD, SPOUSE, CHILD_OF_HEAD = "01", "02", "03"  # 続柄 (docs/formats/residents.md): 世帯主, 配偶者, 子
GUARDIAN_RELATIONSHIP_CODES = (HEAD, SPOUSE)  # the 住記 fallback for the parents of a 子 (03)
TAX_DEDUCTION_COLUMNS = (
    "casualty_loss_deduction_amount",
    "medical_deduction_amount",
    "small_business_deduction_amount",
    "disability_deduction_amount",
)


def _income_segments(policy: Any, horizon_start: pd.Timestamp, horizon_end: pd.Timestamp) -> pd.DataFrame:
    """Pieces of the horizon with constant income parameters and one income cycle (課税年度)."""
    switch = policy_eras(policy, "income_limit.income_year_switch_month")
    months = sorted({int(v) for v in switch["value"].dropna()})
    breaks = [
        pd.Timestamp(year=year, month=month, day=1)
        for year in range(horizon_start.year - 1, horizon_end.year + 2)
        for month in months
    ]  # a few dates per year of horizon
    seg = era_segments(policy, INCOME_PARAMETERS, breaks=[*breaks, horizon_start, horizon_end + iv.ONE_DAY])
    seg = seg.loc[(seg["seg_end"] >= horizon_start) & (seg["seg_start"] <= horizon_end)].copy()
    seg["seg_start"] = seg["seg_start"].clip(lower=horizon_start)
    seg["seg_end"] = seg["seg_end"].clip(upper=horizon_end)
    seg["has_test"] = is_set(seg["income_limit.base_amount"])
    judged = set(seg.loc[seg["has_test"], "income_limit.judged_guardian"].dropna())
    if judged - {"each_guardian"}:
        raise NotImplementedError(f"income_limit.judged_guardian {sorted(judged)} is not implemented")
    # The 課税年度 of a segment is read from the parameter; it exists only where the income test applies.
    switch_month = pd.to_numeric(seg["income_limit.income_year_switch_month"], errors="coerce")
    unset = seg["has_test"] & switch_month.isna()
    if unset.any():
        raise ValueError("income_limit.income_year_switch_month is not set on "
                         f"{seg.loc[unset, 'seg_start'].min():%Y-%m-%d} while income_limit.base_amount is")
    tax_year = seg["seg_start"].dt.year - (seg["seg_start"].dt.month < switch_month).astype("int64")
    seg["tax_year"] = tax_year.astype("Int64").where(seg["has_test"])
    return seg.reset_index(drop=True)


def income_test_tax_years(policy: Any, horizon_start: pd.Timestamp, horizon_end: pd.Timestamp) -> list[int]:
    """The 課税年度 the income test reads over the horizon (none once the test is abolished, S5).

    Tax rows of other years never change a period, so a caller may load only these.
    """
    seg = _income_segments(policy, pd.Timestamp(horizon_start), pd.Timestamp(horizon_end))
    return sorted({int(year) for year in seg.loc[seg["has_test"], "tax_year"]})


def income_status_pieces(
    children: pd.DataFrame,
    applications: pd.DataFrame,
    households: pd.DataFrame,
    tax: pd.DataFrame,
    policy: Any,
    horizon_start: pd.Timestamp,
    horizon_end: pd.Timestamp,
    codes: ReasonCodes | None = None,
) -> pd.DataFrame:
    """Status per child over the horizon from the income test (所得制限; S9, S7, S8, S5, S51).

    Rule, while ``income_limit.base_amount`` is in force (2012-01-01 → 2023-03-31):

    * Income cycles run from the first day of ``income_limit.income_year_switch_month`` (October) of
      year Y to the day before it in Y+1 and use 課税年度 Y (income of calendar year Y-1): January–
      September are judged on 前々年 income, October on on 前年 income (S51 [I]).
    * Guardians: the parents (保護者, 父母) — the applicant and the applicant's spouse from the 資格登録届,
      else from the 住記 on the date (:func:`_guardian_pairs`); each must be within the limit, so the
      guardian with the highest income decides (``judged_guardian`` = each_guardian, S51 [I]).
    * 所得 = total_income_amount − ``flat_deduction`` (80,000 [I]) − (雑損 + 医療費 + 小規模企業共済等掛金
      + 障害者 deductions) − the fixed ひとり親 / 寡婦 / 勤労学生 deductions where the tax record flags them
      (``single_parent_deduction`` 350,000 from 2021-10, ``widow_deduction`` 270,000,
      ``working_student_deduction`` 270,000: 児童手当法施行令 第3条 [I]), floored at 0. Limit = ``base_amount``
      + ``per_dependent_amount`` × dependents_count + ``elderly_dependent_addition`` ×
      elderly_dependents_count (+ ``specified_dependent_addition`` × specified_dependents_count, 0 [I]) of
      that guardian (5,320,000 + 380,000/人, S9; 6,220,000 + 380,000/人 from 2021-10-01, S7).
    * 所得 at or over the limit (``income_limit.limit_comparison`` = at_or_over, 児童手当法 第5条 「以上」 [I];
      ``over`` = strictly greater) → ``SUSPENDED_INCOME`` (支給停止) with
      ``INCOME_OVER_LIMIT``; no tax record for any guardian → ``SUSPENDED_INCOME`` with
      ``INCOME_UNKNOWN`` (保留 until the income is known); else ``ELIGIBLE``.

    From 2023-04-01 (``base_amount`` = None, S5) there is no test: ``ELIGIBLE`` with ``NO_INCOME_TEST``.

    Returns ``person_id, start, end, rank, codes, status`` pieces covering the horizon per child.
    """
    codes = codes or ReasonCodes()
    seg = _income_segments(policy, horizon_start, horizon_end)
    ids = children[["person_id"]].drop_duplicates()
    base = "income_limit.base_amount"

    # no-test pieces: one per era of the base amount (the Oct-1 cuts do not matter there)
    free = seg.loc[~seg["has_test"]]
    free = free.groupby(f"{base}#from", dropna=False, as_index=False, sort=False).agg(
        seg_start=("seg_start", "min"), seg_end=("seg_end", "max"), ref=(f"{base}#ref", "first")
    )
    free["mask"] = [
        codes.mask(
            format_code("NO_INCOME_TEST", base if pd.notna(f) else None, None, f),
            source_ids(r) if pd.notna(f) else "",
        )
        for f, r in zip(free[f"{base}#from"], free["ref"], strict=True)
    ]
    free_pieces = ids.merge(free[["seg_start", "seg_end", "mask"]], how="cross")
    free_pieces["status"] = 0

    test = seg.loc[seg["has_test"]].reset_index(drop=True)
    test["seg_id"] = np.arange(len(test))
    for outcome in ("INCOME_WITHIN_LIMIT", "INCOME_OVER_LIMIT", "INCOME_UNKNOWN"):
        test[outcome] = [
            codes.mask(format_code(outcome, base, v, f), source_ids(r))
            for v, f, r in zip(test[base], test[f"{base}#from"], test[f"{base}#ref"], strict=True)
        ]
    if len(test):
        guardians = _guardian_pairs(children, applications, households)
        decided = _deciding_income(guardians, tax, test)
        grid = ids.merge(test[["seg_id", "seg_start", "seg_end"]], how="cross")
        grid = grid.merge(decided, on=["person_id", "seg_id"], how="left")
        outcomes = test.set_index("seg_id")
        unknown = grid["income"].isna().to_numpy()
        income = grid["income"].to_numpy(dtype=float)
        limit = grid["limit"].to_numpy(dtype=float)
        # 以上 (at_or_over, 児童手当法 第5条 [I]) or 超 (over): income_limit.limit_comparison of the segment
        at_counts = (test["income_limit.limit_comparison"].astype("string").fillna("at_or_over")
                     .to_numpy(dtype=object) == "at_or_over")[grid["seg_id"].to_numpy()]
        over = ~unknown & ((income > limit) | (at_counts & (income == limit)))
        seg_ids = grid["seg_id"].to_numpy()
        grid["mask"] = np.select(
            [unknown, over],
            [
                outcomes["INCOME_UNKNOWN"].to_numpy(dtype=np.int64)[seg_ids],
                outcomes["INCOME_OVER_LIMIT"].to_numpy(dtype=np.int64)[seg_ids],
            ],
            outcomes["INCOME_WITHIN_LIMIT"].to_numpy(dtype=np.int64)[seg_ids],
        )
        grid["status"] = (unknown | over).astype("int64")
        pieces = pd.concat([free_pieces, grid[free_pieces.columns]], ignore_index=True)
    else:
        pieces = free_pieces
    pieces = pieces.rename(columns={"seg_start": "start", "seg_end": "end"})
    out = component(pieces, BOUNDARY_RANK, pieces["mask"].to_numpy())
    out["status"] = pieces["status"].to_numpy(dtype=np.int64)
    return out


def _guardian_pairs(children: pd.DataFrame, applications: pd.DataFrame, households: pd.DataFrame) -> pd.DataFrame:
    """(child, guardian, start, end): the parents (保護者, 父母) income-tested for each child and when.

    Rule (S51 [I]; issue 12 §6): the applicant (``guardian_person_id``) and the applicant's spouse
    (``spouse_person_id``) as stated on the 資格登録届 — for all dates. Where the application does not say,
    the 住記 on the date (``households``): the applicant's spouse is the 配偶者 (02) when the applicant is the
    世帯主 (01) and the 世帯主 when the applicant is the 配偶者; a child registered without an applicant has
    as parents the 世帯主 and 配偶者 only while the child is 子 (03) of that household. Nobody else (a
    grandparent who is 世帯主 of a grandchild's household) is tested.
    """
    columns = ["person_id", "guardian_id", "start", "end"]
    apps = applications.loc[applications["child_person_id"].isin(children["person_id"])]
    spouse = apps["spouse_person_id"] if "spouse_person_id" in apps else pd.Series(-1, index=apps.index)
    stated = pd.concat([
        pd.DataFrame({"person_id": apps["child_person_id"].to_numpy(), "guardian_id": apps["guardian_person_id"]}),
        pd.DataFrame({"person_id": apps["child_person_id"].to_numpy(), "guardian_id": spouse.to_numpy()}),
    ], ignore_index=True).dropna()
    stated = stated.loc[stated["guardian_id"].to_numpy() >= 0].assign(start=iv.OPEN_START, end=iv.OPEN_END)

    members = iv.close_open_ends(households[["person_id", "household_id", "relationship_code", "start", "end"]])
    relationship = members["relationship_code"].astype("string")
    heads = members.loc[(relationship == HEAD).to_numpy(), ["household_id", "person_id", "start", "end"]]
    partners = members.loc[(relationship == SPOUSE).to_numpy(), ["household_id", "person_id", "start", "end"]]

    # the applicant's spouse from the 住記, where the application names no spouse
    no_spouse = apps.loc[(spouse.to_numpy() < 0) & (apps["guardian_person_id"].to_numpy() >= 0)]
    applicant = members.merge(
        pd.DataFrame({"child": no_spouse["child_person_id"].to_numpy(),
                      "person_id": no_spouse["guardian_person_id"].to_numpy()}), on="person_id")
    applicant_rel = applicant["relationship_code"].astype("string")
    as_head = applicant.loc[(applicant_rel == HEAD).to_numpy(), ["child", "household_id", "start", "end"]]
    as_partner = applicant.loc[(applicant_rel == SPOUSE).to_numpy(), ["child", "household_id", "start", "end"]]
    from_register = [
        iv.intersect(as_head, partners, on="household_id"),
        iv.intersect(as_partner, heads, on="household_id"),
    ]
    # a child without an applicant: the 世帯主 and 配偶者 while the child is 子 (03) of the household
    orphan_ids = apps.loc[apps["guardian_person_id"].to_numpy() < 0, "child_person_id"]
    kids = members.loc[members["person_id"].isin(orphan_ids).to_numpy() & (relationship == CHILD_OF_HEAD).to_numpy(),
                       ["person_id", "household_id", "start", "end"]].rename(columns={"person_id": "child"})
    from_register += [iv.intersect(kids, heads, on="household_id"), iv.intersect(kids, partners, on="household_id")]
    register = pd.concat(
        [f.rename(columns={"person_id": "guardian_id"}).rename(columns={"child": "person_id"})[columns]
         for f in from_register], ignore_index=True)
    pairs = pd.concat([stated[columns], register], ignore_index=True)
    pairs = pairs.loc[pairs["person_id"].to_numpy() != pairs["guardian_id"].to_numpy()]
    return pairs.drop_duplicates(ignore_index=True)


def _deciding_income(guardians: pd.DataFrame, tax: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """Income and limit of the highest-earning guardian per (child, income segment)."""
    tax = tax.assign(**{c: 0 for c in OPTIONAL_TAX_COLUMNS if c not in tax})  # older records: none
    columns = ["person_id", "tax_year", "total_income_amount", *TAX_DEDUCTION_COLUMNS, "dependents_count",
               "elderly_dependents_count", *OPTIONAL_TAX_COLUMNS]
    records = tax.loc[
        tax["person_id"].isin(guardians["guardian_id"]) & tax["tax_year"].isin(test["tax_year"]), columns
    ].drop_duplicates(["person_id", "tax_year"], keep="last")
    records = records.rename(columns={"person_id": "guardian_id"})
    records["tax_year"] = records["tax_year"].astype("int64")
    def _amounts(values: pd.Series) -> np.ndarray:
        return pd.to_numeric(values, errors="coerce").fillna(0).to_numpy(dtype=np.int64)

    # per-segment parameters as small arrays indexed by seg_id (seg_id = 0..n-1)
    base = _amounts(test["income_limit.base_amount"])
    per_dependent = _amounts(test["income_limit.per_dependent_amount"])
    elderly = _amounts(test["income_limit.elderly_dependent_addition"])
    flat = _amounts(test["income_limit.flat_deduction"])
    cycles = pd.DataFrame(
        {"tax_year": test["tax_year"].astype("int64").to_numpy(), "seg_id": test["seg_id"].to_numpy()}
    )
    rows = records.merge(cycles, on="tax_year")
    seg = rows["seg_id"].to_numpy()
    deductions = sum(_amounts(rows[c]) for c in TAX_DEDUCTION_COLUMNS)
    for flag, parameter in STATUS_DEDUCTIONS.items():  # ひとり親・寡婦・勤労学生: fixed amounts when the flag is set
        deductions = deductions + (_amounts(rows[flag]) > 0) * _amounts(test[parameter])[seg]
    rows["income"] = np.maximum(_amounts(rows["total_income_amount"]) - flat[seg] - deductions, 0)
    rows["limit"] = (
        base[seg]
        + per_dependent[seg] * _amounts(rows["dependents_count"])
        + elderly[seg] * _amounts(rows["elderly_dependents_count"])
        + _amounts(test["income_limit.specified_dependent_addition"])[seg]
        * _amounts(rows["specified_dependents_count"])
    )
    rows = rows[["guardian_id", "seg_id", "income", "limit"]]
    joined = guardians.merge(rows, on="guardian_id")
    # a guardian counts for the income segments in which the pair holds (住記 on the date)
    seg_start = test["seg_start"].to_numpy(dtype="datetime64[ns]")[joined["seg_id"].to_numpy(dtype=np.int64)]
    seg_end = test["seg_end"].to_numpy(dtype="datetime64[ns]")[joined["seg_id"].to_numpy(dtype=np.int64)]
    holds = (joined["start"].to_numpy(dtype="datetime64[ns]") <= seg_end) & (
        joined["end"].to_numpy(dtype="datetime64[ns]") >= seg_start)
    joined = joined.loc[holds].drop(columns=["start", "end"])
    if joined.empty:
        return joined[["person_id", "seg_id", "income", "limit", "guardian_id"]]
    # highest income first per (child, segment); among equal incomes one over its limit first (stricter);
    # one int64 sort key: group (high bits) | inverted income (39 bits, < 5.5e11 yen) | not-over (1 bit)
    child_codes = pd.factorize(joined["person_id"])[0].astype(np.int64)
    segments = joined["seg_id"].to_numpy(dtype=np.int64)
    group = child_codes * (int(segments.max()) + 1) + segments
    income = np.clip(joined["income"].to_numpy(dtype=np.int64), 0, (1 << 39) - 1)
    within = (income <= joined["limit"].to_numpy(dtype=np.int64)).astype(np.int64)
    if group.max() < (1 << 23):
        order = np.argsort((group << 40) | (((1 << 39) - 1 - income) << 1) | within, kind="stable")
    else:  # very large inputs: the same order with a (slower) multi-key sort
        order = np.lexsort((within, -income, group))
    key = group[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    return joined.iloc[order[first]][["person_id", "seg_id", "income", "limit", "guardian_id"]]
