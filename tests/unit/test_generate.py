"""devtools.generate: deterministic, realistic synthetic inbox with exactly the declared bad rows."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest

from connectors.files import read_input_csv, read_manifest
from devtools.generate import FILE_NAMES, generate_dataset
from devtools.generate import names as word_lists
from rules.checkdigits import valid_insurer_number, valid_my_number, with_my_number_check_digit
from schemas import INPUT_COLUMNS, INPUT_SCHEMAS
from schemas.validate import validate_frame

CHILDREN = 1200


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    directory = tmp_path_factory.mktemp("inbox")
    summary = generate_dataset(directory, children=CHILDREN, seed=42, as_of="2026-10-31")
    frames = {name: read_input_csv(directory / name, INPUT_COLUMNS[name]) for name in FILE_NAMES}
    return directory, summary, frames


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    directory = tmp_path_factory.mktemp("clean")
    summary = generate_dataset(directory, children=CHILDREN, seed=42, as_of="2026-10-31", bad_row_share=0)
    frames = {name: read_input_csv(directory / name, INPUT_COLUMNS[name]) for name in FILE_NAMES}
    return directory, summary, frames


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path):
    first = generate_dataset(tmp_path / "a", children=300, seed=5)
    second = generate_dataset(tmp_path / "b", children=300, seed=5)
    other = generate_dataset(tmp_path / "c", children=300, seed=6)

    for name in [*FILE_NAMES, "manifest.json"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "residents.csv").read_bytes() != (tmp_path / "c" / "residents.csv").read_bytes()
    assert {k: v for k, v in first.items() if k != "out_dir"} == {k: v for k, v in second.items() if k != "out_dir"}
    assert other["children"] == 300


def test_manifest_declares_encoding_extract_date_seed_and_control_totals(dataset):
    from connectors.files import file_sha256

    directory, summary, _ = dataset
    assert json.loads((directory / "manifest.json").read_text()) == {
        "encoding": "utf-8", "extract_date": "2026-10-31", "generator_seed": 42,
        "files": {name: {"rows": summary["rows"][name], "sha256": file_sha256(directory / name)}
                  for name in FILE_NAMES},
    }
    assert read_manifest(directory)["extract_date"] == "2026-10-31"


def test_counts_in_the_summary_match_the_files(dataset):
    _, summary, frames = dataset
    residents = frames["residents.csv"]

    assert summary["children"] == CHILDREN
    assert summary["rows"] == {name: len(frames[name]) for name in FILE_NAMES}
    assert summary["persons"] == len(residents) == summary["children"] + summary["guardians"]
    assert summary["bad_rows"] == {name: len(rows) for name, rows in summary["bad_source_rows"].items()}
    assert all(n > 0 for n in summary["bad_rows"].values())
    for name, kinds in summary["bad_kinds"].items():
        assert sum(kinds.values()) <= summary["bad_rows"][name]  # duplicates break two rows
    assert set(summary) >= {"households", "events_by_code", "welfare_households", "deaths", "moved_out_persons",
                            "children_with_application", "events_from", "encoding", "as_of", "seed"}


def test_the_generated_bad_rows_are_exactly_the_quarantined_rows(dataset):
    _, summary, frames = dataset
    for name in FILE_NAMES:
        result = validate_frame(frames[name], INPUT_SCHEMAS[name], name, "2026-10-31")
        assert sorted(result.quarantine["row_number"].unique()) == summary["bad_source_rows"][name], name
        assert len(result.good) == len(frames[name]) - summary["bad_rows"][name]
        visible = result.quarantine["masked_value"].dropna().str.replace("*", "", regex=False).str.len()
        assert (visible <= 2).all()


def test_without_bad_rows_every_row_is_valid(clean):
    _, summary, frames = clean
    assert summary["bad_rows"] == dict.fromkeys(FILE_NAMES, 0)
    for name in FILE_NAMES:
        assert validate_frame(frames[name], INPUT_SCHEMAS[name], name, "2026-10-31").quarantine.empty, name


def test_my_numbers_are_valid_unique_and_use_the_statutory_check_digit(clean):
    residents = clean[2]["residents.csv"]
    numbers = residents["my_number"]
    assert valid_my_number(numbers).all() and numbers.is_unique
    sample = numbers.head(50).tolist()
    assert sample == [with_my_number_check_digit(n[:11]) for n in sample]
    assert residents["person_id"].is_unique and residents["person_id"].str.fullmatch(r"[0-9]{10}").all()


def test_households_look_like_sendai_families(clean):
    _, summary, frames = clean
    residents = frames["residents.csv"].assign(birth=lambda f: pd.to_datetime(f["birth_date"]))
    as_of = pd.Timestamp("2026-10-31")
    age = (as_of - residents["birth"]).dt.days / 365.2425
    children = residents["relationship_code"] == "03"
    guardians = residents.loc[~children]

    assert children.sum() == CHILDREN
    assert age[children].between(0, 19).all() and age[~children].between(20, 55.1).all()
    per_household = residents.groupby("household_id")["relationship_code"]
    kids = per_household.apply(lambda codes: (codes == "03").sum())
    assert kids.between(1, 4).all()
    single = (per_household.apply(lambda codes: (codes != "03").sum()) == 1).mean()
    assert 0.08 < single < 0.16
    assert (guardians.groupby("household_id")["relationship_code"].apply(set) <= {"01", "02"}).all()
    assert residents["address"].str.match(r"仙台市(青葉|宮城野|若林|太白|泉)区").all()
    assert residents["name_kana"].str.fullmatch(r"[ァ-ヶー]+　[ァ-ヶー]+").all()
    assert (age[children] < 1).sum() > 0.03 * CHILDREN  # births in the last year
    assert 0.005 < summary["welfare_households"] / summary["households"] < 0.03


def test_events_follow_the_civil_registration_rules(clean):
    events = clean[2]["resident_events.csv"]
    event_date = pd.to_datetime(events["event_date"])
    notified = pd.to_datetime(events["notified_date"])
    codes = events["event_code"]

    assert set(codes) >= {"A1", "A3", "D1", "M1"}
    births = codes == "A3"
    assert (events.loc[births, "event_date"] == events.loc[births, "birth_date"]).all()
    late = (notified - event_date).dt.days
    assert late[codes.isin(["A1", "A2", "A3", "M1"])].between(0, 14).all()
    assert late[codes.isin(["D1", "D2"])].between(-14, 0).all()
    assert (event_date >= pd.Timestamp(clean[1]["events_from"])).all()


def test_income_spread_and_tax_years_support_historical_income_tests(clean):
    frames = clean[2]
    tax = frames["tax.csv"].astype({"tax_year": int, "total_income_amount": int})
    heads = frames["residents.csv"].loc[lambda f: f["relationship_code"] == "01", "person_id"]
    head_income = tax.loc[tax["person_id"].isin(heads) & (tax["tax_year"] == 2026), "total_income_amount"]

    assert set(tax["tax_year"]) == set(range(2020, 2027))
    assert 3_000_000 < head_income.median() < 5_500_000
    assert (head_income > 10_000_000).mean() > 0.01
    assert (tax["total_income_amount"] % 1000 == 0).all()


def test_insurance_and_applications_cover_nearly_every_child(clean):
    frames = clean[2]
    insurance = frames["insurance.csv"]
    children = frames["residents.csv"].loc[lambda f: f["relationship_code"] == "03", "person_id"]
    applications = frames["applications.csv"]

    assert valid_insurer_number(insurance["insurer_number"]).all()
    assert "01040013" in set(insurance["insurer_number"])
    assert (insurance["insurer_number"].str.len() == 6).any()
    assert (insurance["insured_type_code"] == "2").mean() > 0.95
    assert insurance["person_id"].isin(children).mean() == 1.0
    assert insurance["person_id"].nunique() > 0.97 * len(children)
    share = applications["child_person_id"].nunique() / len(children)
    assert 0.93 < share < 0.99
    assert applications["guardian_person_id"].notna().all()


def test_cp932_round_trip_keeps_the_same_data(tmp_path):
    generate_dataset(tmp_path / "utf8", children=400, seed=9)
    generate_dataset(tmp_path / "sjis", children=400, seed=9, encoding="cp932")

    raw = (tmp_path / "sjis" / "residents.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert raw.decode("cp932") == (tmp_path / "utf8" / "residents.csv").read_text(encoding="utf-8")
    for name in FILE_NAMES:
        # Detected (the manifest declares cp932; reading with encoding=None detects it too).
        left = read_input_csv(tmp_path / "utf8" / name, INPUT_COLUMNS[name])
        right = read_input_csv(tmp_path / "sjis" / name, INPUT_COLUMNS[name])
        pd.testing.assert_frame_equal(left, right)


def test_every_generated_character_is_cp932_encodable():
    word_lists.all_text().encode("cp932")


def test_cli_prints_counts_only(tmp_path, capsys):
    from devtools.commands import generate as command

    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers())
    args = parser.parse_args(["generate", "--out", str(tmp_path), "--children", "50", "--seed", "3",
                              "--encoding", "cp932", "--as-of", "2026-04-30"])
    assert args.func(args) == 0

    line = capsys.readouterr().out.strip()
    assert line.startswith("generated 50 children") and "\n" not in line
    frame = read_input_csv(tmp_path / "residents.csv", INPUT_COLUMNS["residents.csv"])
    assert not any(value in line for value in frame["name"].tolist() + frame["my_number"].tolist())
    manifest = read_manifest(tmp_path)
    assert {k: v for k, v in manifest.items() if k != "files"} == {
        "encoding": "cp932", "extract_date": "2026-04-30", "generator_seed": 3}
    assert manifest["files"]["residents.csv"]["rows"] == len(frame)
    tax = read_input_csv(tmp_path / "tax.csv", INPUT_COLUMNS["tax.csv"])
    assert tax["tax_year"].astype(int).max() == 2025  # 2026 taxes are assessed in June


def test_generation_is_vectorised_enough_for_sendai_scale(tmp_path):
    import time

    started = time.perf_counter()
    summary = generate_dataset(tmp_path, children=5000, seed=1)
    elapsed = time.perf_counter() - started
    # 160,000 children take ~10-15 s on the project machine (2 cores); 5,000 take well under a second.
    assert elapsed < 5 and summary["children"] == 5000
    assert np.isclose(summary["persons"] / summary["children"], 2.05, atol=0.15)
