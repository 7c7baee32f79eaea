"""One snapshot date per processing month (the last day), and parameters read instead of literal fallbacks."""

from __future__ import annotations

import pandas as pd

from policy import load_policy
from rules import eligibility
from rules.dates import policy_snapshot_date
from services.eligibility.decide import decision_horizon


def test_snapshot_is_the_last_day_of_the_month():
    assert policy_snapshot_date("2026-02") == pd.Timestamp("2026-02-28")
    assert policy_snapshot_date("2024-02") == pd.Timestamp("2024-02-29")
    assert policy_snapshot_date("2026-12") == pd.Timestamp("2026-12-31")


def test_horizon_reads_the_claim_deadline_and_the_program_start_from_the_policy():
    policy = load_policy()
    years = policy.at(policy_snapshot_date("2026-10")).get("reimbursement.claim_deadline_years")
    start, end = decision_horizon("2026-10", policy)
    assert start == pd.Timestamp("2026-10-01") - pd.DateOffset(years=int(years) + 1)
    assert end == pd.Timestamp("2027-09-30")  # a card issued for 2026-11 is valid until the 10-01 renewal
    program_start = pd.Timestamp(policy.at("2013-01-31").get("program.start_date"))
    assert decision_horizon("2013-01", policy)[0] == program_start
    assert eligibility.default_horizon("2013-01-31", policy)[0] == program_start
