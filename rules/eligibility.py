"""Eligibility periods of the こども医療費助成, as intersections of interval sets.

Legal rule (仙台市子ども医療費の助成に関する規則, 平成23年仙台市規則第79号; domain.md §1): a child is
eligible while **all** of these hold, each an interval set per child:

* **age** — from birth to the first March 31 on or after the day the child reaches N
  (N歳に達する日以後の最初の3月31日, 年齢計算ニ関スル法律 + 民法143条: S43, S44, S45), where N is the age
  limit in force on the day (``age_limit.inpatient`` / ``age_limit.outpatient``: 15 from 2012-01-01
  (S12, S13), 通院 9 → 15 from 2017-10-01 (S9, S10), 18 from 2026-04-01 (S1, S2, S3)). The certificate
  covers the child, so the larger of the two limits applies here; the care-type limits are the benefits
  rule's job.
* **residence** in Sendai (住民登録; S12, S56) — :func:`rules.residence.apply_events`.
* **health insurance** (public health insurance: S12, S56) — ``insurance.valid_from..valid_to``.
* **registration** (資格登録; S12, domain.md §1.6) — an application within ``registration.window_days``
  (30) of the trigger date (birth, move-in, or the day a policy change first made the child eligible)
  covers the child from that date; a later one from the first day of the application month
  (``registration.late_start_rule``). No application, no period.
* **not 生活保護** (``eligibility.excludes_public_assistance``; S56, S11): welfare cases of the child's
  household are subtracted.
* **income test** while ``income_limit.base_amount`` is in force (2012-01-01 → 2023-03-31; S9, S7, S8, S5):
  over the limit the period is *suspended* (支給停止, ``SUSPENDED_INCOME``), not lost.

Assumptions [I] (not stated by a source; confirm with こども支援給付課):

* A registration lasts for the whole residence∩age span it was made for; a gap in insurance or a
  生活保護 case inside the span suspends coverage but needs no new application. A new span (after a
  move-out, or after the age limit ended and a later extension applies) needs a new application.
* The household used for 生活保護 and for the 世帯主/配偶者 guardians is the child's latest household
  (:func:`rules.residence.collect_persons`), not the household on each day.
* The 30-day window counts calendar days; the roll-over of a deadline falling on a closed day
  (``registration.deadline_rolls_to_next_open_day``) needs a 閉庁日 calendar and is not applied.
* An income exactly at the limit is within it (支給停止 only when 所得 exceeds the limit); with no tax
  record for any guardian the status is ``SUSPENDED_INCOME``/``INCOME_UNKNOWN`` until the record arrives.
* 措置 children (``eligibility.excludes_institutional_placement``) and the COVID special
  (``income_limit.covid_reduced_income_special``) have no input data yet and are not applied.

The age limit and the income limit change on dates; they are expressed as parameter eras
(:meth:`policy.Policy.eras`), cross-joined with the children and cut into pieces, never as
``if date < …`` branches. Every piece carries the reason codes of the rules that produced it; adjacent
pieces of equal status are merged at the end and their codes united.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rules import intervals as iv
from rules.dates import school_year_end_after_age

ELIGIBLE = "ELIGIBLE"
SUSPENDED_INCOME = "SUSPENDED_INCOME"
STATUSES = (ELIGIBLE, SUSPENDED_INCOME)

#: End reasons, in order of precedence when two components end on the same day. ``INCOME`` marks a
#: period followed the next day by a period of the other status (the income test result changed).
END_REASONS = ("DEATH", "MOVE_OUT", "AGE", "WELFARE", "INSURANCE", "INCOME", "OPEN")
_RANK = {reason: rank for rank, reason in enumerate(END_REASONS)}
_SPLIT = len(END_REASONS)  # a piece boundary that is not an end (era or income-cycle boundary)

PERIOD_COLUMNS = ["person_id", "valid_from", "valid_to", "status", "end_reason", "reason_codes", "sources"]

AGE_LIMIT_PARAMETERS = ("age_limit.inpatient", "age_limit.outpatient")
INCOME_PARAMETERS = (
    "income_limit.base_amount",
    "income_limit.per_dependent_amount",
    "income_limit.elderly_dependent_addition",
    "income_limit.flat_deduction",
    "income_limit.income_year_switch_month",
    "income_limit.judged_guardian",
)
GUARDIAN_RELATIONSHIP_CODES = ("01", "02")  # 世帯主, 配偶者
TAX_DEDUCTION_COLUMNS = (
    "casualty_loss_deduction_amount",
    "medical_deduction_amount",
    "small_business_deduction_amount",
    "disability_deduction_amount",
)
_SOURCE_ID = re.compile(r"\bS\d+\b")


@dataclass(frozen=True)
class EligibilityInputs:
    """The frames eligibility is computed from (column contracts in docs/architecture.md).

    Attributes:
        residents: one row per person: ``person_id, birth_date, household_id, relationship_code`` (the
            output of :func:`rules.residence.collect_persons`, i.e. the latest household after events).
        residence: ``person_id, start, end, end_reason`` from :func:`rules.residence.apply_events`.
        insurance: ``person_id, valid_from, valid_to`` (``valid_to`` NaT = open).
        welfare: 生活保護 cases: ``household_id, start_date, end_date`` (``end_date`` NaT = open).
        tax: ``person_id, tax_year, total_income_amount, casualty_loss_deduction_amount,
            medical_deduction_amount, small_business_deduction_amount, disability_deduction_amount,
            dependents_count, elderly_dependents_count`` (integer yen).
        applications: ``application_id, child_person_id, guardian_person_id, application_date``.
    """

    residents: pd.DataFrame
    residence: pd.DataFrame
    insurance: pd.DataFrame
    welfare: pd.DataFrame
    tax: pd.DataFrame
    applications: pd.DataFrame


# ---------------------------------------------------------------------------------------------------
# Reason codes: a small registry of bits so pieces can be merged with a vectorised bitwise or.
# ---------------------------------------------------------------------------------------------------


def source_ids(reference: str | None) -> str:
    """The domain.md source ids (``S1``, ``S9`` …) named in a reference, comma-joined."""
    if reference is None or pd.isna(reference):
        return ""
    found = list(dict.fromkeys(_SOURCE_ID.findall(str(reference))))
    return ",".join(found) if found else str(reference).replace(";", ",")


def format_code(rule: str, parameter: str | None = None, value: Any = None, effective_from: Any = None) -> str:
    """``RULE:parameter=value@YYYY-MM-DD`` (or just ``RULE`` for a rule without a parameter)."""
    if parameter is None:
        return rule
    shown = "None" if value is None or (not isinstance(value, str) and pd.isna(value)) else value
    when = "" if effective_from is None or pd.isna(effective_from) else f"@{pd.Timestamp(effective_from):%Y-%m-%d}"
    return f"{rule}:{parameter}={shown}{when}"


_CATEGORY_ORDER = {
    "REGISTRATION_WINDOW": 0,
    "REGISTRATION_LATE": 0,
    "AGE_LIMIT": 1,
    "INCOME_WITHIN_LIMIT": 2,
    "INCOME_OVER_LIMIT": 2,
    "INCOME_UNKNOWN": 2,
    "NO_INCOME_TEST": 2,
    "WELFARE_EXCLUSION": 3,
}


class _ReasonCodes:
    """Assigns one bit per distinct reason code (at most 63 per run)."""

    def __init__(self) -> None:
        self._bit: dict[str, int] = {}
        self._source: dict[str, str] = {}

    def mask(self, code: str, sources: str) -> int:
        if code not in self._bit:
            if len(self._bit) >= 63:
                raise ValueError("more than 63 distinct reason codes in one run")
            self._bit[code] = len(self._bit)
            self._source[code] = sources
        return 1 << self._bit[code]

    def render(self, masks: pd.Series) -> tuple[pd.Series, pd.Series]:
        """``;``-joined codes and, position by position, their sources, for each mask."""
        unique = pd.unique(masks.to_numpy(dtype=np.int64))
        ordered = sorted(
            self._bit, key=lambda c: (_CATEGORY_ORDER.get(c.split(":")[0], 9), c.split("@")[-1], c)
        )
        codes_of: dict[int, str] = {}
        sources_of: dict[int, str] = {}
        for mask in unique:  # one iteration per distinct combination of codes, not per record
            chosen = [c for c in ordered if int(mask) >> self._bit[c] & 1]
            codes_of[int(mask)] = ";".join(chosen)
            sources_of[int(mask)] = ";".join(self._source[c] for c in chosen)
        return masks.map(codes_of).astype("string"), masks.map(sources_of).astype("string")


# ---------------------------------------------------------------------------------------------------
# Policy helpers (loops over a handful of eras only)
# ---------------------------------------------------------------------------------------------------


class _CachedPolicy:
    """Memoises :meth:`Policy.eras` for one run (the policy is frozen)."""

    def __init__(self, policy: Any) -> None:
        self._policy = policy
        self._eras: dict[str, pd.DataFrame] = {}
        self._prepared: dict[str, pd.DataFrame] = {}
        self._segments: dict[tuple, pd.DataFrame] = {}

    def eras(self, name: str) -> pd.DataFrame:
        if name not in self._eras:
            self._eras[name] = self._policy.eras(name)
        return self._eras[name]

    def at(self, when: Any) -> Any:
        return self._policy.at(when)


def cached_policy(policy: Any) -> Any:
    """Wrap a policy so that era look-ups and era segments are computed once.

    :func:`determine_eligibility` wraps the policy itself; wrap it once yourself to share the memo
    between several runs (e.g. months of a backfill).
    """
    return policy if isinstance(policy, _CachedPolicy) else _CachedPolicy(policy)


def _eras(policy: Any, name: str) -> pd.DataFrame:
    """Eras of ``name`` sorted, with ``effective_to`` closed by :data:`rules.intervals.OPEN_END`."""
    memo = policy._prepared if isinstance(policy, _CachedPolicy) else {}
    if name not in memo:
        eras = policy.eras(name).copy()
        eras["effective_from"] = iv.as_dates(eras["effective_from"])
        eras["effective_to"] = iv.as_dates(eras["effective_to"]).fillna(iv.OPEN_END)
        memo[name] = eras.sort_values("effective_from", ignore_index=True)
    return memo[name]


def lookup_parameter(policy: Any, name: str, dates: pd.Series) -> pd.DataFrame:
    """Value, effective date and reference of ``name`` in force on each date (sorted-array search).

    Returns ``value`` (object; None where not in force), ``effective_from``, ``reference`` and ``era``
    (position of the era, -1 before the first), aligned to ``dates``.
    """
    eras = _eras(policy, name)
    stamps = iv.as_dates(dates).to_numpy()
    position = np.searchsorted(eras["effective_from"].to_numpy(), stamps, side="right") - 1
    valid = (position >= 0) & ~np.isnat(stamps)
    position = np.where(valid, position, 0)
    value = pd.Series(eras["value"].to_numpy(dtype=object)[position], index=dates.index)
    frame = pd.DataFrame(
        {
            "value": value.where(valid, None),
            "effective_from": pd.Series(eras["effective_from"].to_numpy()[position], index=dates.index).where(
                valid
            ),
            "reference": pd.Series(eras["reference"].to_numpy(dtype=object)[position], index=dates.index).where(
                valid, None
            ),
            "era": pd.Series(np.where(valid, position, -1), index=dates.index),
        }
    )
    return frame


def _segments(policy: Any, names: Sequence[str], breaks: Iterable[pd.Timestamp] = ()) -> pd.DataFrame:
    """Cut time at every effective date of ``names`` (and ``breaks``); the values in force per piece.

    Columns ``seg_start, seg_end`` and, per name, ``<name>`` (value or None), ``<name>#from``
    (effective date of that value) and ``<name>#ref`` (its reference).
    """
    breaks = tuple(sorted(pd.Timestamp(b) for b in breaks))
    memo = policy._segments if isinstance(policy, _CachedPolicy) else {}
    key = (tuple(names), breaks)
    if key not in memo:
        memo[key] = _cut_segments(policy, names, breaks)
    return memo[key].copy()


def _cut_segments(policy: Any, names: Sequence[str], breaks: tuple[pd.Timestamp, ...]) -> pd.DataFrame:
    points = {iv.OPEN_START, *breaks}
    for name in names:
        points.update(_eras(policy, name)["effective_from"])
    starts = pd.Series(sorted(points), dtype="datetime64[ns]")
    seg = pd.DataFrame({"seg_start": starts, "seg_end": (starts.shift(-1) - iv.ONE_DAY).fillna(iv.OPEN_END)})
    seg["seg_end"] = seg["seg_end"].astype("datetime64[ns]")
    for name in names:
        found = lookup_parameter(policy, name, seg["seg_start"])
        seg[name] = found["value"]
        seg[f"{name}#from"] = found["effective_from"]
        seg[f"{name}#ref"] = found["reference"]
    return seg


def _is_set(values: pd.Series) -> np.ndarray:
    """True where a parameter value is in force (not None / NA)."""
    return values.notna().to_numpy(dtype=bool)


# ---------------------------------------------------------------------------------------------------
# Components
# ---------------------------------------------------------------------------------------------------


def _component(frame: pd.DataFrame, rank: np.ndarray | int, codes: np.ndarray | int = 0) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "person_id": frame["person_id"].to_numpy(),
            "start": iv.as_dates(frame["start"]).to_numpy(),
            "end": iv.as_dates(frame["end"]).to_numpy(),
        }
    )
    out["rank"] = np.broadcast_to(np.asarray(rank, dtype=np.int64), (len(out),)).copy()
    out["codes"] = np.broadcast_to(np.asarray(codes, dtype=np.int64), (len(out),)).copy()
    return out


def _meet(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Intersect two components; the end reason is that of the side that ends first, codes are united."""
    extra = [c for c in a.columns if c not in ("person_id", "start", "end", "rank", "codes")]
    extra_b = [c for c in b.columns if c not in ("person_id", "start", "end", "rank", "codes")]
    left = a.rename(columns={"rank": "rank_a", "codes": "codes_a"}).assign(end_a=a["end"])
    right = b.rename(columns={"rank": "rank_b", "codes": "codes_b"}).assign(end_b=b["end"])
    met = iv.intersect(left, right)
    end_a, end_b = met["end_a"].to_numpy(), met["end_b"].to_numpy()
    rank_a, rank_b = met["rank_a"].to_numpy(), met["rank_b"].to_numpy()
    met["rank"] = np.where(end_a < end_b, rank_a, np.where(end_b < end_a, rank_b, np.minimum(rank_a, rank_b)))
    met["codes"] = met["codes_a"].to_numpy() | met["codes_b"].to_numpy()
    return met[["person_id", "start", "end", "rank", "codes", *extra, *extra_b]]


