"""``kodomo person show``: the whole history, by 宛名番号, 受給者番号 or My Number; every look-up recorded."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from cli.main import main
from privacy.audit import unpack_subjects
from store import models
from store.db import session_scope
from store.privacy_models import AccessRecord
from tests.integration.counter_support import counter_env, decide_generated_month, reset


@pytest.fixture
def decided(engine, db_url, tmp_path, monkeypatch):
    settings, ring = counter_env(monkeypatch, tmp_path, db_url)
    residents = decide_generated_month(engine, ring, tmp_path)
    yield engine, residents
    reset()


def _reads(engine):
    with session_scope(engine) as session:
        rows = session.execute(select(AccessRecord).where(AccessRecord.action == "read")
                               .order_by(AccessRecord.seq)).scalars().all()
        return [(r.purpose, r.outcome, unpack_subjects(r.subject_ids_z), r.actor_id) for r in rows]


def _a_new_child(engine):
    with engine.connect() as conn:
        return conn.execute(select(models.Recipient.person_id, models.Recipient.recipient_no)
                            .join(models.Decision, models.Decision.person_id == models.Recipient.person_id)
                            .where(models.Decision.decision_type == "NEW").order_by(models.Recipient.recipient_no)
                            ).first()


def test_show_by_person_id_prints_every_section_and_records_the_purpose(decided, capsys):
    engine, residents = decided
    child = _a_new_child(engine)
    code = main(["person", "show", "--person-id", child.person_id, "--purpose", "窓口照会 受付1",
                 "--operator", "demo-viewer"])
    out = capsys.readouterr().out
    assert code == 0
    name = residents.loc[residents["person_id"] == child.person_id, "name"].iloc[0]
    my_number = residents.loc[residents["person_id"] == child.person_id, "my_number"].iloc[0]
    for heading in ("【本人】", "【住民記録の異動】", "【世帯員（世帯の変遷を含む）】", "【資格期間】", "【決定】", "【受給者証】",
                    "【レセプト・償還払い】", "【支払】", "【返還請求（債権）】", "【PMH連携】", "【窓口の届出・訂正】"):
        assert heading in out, heading
    assert name in out and child.recipient_no in out
    assert "新規（受給者証交付）" in out and "受給資格あり" in out and "送信待ち" in out
    assert "対象年齢" in out  # reason codes in Japanese
    assert my_number not in out
    purpose, outcome, subjects, actor = _reads(engine)[-1]
    assert (purpose, outcome, actor) == ("person-show:窓口照会 受付1", "ok", "demo-viewer")
    assert child.person_id in subjects


def test_show_by_recipient_no_and_by_my_number_find_the_same_child(decided, capsys, monkeypatch):
    engine, residents = decided
    child = _a_new_child(engine)
    assert main(["person", "show", "--recipient-no", child.recipient_no, "--purpose", "p",
                 "--operator", "demo-viewer"]) == 0
    by_recipient = capsys.readouterr().out
    my_number = residents.loc[residents["person_id"] == child.person_id, "my_number"].iloc[0]
    monkeypatch.setattr("sys.stdin", io.StringIO(my_number + "\n"))
    assert main(["person", "show", "--my-number", "--purpose", "p", "--operator", "demo-viewer"]) == 0
    captured = capsys.readouterr()
    assert captured.out == by_recipient
    assert my_number not in captured.out + captured.err
    assert f"宛名番号 {child.person_id}" in captured.out


def test_unknown_key_is_recorded_as_failed_and_unauthorised_operator_refused(decided, capsys):
    engine, _ = decided
    assert main(["person", "show", "--recipient-no", "9999999", "--purpose", "p", "--operator", "demo-viewer"]) == 2
    assert "見つかりません" in capsys.readouterr().err
    assert _reads(engine)[-1][:3] == ("person-show:p", "failed", [])
    assert main(["person", "show", "--recipient-no", "9999999", "--purpose", "p", "--operator", "nobody"]) == 1


def test_pmh_section_shows_the_answer_pmh_gave_for_each_change(engine, db_url, tmp_path, monkeypatch, sim, capsys):
    """The month's changes go to the PMH simulator; its answers (registered, or an error with its code) are
    what person show prints in 【PMH連携】's 結果 column."""
    from devtools.pmh_testing import fast_client
    from services.pmh.relay import RelayOptions, relay_once

    settings, ring = counter_env(monkeypatch, tmp_path, db_url)
    try:
        decide_generated_month(engine, ring, tmp_path)
        sim.sim.reconfigure(record_error_rate=0.5)  # the intermediary step fails about half of the records
        report = relay_once(engine, fast_client(sim.url), ring, RelayOptions(poll_interval_s=0.01))
        assert report.completed > 0 and report.rejected > 0
        with engine.connect() as conn:
            rows = conn.execute(select(models.PmhOutbox.person_id, models.PmhOutbox.status)
                                .order_by(models.PmhOutbox.id)).all()
        answered = {status: person for person, status in rows}
        for status, expected in (("COMPLETED", "登録済み"), ("REJECTED", "エラー（E_INTERMEDIARY_NO_MATCH）")):
            capsys.readouterr()
            assert main(["person", "show", "--person-id", answered[status], "--purpose", "窓口照会",
                         "--operator", "demo-viewer"]) == 0
            pmh = capsys.readouterr().out.split("【PMH連携】", 1)[1].split("【", 1)[0]
            assert expected in pmh, (status, pmh)
    finally:
        reset()
