"""Issue 13: in a changes month only the lines that differ are read (services.intake.linediff) — same result.

Every month is run twice over two databases under the same key ring: through the adapter tasks with the line
diff (``run_id`` given), and on the full path (every line read, validated and upserted). The stored input
tables (persons with their decrypted My Number and profile), the run's input records, the quarantine, the
ingest and persist counts, the eligibility_change queue and the decisions must be equal; and the line diff must
really have skipped lines, or — where a cross-row check needs the whole file — really have read it whole.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sqlalchemy import select

from services import runs
from services.intake import quarantine as month_quarantine
from services.intake import unchanged
from store import models
from store.db import engine_for, session_scope
from tests.integration import test_monthly_unchanged as whole_file_tests
from tests.integration.test_monthly_unchanged import INPUT_TABLES, VOLATILE, use_database

#: The fixtures of the whole-file skip's tests: a generated inbox with bad rows, a second empty database.
inbox_dir = whole_file_tests.inbox_dir
second_db_url = whole_file_tests.second_db_url

MONTH = "2026-10"


def _lines(path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def _write_lines(directory, name: str, lines: list[bytes]) -> None:
    """Rewrite one file line by line (the other lines keep their bytes); drop the manifest's control totals."""
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    manifest.pop("files", None)
    (directory / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (directory / name).write_bytes(b"\n".join(lines) + b"\n")


def _field(line: bytes, header: bytes, column: str) -> bytes:
    return line.split(b",")[header.split(b",").index(column.encode())]


def _with_field(line: bytes, header: bytes, column: str, value: bytes) -> bytes:
    cells = line.split(b",")
    cells[header.split(b",").index(column.encode())] = value
    return b",".join(cells)


def run_month(inbox_dir, run_id: str, *, diff: bool, month: str = MONTH, decide: bool = False) -> dict:
    """The ingest tasks of a monthly run (line diff only with ``diff``), then the month's decisions if asked."""
    from policy import load_policy
    from tasks import monthly as t

    engine = engine_for()
    with engine.begin() as conn:
        runs.start_run(conn, run_id=run_id, flow_name=unchanged.MONTHLY_FLOW, month=month,
                       operator_id="demo-operator", policy_version="test")
    inbox = t.load_inbox.fn(str(inbox_dir), run_id if diff else None)
    counts = t.persist_inputs.fn(inbox, run_id, "demo-operator")
    with engine.connect() as conn:
        queue = pd.DataFrame(conn.execute(select(models.EligibilityChange.person_id,
                                                 models.EligibilityChange.household_id)).all(),
                             columns=["person_id", "household_id"])
    if decide:
        t.decide_month.fn(month, load_policy(), run_id, "demo-operator")
    with engine.begin() as conn:
        runs.finish_run(conn, run_id=run_id, status=runs.COMPLETED, counts={})
    return {"inbox": inbox, "counts": counts, "queue": queue.sort_values(list(queue.columns), na_position="first")
            .reset_index(drop=True), "diffed": inbox.lines.line_diffed() if inbox.lines is not None else {}}


def snapshot(month: str = MONTH) -> dict[str, pd.DataFrame]:
    """Every input table (persons decrypted), the run's input records, quarantine and decisions, sorted."""
    from config.settings import get_settings
    from privacy.crypto import load_key_ring

    ring = load_key_ring(get_settings())
    out = {}
    with engine_for().connect() as conn:
        for model in [*INPUT_TABLES, models.Decision]:
            table = model.__table__
            columns = [c for c in table.columns if c.name not in VOLATILE | {"decision_id", "run_id", "created_at",
                                                                             "updated_run_id"}]
            frame = pd.DataFrame(conn.execute(select(*columns)).all(), columns=[c.name for c in columns])
            out[table.name] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
        persons = conn.execute(select(models.Person.person_id, models.Person.my_number_enc,
                                      models.Person.profile_enc)).all()
        out["person_plain"] = pd.DataFrame([
            (p, my and ring.decrypt(my, table="person", column="my_number", row_key=p),
             ring.decrypt(profile, table="person", column="profile", row_key=p)) for p, my, profile in persons],
            columns=["person_id", "my_number", "profile"]).sort_values("person_id").reset_index(drop=True)
        out["listing"] = month_quarantine.month_quarantine(conn, month)
    return out


def assert_same(left: dict, right: dict) -> None:
    assert left.keys() == right.keys()
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], check_dtype=False, obj=name)