def age_pieces(children: pd.DataFrame, policy: Any, codes: _ReasonCodes | None = None) -> pd.DataFrame:
    """Age intervals per child and era of the age limit.

    Rule: eligible from birth until 「N歳に達する日以後の最初の3月31日」 (S1 第2条第2項, S43, S45), N being
    the larger of ``age_limit.inpatient`` and ``age_limit.outpatient`` in force (15 from 2012-01-01,
    S12/S13; 18 from 2026-04-01, S1). Each era contributes ``[max(birth, era start),
    min(era end, school_year_end_after_age(birth, N))]`` — children × eras are cross-joined, no loop.

    Returns ``person_id, start, end, rank, codes`` (rank = AGE).
    """
    codes = codes or _ReasonCodes()
    seg = _segments(policy, AGE_LIMIT_PARAMETERS)
    inpatient, outpatient = AGE_LIMIT_PARAMETERS
    inp = pd.to_numeric(seg[inpatient], errors="coerce")
    out = pd.to_numeric(seg[outpatient], errors="coerce")
    use_out = out.notna() & (inp.isna() | (out > inp))
    seg["limit"] = np.where(use_out, out, inp)
    seg["parameter"] = np.where(use_out, outpatient, inpatient)
    seg["param_from"] = np.where(use_out, seg[f"{outpatient}#from"], seg[f"{inpatient}#from"])
    seg["param_ref"] = np.where(use_out, seg[f"{outpatient}#ref"], seg[f"{inpatient}#ref"])
    seg = seg.loc[seg["limit"].notna()].reset_index(drop=True)
    seg["limit"] = seg["limit"].astype("int64")
    seg["mask"] = [
        codes.mask(format_code("AGE_LIMIT", p, n, f), source_ids(r))
        for p, n, f, r in zip(seg["parameter"], seg["limit"], seg["param_from"], seg["param_ref"], strict=True)
    ]  # one per era
    kids = children[["person_id", "birth_date"]].assign(birth_date=iv.as_dates(children["birth_date"]))
    kids = kids.dropna(subset=["birth_date"])
    cross = kids.merge(seg[["seg_start", "seg_end", "limit", "mask"]], how="cross")
    age_end = iv.as_dates(school_year_end_after_age(cross["birth_date"], cross["limit"].to_numpy()))
    cross["start"] = np.maximum(cross["birth_date"].to_numpy(), cross["seg_start"].to_numpy())
    cross["end"] = np.minimum(cross["seg_end"].to_numpy(), age_end.to_numpy())
    cross = cross.loc[cross["start"] <= cross["end"]]
    return _component(cross, _RANK["AGE"], cross["mask"].to_numpy())


