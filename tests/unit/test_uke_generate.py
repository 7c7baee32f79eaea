"""The UKE generator writes files the reader reads back whole, with the controlled share of bad receipts,
and KO amounts the city's own rules reproduce (for receipts whose whole story is in the month)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from connectors.uke import read_uke
from devtools.generate import generate_dataset
from devtools.generate.uke import generate_uke
from policy import load_policy
from rules import benefits
from services.claims import check

POLICY = load_policy()


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    directory = tmp_path_factory.mktemp("inbox")
    generate_dataset(directory, children=300, seed=5, as_of="2025-07-01", encoding="utf-8")
    summary = generate_uke(directory, directory, seed=5, month="2025-06", bad_record_share=0.02,
                           receipts_per_year=24)
    files = [read_uke(path, check.city_payer_numbers(POLICY)) for path in sorted((directory / "uke").iterdir())]
    return summary, files


def test_every_receipt_is_accepted_quarantined_or_another_city(month):
    summary, files = month
    assert len(files) == summary["files"] and summary["receipts"] > 400
    counts = pd.DataFrame([f.counts for f in files]).sum()
    assert counts["receipts_read"] == summary["receipts"]
    assert counts["receipts_quarantined"] == summary["bad_receipts"] > 0
    assert counts["receipts_without_city_public"] == summary["other_city"] > 0
    assert counts["receipts_accepted"] == summary["receipts"] - summary["bad_receipts"] - summary["other_city"]
    assert {f.payer for f in files} == {"KOKUHO", "SHAHO"}
    assert set(pd.concat([f.quarantine for f in files])["column_name"]) == {"公費受給者番号"}


def test_the_city_rules_reproduce_the_billed_amounts(month):
    _, files = month
    receipts = pd.concat([f.receipts for f in files], ignore_index=True)
    stage = check.stage_frame(receipts)
    stage["birth_date"] = pd.to_datetime(receipts["birth_date"]).astype("datetime64[ns]")
    city = benefits.calculate_benefits(stage, POLICY)
    # A stay that began before the month: the institution counts days the city has not seen (disputed).
    whole = (receipts["admission_date"].isna() | (pd.to_datetime(receipts["admission_date"])
                                                  >= pd.Timestamp("2025-06-01"))).to_numpy()
    billed = receipts["billed_subsidy_amount"].to_numpy(dtype=np.int64)
    assert set(receipts["care_type"]) == {"INPATIENT", "OUTPATIENT", "DENTAL", "PHARMACY"}
    assert (city["subsidy_amount"].to_numpy()[whole] == billed[whole]).all()
    assert (receipts.loc[whole, "billed_copay_amount"].to_numpy() == city["copay_amount"].to_numpy()[whole]).all()
