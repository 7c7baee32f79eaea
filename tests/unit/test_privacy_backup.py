import datetime as dt

import pytest
from sqlalchemy import select

from config.settings import Settings
from privacy.backup import BackupError, create_backup, list_backups, open_backup, restore_into
from privacy.crypto import KeyRing
from privacy.wipe import wipe_file
from store.db import Base, make_engine, session_scope
from store.privacy_models import DeletionRecord
from tests.unit.test_privacy_keys import seed_persons


def test_backup_is_encrypted_restorable_and_rotated(engine, tmp_path):
    settings = Settings(home=tmp_path)
    ring = KeyRing.generate()
    ids, numbers, _ = seed_persons(engine, ring, 3)
    t0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    paths = [create_backup(settings, engine, ring, actor_id="demo-admin", generations=2,
                           now=t0 + dt.timedelta(hours=h)).path for h in range(3)]
    assert list_backups(settings) == paths[1:]  # the oldest was wiped
    assert not paths[0].exists()
    raw = paths[2].read_bytes()
    assert b"0000000001" not in raw and "試験".encode() not in raw and b"person_id" not in raw
    assert oct(paths[2].stat().st_mode & 0o777) == "0o600"
    tables = open_backup(paths[2], ring)
    assert [r["person_id"] for r in tables["person"]] == ids
    with session_scope(engine) as s:
        deletions = s.execute(select(DeletionRecord)).scalars().all()
        assert [(d.target, d.operator_id, d.method) for d in deletions] == [
            ("backup", "demo-admin", "overwrite-random+fsync+unlink")]
        assert deletions[0].record_count >= 3

    # restore drill into an empty database of the same kind
    target = make_engine(f"sqlite:///{tmp_path / 'restore.db'}")
    Base.metadata.create_all(target)
    counts = restore_into(target, tables)
    assert counts["person"] == 3
    target.dispose()


def test_tampered_or_shredded_backup_does_not_open(engine, tmp_path):
    settings = Settings(home=tmp_path)
    ring = KeyRing.generate()
    seed_persons(engine, ring, 1)
    path = create_backup(settings, engine, ring, actor_id="demo-admin", generations=3).path
    data = bytearray(path.read_bytes())
    data[-3] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(BackupError, match="failed authentication"):
        open_backup(path, ring)
    path2 = create_backup(settings, engine, ring, actor_id="demo-admin", generations=3).path
    rotated = ring.with_new_primary().without_versions([1])  # v1 retired: crypto-shredded
    with pytest.raises(BackupError, match="crypto-shredded"):
        open_backup(path2, rotated)


def test_wipe_overwrites_then_unlinks(tmp_path):
    path = tmp_path / "export.csv"
    data = b"person_id\r\n0000000001\r\n"
    path.write_bytes(data)
    assert wipe_file(path) == len(data) and not path.exists()
