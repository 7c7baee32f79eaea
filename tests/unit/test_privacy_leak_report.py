import datetime as dt

import pytest
from sqlalchemy import text

from config.settings import Settings
from privacy.anchor import read_anchor, verify_and_anchor
from privacy.audit import chain_key, record_access
from privacy.leak import affected_subjects, report_deadlines
from privacy.operators import load_registry
from privacy.report import ReportRules, access_report
from store.db import session_scope

JST = dt.timezone(dt.timedelta(hours=9))


def test_leak_affected_by_run_and_window(engine):
    with session_scope(engine) as s:
        record_access(s, actor_id="system-scheduler", action="read", purpose="monthly", subject_ids=["0000000001",
                      "0000000002"], record_count=2, run_id="run-A")
        record_access(s, actor_id="system-scheduler", action="update", purpose="monthly",
                      subject_ids=["0000000002", "0000000003"], record_count=2, run_id="run-A")
        record_access(s, actor_id="demo-operator", action="export", purpose="x", subject_ids=["0000000009"],
                      record_count=1, run_id="run-B", approval_id="KYO-1")
    with session_scope(engine) as s:
        found = affected_subjects(s, run_id="run-A")
        assert found.person_ids == ["0000000001", "0000000002", "0000000003"] and found.record_count == 4
        window = affected_subjects(s, since=dt.datetime(2000, 1, 1, tzinfo=dt.UTC), actions={"export"})
        assert window.person_ids == ["0000000009"] and window.actions == {"export": 1}
        with pytest.raises(ValueError):
            affected_subjects(s)


def test_report_deadlines():
    d = report_deadlines(dt.date(2026, 12, 20))
    assert (d.sokuho_target, d.kakuho_due) == (dt.date(2026, 12, 25), dt.date(2027, 1, 19))
    assert report_deadlines(dt.date(2026, 12, 20), unlawful_purpose=True).kakuho_due == dt.date(2027, 2, 18)


def test_report_flags_out_of_hours_bulk_and_out_of_role(engine):
    with session_scope(engine) as s:
        record_access(s, actor_id="demo-operator", action="read", purpose="a", subject_ids=["1"], record_count=1)
        record_access(s, actor_id="demo-viewer", action="update", purpose="b", subject_ids=["1"], record_count=1)
        record_access(s, actor_id="intruder", action="read", purpose="c", subject_ids=["1"], record_count=1)
        record_access(s, actor_id="demo-operator", action="read", purpose="d", subject_ids=[], record_count=50_000)
        record_access(s, actor_id="demo-operator", action="delete", purpose="e", subject_ids=[], record_count=1)
    rows_at = {  # seq -> JST time
        1: dt.datetime(2026, 11, 26, 10, 0, tzinfo=JST),  # Thursday, in hours
        2: dt.datetime(2026, 11, 26, 10, 0, tzinfo=JST),
        3: dt.datetime(2026, 11, 26, 23, 30, tzinfo=JST),  # night
        4: dt.datetime(2026, 11, 28, 10, 0, tzinfo=JST),  # Saturday
        5: dt.datetime(2026, 11, 26, 8, 29, tzinfo=JST),  # one minute early
    }
    _drop_guard(engine)
    with engine.begin() as conn:
        for seq, when in rows_at.items():
            conn.execute(text("UPDATE access_record SET occurred_at = :t WHERE seq = :s"),
                         {"t": when.astimezone(dt.UTC), "s": seq})
    with session_scope(engine) as s:
        rows = {r.seq: r.flags for r in access_report(s, registry=load_registry())}
    assert rows[1] == []
    assert rows[2] == ["out_of_role"]  # a viewer updating
    assert rows[3] == ["out_of_hours", "out_of_role"]  # unknown actor at night
    assert rows[4] == ["out_of_hours", "bulk"]
    assert rows[5] == ["out_of_hours", "out_of_role"]  # operators do not delete
    with session_scope(engine) as s:
        relaxed = ReportRules(office_start=dt.time(8, 0), weekdays_only=False, bulk_threshold=100_000)
        flagged = {r.seq for r in access_report(s, rules=relaxed, flagged_only=True)}
        assert flagged == {2, 3, 5}
        window = access_report(s, since=dt.datetime(2026, 11, 27, tzinfo=JST))
        assert [r.seq for r in window] == [4]
        from privacy.operators import parse_registry

        leaver = parse_registry("operators:\n  - {id: demo-operator, role: operator, enabled: false}\n")
        flags = {r.seq: r.flags for r in access_report(s, registry=leaver)}
        assert flags[1] == ["actor_now_inactive"] and "actor_now_inactive" not in flags[3]


def _drop_guard(engine):
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER access_record_no_change ON access_record"))
            conn.execute(text("DROP TRIGGER access_record_no_truncate ON access_record"))
        else:
            conn.execute(text("DROP TRIGGER access_record_no_update"))
            conn.execute(text("DROP TRIGGER access_record_no_delete"))


def test_anchor_detects_truncation_and_rewrite(engine, tmp_path):
    settings = Settings(home=tmp_path)
    key = chain_key(settings)
    for n in range(4):
        with session_scope(engine) as s:
            record_access(s, actor_id="demo-operator", action="read", purpose=f"p{n}", subject_ids=[],
                          record_count=n, key=key)
    first = verify_and_anchor(settings, engine)
    # the anchoring is record 5 of the chain, and the anchor names it
    assert first.ok and first.anchored["seq"] == 5 and read_anchor(settings, engine)["seq"] == 5
    assert (tmp_path / "audit-anchor" / "anchors.jsonl").read_text().count("\n") == 1

    # a superuser cuts off the tail and resets the head: the chain alone still verifies ...
    _drop_guard(engine)
    with engine.begin() as conn:
        last = conn.execute(text("SELECT entry_hash FROM access_record WHERE seq = 2")).scalar_one()
        conn.execute(text("DELETE FROM access_record WHERE seq > 2"))
        conn.execute(text("UPDATE access_chain_head SET seq = 2, head_hash = :h"), {"h": last})
    outcome = verify_and_anchor(settings, engine)
    assert not outcome.ok and [p.kind for p in outcome.report.problems] == ["truncated"]
    assert outcome.anchored is None and read_anchor(settings, engine)["seq"] == 5  # anchor not moved


def test_anchor_detects_a_rebuilt_chain(engine, tmp_path):
    settings = Settings(home=tmp_path)
    key = chain_key(settings)
    for n in range(3):
        with session_scope(engine) as s:
            record_access(s, actor_id="demo-operator", action="read", purpose=f"p{n}", subject_ids=[],
                          record_count=n, key=key)
    assert verify_and_anchor(settings, engine).ok
    _drop_guard(engine)
    with engine.begin() as conn:  # wipe everything and replay a forged but self-consistent chain
        conn.execute(text("DELETE FROM access_record"))
        conn.execute(text("UPDATE access_chain_head SET seq = 0, head_hash = :h"), {"h": "0" * 64})
    for n in range(4):  # even with the key, a rebuilt chain differs at the anchored seq
        with session_scope(engine) as s:
            record_access(s, actor_id="demo-operator", action="read", purpose=f"forged{n}", subject_ids=[],
                          record_count=n, key=key)
    outcome = verify_and_anchor(settings, engine)
    assert [(p.seq, p.kind) for p in outcome.report.problems] == [(4, "anchor")]
