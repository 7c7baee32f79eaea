"""Issue 13: files the month's previous ingest stored byte for byte are not read again — with the same result.

Each month is run twice over two databases under the same key ring: once through the adapter tasks with the
skip (``month`` and ``run_id`` given), once on the full path (every file read, validated and upserted). The
stored input rows, the run's input records, the month's quarantine listing and the ingest counts must be
equal; and the skipped path must really have skipped.
"""

from __future__ import annotations

import json
import uuid

import pandas as pd
import pytest
from sqlalchemy import create_engine, select, text

from services import runs
from services.intake import quarantine as month_quarantine
from services.intake import unchanged
from store import migrate, models
from store.db import dispose_engines, engine_for, session_scope
from store.privacy_models import AccessRecord

MONTH = "2026-10"
#: Columns left out of the comparison: ciphertexts carry a random nonce (their plaintext is compared through
#: row_digest and my_number_hmac), surrogate ids count differently, the context is only recorded on the skip path.
VOLATILE = {"my_number_enc", "profile_enc", "id", "ingest_context"}
INPUT_TABLES = [models.Person, models.ResidentEvent, models.TaxRecord, models.WelfareCase, models.InsuranceCoverage,
                models.Application, models.Placement, models.RunInput, models.QuarantinedRow]


@pytest.fixture
def second_db_url(db_url, tmp_path):
    """Another empty database of the same dialect as ``db_url``."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'full.db'}"
        return
    from tests.conftest import PG_ADMIN_URL, _pg_url_for

    name = f"kt_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield _pg_url_for(name)
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def inbox_dir(tmp_path):
    from devtools.generate import generate_dataset

    directory = tmp_path / "inbox"
    generate_dataset(directory, children=80, seed=11, as_of="2026-10-31")  # with deliberately bad rows
    return directory


def use_database(monkeypatch, url: str) -> None:
    """Point the settings (and so the tasks) at ``url``; the key ring stays the one of KODOMO_HOME."""
    from config.settings import get_settings

    dispose_engines()
    monkeypatch.setenv("KODOMO_DATABASE_URL", url)
    get_settings.cache_clear()
    migrate.upgrade(url)


def run_month(inbox_dir, run_id: str, *, skip: bool, month: str = MONTH, status: str = runs.COMPLETED):
    """The ingest tasks of a monthly run (the skip only with ``skip``); returns the inbox and persist counts."""
    from tasks import monthly as t

    engine = engine_for()
    with engine.begin() as conn:
        runs.start_run(conn, run_id=run_id, flow_name=unchanged.MONTHLY_FLOW, month=month,
                       operator_id="demo-operator", policy_version="test")
    inbox = t.load_inbox.fn(str(inbox_dir), run_id if skip else None)
    counts = t.persist_inputs.fn(inbox, run_id, "demo-operator")
    with engine.begin() as conn:
        runs.finish_run(conn, run_id=run_id, status=status, counts={})
    return inbox, counts


def snapshot() -> dict[str, pd.DataFrame]:
    """Every input table (and the run's records of them), sorted, without the volatile columns."""
    out = {}
    with engine_for().connect() as conn:
        for model in INPUT_TABLES:
            table = model.__table__
            columns = [c for c in table.columns if c.name not in VOLATILE]
            frame = pd.DataFrame(conn.execute(select(*columns)).all(), columns=[c.name for c in columns])
            out[table.name] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
        out["listing"] = month_quarantine.month_quarantine(conn, MONTH)
    return out


def assert_same(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    assert left.keys() == right.keys()
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], check_dtype=False, obj=name)


def ingest_counts(inbox) -> dict:
    counts = inbox.counts()
    counts.pop("unchanged_files", None)
    return counts