def both_ways(monkeypatch, db_url, second_db_url, inbox_dir, prepare=lambda: None, month: str = MONTH):
    """Run the month, ``prepare`` the inbox, run it again: line-diffed in ``db_url``, in full in the second."""
    results = {}
    for url, diff in ((db_url, True), (second_db_url, False)):
        use_database(monkeypatch, url)
        run_month(inbox_dir, "run-1", diff=diff)
    prepare()
    for url, diff in ((db_url, True), (second_db_url, False)):
        use_database(monkeypatch, url)
        results[diff] = run_month(inbox_dir, "run-2", diff=diff, month=month) | {"after": snapshot(month)}
    return results[True], results[False]


def assert_equal_outcome(diffed: dict, full: dict) -> None:
    """Same stored state, quarantine, run records, counts and queue as the full read."""
    assert_same(diffed["after"], full["after"])
    counts = diffed["inbox"].counts()
    counts.pop("unchanged_files", None)
    assert counts == full["inbox"].counts()
    # Per table: the same rows written; a line-diffed file's table also counts its skipped lines as unchanged.
    # (A file skipped whole counts its accepted rows as unchanged, services.intake.unchanged; not compared here.)
    from services.intake.inputs import FILE_TABLES

    line_diffed = {FILE_TABLES[name] for name in diffed["diffed"]}
    for table, numbers in full["counts"].items():
        compared = ("inserted", "updated", "unchanged") if table in line_diffed else ("inserted", "updated")
        assert {k: diffed["counts"][table][k] for k in compared} == {k: numbers[k] for k in compared}, table
    pd.testing.assert_frame_equal(diffed["queue"], full["queue"], check_dtype=False)
    inputs = diffed["after"]["run_input"]
    assert (inputs["row_count"] == inputs["accepted_count"] + inputs["quarantined_count"]).all()


def test_generated_changes_months_line_diffed_equal_full_reads(kodomo_env, monkeypatch, db_url, second_db_url,
                                                               tmp_path):
    """Months of 異動, new 資格登録届 and 税額更正 (devtools.generate.changes): equal, and lines really skipped."""
    from devtools.generate import generate_dataset
    from devtools.generate.changes import generate_changes

    months = [("2026-10", "2026-10-31"), ("2026-11", "2026-11-30"), ("2026-12", "2026-12-31")]
    previous, diffed_files = None, []
    for index, (month, as_of) in enumerate(months):
        directory = tmp_path / f"inbox-{month}"
        if previous is None:
            generate_dataset(directory, children=300, seed=23, as_of=as_of)  # with deliberately bad rows
        else:
            generate_changes(previous, directory, share=0.05, seed=23 + index, as_of=as_of)
        previous = directory
        results = {}
        for url, diff in ((db_url, True), (second_db_url, False)):
            use_database(monkeypatch, url)
            results[diff] = run_month(directory, f"run-{month}", diff=diff, month=month, decide=True) | {
                "after": snapshot(month)}
        assert_equal_outcome(results[True], results[False])
        assert not results[False]["diffed"]
        diffed_files.append(results[True]["diffed"])
    assert diffed_files[0] == {}
    for diffed in diffed_files[1:]:
        assert {"residents.csv", "resident_events.csv", "tax.csv"} <= set(diffed), diffed
        assert all(skipped > 0 for skipped in diffed.values())


def test_a_changed_line_with_a_bad_value_is_quarantined_at_its_current_line(kodomo_env, monkeypatch, db_url,
                                                                            second_db_url, inbox_dir):
    lines = _lines(inbox_dir / "tax.csv")
    header = lines[0]

    def break_a_line():
        # A new first data line shifts every line; the changed line's amount is no integer.
        changed = _with_field(lines[5], header, "total_income_amount", b"12x45")
        added = _with_field(_with_field(lines[3], header, "person_id", b"0999999901"), header, "tax_year", b"2024")
        _write_lines(inbox_dir, "tax.csv", [header, added, *lines[1:5], changed, *lines[6:]])

    diffed, full = both_ways(monkeypatch, db_url, second_db_url, inbox_dir, break_a_line)
    assert diffed["diffed"]["tax.csv"] >= len(lines) - 10
    assert_equal_outcome(diffed, full)
    quarantine = diffed["inbox"].quarantine
    bad = quarantine[(quarantine["file_name"] == "tax.csv") & (quarantine["column_name"] == "total_income_amount")]
    assert 7 in set(bad["row_number"])  # line 6 before, one line added above it


