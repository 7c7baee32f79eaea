"""Dates under the Japanese age law, vectorised.

年齢計算ニ関スル法律 counts age from the day of birth and applies 民法第143条: a year of age is
completed at the end of the day *before* the birthday anniversary, so a person "reaches age N"
(N歳に達する日) on the day before the N-th anniversary. For a birth on February 29 the period ends
on the last day of February: the child reaches every age on February 28 (参議院法制局; domain.md §6,
sources S43, S44).

「N歳に達する日以後の最初の3月31日」 is the first March 31 on or after that day: a child born on
April 1 reaches N on March 31 and finishes with that same March 31 (S45).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_ONE_DAY = pd.Timedelta(days=1)


def _as_datetime(values: pd.Series | pd.DatetimeIndex) -> pd.Series:
    return pd.Series(pd.to_datetime(values)).astype("datetime64[ns]")


def add_years_clamped(dates: pd.Series, years: pd.Series | int) -> pd.Series:
    """Add whole years; February 29 becomes February 28 in a year that has no 29th."""
    d = _as_datetime(dates)
    n = np.broadcast_to(np.asarray(years, dtype=np.int64), (len(d),)) if np.ndim(years) == 0 else (
        np.asarray(years, dtype=np.int64))
    year = d.dt.year.to_numpy() + n
    month = d.dt.month.to_numpy()
    day = d.dt.day.to_numpy()
    is_leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    day = np.where((month == 2) & (day == 29) & ~is_leap, 28, day)
    result = pd.to_datetime({"year": year, "month": month, "day": day}, errors="coerce")
    result.index = d.index
    return result.where(d.notna())


def date_reaching_age(birth_dates: pd.Series, age: pd.Series | int) -> pd.Series:
    """N歳に達する日: the day before the N-th birthday anniversary (age law + 民法143条)."""
    birth = _as_datetime(birth_dates)
    return add_years_clamped(birth - _ONE_DAY, age)


def first_march_31_on_or_after(dates: pd.Series) -> pd.Series:
    """The first March 31 on or after each date (the end of the Japanese school/fiscal year)."""
    d = _as_datetime(dates)
    year = d.dt.year + (d.dt.month > 3).astype("int64")
    result = pd.to_datetime({"year": year, "month": 3, "day": 31}, errors="coerce")
    result.index = d.index
    return result.where(d.notna())


def school_year_end_after_age(birth_dates: pd.Series, age: pd.Series | int) -> pd.Series:
    """「N歳に達する日以後の最初の3月31日」 — e.g. the 15 or 18 age limits and the 未就学 (N=6) boundary."""
    return first_march_31_on_or_after(date_reaching_age(birth_dates, age))


def age_on(birth_dates: pd.Series, on_dates: pd.Series | pd.Timestamp) -> pd.Series:
    """Completed years of age on ``on_dates`` (an age is reached on the day before the birthday)."""
    birth = _as_datetime(birth_dates)
    on = _as_datetime(on_dates) if isinstance(on_dates, pd.Series) else pd.Timestamp(on_dates)
    # One day added to "on" turns "reached on the day before the anniversary" into a plain
    # anniversary comparison; Feb 29 births then count Mar 1 as the anniversary in common years,
    # which matches "reached on Feb 28".
    shifted = on + _ONE_DAY
    sy = shifted.dt.year if isinstance(shifted, pd.Series) else shifted.year
    sm = shifted.dt.month if isinstance(shifted, pd.Series) else shifted.month
    sd = shifted.dt.day if isinstance(shifted, pd.Series) else shifted.day
    years = sy - birth.dt.year
    before_anniversary = (sm < birth.dt.month) | ((sm == birth.dt.month) & (sd < birth.dt.day))
    return (years - before_anniversary.astype("int64")).where(birth.notna())


def month_bounds(month: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last day of a ``YYYY-MM`` month."""
    start = pd.Timestamp(f"{month}-01")
    return start, start + pd.offsets.MonthEnd(0)


def policy_snapshot_date(month: str) -> pd.Timestamp:
    """The one date at which a processing month reads its month-level parameters: the month's last day.

    Month-level parameters (公費負担者番号, claim deadline, 受給者証 renewal date) are those in force on the
    last day of the processing month, so a change effective during the month already governs that month's
    run. Parameters that vary within a month (age and income limits) are read per day or segment by the rules
    themselves, never at this snapshot. docs/architecture.md, "Run lifecycle".
    """
    return month_bounds(month)[1]