def edit_file(directory, name: str, change) -> None:
    """Rewrite one inbox file (and drop the manifest's control totals, which the edit breaks)."""
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    manifest.pop("files", None)
    (directory / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    encoding = manifest.get("encoding", "utf-8")
    frame = pd.read_csv(directory / name, dtype=str, keep_default_na=False, encoding=encoding)
    change(frame).to_csv(directory / name, index=False, encoding=encoding)


def both_ways(monkeypatch, db_url, second_db_url, inbox_dir, prepare=lambda: None):
    """Run the month, ``prepare`` the inbox, run it again: skipping in ``db_url``, fully in the second database."""
    results = {}
    for url, skip in ((db_url, True), (second_db_url, False)):
        use_database(monkeypatch, url)
        run_month(inbox_dir, "run-1", skip=skip)
        results[skip] = {"first": snapshot()}
    prepare()
    for url, skip in ((db_url, True), (second_db_url, False)):
        use_database(monkeypatch, url)
        inbox, counts = run_month(inbox_dir, "run-2", skip=skip)
        results[skip].update(inbox=inbox, counts=counts, after=snapshot())
    return results[True], results[False]


def test_unchanged_inbox_is_not_read_again_and_stores_the_same(kodomo_env, monkeypatch, db_url, second_db_url,
                                                               inbox_dir):
    skipped, full = both_ways(monkeypatch, db_url, second_db_url, inbox_dir)
    assert sorted(skipped["inbox"].unchanged_files) == sorted(full["inbox"].inputs["file_name"])
    assert skipped["inbox"].frames == {}
    assert full["inbox"].unchanged_files == [] and full["inbox"].frames
    assert_same(skipped["after"], full["after"])
    assert not skipped["after"]["listing"].empty  # the generator's bad rows are listed for the month
    assert ingest_counts(skipped["inbox"]) == ingest_counts(full["inbox"])
    # in = stored + quarantined, file by file
    inputs = skipped["after"]["run_input"]
    assert (inputs["row_count"] == inputs["accepted_count"] + inputs["quarantined_count"]).all()
    for table, numbers in full["counts"].items():
        assert numbers["inserted"] == numbers["updated"] == 0, table
        assert skipped["counts"][table]["inserted"] == skipped["counts"][table]["updated"] == 0, table
        if table != "person":  # persons come from two files (residents and their latest 異動)
            assert skipped["counts"][table]["unchanged"] == numbers["unchanged"] > 0, table


def test_a_corrected_file_is_read_and_the_others_skipped(kodomo_env, monkeypatch, db_url, second_db_url,
                                                         inbox_dir):
    def correct_tax():
        edit_file(inbox_dir, "tax.csv", lambda f: f.assign(total_income_amount=f["total_income_amount"].where(
            ~f.index.isin(range(0, 40, 3)), "1234567")))

    skipped, full = both_ways(monkeypatch, db_url, second_db_url, inbox_dir, correct_tax)
    assert "tax.csv" not in skipped["inbox"].unchanged_files
    assert {"residents.csv", "resident_events.csv", "insurance.csv"} <= set(skipped["inbox"].unchanged_files)
    assert skipped["counts"]["tax_record"]["updated"] == full["counts"]["tax_record"]["updated"] > 0
    assert_same(skipped["after"], full["after"])
    assert ingest_counts(skipped["inbox"]) == ingest_counts(full["inbox"])


def test_a_changed_residents_file_reads_both_person_files(kodomo_env, monkeypatch, db_url, second_db_url,
                                                          inbox_dir):
    def move_house():
        edit_file(inbox_dir, "residents.csv", lambda f: f.assign(address=f["address"].where(
            ~f.index.isin([1, 5, 9]), "宮城県仙台市青葉区国分町三丁目7番1号")))

    skipped, full = both_ways(monkeypatch, db_url, second_db_url, inbox_dir, move_house)
    assert not {"residents.csv", "resident_events.csv"} & set(skipped["inbox"].unchanged_files)
    assert "tax.csv" in skipped["inbox"].unchanged_files
    assert skipped["counts"]["person"]["updated"] == full["counts"]["person"]["updated"] > 0
    assert_same(skipped["after"], full["after"])


def _skipped_on_rerun(inbox_dir, **kwargs) -> list[str]:
    inbox, _ = run_month(inbox_dir, f"run-{uuid.uuid4().hex[:8]}", skip=True, **kwargs)
    return inbox.unchanged_files


def test_nothing_is_skipped_unless_the_chain_of_writes_is_intact(kodomo_env, monkeypatch, db_url, inbox_dir):
    from privacy.audit import record_access

    use_database(monkeypatch, db_url)
    run_month(inbox_dir, "run-1", skip=True)
    assert _skipped_on_rerun(inbox_dir)  # intact: skipped

    # Another writer of personal data after the last ingest (e.g. the retention job): read everything.
    with session_scope(engine_for()) as session:
        record_access(session, actor_id="demo-operator", action="delete", purpose="retention:person",
                      subject_ids=["0000000001"], record_count=1)
    assert _skipped_on_rerun(inbox_dir) == []
    assert _skipped_on_rerun(inbox_dir)  # ... which re-establishes the chain

    # The last ingest's run failed after persisting: read everything.
    run_month(inbox_dir, "run-failed", skip=True, status=runs.FAILED)
    assert _skipped_on_rerun(inbox_dir) == []

    # The last ingest was a later extract: re-running the older month reads everything (it overwrites the newer).
    set_extract_date(inbox_dir, "2026-11-30")
    run_month(inbox_dir, "run-next", skip=True, month="2026-11")
    set_extract_date(inbox_dir, "2026-10-31")
    assert _skipped_on_rerun(inbox_dir) == []


def set_extract_date(directory, date: str) -> None:
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    manifest["extract_date"] = date
    (directory / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_an_earlier_extract_date_reads_everything(kodomo_env, monkeypatch, db_url, inbox_dir):
    use_database(monkeypatch, db_url)
    run_month(inbox_dir, "run-1", skip=True)
    set_extract_date(inbox_dir, "2026-10-30")
    assert _skipped_on_rerun(inbox_dir) == []


def test_next_month_skips_the_files_that_did_not_change(kodomo_env, monkeypatch, db_url, second_db_url, inbox_dir):
    """A later extract date: files whose rows passed every extract-date check are skipped, with the same result."""
    def next_month():
        set_extract_date(inbox_dir, "2026-11-30")
        edit_file(inbox_dir, "tax.csv", lambda f: f.assign(total_income_amount=f["total_income_amount"].where(
            f.index != 2, "2345678")))

    # An application dated after the first extract date: quarantined then, accepted at the second one, so its
    # unchanged file must be read again.
    edit_file(inbox_dir, "applications.csv", lambda f: f.assign(application_date=f["application_date"].where(
        f.index != 0, "2026-11-15")))
    results = {}
    for url, skip in ((db_url, True), (second_db_url, False)):
        use_database(monkeypatch, url)
        run_month(inbox_dir, "run-1", skip=skip)
    next_month()
    for url, skip in ((db_url, True), (second_db_url, False)):
        use_database(monkeypatch, url)
        inbox, counts = run_month(inbox_dir, "run-2", skip=skip, month="2026-11")
        results[skip] = (inbox, counts, snapshot())
    (skipped, _, after_skip), (full, _, after_full) = results[True], results[False]
    assert "insurance.csv" in skipped.unchanged_files
    assert not {"tax.csv", "applications.csv"} & set(skipped.unchanged_files)
    assert full.frames["applications"]["application_date"].eq("2026-11-15").any()
    assert_same(after_skip, after_full)
    assert ingest_counts(skipped) == ingest_counts(full)


def test_a_writer_between_read_and_persist_fails_the_run(kodomo_env, monkeypatch, db_url, inbox_dir):
    from privacy.audit import record_access
    from tasks import monthly as t

    use_database(monkeypatch, db_url)
    run_month(inbox_dir, "run-1", skip=True)
    with engine_for().begin() as conn:
        runs.start_run(conn, run_id="run-2", flow_name=unchanged.MONTHLY_FLOW, month=MONTH,
                       operator_id="demo-operator", policy_version="test")
    inbox = t.load_inbox.fn(str(inbox_dir), "run-2")
    assert inbox.unchanged_files
    with session_scope(engine_for()) as session:
        record_access(session, actor_id="demo-operator", action="update", purpose="counter-change",
                      subject_ids=["0000000001"], record_count=1)
    with pytest.raises(Exception, match="run the month again"):
        t.persist_inputs.fn(inbox, "run-2", "demo-operator")
    with engine_for().connect() as conn:
        assert conn.execute(select(models.RunInput.file_name).where(models.RunInput.run_id == "run-2")).all() == []
        assert conn.execute(select(AccessRecord.seq).where(AccessRecord.run_id == "run-2")).all() == []


def test_person_files_with_a_my_number_collision_are_read_again(kodomo_env, monkeypatch, db_url, inbox_dir):
    manifest = json.loads((inbox_dir / "manifest.json").read_text(encoding="utf-8"))
    residents = pd.read_csv(inbox_dir / "residents.csv", dtype=str, keep_default_na=False,
                            encoding=manifest.get("encoding", "utf-8"))
    carrier = residents[residents["my_number"].str.fullmatch(r"\d{12}")].iloc[0]

    def carry_a_residents_number(events):
        # An event of another person carrying that resident's My Number: both persons' rows are held.
        other = events.index[(events["person_id"] != carrier["person_id"]) & events["my_number"].str.fullmatch(
            r"\d{12}")][0]
        return events.assign(my_number=events["my_number"].where(events.index != other, carrier["my_number"]))

    edit_file(inbox_dir, "resident_events.csv", carry_a_residents_number)
    use_database(monkeypatch, db_url)
    first, _ = run_month(inbox_dir, "run-1", skip=True)
    assert (first.quarantine["check_name"] == "my_number_collision").any()
    skipped = _skipped_on_rerun(inbox_dir)
    assert "tax.csv" in skipped
    assert not {"residents.csv", "resident_events.csv"} & set(skipped)
