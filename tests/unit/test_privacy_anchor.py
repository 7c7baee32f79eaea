"""Issue 14 §4: the access-record chain survives an attacker who can write the database and the home.

Forgeries: delete the anchor file; roll it back to an older copy; write a new one without the key; edit a
record after the last anchor; recompute the whole chain without the key (plain SHA-256, a guessed key).
Each is detected, and the anchor is never moved onto the forged head ("re-blessed").
"""

import hashlib
import hmac
import json

from sqlalchemy import select, text

from config.settings import Settings
from privacy.anchor import anchor_path, read_anchor, verify_and_anchor
from privacy.audit import canonical_entry, chain_key, record_access
from store.db import session_scope
from store.privacy_models import GENESIS_HASH, AccessRecord


def _records(engine, key, n, start=0):
    for i in range(start, start + n):
        with session_scope(engine) as s:
            record_access(s, actor_id="demo-operator", action="read", purpose=f"p{i}", subject_ids=["0000000001"],
                          record_count=1, key=key)


def _drop_guards(engine):
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER access_record_no_change ON access_record"))
        else:
            conn.execute(text("DROP TRIGGER access_record_no_update"))


def _kinds(outcome):
    return [p.kind for p in outcome.report.problems]


def _setup(engine, tmp_path):
    settings = Settings(home=tmp_path)
    key = chain_key(settings)
    _records(engine, key, 3)
    first = verify_and_anchor(settings, engine, actor_id="demo-admin")
    assert first.ok and first.anchored["seq"] == 4
    return settings, key


def test_a_deleted_anchor_is_detected_not_re_blessed(engine, tmp_path):
    settings, key = _setup(engine, tmp_path)
    anchor_path(settings, engine).unlink()
    outcome = verify_and_anchor(settings, engine)
    assert _kinds(outcome) == ["anchor-missing"] and outcome.anchored is None
    assert not anchor_path(settings, engine).exists()  # still missing: nothing was re-blessed
    assert not verify_and_anchor(settings, engine).ok  # and it stays detected


def test_a_rolled_back_anchor_is_detected(engine, tmp_path):
    settings, key = _setup(engine, tmp_path)
    old = anchor_path(settings, engine).read_text()
    _records(engine, key, 2, start=10)
    assert verify_and_anchor(settings, engine).ok  # anchored again at seq 7
    anchor_path(settings, engine).write_text(old)  # put the older (genuine) anchor back
    outcome = verify_and_anchor(settings, engine)
    assert "anchor-rolled-back" in _kinds(outcome) and outcome.anchored is None


def test_an_anchor_written_without_the_key_is_refused(engine, tmp_path):
    settings, key = _setup(engine, tmp_path)
    forged = read_anchor(settings, engine)
    forged["seq"] = 2  # claim an older head so that a later cut would pass
    forged["mac"] = hashlib.sha256(json.dumps(forged).encode()).hexdigest()
    anchor_path(settings, engine).write_text(json.dumps(forged))
    outcome = verify_and_anchor(settings, engine)
    assert "anchor-forged" in _kinds(outcome) and outcome.anchored is None


def test_an_edit_after_the_last_anchor_is_detected(engine, tmp_path):
    settings, key = _setup(engine, tmp_path)
    _records(engine, key, 2, start=10)  # seq 5, 6 after the anchor (seq 4)
    _drop_guards(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE access_record SET actor_id = 'demo-admin' WHERE seq = 6"))
    outcome = verify_and_anchor(settings, engine)
    assert outcome.report.first_bad_seq == 6 and (6, "entry_hash") in [(p.seq, p.kind) for p in outcome.report.problems]
    assert outcome.anchored is None and read_anchor(settings, engine)["seq"] == 4


def _recompute(engine, mac):
    """What an attacker with write access but without the key ring does: re-hash every row."""
    with engine.begin() as conn:
        rows = conn.execute(select(AccessRecord).order_by(AccessRecord.seq)).mappings().all()
        prev = GENESIS_HASH
        for row in rows:
            entry = mac(prev.encode("ascii") + canonical_entry(dict(row)))
            conn.execute(text("UPDATE access_record SET prev_hash = :p, entry_hash = :e WHERE seq = :s"),
                         {"p": prev, "e": entry, "s": row["seq"]})
            prev = entry
        conn.execute(text("UPDATE access_chain_head SET seq = :s, head_hash = :h"), {"s": rows[-1]["seq"], "h": prev})


def test_a_chain_recomputed_without_the_key_is_detected(engine, tmp_path):
    settings, key = _setup(engine, tmp_path)
    _records(engine, key, 2, start=10)
    _drop_guards(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE access_record SET purpose = 'nothing to see' WHERE seq = 5"))
    for mac in (lambda data: hashlib.sha256(data).hexdigest(),
                lambda data: hmac.new(b"guessed" * 8, data, hashlib.sha256).hexdigest()):
        _recompute(engine, mac)
        outcome = verify_and_anchor(settings, engine)
        assert not outcome.ok and outcome.report.first_bad_seq == 1 and outcome.anchored is None
    assert read_anchor(settings, engine)["seq"] == 4
