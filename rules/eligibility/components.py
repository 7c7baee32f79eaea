"""The interval components of eligibility: age, residence, health insurance, registration, 生活保護.

Legal rule (仙台市子ども医療費の助成に関する規則, 平成23年仙台市規則第79号; domain.md §1): a child is
eligible while all components hold (age ∩ residence ∩ insurance ∩ registration, minus 生活保護; the income
test is :mod:`rules.eligibility.income`). Each function states its rule, parameters and sources; 措置
children (``eligibility.excludes_institutional_placement``) are subtracted by :func:`placement_intervals`.
Every component is ``person_id, start, end, rank, codes`` — ``rank`` the end reason if the interval ends
there (:data:`rules.eligibility.codes.END_RANK`), ``codes`` a reason-code mask.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from rules import intervals as iv
from rules.dates import school_year_end_after_age
from rules.eligibility.codes import BOUNDARY_RANK, END_RANK, ReasonCodes, format_code, source_ids
from rules.eligibility.eras import era_segments, is_set, lookup_parameter, policy_eras

AGE_LIMIT_PARAMETERS = ("age_limit.inpatient", "age_limit.outpatient")


def component(frame: pd.DataFrame, rank: np.ndarray | int, codes: np.ndarray | int = 0) -> pd.DataFrame:
    """``person_id, start, end, rank, codes`` of a frame of intervals (rank and codes scalar or per row)."""
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


def meet(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
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


def age_pieces(children: pd.DataFrame, policy: Any, codes: ReasonCodes | None = None) -> pd.DataFrame:
    """Age intervals per child and era of the age limit.

    Rule: eligible from birth until 「N歳に達する日以後の最初の3月31日」 (S1 第2条第2項, S43, S45), N being
    the larger of ``age_limit.inpatient`` and ``age_limit.outpatient`` in force (15 from 2012-01-01,
    S12/S13; 18 from 2026-04-01, S1). Each era contributes ``[max(birth, era start),
    min(era end, school_year_end_after_age(birth, N))]`` — children × eras are cross-joined, no loop.

    Returns ``person_id, start, end, rank, codes`` (rank = AGE).
    """
    codes = codes or ReasonCodes()
    seg = era_segments(policy, AGE_LIMIT_PARAMETERS)
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
    return component(cross, END_RANK["AGE"], cross["mask"].to_numpy())


def residence_component(residence: pd.DataFrame, children: pd.Index) -> pd.DataFrame:
    """Residence intervals of the children (S12, S56), ranked by their end reason (MOVE_OUT, DEATH, OPEN)."""
    res = residence.loc[residence["person_id"].isin(children)]
    res = iv.close_open_ends(res)
    reason = res["end_reason"].astype("string").fillna("OPEN")
    rank = reason.map(END_RANK).fillna(END_RANK["OPEN"]).astype("int64").to_numpy()
    return component(res, rank)


def insurance_component(
    insurance: pd.DataFrame, children: pd.Index, policy: Any, codes: ReasonCodes | None = None
) -> pd.DataFrame:
    """Health-insurance intervals of the children, merged; an open one ends ``OPEN``.

    Rule (``eligibility.requires_health_insurance``, domain.md §1.3; S12, S56): public health insurance is
    a requirement, so an interval that ends (保険資格喪失) ends eligibility with ``INSURANCE`` and carries
    the code ``INSURANCE_REQUIRED`` (read by the LOSS_INSURANCE decision). In eras where the parameter is
    false the insurance input is ignored (the whole era counts as insured).
    """
    codes = codes or ReasonCodes()
    ins = insurance.loc[insurance["person_id"].isin(children), ["person_id", "valid_from", "valid_to"]]
    ins = ins.rename(columns={"valid_from": "start", "valid_to": "end"})
    flag = policy_eras(policy, "eligibility.requires_health_insurance")
    waived = flag.loc[~flag["value"].fillna(False).astype(bool)]
    if len(waived):  # eras without the requirement: every child counts as insured
        cross = pd.DataFrame({"person_id": np.asarray(children)}).merge(
            pd.DataFrame({"start": waived["effective_from"].to_numpy(), "end": waived["effective_to"].to_numpy()}),
            how="cross",
        )
        ins = pd.concat([ins, cross], ignore_index=True)
    ins = iv.normalise(iv.close_open_ends(ins))
    ends = ins["end"] < iv.OPEN_END
    rank = np.where(ends, END_RANK["INSURANCE"], END_RANK["OPEN"])
    required = flag.loc[flag["value"].fillna(False).astype(bool)]
    mask = 0
    if len(required):
        first = required.iloc[0]
        mask = codes.mask(
            format_code("INSURANCE_REQUIRED", "eligibility.requires_health_insurance", True, first["effective_from"]),
            source_ids(first["reference"]),
        )
    return component(ins, rank, np.where(ends, mask, 0))


def closed_year_end_days(policy: Any, first_year: int, last_year: int) -> np.ndarray:
    """The year-end closure days (``registration.year_end_closure``, "MM-DD/MM-DD") of the years given."""
    eras = policy_eras(policy, "registration.year_end_closure")
    days: list[np.datetime64] = []
    for value, start, end in zip(eras["value"], eras["effective_from"], eras["effective_to"], strict=True):
        if value is None or pd.isna(value):
            continue
        first, last = str(value).split("/")
        for year in range(first_year - 1, last_year + 1):  # a handful of years
            closure = pd.date_range(f"{year}-{first}", f"{year + 1}-{last}", freq="D")
            closure = closure[(closure >= start) & (closure <= end)]
            days.extend(closure.to_numpy(dtype="datetime64[D]"))
    return np.asarray(days, dtype="datetime64[D]")


def roll_to_open_day(dates: pd.Series, policy: Any, closed_days: np.ndarray | None = None) -> pd.Series:
    """Each date, or the next open day when it is closed (weekend, ``closed_days``, year-end closure).

    Vectorised with :func:`numpy.busday_offset` (``roll="forward"``); NaT stays NaT.
    """
    stamps = iv.as_dates(dates)
    valid = stamps.notna().to_numpy()
    if not valid.any():
        return stamps
    days = stamps.to_numpy(dtype="datetime64[D]")
    years = stamps.dt.year.dropna().astype("int64")
    holidays = np.concatenate([
        np.asarray(closed_days if closed_days is not None else [], dtype="datetime64[D]"),
        closed_year_end_days(policy, int(years.min()), int(years.max()) + 1),
    ])
    calendar = np.busdaycalendar(weekmask="1111100", holidays=np.unique(holidays))
    rolled = days.copy()
    rolled[valid] = np.busday_offset(days[valid], 0, roll="forward", busdaycal=calendar)
    return pd.Series(rolled.astype("datetime64[ns]"), index=dates.index)


def _registrant_allowed(applications: pd.DataFrame, dates: pd.Series, policy: Any,
                        births: pd.DataFrame | None) -> np.ndarray:
    """True for applications made by a guardian, or by a child old enough to register alone (規則第4条)."""
    guardian = applications["guardian_person_id"]
    has_guardian = guardian.notna().to_numpy() & (
        guardian.to_numpy() != -1 if guardian.dtype.kind == "i" else np.ones(len(guardian), dtype=bool))
    if has_guardian.all() or births is None:
        return has_guardian | (births is None)
    age = lookup_parameter(policy, "payee.child_self_registration_age", dates.reset_index(drop=True))
    limit = pd.to_numeric(age["value"], errors="coerce")
    birth = applications[["child_person_id"]].merge(
        births.rename(columns={"person_id": "child_person_id"}).drop_duplicates("child_person_id"),
        on="child_person_id", how="left")["birth_date"]
    passed = iv.as_dates(school_year_end_after_age(iv.as_dates(birth), limit.fillna(0).to_numpy(dtype=np.int64)))
    alone = limit.notna().to_numpy() & (dates.reset_index(drop=True) > passed).fillna(False).to_numpy(dtype=bool)
    return has_guardian | alone


def registration_component(
    spans: pd.DataFrame,
    applications: pd.DataFrame,
    policy: Any,
    codes: ReasonCodes | None = None,
    closed_days: np.ndarray | None = None,
    births: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Registered intervals: the part of each residence∩age span that an application covers.

    Rule (S12, domain.md §1.6; ``registration.window_days`` = 30, ``registration.late_start_rule`` =
    first_of_application_month, both carried forward from the 2012 rule as assumptions): an application
    made no later than ``window_days`` after the trigger date — the start of the child's residence∩age
    span (birth, move-in, or the day a policy change first made the child eligible) — covers the child
    from the trigger date; a later one from the first day of the application month. An application
    refers to the span that contains its date or, if made in advance, the next span. Several
    applications for one span: the earliest coverage wins. The registration lasts to the span's end.

    Closed days (``registration.deadline_rolls_to_next_open_day``, S21 [I]): closed days count, but a
    deadline falling on a closed day — a Saturday, Sunday, national holiday (``closed_days``, from a
    maintained calendar passed in by the caller) or the year-end closure ``registration.year_end_closure``
    (12-29/01-03) — moves to the next open day. Example: born 2025-05-08, day 30 = Saturday 2025-06-07,
    an application on Monday 2025-06-09 is in time and covers the child from birth.

    Registrant (規則第4条 as amended by 規則第103号, S1; ``payee.child_self_registration_age`` = 15 from
    2026-04-01): an application without a guardian (``guardian_person_id`` empty) is valid only when that
    parameter is in force on the application date and the child has passed the first March 31 after
    reaching it (15歳到達後の4月1日から); otherwise a 保護者 must apply and the application registers nothing.

    Args:
        spans: ``person_id, start, end`` — merged residence∩age intervals.
        applications: ``child_person_id, application_date``.
        policy: the loaded policy.
        codes: reason-code registry (internal).
        closed_days: national holidays (datetime64 dates) from a maintained calendar; None = none known.
        births: ``person_id, birth_date`` of the children, for applications without a guardian.

    Returns ``person_id, start, end, rank, codes`` (rank = a boundary, never an end reason).
    """
    codes = codes or ReasonCodes()
    apps = pd.DataFrame(
        {
            "person_id": applications["child_person_id"].to_numpy(),
            "application_date": iv.as_dates(applications["application_date"]).to_numpy(),
        }
    )
    apps = apps.loc[_registrant_allowed(applications, apps["application_date"], policy, births)].dropna()
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
    if late_rules - {"first_of_application_month", "application_date"}:
        raise NotImplementedError(f"registration.late_start_rule {sorted(late_rules)} is not implemented")
    has_window = is_set(window["value"])
    window_days = pd.to_numeric(window["value"].where(has_window, 0), errors="coerce").fillna(0).astype("int64")
    deadline = found["span_start"] + pd.to_timedelta(window_days, unit="D")
    rolls = lookup_parameter(policy, "registration.deadline_rolls_to_next_open_day", ruling_date)
    rolled = roll_to_open_day(deadline, policy, closed_days)
    rolls_flag = rolls["value"].fillna(False).astype(bool).to_numpy()
    deadline = pd.Series(np.where(rolls_flag, rolled.to_numpy(), deadline.to_numpy()), index=deadline.index)
    in_window = has_window & (found["application_date"] <= deadline).to_numpy()
    month_start = found["application_date"] - pd.to_timedelta(found["application_date"].dt.day - 1, unit="D")
    # late: the 1st of the application month (S12) or, as the alternative, the application day (多賀城, S63)
    on_the_day = (late["value"].astype("string") == "application_date").fillna(False).to_numpy(dtype=bool)
    late_start = np.where(on_the_day, found["application_date"], month_start)
    found["start"] = np.where(in_window, found["span_start"], np.maximum(found["span_start"], late_start))
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
    return component(found, BOUNDARY_RANK, found["mask"].to_numpy())


