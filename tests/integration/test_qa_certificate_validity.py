"""QA end to end: the 有効期間 printed on a 受給者証 never runs past the child's last day of eligibility.

Observed on ``scripts/demo 2000`` (2026-10): all 40 children born 2008-04-02..2009-04-01 (高校3年, age limit
18 since 2026-04-01) got a card "令和8年10月1日から令和9年9月30日まで", though eligibility ends on the first
31 March after the 18th birthday (2027-03-31). ``rules.decisions`` caps the validity at the period end, but
the decision horizon (``rules.eligibility.default_horizon``) ended one month past the month and cut the
period off as ``OPEN`` long before the age end, so the cap never applied. The horizon now reaches the last
day of validity of a certificate issued in the month.
"""

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import select

from store import models
from tests.integration.counter_support import counter_env, decide_generated_month, reset


def _last_day_by_age(birth: dt.date, age_limit: int = 18) -> dt.date:
    """The first 31 March on or after the day the child reaches ``age_limit`` (the day before the birthday)."""
    reaches = dt.date(birth.year + age_limit, birth.month, birth.day) - dt.timedelta(days=1) \
        if (birth.month, birth.day) != (2, 29) else dt.date(birth.year + age_limit, 2, 28)
    year = reaches.year if (reaches.month, reaches.day) <= (3, 31) else reaches.year + 1
    return dt.date(year, 3, 31)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_no_card_is_valid_past_the_age_limit(engine, db_url, tmp_path, monkeypatch):
    _, ring = counter_env(monkeypatch, tmp_path, db_url)
    try:
        residents = decide_generated_month(engine, ring, tmp_path, children=600, seed=42)
    finally:
        reset()
    born = pd.to_datetime(residents["birth_date"], format="%Y-%m-%d", errors="coerce")  # bad rows: quarantined
    births = dict(zip(residents["person_id"][born.notna()], born[born.notna()].dt.date, strict=True))
    with engine.connect() as conn:
        cards = conn.execute(select(models.Certificate.person_id, models.Certificate.valid_to)
                             .where(models.Certificate.status == "ELIGIBLE")).all()
    oldest = [(pid, valid_to) for pid, valid_to in cards if pid in births and births[pid] <= dt.date(2009, 4, 1)]
    assert oldest, "the generated month has children in their last school year"
    too_long = [(pid, births[pid], valid_to) for pid, valid_to in oldest
                if pd.Timestamp(valid_to).date() > _last_day_by_age(births[pid])]
    assert too_long == []