def _residence_component(residence: pd.DataFrame, children: pd.Index) -> pd.DataFrame:
    res = residence.loc[residence["person_id"].isin(children)]
    res = iv.close_open_ends(res)
    reason = res["end_reason"].astype("string").fillna("OPEN")
    rank = reason.map(_RANK).fillna(_RANK["OPEN"]).astype("int64").to_numpy()
    return _component(res, rank)


def _insurance_component(insurance: pd.DataFrame, children: pd.Index) -> pd.DataFrame:
    ins = insurance.loc[insurance["person_id"].isin(children), ["person_id", "valid_from", "valid_to"]]
    ins = iv.close_open_ends(ins.rename(columns={"valid_from": "start", "valid_to": "end"}))
    ins = iv.normalise(ins)
    rank = np.where(ins["end"] >= iv.OPEN_END, _RANK["OPEN"], _RANK["INSURANCE"])
    return _component(ins, rank)


def registration_component(
    spans: pd.DataFrame, applications: pd.DataFrame, policy: Any, codes: _ReasonCodes | None = None
) -> pd.DataFrame:
    """Registered intervals: the part of each residence∩age span that an application covers.

    Rule (S12, domain.md §1.6; ``registration.window_days`` = 30, ``registration.late_start_rule`` =
    first_of_application_month, both carried forward from the 2012 rule as assumptions): an application
    made no later than ``window_days`` after the trigger date — the start of the child's residence∩age
    span (birth, move-in, or the day a policy change first made the child eligible) — covers the child
    from the trigger date; a later one from the first day of the application month. An application
    refers to the span that contains its date or, if made in advance, the next span. Several
    applications for one span: the earliest coverage wins. The registration lasts to the span's end.

    Args:
        spans: ``person_id, start, end`` — merged residence∩age intervals.
        applications: ``child_person_id, application_date``.
        policy: the loaded policy.
        codes: reason-code registry (internal).

    Returns ``person_id, start, end, rank, codes`` (rank = a boundary, never an end reason).
    """
    codes = codes or _ReasonCodes()
    apps = pd.DataFrame(
        {
            "person_id": applications["child_person_id"].to_numpy(),
            "application_date": iv.as_dates(applications["application_date"]).to_numpy(),
        }
    ).dropna()
    apps = apps.loc[apps["person_id"].isin(spans["person_id"])].sort_values("application_date", kind="stable")
    targets = spans.rename(columns={"start": "span_start", "end": "span_end"}).sort_values("span_end", kind="stable")
    if apps["person_id"].dtype != targets["person_id"].dtype:
        apps["person_id"] = apps["person_id"].astype("str")
        targets["person_id"] = targets["person_id"].astype("str")
    found = pd.merge_asof(
        apps,
        targets[["person_id", "span_start", "span_end"]],
        left_on="application_date",
        right_on="span_end",
        by="person_id",
        direction="forward",
    ).dropna(subset=["span_start"])
    found = found.reset_index(drop=True)
    # the rule in force when the application takes effect: on its date, or on the trigger if in advance
    ruling_date = pd.Series(np.maximum(found["application_date"], found["span_start"]), index=found.index)
    window = lookup_parameter(policy, "registration.window_days", ruling_date)
    late = lookup_parameter(policy, "registration.late_start_rule", ruling_date)
    late_rules = set(late["value"].dropna())
    if late_rules - {"first_of_application_month"}:
        raise NotImplementedError(f"registration.late_start_rule {sorted(late_rules)} is not implemented")
    has_window = _is_set(window["value"])
    window_days = pd.to_numeric(window["value"].where(has_window, 0), errors="coerce").fillna(0).astype("int64")
    deadline = found["span_start"] + pd.to_timedelta(window_days, unit="D")
    in_window = has_window & (found["application_date"] <= deadline).to_numpy()
    month_start = found["application_date"] - pd.to_timedelta(found["application_date"].dt.day - 1, unit="D")
    found["start"] = np.where(in_window, found["span_start"], np.maximum(found["span_start"], month_start))
    found["end"] = found["span_end"]
    # masks: one per distinct (rule, era) — a handful
    keys = pd.DataFrame(
        {
            "in_window": in_window,
            "w_value": window["value"].astype(object),
            "w_from": window["effective_from"],
            "w_ref": window["reference"],
            "l_value": late["value"].astype(object),
            "l_from": late["effective_from"],
            "l_ref": late["reference"],
        }
    )
    # one group per (rule, era): small integer keys, not the object columns
    n_late = int(late["era"].max()) + 2 if len(late) else 1
    raw = in_window.astype(np.int64) * 1_000_000 + (window["era"].to_numpy() + 1) * n_late + late["era"].to_numpy() + 1
    group = pd.factorize(raw)[0]
    distinct = keys.groupby(group, sort=True).head(1)
    masks = np.array(
        [
            codes.mask(format_code("REGISTRATION_WINDOW", "registration.window_days", wv, wf), source_ids(wr))
            if inw
            else codes.mask(format_code("REGISTRATION_LATE", "registration.late_start_rule", lv, lf), source_ids(lr))
            for inw, wv, wf, wr, lv, lf, lr in distinct.itertuples(index=False)
        ],
        dtype=np.int64,
    )  # one per distinct (rule, era)
    order = group[distinct.index.to_numpy()]
    by_group = np.zeros(group.max() + 1 if len(group) else 0, dtype=np.int64)
    by_group[order] = masks
    found["mask"] = by_group[group]
    found = found.sort_values(["person_id", "span_start", "start"], kind="stable").drop_duplicates(
        ["person_id", "span_start"]
    )
    return _component(found, _SPLIT, found["mask"].to_numpy())


