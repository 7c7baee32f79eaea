"""Decide reads less (issue 13) and decides the same: only the income test's tax years, and the
受給者番号 of the decided persons only."""

from __future__ import annotations

import pandas as pd
import pytest

from policy import load_policy
from rules import eligibility
from services.eligibility import decide
from store.db import make_engine
from tests.integration.test_string_storage import _month


@pytest.fixture(scope="module")
def small_inbox(tmp_path_factory):
    from devtools.generate import generate_dataset

    directory = tmp_path_factory.mktemp("decide-reads") / "inbox"
    generate_dataset(directory, children=250, seed=29, as_of="2026-10-31")
    return directory


def test_income_test_tax_years_follow_the_policy():
    policy = load_policy()
    assert eligibility.income_test_tax_years(policy, pd.Timestamp("2020-10-01"), pd.Timestamp("2026-11-30")) == [
        2020, 2021, 2022]  # the test ended on 2023-03-31: cycle Oct 2022 → Mar 2023 is 課税年度 2022
    assert eligibility.income_test_tax_years(policy, pd.Timestamp("2023-04-01"), pd.Timestamp("2026-11-30")) == []


def test_reading_only_the_needed_tax_years_and_recipients_decides_the_same(db_url, tmp_path, small_inbox, key_ring,
                                                                            monkeypatch):
    narrow = _month(db_url, small_inbox, key_ring)  # 250 children: 受給者番号 read by IN lists
    policy = load_policy()
    engine = make_engine(db_url)
    for month in ("2026-10", "2024-06", "2022-11"):
        start, end = decide.decision_horizon(month, policy)
        with engine.connect() as conn:
            every_year = decide.load_eligibility_inputs(conn, first_tax_year=start.year - 1)
            needed = decide.load_eligibility_inputs(conn, first_tax_year=start.year - 1,
                                                    tax_years=eligibility.income_test_tax_years(policy, start, end))
        assert len(needed.tax) < len(every_year.tax)
        pd.testing.assert_frame_equal(eligibility.determine_eligibility(needed, policy, start, end),
                                      eligibility.determine_eligibility(every_year, policy, start, end))
    engine.dispose()
    monkeypatch.setattr(decide, "FEW_PERSONS", 0)  # whole-table 受給者番号 reads
    whole = _month(f"sqlite:///{tmp_path / 'whole.db'}", small_inbox, key_ring)
    for name, frame in narrow.items():
        pd.testing.assert_frame_equal(whole[name], frame, check_dtype=False, obj=name)
