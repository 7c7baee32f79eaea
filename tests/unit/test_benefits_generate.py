"""Synthetic receipts: deterministic, realistic in shape, and their bad rows are exactly the quarantined rows."""

from __future__ import annotations

import pandas as pd

from devtools.generate import generate_dataset
from devtools.generate.claims import generate_claims
from services.benefits.intake import load_claim_files


def test_claims_are_deterministic_realistic_and_bad_rows_are_quarantined(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for directory in (first, second):
        generate_dataset(directory, children=400, seed=9, as_of="2026-10-31", encoding="cp932")
        summary = generate_claims(directory, directory, seed=9, month="2026-09", receipts_per_year=24)
    assert (first / "claims.csv").read_bytes() == (second / "claims.csv").read_bytes()

    claims = pd.read_csv(first / "claims.csv", dtype=str, encoding="cp932")
    assert summary["rows"]["claims.csv"] == len(claims) > 400 * 24 / 12 * 0.8
    shares = claims["care_type"].value_counts(normalize=True)
    assert 0.45 < shares["OUTPATIENT"] < 0.7 and "INPATIENT" in shares
    inpatient = claims[claims["care_type"] == "INPATIENT"]
    assert inpatient["admission_id"].notna().all()
    assert (claims["institution_code"].str[:2] == "04").all()

    loaded = load_claim_files(first, "2026-10")
    for name, rows in summary["bad_source_rows"].items():
        quarantined = set(loaded.quarantine.loc[loaded.quarantine["file_name"] == name, "row_number"])
        assert quarantined == set(rows)
    applications = loaded.claims[loaded.claims["route"] == "REIMBURSEMENT"]
    assert len(applications) > 0 and set(applications["reimbursement_reason"]) <= {
        "OUT_OF_PREFECTURE", "CERTIFICATE_NOT_SHOWN", "ORTHOSIS"}