def test_a_duplicate_key_of_a_skipped_line_reads_the_whole_file(kodomo_env, monkeypatch, db_url, second_db_url,
                                                                inbox_dir):
    lines = _lines(inbox_dir / "tax.csv")
    header = lines[0]

    def duplicate():
        # The same person and 課税年度 as line 4 with another amount: a full read quarantines both lines.
        twin = _with_field(lines[3], header, "total_income_amount", b"7654321")
        _write_lines(inbox_dir, "tax.csv", [*lines, twin])

    diffed, full = both_ways(monkeypatch, db_url, second_db_url, inbox_dir, duplicate)
    assert "tax.csv" not in diffed["diffed"]
    assert_equal_outcome(diffed, full)
    duplicates = diffed["inbox"].quarantine
    assert {4, len(lines) + 1} <= set(duplicates.loc[duplicates["check_name"] == "multiple_fields_uniqueness",
                                                     "row_number"])


def _resident_line(lines: list[bytes], child: bool) -> int:
    """A residents line with a valid My Number (a child's, or an adult's)."""
    header = lines[0]
    for position, line in enumerate(lines[1:], start=1):
        number, relation = _field(line, header, "my_number"), _field(line, header, "relationship_code")
        if len(number) == 12 and number.isdigit() and (relation == b"03") == child:
            return position
    raise AssertionError("no such line")


def test_a_new_line_carrying_the_my_number_of_a_skipped_line_reads_the_person_files(
        kodomo_env, monkeypatch, db_url, second_db_url, inbox_dir):
    residents = _lines(inbox_dir / "residents.csv")
    header = residents[0]
    carrier = residents[_resident_line(residents, child=False)]

    def newcomer():
        # A new resident carrying that (unchanged) line's My Number: a full read holds both persons' rows.
        new = _with_field(_with_field(carrier, header, "person_id", b"0999999902"), header, "household_id",
                          b"0999999902")
        _write_lines(inbox_dir, "residents.csv", [*residents, new])

    diffed, full = both_ways(monkeypatch, db_url, second_db_url, inbox_dir, newcomer)
    assert not {"residents.csv", "resident_events.csv"} & set(diffed["diffed"])
    assert_equal_outcome(diffed, full)
    held = diffed["inbox"].quarantine
    held = held[held["check_name"].isin(["my_number_collision", "my_number_unique"])]
    assert len(residents) + 1 in set(held["row_number"])  # the new line, and the unchanged line it collides with
    assert residents.index(carrier) + 1 in set(held["row_number"])


def test_removed_lines_and_a_person_moved_to_events_only(kodomo_env, monkeypatch, db_url, second_db_url, inbox_dir):
    residents = _lines(inbox_dir / "residents.csv")
    events = _lines(inbox_dir / "resident_events.csv")
    tax = _lines(inbox_dir / "tax.csv")
    header, event_header = residents[0], events[0]
    leaver = residents[_resident_line(residents, child=True)]

    def move_out():
        # The child leaves the extract (国内転出, with its event) and a tax line is dropped from its extract.
        cells = {name: _field(leaver, header, name) for name in header.decode().split(",")}
        event = b",".join(
            b"E9999999" if c == "event_id" else b"D1" if c == "event_code" else b"2026-10-20" if c in (
                "event_date", "notified_date") else cells.get(c, b"") for c in event_header.decode().split(","))
        _write_lines(inbox_dir, "residents.csv", [line for line in residents if line != leaver])
        _write_lines(inbox_dir, "resident_events.csv", [*events, event])
        _write_lines(inbox_dir, "tax.csv", tax[:7] + tax[8:])

    diffed, full = both_ways(monkeypatch, db_url, second_db_url, inbox_dir, move_out)
    assert {"residents.csv", "resident_events.csv", "tax.csv"} <= set(diffed["diffed"])
    assert_equal_outcome(diffed, full)
    assert diffed["counts"]["person"]["updated"] >= 1
    assert diffed["counts"]["resident_event"]["inserted"] == 1


