"""Vectorised interval algebra on frames of closed day intervals.

An *interval frame* has a key column (``person_id`` by default), ``start`` and ``end`` (both inclusive,
``datetime64[ns]``) and any attribute columns. Eligibility, residence, insurance and welfare periods are
all interval frames, so the legal rules reduce to unions, intersections and differences of such sets.

Conventions (assumptions, not law):

* Intervals are closed day ranges: ``[start, end]`` covers both days. Two intervals are *adjacent* when
  the second starts the day after the first ends; adjacent intervals of the same key merge.
* An open end (``NaT``) is represented inside the algebra by :data:`OPEN_END` (use :func:`close_open_ends`);
  a missing start by :data:`OPEN_START`.
* Every function works per key with ``groupby``/``shift``/``cummax`` and ``merge``; no Python loop over
  records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

ONE_DAY = pd.Timedelta(days=1)
OPEN_START = pd.Timestamp("1900-01-01")
OPEN_END = pd.Timestamp("2200-12-31")

_AGGREGATIONS = ("first", "last", "min", "max", "bitor")


def as_dates(values: pd.Series) -> pd.Series:
    """Coerce a column to ``datetime64[ns]`` (the project's date dtype)."""
    if isinstance(values, pd.Series) and values.dtype == "datetime64[ns]":
        return values
    return pd.to_datetime(values).astype("datetime64[ns]")


def close_open_ends(
    frame: pd.DataFrame, *, start: str = "start", end: str = "end"
) -> pd.DataFrame:
    """Replace a missing start by :data:`OPEN_START` and a missing end by :data:`OPEN_END`."""
    result = frame.copy()
    result[start] = as_dates(result[start]).fillna(OPEN_START)
    result[end] = as_dates(result[end]).fillna(OPEN_END)
    return result


def normalise(
    frame: pd.DataFrame,
    by: Sequence[str] = ("person_id",),
    *,
    agg: Mapping[str, str] | None = None,
    start: str = "start",
    end: str = "end",
) -> pd.DataFrame:
    """Merge overlapping or adjacent intervals that share the values of ``by``.

    ``agg`` names attribute columns to carry through a merge and how: ``first`` (from the interval that
    starts first), ``last`` (from the interval that ends last), ``min``, ``max`` or ``bitor`` (bitwise or
    of an integer mask). Columns not in ``by`` or ``agg`` are dropped. The result is sorted by ``by`` and
    ``start`` with a fresh index.
    """
    agg = dict(agg or {})
    unknown = {a for a in agg.values() if a not in _AGGREGATIONS}
    if unknown:
        raise ValueError(f"unknown aggregation(s) {sorted(unknown)}; use one of {_AGGREGATIONS}")
    by = list(by)
    columns = [*by, start, end, *agg]
    if frame.empty:
        return frame[columns].iloc[0:0].reset_index(drop=True)
    df = frame[columns].sort_values([*by, start, end], kind="stable").reset_index(drop=True)
    s = df[start].to_numpy()
    e = df[end].to_numpy()
    if not by:
        raise ValueError("normalise needs at least one key column")
    group = df.groupby(by, sort=False, dropna=False).ngroup().to_numpy()
    key_changed = np.ones(len(df), dtype=bool)
    key_changed[1:] = group[1:] != group[:-1]
    # the running latest end of the earlier intervals of the same key
    running_end = df.groupby(by, sort=False, dropna=False)[end].cummax().to_numpy()
    previous_end = np.concatenate([[np.datetime64("NaT")], running_end[:-1]]).astype("datetime64[ns]")
    new_block = key_changed.copy()
    new_block[1:] |= s[1:] > previous_end[1:] + np.timedelta64(1, "D")
    block = np.cumsum(new_block) - 1
    first_rows = np.flatnonzero(new_block)

    out = df.iloc[first_rows][by].reset_index(drop=True)
    grouped = pd.DataFrame({"block": block, start: s, end: e})
    out[start] = grouped.groupby("block")[start].min().to_numpy()
    out[end] = grouped.groupby("block")[end].max().to_numpy()
    if agg:
        # row positions of the interval that ends last in each block (ties: the later start)
        by_end = np.lexsort((np.arange(len(df)), e, block))
        is_last = np.ones(len(by_end), dtype=bool)
        is_last[:-1] = block[by_end][1:] != block[by_end][:-1]
        last_rows = by_end[is_last]
        for column, how in agg.items():
            values = df[column]
            if how == "first":
                out[column] = values.iloc[first_rows].to_numpy()
            elif how == "last":
                out[column] = values.iloc[last_rows].to_numpy()
            elif how == "bitor":
                out[column] = np.bitwise_or.reduceat(values.to_numpy(dtype=np.int64), first_rows)
            else:
                out[column] = values.groupby(block).agg(how).to_numpy()
    return out


def intersect(
    a: pd.DataFrame,
    b: pd.DataFrame,
    on: str | Sequence[str] = "person_id",
    *,
    suffixes: tuple[str, str] = ("_a", "_b"),
    start: str = "start",
    end: str = "end",
) -> pd.DataFrame:
    """Pairwise intersection of two interval sets per key.

    Every interval of ``a`` is met with every interval of ``b`` of the same key; the overlap is
    ``[max(start), min(end)]`` and is kept when non-empty. Attribute columns of both sides are kept
    (clashing names get ``suffixes``). Rows keep the order of ``a`` then ``b``.
    """
    keys = [on] if isinstance(on, str) else list(on)
    left = a.rename(columns={start: "_start_a", end: "_end_a"})
    right = b.rename(columns={start: "_start_b", end: "_end_b"})
    merged = left.merge(right, on=keys, how="inner", suffixes=suffixes)
    new_start = np.maximum(merged["_start_a"].to_numpy(), merged["_start_b"].to_numpy())
    new_end = np.minimum(merged["_end_a"].to_numpy(), merged["_end_b"].to_numpy())
    keep = new_start <= new_end
    merged = merged.drop(columns=["_start_a", "_end_a", "_start_b", "_end_b"])
    merged.insert(len(keys), start, new_start)
    merged.insert(len(keys) + 1, end, new_end)
    return merged.loc[keep].reset_index(drop=True)


def complement(
    frame: pd.DataFrame,
    on: str = "person_id",
    *,
    start: str = "start",
    end: str = "end",
    within: tuple[pd.Timestamp, pd.Timestamp] = (OPEN_START, OPEN_END),
) -> pd.DataFrame:
    """The gaps between the intervals of each key, inside ``within``.

    Returns ``on, start, end, is_bounded`` where ``is_bounded`` is True when the gap ends because an
    interval of ``frame`` begins the next day (False for the last, open-ended gap). Keys without any
    interval in ``frame`` do not appear (their complement is the whole of ``within``).
    """
    lo, hi = pd.Timestamp(within[0]), pd.Timestamp(within[1])
    merged = normalise(frame, by=[on], start=start, end=end)
    if merged.empty:
        return pd.DataFrame({on: merged[on], start: merged[start], end: merged[end], "is_bounded": []})
    previous_end = merged.groupby(on, sort=False)[end].shift(1)
    inner = pd.DataFrame(
        {
            on: merged[on],
            start: (previous_end + ONE_DAY).fillna(lo),
            end: merged[start] - ONE_DAY,
            "is_bounded": True,
        }
    )
    last = merged.drop_duplicates(on, keep="last")
    tail = pd.DataFrame({on: last[on], start: last[end] + ONE_DAY, end: hi, "is_bounded": False})
    gaps = pd.concat([inner, tail], ignore_index=True)
    gaps[start] = gaps[start].clip(lower=lo)
    gaps[end] = gaps[end].clip(upper=hi)
    gaps = gaps.loc[gaps[start] <= gaps[end]]
    return gaps.sort_values([on, start], kind="stable").reset_index(drop=True)


def subtract(
    a: pd.DataFrame,
    b: pd.DataFrame,
    on: str = "person_id",
    *,
    cut_flag: str | None = None,
    start: str = "start",
    end: str = "end",
) -> pd.DataFrame:
    """``a`` minus ``b`` per key: the complement of ``b``, intersected with ``a``.

    Attribute columns of ``a`` are kept (those of ``b`` are not). With ``cut_flag`` the result gets a
    boolean column of that name, True where the piece ends because an interval of ``b`` begins the next
    day (and ``a`` itself would have gone on).
    """
    b_keys = b[[on, start, end]]
    touched = a[on].isin(b_keys[on])
    untouched = a.loc[~touched].copy()
    gaps = complement(b_keys, on, start=start, end=end).rename(
        columns={start: "_gap_start", end: "_gap_end", "is_bounded": "_bounded"}
    )
    pieces = a.loc[touched].assign(_orig_end=a.loc[touched, end])
    pieces = intersect(pieces, gaps.rename(columns={"_gap_start": start, "_gap_end": end}).assign(
        _gap_end=gaps["_gap_end"]), on=on, start=start, end=end)
    if cut_flag is not None:
        pieces[cut_flag] = pieces["_bounded"].to_numpy() & (
            pieces["_orig_end"].to_numpy() > pieces["_gap_end"].to_numpy())
        untouched[cut_flag] = False
    pieces = pieces.drop(columns=["_orig_end", "_gap_end", "_bounded"])
    result = pd.concat([untouched, pieces[untouched.columns]], ignore_index=True)
    return result.sort_values([on, start], kind="stable").reset_index(drop=True)


def clip(
    frame: pd.DataFrame,
    window_start: pd.Timestamp | str,
    window_end: pd.Timestamp | str,
    *,
    start: str = "start",
    end: str = "end",
) -> pd.DataFrame:
    """Cut every interval to ``[window_start, window_end]`` and drop the ones outside it."""
    lo, hi = pd.Timestamp(window_start), pd.Timestamp(window_end)
    result = frame.copy()
    result[start] = result[start].clip(lower=lo)
    result[end] = result[end].clip(upper=hi)
    return result.loc[result[start] <= result[end]].reset_index(drop=True)
