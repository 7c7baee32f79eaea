import datetime as dt
import os

import pytest
from sqlalchemy import func, select

from privacy.crypto import KeyRing
from privacy.retention import DEFAULT_RULES, load_retention, purge, wipe_old_exports
from store.db import session_scope
from store.models import Person, ResidentEvent
from store.privacy_models import AccessRecord, DeletionRecord
from tests.unit.test_privacy_keys import seed_persons


def test_default_rules_are_documented_assumptions():
    policy = load_retention(DEFAULT_RULES)
    assert policy.backup_generations == 7 and policy.export_file_days == 30
    by_table = {r.table: r for r in policy.rules}
    assert by_table["person"].method == "erase" and by_table["person"].days == 1827
    assert set(by_table["person"].columns) == {"my_number_enc", "my_number_hmac", "profile_enc"}


def test_invalid_rules_are_rejected(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("rules:\n  - {table: person, method: shred, date_column: x, days: 3}\n")
    with pytest.raises(ValueError, match="unknown method"):
        load_retention(path)


def test_a_delete_of_eligibility_inputs_must_name_its_subjects(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("rules:\n  - {table: tax_record, method: delete, date_column: tax_year, days: 3653}\n")
    with pytest.raises(ValueError, match="subject_column"):
        load_retention(path)


def test_deleted_inputs_queue_their_persons_for_the_next_month(engine):
    """An old 異動 deleted by retention may change a child's residence spells: the next month re-decides."""
    from store.models import EligibilityBasis, EligibilityChange

    ring = KeyRing.generate()
    ids, _, _ = seed_persons(engine, ring, 1)
    with session_scope(engine) as s:
        s.add(ResidentEvent(event_id="E-old", person_id=ids[0], household_id="H", event_code="M1",
                            event_date=dt.date(2010, 1, 1)))
        s.add(EligibilityBasis(basis_id=1, derived_under="v/r/c", horizon_start=dt.date(2020, 10, 1),
                               horizon_end=dt.date(2027, 9, 30), month="2026-10", run_id="r"))
    purge(engine, load_retention(DEFAULT_RULES), operator_id="demo-admin", today=dt.date(2026, 11, 26))
    with session_scope(engine) as s:
        queued = s.execute(select(EligibilityChange.person_id, EligibilityChange.run_id)).all()
    assert [q[0] for q in queued] == [ids[0]] and queued[0][1].startswith("retention-")


def test_purge_erases_old_my_numbers_and_records_it(engine):
    ring = KeyRing.generate()
    ids, _, _ = seed_persons(engine, ring, 3)
    today = dt.date(2026, 11, 26)
    events = [  # (person, code, date)
        (ids[0], "D1", dt.date(2019, 1, 1)),  # moved out > 5 years ago: erased
        (ids[1], "D1", dt.date(2018, 1, 1)), (ids[1], "A1", dt.date(2019, 6, 1)),  # came back: kept
        (ids[2], "D3", dt.date(2025, 1, 1)),  # died recently: kept
        (ids[2], "M1", dt.date(2010, 1, 1)),  # > 10 years old: the event row is deleted
    ]
    with session_scope(engine) as s:
        for n, (pid, code, day) in enumerate(events):
            s.add(ResidentEvent(event_id=f"E{n}", person_id=pid, household_id="H", event_code=code, event_date=day))
    policy = load_retention(DEFAULT_RULES)
    dry = purge(engine, policy, operator_id="demo-admin", today=today, dry_run=True)
    assert dry.counts["person:erase"] == 1 and dry.counts["resident_event:delete"] == 1
    outcome = purge(engine, policy, operator_id="demo-admin", today=today)
    assert outcome.counts == {"person:erase": 1, "quarantine:delete": 0, "resident_event:delete": 1}
    with session_scope(engine) as s:
        gone = s.get(Person, ids[0])
        assert gone.my_number_enc is None and gone.my_number_hmac is None and gone.profile_enc is None
        assert s.get(Person, ids[1]).my_number_enc is not None and s.get(Person, ids[2]).profile_enc is not None
        assert s.scalar(select(func.count()).select_from(ResidentEvent)) == 4
        records = s.execute(select(DeletionRecord).order_by(DeletionRecord.id)).scalars().all()
        assert [(r.target, r.record_count, r.method, r.operator_id) for r in records] == [
            ("person", 1, "sql-erase", "demo-admin"), ("resident_event", 1, "sql-delete", "demo-admin")]
        assert all(r.deleted_at and r.content and r.subject_digest for r in records)
        deletes = s.execute(select(AccessRecord).where(AccessRecord.action == "delete")).scalars().all()
        assert len(deletes) == 2
    # idempotent: nothing left to purge, no new records
    assert purge(engine, policy, operator_id="demo-admin", today=today).counts["person:erase"] == 0


def test_old_export_files_are_wiped_with_a_record(engine, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    old, new = folder / "old.csv", folder / "new.csv"
    old.write_text("person_id\n1\n2\n")
    new.write_text("person_id\n1\n")
    past = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()
    os.utime(old, (past, past))
    wiped = wipe_old_exports(engine, folder, 30, operator_id="demo-admin",
                             now=dt.datetime(2026, 11, 26, tzinfo=dt.UTC))
    assert wiped == ["old.csv"] and new.exists() and not old.exists()
    with session_scope(engine) as s:
        record = s.execute(select(DeletionRecord)).scalar_one()
        assert (record.target, record.record_count) == ("export-file", 2)
