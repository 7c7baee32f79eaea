"""The next month's synthetic inbox: a small share of persons changed, everything still valid."""

from __future__ import annotations

import json

import pytest

from devtools.generate import FILE_NAMES, generate_dataset
from devtools.generate.changes import generate_changes
from services.intake import ingest


def _validated(inbox):
    manifest = json.loads((inbox / "manifest.json").read_text())
    return ingest.validate_inbox(ingest.read_inbox(inbox), manifest["extract_date"])


@pytest.fixture(scope="module")
def months(tmp_path_factory):
    root = tmp_path_factory.mktemp("months")
    generate_dataset(root / "m1", children=600, seed=3, as_of="2026-10-31")
    summary = generate_changes(root / "m1", root / "m2", share=0.05, seed=4, as_of="2026-11-30")
    return root, summary


def test_changes_are_valid_and_counted(months):
    root, summary = months
    before, after = _validated(root / "m1"), _validated(root / "m2")
    assert len(after.quarantine) == len(before.quarantine)  # no new bad rows: only the old ones again
    assert min(summary["move_outs"] + summary["address_changes"], summary["new_applications"],
               summary["tax_updates"]) > 0
    assert len(after.frames["residents"]) == len(before.frames["residents"]) - summary["move_outs"]
    new_events = after.frames["resident_events"].merge(before.frames["resident_events"][["event_id"]],
                                                       on="event_id", how="left", indicator=True)
    new_events = new_events.loc[new_events["_merge"] == "left_only"]
    assert len(new_events) == summary["move_outs"] + summary["address_changes"]
    assert new_events["event_date"].between("2026-11-01", "2026-11-30").all()
    assert len(after.frames["applications"]) == len(before.frames["applications"]) + summary["new_applications"]
    first = after.frames["applications"].loc[~after.frames["applications"]["application_id"].isin(
        before.frames["applications"]["application_id"])]
    assert first["guardian_person_id"].notna().all() and first["application_date"].between("2026-11-01", "2026-11-30").all()
    income = before.frames["tax"].merge(after.frames["tax"], on=["person_id", "tax_year"], suffixes=("_old", ""))
    assert int((income["total_income_amount"] != income["total_income_amount_old"]).sum()) == summary["tax_updates"]
    assert json.loads((root / "m2" / "manifest.json").read_text())["extract_date"] == "2026-11-30"


def test_changes_are_deterministic(months, tmp_path):
    root, _ = months
    generate_changes(root / "m1", tmp_path, share=0.05, seed=4, as_of="2026-11-30")
    for name in FILE_NAMES:
        assert (tmp_path / name).read_bytes() == (root / "m2" / name).read_bytes()
