import datetime as dt
import json

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import select

from config.settings import Settings
from privacy.crypto import KeyRing, KeyRingError, save_key_ring
from privacy.keys import KeyManagementError, column_status, reencrypt, retire, rotate
from privacy.registry import unregistered_encrypted_columns
from store.db import session_scope
from store.models import Person
from store.privacy_models import AccessRecord

MY_NUMBERS = ["123456789018", "000000000019", "111111111118"]


def _check(n: str) -> str:
    from rules.checkdigits import is_valid_my_number

    assert is_valid_my_number(n)
    return n


def seed_persons(engine, ring, n=3):
    ids = [f"{i:010d}" for i in range(1, n + 1)]
    numbers = [_check(MY_NUMBERS[i % len(MY_NUMBERS)]) for i in range(n)]
    profiles = [json.dumps({"name": f"試験{i}", "name_kana": "シケン", "address": "仙台市"}) for i in range(n)]
    my_enc = ring.encrypt_many(numbers, table="person", column="my_number", row_keys=ids)
    prof_enc = ring.encrypt_many(profiles, table="person", column="profile", row_keys=ids)
    with session_scope(engine) as s:
        for i, pid in enumerate(ids):
            s.add(Person(person_id=pid, household_id="H" + pid, relationship_code="03",
                         my_number_hmac=f"{i:064d}", my_number_enc=my_enc[i], profile_enc=prof_enc[i],
                         birth_date=dt.date(2015, 1, 1), sex_code="1", row_digest="d" * 64))
    return ids, numbers, profiles


def test_round_trip_aad_and_bit_flip(key_ring):
    blob = key_ring.encrypt("123456789018", table="person", column="my_number", row_key="0000000001")
    assert key_ring.decrypt(blob, table="person", column="my_number", row_key="0000000001") == "123456789018"
    assert b"123456789018" not in blob
    with pytest.raises(InvalidTag):  # moved to another row
        key_ring.decrypt(blob, table="person", column="my_number", row_key="0000000002")
    with pytest.raises(InvalidTag):  # moved to another column
        key_ring.decrypt(blob, table="person", column="profile", row_key="0000000001")
    flipped = bytearray(blob)
    flipped[-5] ^= 0x01
    with pytest.raises(InvalidTag):
        key_ring.decrypt(bytes(flipped), table="person", column="my_number", row_key="0000000001")
    nonces = {key_ring.encrypt("x", table="t", column="c", row_key="k")[2:14] for _ in range(2000)}
    assert len(nonces) == 2000


def test_index_key_differs_from_data_keys(key_ring):
    assert all(key_ring.index_key != k for k in key_ring.data_keys.values())
    with pytest.raises(KeyRingError):
        KeyRing({1: key_ring.index_key}, 1, key_ring.index_key)
    assert key_ring.blind_index("123456789018") != key_ring.blind_index("123456789018", purpose="row_digest")
    import hashlib

    assert key_ring.blind_index("123456789018") != hashlib.sha256(b"123456789018").hexdigest()


def test_every_enc_column_is_registered():
    assert unregistered_encrypted_columns() == []


def test_rotation_end_to_end(engine, tmp_path):
    settings = Settings(home=tmp_path, key_file=tmp_path / "keys" / "ring.json")
    ring = KeyRing.generate()
    save_key_ring(ring, settings.resolved_key_file)
    ids, numbers, profiles = seed_persons(engine, ring, 5)

    new_ring, counts = rotate(settings, engine, actor_id="demo-admin", batch_size=2)
    assert new_ring.primary_version == 2 and set(new_ring.data_keys) == {1, 2}
    assert counts["person.my_number_enc"] == 5 and counts["person.profile_enc"] == 5
    assert {(s.table, s.column): s.versions for s in column_status(engine)}[("person", "my_number_enc")] == {2: 5}
    saved = KeyRing.from_json(settings.resolved_key_file.read_text())
    assert saved.primary_version == 2

    retired = retire(settings, engine, 1)
    assert set(retired.data_keys) == {2}
    with session_scope(engine) as s:
        rows = s.execute(select(Person).order_by(Person.person_id)).scalars().all()
        assert [retired.decrypt(r.my_number_enc, table="person", column="my_number", row_key=r.person_id)
                for r in rows] == numbers
        assert [retired.decrypt(r.profile_enc, table="person", column="profile", row_key=r.person_id)
                for r in rows] == profiles
        records = s.execute(select(AccessRecord).where(AccessRecord.purpose == "key-rotation")).scalars().all()
        assert sum(r.record_count for r in records) == 10
    # nothing left under v1 -> a second re-encryption is a no-op
    assert set(reencrypt(engine, retired, actor_id="demo-admin").values()) == {0}


def test_retire_refuses_primary_and_versions_in_use(engine, tmp_path):
    settings = Settings(home=tmp_path, key_file=tmp_path / "ring.json")
    ring = KeyRing.generate().with_new_primary()  # v1 and v2, primary v2
    save_key_ring(ring, settings.resolved_key_file)
    v1_only = KeyRing({1: ring.data_keys[1]}, 1, ring.index_key)
    seed_persons(engine, v1_only, 2)
    with pytest.raises(KeyManagementError, match="primary"):
        retire(settings, engine, 2)
    with pytest.raises(KeyManagementError, match="still encrypts"):
        retire(settings, engine, 1)


def test_env_ring_cannot_be_rotated(engine, tmp_path):
    import base64

    ring = KeyRing.generate()
    settings = Settings(home=tmp_path, data_key=base64.b64encode(ring.data_keys[1]).decode(),
                        index_key=base64.b64encode(ring.index_key).decode())
    with pytest.raises(KeyManagementError, match="KODOMO_DATA_KEY"):
        rotate(settings, engine, actor_id="demo-admin")


def test_secret_block_ring_is_saved_back(monkeypatch, tmp_path):
    import prefect.blocks.system as system

    from privacy.crypto import load_key_ring
    from privacy.keys import ring_source, save_ring

    store = {"kodomo-keys": KeyRing.generate().to_json()}

    class FakeSecret:
        def __init__(self, value):
            self.value = value

        @classmethod
        def load(cls, name):
            return cls(store[name])

        def get(self):
            return self.value

        def save(self, name, overwrite=False):
            assert overwrite
            store[name] = self.value

    monkeypatch.setattr(system, "Secret", FakeSecret)
    settings = Settings(home=tmp_path, key_secret_block="kodomo-keys")
    assert ring_source(settings) == "secret-block"
    rotated = load_key_ring(settings).with_new_primary()
    save_ring(settings, rotated)
    assert KeyRing.from_json(store["kodomo-keys"]).primary_version == 2
    assert not (tmp_path / "keys").exists()  # nothing written next to the data
