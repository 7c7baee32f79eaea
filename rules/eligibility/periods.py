"""Eligibility periods: the components intersected, split by the income-test status (entry point).

Legal rule: see :mod:`rules.eligibility` (仙台市子ども医療費の助成に関する規則; domain.md §1) — the
periods are age ∩ residence ∩ insurance ∩ registration, minus 生活保護, split by the income-test status.
Adjacent pieces of equal status are merged and their reason codes united.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from rules import intervals as iv
from rules.eligibility.codes import BOUNDARY_RANK, END_RANK, END_REASONS, RENEWAL_PARAMETER, STATUSES, ReasonCodes
from rules.eligibility.components import (
    age_pieces,
    insurance_component,
    meet,
    placement_intervals,
    registration_component,
    residence_component,
    welfare_intervals,
)
from rules.eligibility.eras import cached_policy
from rules.eligibility.ids import encode_ids
from rules.eligibility.income import income_status_pieces
from rules.eligibility.inputs import EligibilityInputs


def default_horizon(as_of: pd.Timestamp | str, policy: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(program.start_date, end)`` — enough for :func:`decide_month` and for every certificate it issues.

    The start is the first day of the regime (2012-01-01, S12/S13) so that stored periods keep their
    history. The end reaches one month past ``as_of`` so that renewals can be issued ahead, and on to the
    last day of validity of a certificate issued then: the day before the next renewal date
    (``certificate.renewal_month_day``). A 受給者証 is valid until the earlier of that day and the end of
    eligibility (domain.md §1.6), so the horizon must see an end that comes before it — an age limit, a
    known end of insurance — or the card would print a validity the child no longer has.
    """
    as_of = pd.Timestamp(as_of)
    start = policy.at(as_of).get("program.start_date")
    end = ((as_of + pd.offsets.MonthBegin(1)) + pd.offsets.MonthEnd(1)).normalize()
    renewal = policy.at(end).get(RENEWAL_PARAMETER)
    if renewal:  # "MM-DD"; none in force = certificates without a yearly cycle
        next_renewal = pd.Timestamp(year=end.year, month=int(renewal[:2]), day=int(renewal[3:5]))
        if next_renewal <= end:
            next_renewal = pd.Timestamp(year=end.year + 1, month=next_renewal.month, day=next_renewal.day)
        end = max(end, next_renewal - pd.Timedelta(days=1))
    return pd.Timestamp(start), end


def determine_eligibility(
    inputs: EligibilityInputs,
    policy: Any,
    horizon_start: pd.Timestamp | str | None = None,
    horizon_end: pd.Timestamp | str | None = None,
    *,
    as_of: pd.Timestamp | str | None = None,
    closed_days: np.ndarray | None = None,
) -> pd.DataFrame:
    """Eligibility periods per registered child, clipped to ``[horizon_start, horizon_end]``.

    Pass either the horizon or ``as_of`` (then the horizon is :func:`default_horizon`). ``closed_days`` are
    the national holidays (datetime64 dates; the caller takes them from a maintained calendar, e.g.
    :func:`services.eligibility.calendar.national_holidays`): a registration deadline on a closed day moves
    to the next open day (``registration.deadline_rolls_to_next_open_day``).

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
    codes = ReasonCodes()
    inputs, person_ids = encode_ids(inputs)
    residents = inputs.residents
    child_ids = pd.Index(inputs.applications["child_person_id"].dropna().unique())
    child_ids = child_ids[child_ids.to_numpy() != -1] if child_ids.dtype.kind == "i" else child_ids
    children = residents.loc[residents["person_id"].isin(child_ids)].drop_duplicates("person_id")
    kid_index = pd.Index(children["person_id"])

    age = age_pieces(children, policy, codes)
    residence = residence_component(inputs.residence, kid_index)
    spans = iv.normalise(meet(age, residence)[["person_id", "start", "end"]])
    registered = registration_component(spans, inputs.applications, policy, codes, closed_days,
                                        children[["person_id", "birth_date"]])
    insurance = insurance_component(inputs.insurance, kid_index, policy, codes)
    base = meet(meet(meet(registered, age), residence), insurance)

    welfare, welfare_code, welfare_refs = welfare_intervals(inputs.welfare, children, policy, inputs.households)
    if len(welfare):
        base = iv.subtract(base, welfare, cut_flag="_cut")
        cut = base.pop("_cut").to_numpy(bool)
        base["rank"] = np.where(cut, END_RANK["WELFARE"], base["rank"])
        base["codes"] = np.where(cut, base["codes"] | codes.mask(welfare_code, welfare_refs), base["codes"])

    placed, placement_code, placement_refs = placement_intervals(inputs.placements, children, policy)
    if len(placed):
        base = iv.subtract(base, placed, cut_flag="_cut")
        cut = base.pop("_cut").to_numpy(bool)
        base["rank"] = np.where(cut, END_RANK["PLACEMENT"], base["rank"])
        base["codes"] = np.where(cut, base["codes"] | codes.mask(placement_code, placement_refs), base["codes"])

    beyond = base["end"] > he
    base["rank"] = np.where(beyond, END_RANK["OPEN"], base["rank"])
    base = iv.clip(base, hs, he)
    if base.empty:
        return _empty_periods()

    status = income_status_pieces(
        children.loc[children["person_id"].isin(base["person_id"])],
        inputs.applications,
        inputs.households,
        inputs.tax,
        policy,
        hs,
        he,
        codes,
    )
    pieces = meet(base, status)
    merged = iv.normalise(pieces, by=["person_id", "status"], agg={"rank": "last", "codes": "bitor"})
    merged = merged.sort_values(["person_id", "start"], kind="stable").reset_index(drop=True)
    next_start = merged.groupby("person_id", sort=False)["start"].shift(-1)
    followed = (next_start == merged["end"] + iv.ONE_DAY).to_numpy()
    rank = np.where(followed, END_RANK["INCOME"], merged["rank"].to_numpy())
    rank = np.where(rank >= BOUNDARY_RANK, END_RANK["OPEN"], rank)
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