def welfare_intervals(
    welfare: pd.DataFrame, children: pd.DataFrame, policy: Any, households: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, str, str]:
    """生活保護 cases as intervals of the children who belong to the household **on each date**.

    Rule (S56, S11; issue 12 §5): a child is excluded while a member of a household receiving 生活保護 —
    the household of the 住記 history on the date (``households``: ``person_id, household_id, start, end``,
    :func:`rules.residence.household_spells`), not the child's latest household. Without a history the
    latest household of ``children`` holds on every date. Only within the eras of
    ``eligibility.excludes_public_assistance``.
    """
    flag = policy_eras(policy, "eligibility.excludes_public_assistance")
    flag = flag.loc[flag["value"].fillna(False).astype(bool)]
    if households is None:
        households = children[["person_id", "household_id"]].dropna().assign(start=iv.OPEN_START, end=pd.NaT)
    members = households.loc[households["person_id"].isin(children["person_id"]),
                             ["person_id", "household_id", "start", "end"]]
    members = iv.close_open_ends(members)
    cases = iv.close_open_ends(
        welfare[["household_id", "start_date", "end_date"]].rename(columns={"start_date": "start", "end_date": "end"})
    )
    cases = iv.intersect(cases, members, on="household_id")
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


def placement_intervals(placements: pd.DataFrame, children: pd.DataFrame, policy: Any) -> tuple[pd.DataFrame, str, str]:
    """措置 (児童福祉施設入所・里親委託) of the children, within the eras of the exclusion.

    Rule (``eligibility.excludes_institutional_placement``, domain.md §1.8; S24 [I]): a child placed in care,
    whose medical self-pay is borne by the prefecture or city (法別53), is not eligible from the 措置 start
    to its end (the last placed day); after the 措置 ends the child is covered again within the same
    registration.
    """
    flag = policy_eras(policy, "eligibility.excludes_institutional_placement")
    flag = flag.loc[flag["value"].fillna(False).astype(bool)]
    placed = placements.loc[placements["person_id"].isin(children["person_id"]),
                            ["person_id", "start_date", "end_date"]]
    placed = iv.close_open_ends(placed.rename(columns={"start_date": "start", "end_date": "end"}))
    eras = pd.DataFrame(
        {"_key": 0, "start": flag["effective_from"].to_numpy(), "end": flag["effective_to"].to_numpy()}
    )
    cut = iv.intersect(placed.assign(_key=0), eras, on="_key")
    first = flag.iloc[0] if len(flag) else None
    code = format_code(
        "PLACEMENT_EXCLUSION",
        "eligibility.excludes_institutional_placement",
        True,
        None if first is None else first["effective_from"],
    )
    refs = "S24" if first is None else source_ids(first["reference"])
    return cut[["person_id", "start", "end"]], code, refs
