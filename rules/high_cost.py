"""高額療養費 (70歳未満): the monthly self-pay limit of a receipt and the refund above it, vectorised.

健康保険法 第115条 and 健康保険法施行令 第42条: the insurer refunds the part of the insured self-pay above a
monthly limit that depends on the 所得区分 (適用区分 ア〜オ) — per person, per month, per institution
(医科/歯科, 入院/外来 separately). Limit = base amount + max(総医療費 − threshold, 0) × rate (区分ア〜ウ),
or a flat amount (エ, オ); the lower 多数回 amount applies from the 4th month within 12 months. The
amounts are dated parameters ``high_cost.limit.<key>`` (keys ``a i u e o`` = ア イ ウ エ オ), including the
2026-08-01 change (domain.md §3.2, §3.3; sources S29, S30, S33, S34). The 1% term is rounded per
``high_cost.rate_rounding`` (``half_up``; [I] domain.md §3.2).

Not modelled here (the insurer's business, given as ``high_cost_amount`` on the receipt when it applies):
世帯合算 of several receipts of 21,000円 or more (健康保険法施行令 第43条, S65) and the annual cap
introduced in 2026-08 (``annual_cap``), which need the household's whole year across insurers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from policy import Policy

#: Keys of the ``high_cost.limit`` table and the 所得区分 (適用区分, 70歳未満) each stands for (健康保険法施行令
#: 第42条; S29). Before 2015-01-01 the keys stand for the former 3 categories (see high_cost.limit.*).
CATEGORY_LABELS = {"a": "ア", "i": "イ", "u": "ウ", "e": "エ", "o": "オ"}
CATEGORY_KEYS = tuple(CATEGORY_LABELS)
#: The key used when a receipt states neither the refund nor the 区分: the lowest limit (区分オ) gives the
#: largest possible refund and hence never over-pays the subsidy.
FALLBACK_KEY = "o"


def _key_code(keys: pd.Series) -> np.ndarray:
    """Integer code of a 区分 key (merge_asof needs the same key dtype on both sides); -1 if unknown."""
    return pd.Categorical(keys.astype(str), categories=list(CATEGORY_KEYS)).codes.astype(np.int64)


def _round_percent(amount: np.ndarray, percent: np.ndarray, mode: np.ndarray) -> np.ndarray:
    """``amount × percent / 100`` in whole yen; ``half_up`` (1円未満四捨五入) or ``floor``."""
    scaled = amount * percent
    half_up = (scaled + 50) // 100
    floor = scaled // 100
    return np.where(mode == "floor", floor, half_up)


UNCONFIRMED_PARAMETER = "high_cost.unconfirmed_amounts"
#: The 区分 whose 2026-08 amounts are confirmed (S33) and gives the ratio for the others.
REFERENCE_KEY = "u"


def _scale_unconfirmed(base: np.ndarray, key_code: np.ndarray, dates: pd.Series, policy: Policy) -> np.ndarray:
    """Base amounts under ``high_cost.unconfirmed_amounts`` (``keep_previous`` or ``scale_like_u``).

    ``scale_like_u``: the base of ア・イ・エ・オ × (ウ base on the date / ウ base the day before the rule's era),
    rounded to 100 yen — an estimate [I] until the amended 施行令 is read (domain.md §3.3).
    """
    eras = policy.eras(UNCONFIRMED_PARAMETER)
    scaled = eras.loc[eras["value"] == "scale_like_u"]
    if scaled.empty:
        return base
    stamps = pd.to_datetime(dates).to_numpy(dtype="datetime64[ns]")
    out = base.copy()
    table = policy.table("high_cost.limit")
    u_rows = table.loc[table["key"] == REFERENCE_KEY].sort_values("effective_from")
    u_from = pd.to_datetime(u_rows["effective_from"]).to_numpy(dtype="datetime64[ns]")
    u_base = u_rows["base_amount"].to_numpy(dtype=np.int64)
    reference = _key_code(pd.Series([REFERENCE_KEY]))[0]
    for start, end in zip(scaled["effective_from"], scaled["effective_to"], strict=True):  # a handful of eras
        start = np.datetime64(pd.Timestamp(start), "ns")
        end = np.datetime64(pd.Timestamp(end), "ns") if pd.notna(end) else np.datetime64("2262-01-01", "ns")
        rows = (stamps >= start) & (stamps <= end) & (key_code != reference)
        if not rows.any():
            continue
        before = u_base[np.searchsorted(u_from, start, side="left") - 1]
        now = u_base[np.searchsorted(u_from, stamps[rows], side="right") - 1]
        out[rows] = (base[rows] * now * 2 + before * 100) // (before * 200) * 100  # round half up to 100 yen
    return out


def monthly_limit(total_cost: pd.Series, category: pd.Series, dates: pd.Series, policy: Policy,
                  many_times: pd.Series | None = None) -> pd.Series:
    """The 高額療養費 monthly self-pay limit (int64 yen) for each receipt.

    Args:
        total_cost: 総医療費 of the receipt (points × 10), int64 yen.
        category: ``high_cost.limit`` key (``a i u e o``); a missing key uses :data:`FALLBACK_KEY`.
        dates: the service date (the limit in force on it; 健康保険法施行令 第42条).
        policy: the dated parameters.
        many_times: True for the 4th and later high-cost month within 12 months (多数回該当).

    Rule: limit = base_amount + round(max(total − threshold, 0) × rate_percent / 100); the 多数回 amount
    replaces it when ``many_times``. Parameters ``high_cost.limit.<key>`` (fields base_amount, threshold,
    rate_percent, many_times_amount) and ``high_cost.rate_rounding``.
    """
    index = total_cost.index
    key = category.astype("string").fillna(FALLBACK_KEY).str.lower()
    probe = pd.DataFrame({
        "_row": np.arange(len(index)),
        "key": _key_code(key),
        "effective_from": pd.to_datetime(dates).to_numpy(dtype="datetime64[ns]"),
    }).sort_values("effective_from", kind="stable")
    table = policy.table("high_cost.limit")[
        ["key", "effective_from", "base_amount", "threshold", "rate_percent", "many_times_amount"]
    ]
    table = table.assign(key=_key_code(table["key"]))
    merged = pd.merge_asof(probe, table, on="effective_from", by="key", direction="backward")
    merged = merged.sort_values("_row", kind="stable")
    if merged["base_amount"].isna().any():
        raise ValueError("high_cost_category holds a key without a high_cost.limit parameter on the service date")
    base = merged["base_amount"].to_numpy(dtype=np.int64)
    base = _scale_unconfirmed(base, merged["key"].to_numpy(dtype=np.int64), merged["effective_from"], policy)
    threshold = merged["threshold"].to_numpy(dtype=np.int64)
    rate = merged["rate_percent"].to_numpy(dtype=np.int64)
    many = merged["many_times_amount"].to_numpy(dtype=np.int64)
    mode = policy.series("high_cost.rate_rounding", pd.Series(pd.to_datetime(dates).to_numpy(), index=index))
    excess = np.maximum(total_cost.to_numpy(dtype=np.int64) - threshold, 0)
    limit = base + _round_percent(excess, rate, mode.fillna("half_up").to_numpy(dtype=object))
    if many_times is not None:
        limit = np.where(many_times.fillna(False).to_numpy(dtype=bool), many, limit)
    return pd.Series(limit.astype(np.int64), index=index, name="high_cost_limit_amount")


def refund_amount(self_pay: pd.Series, limit: pd.Series) -> pd.Series:
    """高額療養費 = max(self-pay − limit, 0) (健康保険法 第115条), int64 yen."""
    return (self_pay - limit).clip(lower=0).astype("int64").rename("high_cost_amount")