def _welfare_intervals(
    welfare: pd.DataFrame, children: pd.DataFrame, policy: Any
) -> tuple[pd.DataFrame, str, str]:
    """生活保護 cases as intervals of the children of the household, within the eras of the exclusion."""
    flag = _eras(policy, "eligibility.excludes_public_assistance")
    flag = flag.loc[flag["value"].fillna(False).astype(bool)]
    cases = welfare[["household_id", "start_date", "end_date"]].merge(
        children[["person_id", "household_id"]].dropna(), on="household_id"
    )
    cases = iv.close_open_ends(cases.rename(columns={"start_date": "start", "end_date": "end"}))
    eras = pd.DataFrame(
        {"_key": 0, "start": flag["effective_from"].to_numpy(), "end": flag["effective_to"].to_numpy()}
    )
    cut = iv.intersect(cases[["person_id", "start", "end"]].assign(_key=0), eras, on="_key")
    first = flag.iloc[0] if len(flag) else None
    code = format_code(
        "WELFARE_EXCLUSION",
        "eligibility.excludes_public_assistance",
        True,
        None if first is None else first["effective_from"],
    )
    refs = "S56,S11" if first is None else source_ids(first["reference"])
    return cut[["person_id", "start", "end"]], code, refs


# ---------------------------------------------------------------------------------------------------
# Income test
# ---------------------------------------------------------------------------------------------------