def test_the_line_diff_is_refused_after_another_writer_or_another_context(kodomo_env, monkeypatch, db_url,
                                                                          inbox_dir):
    from privacy.audit import record_access

    use_database(monkeypatch, db_url)
    lines = _lines(inbox_dir / "tax.csv")
    run_month(inbox_dir, "run-1", diff=True)
    _write_lines(inbox_dir, "tax.csv", [*lines[:3], _with_field(lines[3], lines[0], "total_income_amount",
                                                                b"3456789"), *lines[4:]])
    assert "tax.csv" in run_month(inbox_dir, "run-2", diff=True)["diffed"]

    # Another writer of personal data after the last ingest: every line is read.
    with session_scope(engine_for()) as session:
        record_access(session, actor_id="demo-operator", action="update", purpose="counter-change",
                      subject_ids=["0000000001"], record_count=1)
    _write_lines(inbox_dir, "tax.csv", lines)
    assert run_month(inbox_dir, "run-3", diff=True)["diffed"] == {}

    # Another ingest context (an earlier extract date): every line is read.
    _write_lines(inbox_dir, "tax.csv", [*lines[:3], _with_field(lines[3], lines[0], "total_income_amount",
                                                                b"4567890"), *lines[4:]])
    manifest = json.loads((inbox_dir / "manifest.json").read_text(encoding="utf-8"))
    manifest["extract_date"] = "2026-10-30"
    (inbox_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert run_month(inbox_dir, "run-4", diff=True)["diffed"] == {}


@pytest.mark.parametrize("value", [b"0000", b"abc"])
def test_a_writer_between_read_and_persist_fails_a_line_diffed_run(kodomo_env, monkeypatch, db_url, inbox_dir,
                                                                   value):
    from privacy.audit import record_access
    from tasks import monthly as t

    use_database(monkeypatch, db_url)
    lines = _lines(inbox_dir / "tax.csv")
    run_month(inbox_dir, "run-1", diff=True)
    _write_lines(inbox_dir, "tax.csv", [*lines[:3], _with_field(lines[3], lines[0], "total_income_amount", value),
                                        *lines[4:]])
    with engine_for().begin() as conn:
        runs.start_run(conn, run_id="run-2", flow_name=unchanged.MONTHLY_FLOW, month=MONTH,
                       operator_id="demo-operator", policy_version="test")
    inbox = t.load_inbox.fn(str(inbox_dir), "run-2")
    assert "tax.csv" in inbox.lines.line_diffed()
    with session_scope(engine_for()) as session:
        record_access(session, actor_id="demo-operator", action="update", purpose="counter-change",
                      subject_ids=["0000000001"], record_count=1)
    with pytest.raises(Exception, match="run the month again"):
        t.persist_inputs.fn(inbox, "run-2", "demo-operator")


def test_person_lines_with_gaiji_are_always_read_and_listed_as_a_full_read_lists_them(
        kodomo_env, monkeypatch, db_url, second_db_url, inbox_dir):
    from tests.integration.test_monthly_unchanged import edit_file

    # Line 5: a mapped 外字 (U+E000, shipped table) and one no table knows (U+E700).
    edit_file(inbox_dir, "residents.csv", lambda f: f.assign(name=f["name"].where(
        f.index != 3, "\ue000\ue700" + f["name"])))

    def move_house():
        edit_file(inbox_dir, "residents.csv", lambda f: f.assign(address=f["address"].where(
            f.index != 7, "宮城県仙台市青葉区国分町三丁目7番1号")))

    diffed, full = both_ways(monkeypatch, db_url, second_db_url, inbox_dir, move_house)
    assert diffed["diffed"]["residents.csv"] > 0
    assert set(diffed["inbox"].frames["residents"]["source_row"]) == {5, 9}  # the 外字 line and the changed one
    assert diffed["inbox"].gaiji_unmapped == full["inbox"].gaiji_unmapped != []
    assert_equal_outcome(diffed, full)
