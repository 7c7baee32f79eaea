"""The month's print from stored decisions, on SQLite and PostgreSQL: pages match decisions, text is real."""

from __future__ import annotations

import datetime as dt
import shutil
import stat
import subprocess
import warnings

import orjson
import pytest
from sqlalchemy import select

from policy import load_policy
from privacy.audit import unpack_subjects
from services.documents import month as month_print
from store import models
from store.db import session_scope

MONTH = "2026-10"
ISSUE = dt.date(2026, 10, 5)

pytestmark = pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils not installed (.ci/run)")


@pytest.fixture
def decided(engine, key_ring, tmp_path):
    """150 generated children persisted and decided for the month (services only, no Prefect)."""
    from devtools.generate import generate_dataset
    from services.eligibility.decide import decide_month
    from services.intake import ingest, persist

    inbox_dir = tmp_path / "inbox"
    generate_dataset(inbox_dir, children=150, seed=5, as_of="2026-10-31")
    inbox = ingest.load_inbox(inbox_dir)
    with session_scope(engine) as session:
        persist.persist_inputs(session.connection(), inbox.frames, key_ring, "run-1")
    with session_scope(engine) as session:
        decide_month(session, month=MONTH, policy=load_policy(), run_id="run-1", operator_id="demo-operator")
    return engine


def _pdf_text(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


def test_month_print_matches_decisions_and_is_recorded(decided, key_ring, tmp_path):
    engine, policy = decided, load_policy()
    with session_scope(engine) as session:
        types = session.execute(select(models.Decision.decision_type, models.Decision.person_id)
                                .where(models.Decision.month == MONTH)).all()
        result = month_print.print_month(session, month=MONTH, ring=key_ring, policy=policy, home=tmp_path / "home",
                                         issue_date=ISSUE, operator_id="demo-operator", run_id="run-print")
    counts = {}
    for kind, _ in types:
        counts[kind] = counts.get(kind, 0) + 1
    assert counts.get("NEW", 0) > 0
    pages = {b.name.split("_")[0]: b.pages for b in result.batches}
    assert pages["受給者証・交付通知書"] == 2 * (counts.get("NEW", 0) + counts.get("CHANGE", 0)) + counts.get("RENEWAL", 0)
    loss = sum(v for k, v in counts.items() if k.startswith("LOSS_"))
    assert pages.get("資格喪失通知書", 0) == loss
    assert pages.get("支給停止通知書", 0) == counts.get("SUSPEND_INCOME", 0)

    issuance = next(b for b in result.batches if b.name.startswith("受給者証"))
    assert issuance.files[0].parent == tmp_path / "home" / "print" / MONTH
    assert stat.S_IMODE(issuance.files[0].parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(issuance.files[0].stat().st_mode) == 0o600

    # The first envelope: a 交付通知 addressed to the guardian of the application, then the child's card.
    with engine.connect() as conn:
        first_new = conn.execute(
            select(models.Recipient.recipient_no, models.Recipient.person_id, models.Decision.decision_type)
            .join(models.Decision, models.Decision.person_id == models.Recipient.person_id)
            .where(models.Decision.month == MONTH, models.Decision.decision_type.in_(["NEW", "CHANGE", "RENEWAL"]))
            .order_by(models.Recipient.recipient_no)).first()
        child = conn.execute(select(models.Person.person_id, models.Person.profile_enc)
                             .where(models.Person.person_id == first_new.person_id)).one()
        guardian_id = conn.execute(select(models.Application.guardian_person_id)
                                   .where(models.Application.child_person_id == child.person_id)
                                   .order_by(models.Application.application_date.desc())).scalar()
        guardian = conn.execute(select(models.Person.person_id, models.Person.profile_enc)
                                .where(models.Person.person_id == guardian_id)).one()
    profile = orjson.loads(key_ring.decrypt(child.profile_enc, table="person", column="profile",
                                            row_key=child.person_id))
    guardian_name = orjson.loads(key_ring.decrypt(guardian.profile_enc, table="person", column="profile",
                                                  row_key=guardian.person_id))["name"]
    text = _pdf_text(issuance.files[0])
    head = text.split("\f")[:2]
    card = head[1] if first_new.decision_type != "RENEWAL" else head[0]
    assert first_new.recipient_no in card and "88041009" in card
    flat = ["".join(page.split()) for page in head]  # pdftotext renders the 全角 space of names as spaces

    def squeeze(name):
        return "".join(name.split())

    assert squeeze(profile["name"]) in flat[1 if first_new.decision_type != "RENEWAL" else 0]
    assert "令和8年10月5日" in card
    if first_new.decision_type != "RENEWAL":
        assert squeeze(guardian_name) in flat[0] and "審査請求" in flat[0]

    # One access record per batch, action print, naming exactly the printed persons.
    from store.privacy_models import AccessRecord

    with session_scope(engine) as session:
        prints = session.execute(select(AccessRecord).where(AccessRecord.action == "print")).scalars().all()
        session.expunge_all()
    assert {r.purpose for r in prints} == {f"month-print-{k}" for k, v in
                                           {"issuance": 1, "suspension": counts.get("SUSPEND_INCOME", 0),
                                            "loss": loss}.items() if v}
    issued_ids = {pid for kind, pid in types if kind in ("NEW", "CHANGE", "RENEWAL")}
    issuance_record = next(r for r in prints if r.purpose == "month-print-issuance")
    assert set(unpack_subjects(issuance_record.subject_ids_z)) == issued_ids
    assert issuance_record.record_count == issuance.pages

    # A reprint writes the same bytes (reproducible PDFs), so reprints can be compared with the original.
    before = issuance.files[0].read_bytes()
    with session_scope(engine) as session:
        month_print.print_month(session, month=MONTH, ring=key_ring, policy=policy, home=tmp_path / "home",
                                issue_date=ISSUE, operator_id="demo-operator", run_id="run-print-2")
    assert issuance.files[0].read_bytes() == before


def test_cards_of_children_without_insurance_on_file_print_a_blank_insurer_number(decided, key_ring):
    """No coverage row for anyone: every card's 保険者番号 is blank text, with no dtype warning on the way
    (pandas 4 refuses a text fill on the float column that an all-missing look-up gives)."""
    engine = decided
    with engine.begin() as conn:
        conn.execute(models.InsuranceCoverage.__table__.delete())
    with session_scope(engine) as session:
        decisions = month_print.month_decision_frame(session, MONTH)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            rows = month_print.load_print_rows(session, key_ring, load_policy(), decisions)
    assert len(rows) == len(decisions) > 0
    assert rows["insurer_number"].tolist() == [""] * len(rows)