def _income_segments(policy: Any, horizon_start: pd.Timestamp, horizon_end: pd.Timestamp) -> pd.DataFrame:
    """Pieces of the horizon with constant income parameters and one income cycle (課税年度)."""
    switch = _eras(policy, "income_limit.income_year_switch_month")
    months = sorted({int(v) for v in switch["value"].dropna()})
    breaks = [
        pd.Timestamp(year=year, month=month, day=1)
        for year in range(horizon_start.year - 1, horizon_end.year + 2)
        for month in months
    ]  # a few dates per year of horizon
    seg = _segments(policy, INCOME_PARAMETERS, breaks=[*breaks, horizon_start, horizon_end + iv.ONE_DAY])
    seg = seg.loc[(seg["seg_end"] >= horizon_start) & (seg["seg_start"] <= horizon_end)].copy()
    seg["seg_start"] = seg["seg_start"].clip(lower=horizon_start)
    seg["seg_end"] = seg["seg_end"].clip(upper=horizon_end)
    seg["has_test"] = _is_set(seg["income_limit.base_amount"])
    judged = set(seg.loc[seg["has_test"], "income_limit.judged_guardian"].dropna())
    if judged - {"each_guardian"}:
        raise NotImplementedError(f"income_limit.judged_guardian {sorted(judged)} is not implemented")
    switch_month = pd.to_numeric(seg["income_limit.income_year_switch_month"], errors="coerce").fillna(10)
    seg["tax_year"] = seg["seg_start"].dt.year - (seg["seg_start"].dt.month < switch_month).astype("int64")
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
    residents: pd.DataFrame,
    tax: pd.DataFrame,
    policy: Any,
    horizon_start: pd.Timestamp,
    horizon_end: pd.Timestamp,
    codes: _ReasonCodes | None = None,
) -> pd.DataFrame:
    """Status per child over the horizon from the income test (所得制限; S9, S7, S8, S5, S51).

    Rule, while ``income_limit.base_amount`` is in force (2012-01-01 → 2023-03-31):

    * Income cycles run from the first day of ``income_limit.income_year_switch_month`` (October) of
      year Y to the day before it in Y+1 and use 課税年度 Y (income of calendar year Y-1): January–
      September are judged on 前々年 income, October on on 前年 income (S51 [I]).
    * Guardians: the applicant guardian(s) and the 世帯主/配偶者 (続柄 01/02) of the child's household;
      the guardian with the highest income decides (``judged_guardian`` = each_guardian, S51 [I]).
    * 所得 = total_income_amount − ``flat_deduction`` (80,000 [I]) − (雑損 + 医療費 + 小規模企業共済等掛金
      + 障害者 deductions), floored at 0. Limit = ``base_amount`` + ``per_dependent_amount`` ×
      dependents_count + ``elderly_dependent_addition`` × elderly_dependents_count of that guardian
      (5,320,000 + 380,000/人, S9; 6,220,000 + 380,000/人 from 2021-10-01, S7).
    * 所得 over (strictly greater than) the limit → ``SUSPENDED_INCOME`` (支給停止) with
      ``INCOME_OVER_LIMIT``; no tax record for any guardian → ``SUSPENDED_INCOME`` with
      ``INCOME_UNKNOWN`` (保留 until the income is known); else ``ELIGIBLE``.

    From 2023-04-01 (``base_amount`` = None, S5) there is no test: ``ELIGIBLE`` with ``NO_INCOME_TEST``.

    Returns ``person_id, start, end, rank, codes, status`` pieces covering the horizon per child.
    """
    codes = codes or _ReasonCodes()
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
        guardians = _guardian_pairs(children, applications, residents)
        decided = _deciding_income(guardians, tax, test)
        grid = ids.merge(test[["seg_id", "seg_start", "seg_end"]], how="cross")
        grid = grid.merge(decided, on=["person_id", "seg_id"], how="left")
        outcomes = test.set_index("seg_id")
        unknown = grid["income"].isna().to_numpy()
        over = ~unknown & (grid["income"].to_numpy(dtype=float) > grid["limit"].to_numpy(dtype=float))
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
    out = _component(pieces, _SPLIT, pieces["mask"].to_numpy())
    out["status"] = pieces["status"].to_numpy(dtype=np.int64)
    return out


