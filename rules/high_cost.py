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
#: Spacing of the 区分 keys in the (key, day) search of :func:`monthly_limit`: more days than the calendar
#: pandas can hold (1678–2262), so a key's days never reach the next key's.
_KEY_STRIDE = 1_000_000


def _key_code(keys: pd.Series) -> np.ndarray:
    """Integer code of a 区分 key (its position in :data:`CATEGORY_KEYS`); -1 if unknown."""
    return pd.Index(list(CATEGORY_KEYS)).get_indexer(keys.astype(str).to_numpy(dtype=object)).astype(np.int64)


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
    stamps = pd.to_datetime(dates).to_numpy(dtype="datetime64[ns]")
    # The 区分 of each receipt as a key code, worked out once per distinct value (five keys, a million rows).
    codes, distinct = pd.factorize(category.to_numpy(dtype=object))
    distinct_keys = _key_code(pd.Series(distinct, dtype=object).astype("string").str.lower())
    fallback = _key_code(pd.Series([FALLBACK_KEY]))[0]
    key = np.where(codes < 0, fallback, np.append(distinct_keys, fallback)[codes])
    # The parameter row in force: the last row of the same key starting on or before the date, found by one
    # sorted search over (key, start day) pairs.
    table = policy.table("high_cost.limit")
    table_key = _key_code(table["key"])
    table_day = pd.to_datetime(table["effective_from"]).to_numpy(dtype="datetime64[D]").astype(np.int64)
    order = np.lexsort((table_day, table_key))
    table_key, table_day = table_key[order], table_day[order]
    day = stamps.astype("datetime64[D]").astype(np.int64)
    position = np.searchsorted(table_key * _KEY_STRIDE + table_day, key * _KEY_STRIDE + day, side="right") - 1
    found = (position >= 0) & (table_key[np.maximum(position, 0)] == key) & ~np.isnat(stamps)
    row = order[np.maximum(position, 0)]
    fields = {}
    for field in ("base_amount", "threshold", "rate_percent", "many_times_amount"):  # a small table: convert first
        values = table[field].to_numpy(dtype=object)
        fields[field] = (np.where(pd.isna(values), 0, values).astype(np.int64)[row], pd.isna(values)[row])
    if not found.all() or any(missing.any() for _, missing in fields.values()):
        raise ValueError("high_cost_category holds a key without a high_cost.limit parameter on the service date")
    base = _scale_unconfirmed(fields["base_amount"][0], key, pd.Series(stamps), policy)
    threshold, rate, many = (fields[f][0] for f in ("threshold", "rate_percent", "many_times_amount"))
    mode = policy.series("high_cost.rate_rounding", pd.Series(stamps, index=index))
    excess = np.maximum(total_cost.to_numpy(dtype=np.int64) - threshold, 0)
    limit = base + _round_percent(excess, rate, mode.fillna("half_up").to_numpy(dtype=object))
    if many_times is not None:
        limit = np.where(many_times.fillna(False).to_numpy(dtype=bool), many, limit)
    return pd.Series(limit.astype(np.int64), index=index, name="high_cost_limit_amount")


def refund_amount(self_pay: pd.Series, limit: pd.Series) -> pd.Series:
    """高額療養費 = max(self-pay − limit, 0) (健康保険法 第115条), int64 yen."""
    return (self_pay - limit).clip(lower=0).astype("int64").rename("high_cost_amount")
