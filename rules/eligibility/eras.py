"""Parameter eras: the values of dated policy parameters in force on each day.

The age limit, the income limit and the registration window change on dates (policy/parameters/**, each
value with its effective date and legal source). Rules look them up per date with a sorted-array search or
cut time into segments at every effective date — never ``if date < …`` branches. Loops run over a handful
of eras only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from rules import intervals as iv


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


def policy_eras(policy: Any, name: str) -> pd.DataFrame:
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
    eras = policy_eras(policy, name)
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


def era_segments(policy: Any, names: Sequence[str], breaks: Iterable[pd.Timestamp] = ()) -> pd.DataFrame:
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
        points.update(policy_eras(policy, name)["effective_from"])
    starts = pd.Series(sorted(points), dtype="datetime64[ns]")
    seg = pd.DataFrame({"seg_start": starts, "seg_end": (starts.shift(-1) - iv.ONE_DAY).fillna(iv.OPEN_END)})
    seg["seg_end"] = seg["seg_end"].astype("datetime64[ns]")
    for name in names:
        found = lookup_parameter(policy, name, seg["seg_start"])
        seg[name] = found["value"]
        seg[f"{name}#from"] = found["effective_from"]
        seg[f"{name}#ref"] = found["reference"]
    return seg


def is_set(values: pd.Series) -> np.ndarray:
    """True where a parameter value is in force (not None / NA)."""
    return values.notna().to_numpy(dtype=bool)