def _guardian_pairs(children: pd.DataFrame, applications: pd.DataFrame, residents: pd.DataFrame) -> pd.DataFrame:
    """(child, guardian) pairs: applicants plus the 世帯主/配偶者 of the child's household."""
    applicants = pd.DataFrame(
        {
            "person_id": applications["child_person_id"].to_numpy(),
            "guardian_id": applications["guardian_person_id"].to_numpy(),
        }
    )
    heads = residents.loc[
        residents["relationship_code"].isin(GUARDIAN_RELATIONSHIP_CODES), ["household_id", "person_id"]
    ].rename(columns={"person_id": "guardian_id"})
    household = children[["person_id", "household_id"]].dropna().merge(heads.dropna(), on="household_id")
    pairs = pd.concat([applicants, household[["person_id", "guardian_id"]]], ignore_index=True).dropna()
    if pairs["guardian_id"].dtype.kind == "i":
        pairs = pairs.loc[pairs["guardian_id"].to_numpy() >= 0]
    pairs = pairs.loc[pairs["person_id"].isin(children["person_id"]) & (pairs["person_id"] != pairs["guardian_id"])]
    return pairs.drop_duplicates(ignore_index=True)


def _deciding_income(guardians: pd.DataFrame, tax: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """Income and limit of the highest-earning guardian per (child, income segment)."""
    columns = ["person_id", "tax_year", "total_income_amount", *TAX_DEDUCTION_COLUMNS, "dependents_count",
               "elderly_dependents_count"]
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
    rows["income"] = np.maximum(_amounts(rows["total_income_amount"]) - flat[seg] - deductions, 0)
    rows["limit"] = (
        base[seg]
        + per_dependent[seg] * _amounts(rows["dependents_count"])
        + elderly[seg] * _amounts(rows["elderly_dependents_count"])
    )
    rows = rows[["guardian_id", "seg_id", "income", "limit"]]
    joined = guardians.merge(rows, on="guardian_id")
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


# ---------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------


def default_horizon(as_of: pd.Timestamp | str, policy: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(program.start_date, last day of the month after as_of)`` — enough for :func:`decide_month`.

    The start is the first day of the regime (2012-01-01, S12/S13) so that stored periods keep their
    history; the end reaches one month past ``as_of`` so that renewals can be issued ahead.
    """
    as_of = pd.Timestamp(as_of)
    start = policy.at(as_of).get("program.start_date") if _has_parameter(policy, "program.start_date") else None
    end = (as_of + pd.offsets.MonthBegin(1)) + pd.offsets.MonthEnd(1)
    return pd.Timestamp(start or "2012-01-01"), pd.Timestamp(end).normalize()


def _has_parameter(policy: Any, name: str) -> bool:
    try:
        policy.at("2012-01-01").get(name)
    except KeyError:
        return False
    return True


def determine_eligibility(
    inputs: EligibilityInputs,
    policy: Any,
    horizon_start: pd.Timestamp | str | None = None,
    horizon_end: pd.Timestamp | str | None = None,
    *,
    as_of: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """Eligibility periods per registered child, clipped to ``[horizon_start, horizon_end]``.

    Pass either the horizon or ``as_of`` (then the horizon is :func:`default_horizon`).

    The periods are age ∩ residence ∩ insurance ∩ registration, minus 生活保護, split by the income-test
    status (see the module docstring and the component functions for the legal rules, effective dates
    and sources). History before ``horizon_start`` is used (registration triggers) but not returned.

    Returns:
        ``person_id, valid_from, valid_to, status, end_reason, reason_codes, sources`` sorted by
        person and ``valid_from``. ``status`` is ``ELIGIBLE`` or ``SUSPENDED_INCOME``; ``end_reason`` is
        one of :data:`END_REASONS` (``OPEN`` = continues past ``horizon_end``, ``INCOME`` = the next day
        starts a period of the other status). ``reason_codes`` are ``;``-joined
        ``RULE:parameter=value@effective_from`` codes of every rule that shaped the period;
        ``sources`` lists, position by position, the domain.md source ids of each code (comma-joined).
    """
    if horizon_start is None or horizon_end is None:
        if as_of is None:
            raise TypeError("determine_eligibility needs horizon_start and horizon_end, or as_of")
        horizon_start, horizon_end = default_horizon(as_of, policy)
    hs, he = pd.Timestamp(horizon_start), pd.Timestamp(horizon_end)
    policy = cached_policy(policy)
    codes = _ReasonCodes()
    inputs, person_ids = _encode_ids(inputs)
    residents = inputs.residents
    child_ids = pd.Index(inputs.applications["child_person_id"].dropna().unique())
    child_ids = child_ids[child_ids.to_numpy() != -1] if child_ids.dtype.kind == "i" else child_ids
    children = residents.loc[residents["person_id"].isin(child_ids)].drop_duplicates("person_id")
    kid_index = pd.Index(children["person_id"])

    age = age_pieces(children, policy, codes)
    residence = _residence_component(inputs.residence, kid_index)
    spans = iv.normalise(_meet(age, residence)[["person_id", "start", "end"]])
    registered = registration_component(spans, inputs.applications, policy, codes)
    insurance = _insurance_component(inputs.insurance, kid_index)
    base = _meet(_meet(_meet(registered, age), residence), insurance)

    welfare, welfare_code, welfare_refs = _welfare_intervals(inputs.welfare, children, policy)
    if len(welfare):
        base = iv.subtract(base, welfare, cut_flag="_cut")
        cut = base.pop("_cut").to_numpy(bool)
        base["rank"] = np.where(cut, _RANK["WELFARE"], base["rank"])
        base["codes"] = np.where(cut, base["codes"] | codes.mask(welfare_code, welfare_refs), base["codes"])

    beyond = base["end"] > he
    base["rank"] = np.where(beyond, _RANK["OPEN"], base["rank"])
    base = iv.clip(base, hs, he)
    if base.empty:
        return _empty_periods()

    status = income_status_pieces(
        children.loc[children["person_id"].isin(base["person_id"])],
        inputs.applications,
        residents,
        inputs.tax,
        policy,
        hs,
        he,
        codes,
    )
    pieces = _meet(base, status)
    merged = iv.normalise(pieces, by=["person_id", "status"], agg={"rank": "last", "codes": "bitor"})
    merged = merged.sort_values(["person_id", "start"], kind="stable").reset_index(drop=True)
    next_start = merged.groupby("person_id", sort=False)["start"].shift(-1)
    followed = (next_start == merged["end"] + iv.ONE_DAY).to_numpy()
    rank = np.where(followed, _RANK["INCOME"], merged["rank"].to_numpy())
    rank = np.where(rank >= _SPLIT, _RANK["OPEN"], rank)
    reason_codes, sources = codes.render(merged["codes"])
    periods = pd.DataFrame(
        {
            "person_id": person_ids[merged["person_id"].to_numpy()],
            "valid_from": merged["start"].astype("datetime64[ns]").to_numpy(),
            "valid_to": merged["end"].astype("datetime64[ns]").to_numpy(),
            "status": pd.Series(np.asarray(STATUSES)[merged["status"].to_numpy()]).astype("string"),
            "end_reason": pd.Series(np.asarray(END_REASONS)[rank]).astype("string"),
            "reason_codes": reason_codes.to_numpy(),
            "sources": sources.to_numpy(),
        }
    )
    periods["reason_codes"] = periods["reason_codes"].astype("string")
    periods["sources"] = periods["sources"].astype("string")
    return periods


def _encode_ids(inputs: EligibilityInputs) -> tuple[EligibilityInputs, np.ndarray]:
    """Replace person and household ids by int64 codes (fast joins/sorts); return the id lookup array.

    Rows whose id is missing get code -1 and are dropped where the id is a key.
    """
    person_columns = {
        "residents": inputs.residents["person_id"],
        "residence": inputs.residence["person_id"],
        "insurance": inputs.insurance["person_id"],
        "child": inputs.applications["child_person_id"],
        "guardian": inputs.applications["guardian_person_id"],
        "tax": inputs.tax["person_id"],
    }
    person_codes, people = _factorize(person_columns)
    household_codes, _ = _factorize(
        {"residents": inputs.residents["household_id"], "welfare": inputs.welfare["household_id"]}
    )

    def person(key: str) -> np.ndarray:
        return person_codes[key]

    def household(key: str) -> np.ndarray:
        return household_codes[key]

    residents = inputs.residents.assign(person_id=person("residents"), household_id=household("residents"))
    welfare = inputs.welfare.assign(household_id=household("welfare"))
    encoded = EligibilityInputs(
        residents=residents.loc[residents["person_id"] >= 0],
        residence=_known(inputs.residence.assign(person_id=person("residence"))),
        insurance=_known(inputs.insurance.assign(person_id=person("insurance"))),
        welfare=welfare.loc[welfare["household_id"] >= 0],
        tax=_known(inputs.tax.assign(person_id=person("tax"))),
        applications=inputs.applications.assign(child_person_id=person("child"), guardian_person_id=person("guardian")),
    )
    # households of -1 (missing) must not match each other
    encoded.residents.loc[encoded.residents["household_id"] < 0, "household_id"] = -2 - np.arange(
        int((encoded.residents["household_id"] < 0).sum()))
    return encoded, np.asarray(people, dtype=object)


def _factorize(columns: dict[str, pd.Series]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One hashing pass over several id columns: int64 codes per column (-1 = missing), and the ids."""
    values = np.concatenate([c.to_numpy(dtype=object) for c in columns.values()])
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    bounds = np.cumsum([0, *(len(c) for c in columns.values())])
    split = {key: codes[bounds[i]:bounds[i + 1]].astype(np.int64) for i, key in enumerate(columns)}
    return split, np.asarray(uniques, dtype=object)


def _known(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.loc[frame["person_id"].to_numpy() >= 0]


def _empty_periods() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "person_id": pd.Series(dtype="string"),
            "valid_from": pd.Series(dtype="datetime64[ns]"),
            "valid_to": pd.Series(dtype="datetime64[ns]"),
            "status": pd.Series(dtype="string"),
            "end_reason": pd.Series(dtype="string"),
            "reason_codes": pd.Series(dtype="string"),
            "sources": pd.Series(dtype="string"),
        }
    )
