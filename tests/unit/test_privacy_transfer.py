import datetime as dt

import pytest
from sqlalchemy import select

from privacy.crypto import KeyRing
from privacy.transfer import ExportRefused, approve, export
from store.db import session_scope
from store.models import Certificate
from store.privacy_models import AccessRecord
from tests.unit.test_privacy_keys import seed_persons

TODAY = dt.date(2026, 11, 26)


def _setup(engine):
    ring = KeyRing.generate()
    ids, _, _ = seed_persons(engine, ring, 3)
    with session_scope(engine) as s:
        for n, pid in enumerate(ids):
            s.add(Certificate(person_id=pid, recipient_no=f"00000{n}0", valid_from=dt.date(2026, 4, 1),
                              valid_to=dt.date(2027, 3, 31), status="ELIGIBLE", last_decision_month="2026-10"))
        approve(s, approval_id="KYO-2026-001", approver_id="demo-admin", purpose="受給者証送付",
                datasets=["recipients", "recipient-addresses"], valid_from=TODAY, valid_until=TODAY)
    return ring, ids


def _records(engine):
    with session_scope(engine) as s:
        return s.execute(select(AccessRecord).order_by(AccessRecord.seq)).scalars().all()


@pytest.mark.parametrize(("approval_id", "dataset", "today", "message"), [
    (None, "recipients", TODAY, "needs --approval-id"),
    ("NOPE", "recipients", TODAY, "not registered"),
    ("KYO-2026-001", "decisions", TODAY, "needs --month"),
    ("KYO-2026-001", "recipients", TODAY + dt.timedelta(days=1), "not valid"),
    ("KYO-2026-001", "secret-stuff", TODAY, "unknown dataset"),
])
def test_export_without_a_valid_approval_is_refused_and_recorded(engine, tmp_path, approval_id, dataset, today,
                                                                  message):
    _setup(engine)
    out = tmp_path / "out.csv"
    with pytest.raises(ExportRefused, match=message):
        export(engine, actor_id="demo-operator", approval_id=approval_id, dataset=dataset, out=out, today=today)
    assert not out.exists()
    (record,) = _records(engine)
    assert (record.action, record.outcome, record.approval_id, record.record_count) == (
        "export", "refused", approval_id, 0)


def test_dataset_not_covered_is_refused(engine, tmp_path):
    _setup(engine)
    with pytest.raises(ExportRefused, match="does not cover"):
        export(engine, actor_id="demo-operator", approval_id="KYO-2026-001", dataset="decisions", month="2026-10",
               out=tmp_path / "d.csv", today=TODAY)


def test_approved_export_writes_only_the_dataset_columns_and_links_the_approval(engine, tmp_path):
    ring, ids = _setup(engine)
    out = tmp_path / "exports" / "r.csv"
    result = export(engine, actor_id="demo-operator", approval_id="KYO-2026-001", dataset="recipient-addresses",
                    out=out, ring=ring, today=TODAY)
    assert result.rows == 3 and result.persons == 3
    text = out.read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == "person_id,recipient_no,name,name_kana,address"
    assert "試験0" in text and "123456789018" not in text
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    (record,) = _records(engine)
    assert (record.action, record.outcome, record.approval_id, record.subject_count) == (
        "export", "ok", "KYO-2026-001", 3)
    minimal = export(engine, actor_id="demo-operator", approval_id="KYO-2026-001", dataset="recipients",
                     out=tmp_path / "m.csv", today=TODAY)
    header = (tmp_path / "m.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert minimal.rows == 3 and header == "person_id,recipient_no,valid_from,valid_to,status"


def test_sealed_export_for_hand_over(engine, tmp_path):
    from cryptography.exceptions import InvalidTag

    from privacy.transfer import open_export

    _setup(engine)
    out = tmp_path / "r.csv.kenc"
    export(engine, actor_id="demo-operator", approval_id="KYO-2026-001", dataset="recipients", out=out,
           today=TODAY, passphrase="correct horse battery")
    sealed = out.read_bytes()
    assert b"person_id" not in sealed and b"0000000001" not in sealed
    assert open_export(sealed, "correct horse battery").decode("utf-8-sig").startswith("person_id,recipient_no")
    with pytest.raises(InvalidTag):
        open_export(sealed, "wrong passphrase!!")
    with pytest.raises(ExportRefused, match="12 characters"):
        export(engine, actor_id="demo-operator", approval_id="KYO-2026-001", dataset="recipients",
               out=tmp_path / "x", today=TODAY, passphrase="short")
    assert not list(tmp_path.glob(".x*"))
