"""Issue 10, end to end: each truth of a generated month arrives unchanged everywhere it goes.

A month is generated with known truths (支援措置 households, 生活保護 households, move-outs, deaths, bad rows),
the monthly FLOW runs on it (Prefect test harness, SQLite and PostgreSQL), and the test checks each truth in
the database, in the staff lists (CP932 CSV), in the PMH payloads (file mode) and in the run summary.

``COLUMN_TRUTHS`` is the table-driven core: one line per input column says where the column is stored and
how its text maps to the stored value. ``test_every_input_column_has_a_truth`` fails for a new input column
until one line is added here (to ``COLUMN_TRUTHS``, or to ``NOT_STORED`` with the reason).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
import pandas as pd
import pytest
from sqlalchemy import select

from schemas import INPUT_COLUMNS
from store import models

MONTH = "2026-10"
PERSON_KEY = ("person_id",)


# The documented meaning of a cell's text (docs/formats/README.md): an empty cell is missing.
def _text(value: str) -> object:
    return value or None


def _date(value: str) -> object:
    return value or None


def _open_date(value: str) -> object:
    return None if value in ("", "9999-12-31") else value


def _int(value: str) -> object:
    return int(value) if value else None


def _flag(value: str) -> object:
    return value == "1"


@dataclass(frozen=True)
class Truth:
    """Where one input column is stored and what its text must become there."""

    file: str
    column: str
    table: str
    stored: str  # DB column; "my_number_enc" / "profile_enc:<key>" are decrypted first
    key: tuple[str, ...]  # file columns = DB columns identifying the row
    expect: Callable[[str], object] = _text


COLUMN_TRUTHS = [
    Truth("residents.csv", "household_id", "person", "household_id", PERSON_KEY),
    Truth("residents.csv", "relationship_code", "person", "relationship_code", PERSON_KEY),
    Truth("residents.csv", "my_number", "person", "my_number_enc", PERSON_KEY),
    Truth("residents.csv", "name", "person", "profile_enc:name", PERSON_KEY),
    Truth("residents.csv", "name_kana", "person", "profile_enc:name_kana", PERSON_KEY),
    Truth("residents.csv", "address", "person", "profile_enc:address", PERSON_KEY),
    Truth("residents.csv", "birth_date", "person", "birth_date", PERSON_KEY, _date),
    Truth("residents.csv", "sex_code", "person", "sex_code", PERSON_KEY),
    Truth("residents.csv", "dv_support_flag", "person", "dv_support_flag", PERSON_KEY, _flag),
    Truth("residents.csv", "residence_start_date", "person", "residence_start_date", PERSON_KEY, _date),
    Truth("resident_events.csv", "person_id", "resident_event", "person_id", ("event_id",)),
    Truth("resident_events.csv", "household_id", "resident_event", "household_id", ("event_id",)),
    Truth("resident_events.csv", "event_code", "resident_event", "event_code", ("event_id",)),
    Truth("resident_events.csv", "event_date", "resident_event", "event_date", ("event_id",), _date),
    Truth("resident_events.csv", "notified_date", "resident_event", "notified_date", ("event_id",), _date),
    *[Truth("tax.csv", column, "tax_record", column, ("person_id", "tax_year"), _int) for column in (
        "total_income_amount", "casualty_loss_deduction_amount", "medical_deduction_amount",
        "small_business_deduction_amount", "disability_deduction_amount", "dependents_count",
        "elderly_dependents_count")],
    Truth("welfare.csv", "household_id", "welfare_case", "household_id", ("case_id",)),
    Truth("welfare.csv", "start_date", "welfare_case", "start_date", ("case_id",), _date),
    Truth("welfare.csv", "end_date", "welfare_case", "end_date", ("case_id",), _open_date),
    Truth("insurance.csv", "insured_type_code", "insurance_coverage", "insured_type_code",
          ("person_id", "insurer_number", "valid_from")),
    Truth("insurance.csv", "valid_to", "insurance_coverage", "valid_to",
          ("person_id", "insurer_number", "valid_from"), _open_date),
    Truth("applications.csv", "child_person_id", "application", "child_person_id", ("application_id",)),
    Truth("applications.csv", "guardian_person_id", "application", "guardian_person_id", ("application_id",)),
    Truth("applications.csv", "application_date", "application", "application_date", ("application_id",), _date),
    Truth("applications.csv", "spouse_person_id", "application", "spouse_person_id", ("application_id",),
          lambda v: v or None),
    Truth("placements.csv", "person_id", "placement", "person_id", ("placement_id",)),
    Truth("placements.csv", "placement_type", "placement", "placement_type", ("placement_id",)),
    Truth("placements.csv", "start_date", "placement", "start_date", ("placement_id",), _date),
    Truth("placements.csv", "end_date", "placement", "end_date", ("placement_id",), _open_date),
]
#: Input columns that are keys of a truth above, or deliberately not stored (with the reason).
NOT_STORED = {
    ("residents.csv", "person_id"): "key of the person truths",
    ("resident_events.csv", "event_id"): "key of the event truths",
    **{("resident_events.csv", c): "person data of an event: stored on the person only for persons absent from "
       "the extract (services.intake.persist.current_persons); residents.csv truths cover the person table"
       for c in ("relationship_code", "my_number", "name", "name_kana", "address", "birth_date", "sex_code",
                 "dv_support_flag")},
    ("tax.csv", "person_id"): "key", ("tax.csv", "tax_year"): "key",
    ("welfare.csv", "case_id"): "key",
    ("insurance.csv", "person_id"): "key", ("insurance.csv", "insurer_number"): "key",
    ("insurance.csv", "valid_from"): "key",
    ("applications.csv", "application_id"): "key",
    ("placements.csv", "placement_id"): "key",
}


def test_every_input_column_has_a_truth():
    covered = {(t.file, t.column) for t in COLUMN_TRUTHS} | set(NOT_STORED)
    documented = {(file, column) for file, columns in INPUT_COLUMNS.items() for column in columns}
    assert documented - covered == set(), "add one line to COLUMN_TRUTHS (or NOT_STORED) per new input column"
    assert covered - documented == set()


# -- the month ----------------------------------------------------------------------------------------
PLACEMENTS = [("SC000001", "INSTITUTION", "2025-06-10", ""), ("SC000002", "FOSTER", "2024-02-01", "2025-03-31")]


def _add_placements(inbox: Path) -> None:
    """Place two generated children (one still placed, one placement ended) in ``placements.csv``."""
    residents = pd.read_csv(inbox / "residents.csv", dtype=str, keep_default_na=False)
    children = residents.loc[residents["relationship_code"] == "03", "person_id"]
    children = children[children.str.fullmatch(r"[0-9]{10}")].drop_duplicates().head(len(PLACEMENTS))
    rows = [",".join((pid, child, kind, start, end)) for (pid, kind, start, end), child
            in zip(PLACEMENTS, children, strict=True)]
    (inbox / "placements.csv").write_text(
        "placement_id,person_id,placement_type,start_date,end_date\n" + "\n".join(rows) + "\n", encoding="utf-8")


@pytest.fixture
def month_run(prefect_harness, kodomo_env, tmp_path):
    from devtools.generate import generate_dataset
    from flows.monthly import monthly_run
    from privacy.crypto import load_key_ring
    from store.db import engine_for

    inbox = tmp_path / "inbox"
    generated = generate_dataset(inbox, children=240, seed=31, as_of="2026-10-31", bad_row_share=0.01,
                                 dv_share=0.15)
    _add_placements(inbox)  # the optional 措置 file, which the generator does not write: two children placed
    summary = monthly_run(month=MONTH, inbox=str(inbox), operator_id="demo-operator")
    files = {name: pd.read_csv(inbox / name, dtype=str, keep_default_na=False, encoding="utf-8")
             for name in INPUT_COLUMNS}
    for frame in files.values():
        frame["line"] = range(2, len(frame) + 2)
    return {"generated": generated, "summary": summary, "files": files, "env": kodomo_env,
            "engine": engine_for(kodomo_env.resolved_database_url), "ring": load_key_ring(kodomo_env)}


def _accepted(run, file: str) -> pd.DataFrame:
    frame = run["files"][file]
    return frame[~frame["line"].isin(run["generated"]["bad_source_rows"].get(file, []))]


def _stored(run, truth: Truth) -> dict[tuple, object]:
    column, _, profile_key = truth.stored.partition(":")
    table = models.Base.metadata.tables[truth.table]
    with run["engine"].connect() as conn:
        rows = conn.execute(select(*[table.c[k] for k in truth.key], table.c[column])).all()
    keys = [tuple(str(v) for v in row[:-1]) for row in rows]
    values = [row[-1] for row in rows]
    if column in ("my_number_enc", "profile_enc"):
        plain = run["ring"].decrypt_many(values, table="person", column=column.removesuffix("_enc"),
                                         row_keys=[k[0] for k in keys])
        values = [orjson.loads(p)[profile_key] if profile_key else p for p in plain]
    values = [v.isoformat() if hasattr(v, "isoformat") else v for v in values]
    values = [bool(v) if truth.expect is _flag else v for v in values]
    return dict(zip(keys, values, strict=True))


@pytest.mark.integration
def test_every_truth_of_the_month_arrives_unchanged(month_run):
    run = month_run
    generated, summary = run["generated"], run["summary"]

    # Bad rows: exactly the generated ones are quarantined (database and summary); the rest are accepted.
    with run["engine"].connect() as conn:
        quarantined = set(conn.execute(select(models.QuarantinedRow.file_name,
                                              models.QuarantinedRow.row_number)).all())
    assert quarantined == {(f, r) for f, rows in generated["bad_source_rows"].items() for r in rows}
    assert summary["quarantined_rows"] == sum(generated["bad_rows"].values())
    assert summary["accepted_rows"] == (sum(generated["rows"].values()) + len(PLACEMENTS)
                                        - sum(generated["bad_rows"].values()))

    # Every column of every accepted row, in the database (the table above).
    for truth in COLUMN_TRUTHS:
        stored = _stored(run, truth)
        accepted = _accepted(run, truth.file)
        expected = {tuple(r[k] for k in truth.key): truth.expect(r[truth.column])
                    for r in accepted.to_dict("records")}
        assert {k: stored.get(k, "<not stored>") for k in expected} == expected, (truth.file, truth.column)

    # 支援措置: the known DV persons, and only they, are flagged in the lists and in the PMH payloads.
    residents = _accepted(run, "residents.csv").set_index("person_id")
    dv = set(residents.index[residents["dv_support_flag"] == "1"])
    assert 0 < len(dv) < len(residents) and generated["dv_persons"] >= len(dv)
    outbox = Path(run["env"].resolved_outbox_dir)
    issuance = pd.read_csv(outbox / MONTH / f"受給者証交付一覧_{MONTH}.csv", encoding="cp932", dtype=str,
                           keep_default_na=False)
    flagged = set(issuance.loc[issuance["送付先注意（支援措置）"] == "要確認", "宛名番号"])
    assert flagged == dv & set(issuance["宛名番号"]) and flagged
    assert (issuance.set_index("宛名番号")["生年月日"] == residents.loc[issuance["宛名番号"], "birth_date"]).all()
    records = [r for path in sorted((outbox / "pmh").rglob("batch-*.json"))
               for r in json.loads(path.read_text(encoding="utf-8"))["records"]]
    assert records
    sent = {r["municipalityIdentityKey"]: r["isNotDisclosed"] for r in records}
    assert {p for p, hidden in sent.items() if hidden} == dv & set(sent)
    assert all(isinstance(v, bool) for v in sent.values())

    # Decisions: the staff lists and the summary say what the database says, child by child.
    with run["engine"].connect() as conn:
        decided = pd.DataFrame(conn.execute(select(models.Decision.person_id, models.Decision.decision_type)
                                            .where(models.Decision.month == MONTH)).all(),
                               columns=["person_id", "decision_type"])
    by_type = decided["decision_type"].value_counts().to_dict()
    assert {k: v for k, v in summary["decisions"].items() if v} == by_type
    from services.notices.lists import ISSUANCE_TYPES, LOSS_TYPES, SUSPENSION_TYPES

    for title, labels in (("受給者証交付一覧", ISSUANCE_TYPES), ("資格喪失通知一覧", LOSS_TYPES),
                          ("支給停止通知一覧", SUSPENSION_TYPES)):
        listed = pd.read_csv(outbox / MONTH / f"{title}_{MONTH}.csv", encoding="cp932", dtype=str)
        expected = decided[decided["decision_type"].isin(list(labels))]
        assert sorted(zip(listed["宛名番号"], listed["区分"], strict=True)) == sorted(
            zip(expected["person_id"], expected["decision_type"].map(labels), strict=True)), title
    assert by_type.get("NEW", 0) > 0

    # Losses follow the life events of the files: deaths, move-outs and 生活保護 households.
    events = _accepted(run, "resident_events.csv")
    died = set(events.loc[events["event_code"] == "D3", "person_id"])
    moved = set(events.loc[events["event_code"].isin(["D1", "D2"]), "person_id"])
    welfare_households = set(_accepted(run, "welfare.csv")["household_id"])
    children = residents[residents["relationship_code"] == "03"]
    of_type = {t: set(decided.loc[decided["decision_type"] == t, "person_id"]) for t in by_type}
    assert of_type.get("LOSS_DEATH", set()) <= died
    assert of_type.get("LOSS_MOVE_OUT", set()) <= moved
    assert of_type.get("LOSS_WELFARE", set()) <= set(children.index[children["household_id"].isin(welfare_households)])
    assert of_type.get("NEW", set()) <= set(children.index)
    assert not (of_type.get("NEW", set()) & (died | moved) - set(residents.index))
