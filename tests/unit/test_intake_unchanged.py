"""What the unchanged-file skip (services.intake.unchanged) relies on, checked against the real schemas."""

from __future__ import annotations

import pandas as pd
import pytest

from services.intake import ingest, unchanged


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    from devtools.generate import generate_dataset

    directory = tmp_path_factory.mktemp("inbox")
    generate_dataset(directory, children=60, seed=3, as_of="2026-10-31")
    return ingest.read_inbox(directory)


def _failures(raw, extract_date: str) -> pd.DataFrame:
    inbox = ingest.validate_inbox(raw, extract_date)
    return inbox.quarantine[["file_name", "row_number", "column_name", "check_name"]]


def test_only_extract_date_checks_depend_on_the_extract_date_and_a_later_date_fails_fewer(raw):
    early, late = _failures(raw, "1990-01-01"), _failures(raw, "2026-10-31")
    keys = ["file_name", "row_number", "column_name", "check_name"]
    both = early.merge(late, on=keys, how="outer", indicator=True)
    only_early = both[both["_merge"] == "left_only"]
    assert len(only_early) > 0  # the early date fails dates the later one accepts
    assert only_early["check_name"].str.endswith(unchanged.EXTRACT_DATE_CHECKS).all()
    assert (both["_merge"] != "right_only").all()  # nothing fails at the later date that passed at the earlier


def _known(context: str, quarantined_checks: list[str], sha: str = "a" * 64) -> unchanged.Known:
    quarantine = pd.DataFrame({"file_name": "tax.csv", "file_sha256": sha, "row_number": range(2, 2 + len(
        quarantined_checks)), "column_name": "tax_year", "check_name": quarantined_checks, "masked_value": None,
        "reason": "x"})
    known = unchanged.Known(context=context, quarantine=quarantine)
    known.files["tax.csv"] = unchanged.PreviousFile(sha, "v1;utf-8;p2;2026-10-31", 10, 10 - len(quarantined_checks),
                                                    len(quarantined_checks))
    return known


@pytest.mark.parametrize(("context", "checks", "skipped"), [
    ("v1;utf-8;p2;2026-10-31", ["tax_year_not_in_future"], True),  # same context: same outcome
    ("v1;utf-8;p2;2026-11-30", [], True),  # later extract date, nothing failed on the date
    ("v1;utf-8;p2;2026-11-30", ["coerce_dtype('int64')"], True),
    ("v1;utf-8;p2;2026-11-30", ["tax_year_not_in_future"], False),  # that row may pass now
    ("v1;utf-8;p2;2026-10-30", [], False),  # an earlier extract date
    ("v1;cp932;p2;2026-10-31", [], False),  # another declared encoding
    ("v2;utf-8;p2;2026-10-31", [], False),  # another reader/validator version
    ("v1;utf-8;p2;today=2026-11-30", [], False),  # no extract date: "today" is no stable reference
])
def test_a_file_is_skipped_only_when_reading_it_again_gives_the_same(context, checks, skipped):
    known = _known(context, checks)
    assert (known.select({"tax.csv": "a" * 64}, {}) == {"tax.csv"}) is skipped
    assert known.select({"tax.csv": "b" * 64}, {}) == set()


def test_a_stored_quarantine_that_differs_from_the_recorded_count_reads_the_file_again():
    known = _known("v1;utf-8;p2;2026-10-31", ["coerce_dtype('int64')"])
    known.files["tax.csv"] = unchanged.PreviousFile("a" * 64, "v1;utf-8;p2;2026-10-31", 10, 8, 2)
    assert known.select({"tax.csv": "a" * 64}, {}) == set()


def test_person_files_only_together_and_without_possible_gaiji():
    context = "v1;utf-8;p2;2026-10-31"
    known = unchanged.Known(context=context)
    for name in unchanged.PERSON_FILE_NAMES:
        known.files[name] = unchanged.PreviousFile(name[0] * 64, context, 5, 5, 0)
    shas = {name: name[0] * 64 for name in unchanged.PERSON_FILE_NAMES}
    clean = dict.fromkeys(unchanged.PERSON_FILE_NAMES, False)
    assert known.select(shas, clean) == set(unchanged.PERSON_FILE_NAMES)
    assert known.select(shas | {"resident_events.csv": "c" * 64}, clean) == set()
    assert known.select(shas, clean | {"residents.csv": True}) == set()
    assert unchanged.may_hold_gaiji("髙".encode()) is False and unchanged.may_hold_gaiji("\ue000".encode())
    assert unchanged.may_hold_gaiji(bytes([0xF0, 0x40]))  # CP932 user-defined area
