"""The closed-day calendar the registration deadline needs: Japanese national holidays.

National holidays (国民の祝日に関する法律, incl. 振替休日 and 国民の休日) come from the maintained ``holidays``
package (country JP), not from a hand-written list. The rules stay pure: this array is passed into
:func:`rules.eligibility.determine_eligibility` (``closed_days``); weekends and the city's year-end closure
(``registration.year_end_closure``) are added by the rule.
"""

from __future__ import annotations

import holidays
import numpy as np
import pandas as pd


def national_holidays(first_year: int, last_year: int) -> np.ndarray:
    """Every Japanese national holiday from ``first_year`` to ``last_year`` (inclusive), datetime64[D]."""
    calendar = holidays.country_holidays("JP", years=range(first_year, last_year + 1))
    return np.asarray(sorted(calendar), dtype="datetime64[D]")


def holidays_for_horizon(horizon_start: pd.Timestamp | str, horizon_end: pd.Timestamp | str) -> np.ndarray:
    """National holidays from the year before ``horizon_start`` (registration triggers) to after its end."""
    return national_holidays(pd.Timestamp(horizon_start).year - 1, pd.Timestamp(horizon_end).year + 1)
