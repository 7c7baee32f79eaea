"""Counter actions on SQLite and PostgreSQL: 変更届, 喪失届, 再交付, 取消/訂正, 遡及登録."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess

import pytest
from sqlalchemy import func, select

from policy import load_policy
from services.counter.actions import CounterForm, CounterFormError, apply_action
from store import models
from store.benefit_models import BenefitPayment, Receivable
from store.counter_models import CertificateIssue, ContactAddress, CounterAction, DecisionVoid
from store.db import session_scope
from store.privacy_models import AccessRecord
from tests.integration.counter_support import (
    MONTH,
    counter_env,
    decide_generated_month,
    pay_generated_claims,
    reset,
)

pytestmark = pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils not installed (.ci/run)")

RECEIVED = dt.date(2026, 10, 20)
ISSUE = dt.date(2026, 10, 21)


@pytest.fixture
def counter(engine, db_url, tmp_path, monkeypatch):
    settings, ring = counter_env(monkeypatch, tmp_path, db_url)
    residents = decide_generated_month(engine, ring, tmp_path)
    yield engine, ring, settings, residents, tmp_path
    reset()


def _apply(counter, form, private=None, run_id="counter-run"):
    engine, ring, settings, _, _ = counter
    with session_scope(engine) as session:
        return apply_action(session, form, ring=ring, policy=load_policy(), operator_id="demo-operator",
                            run_id=run_id, home=settings.home, issue_date=ISSUE, private=private)


def _holder(engine):
    """A child holding a certificate from the month's NEW decision (and its application)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(models.Certificate.person_id, models.Certificate.recipient_no, models.Person.household_id)
            .join(models.Decision, (models.Decision.person_id == models.Certificate.person_id)
                  & (models.Decision.decision_type == "NEW"))
            .join(models.Person, models.Person.person_id == models.Certificate.person_id)
            .where(models.Certificate.status == "ELIGIBLE").order_by(models.Certificate.recipient_no)).first()
        application = conn.execute(select(models.Application.application_id)
                                   .where(models.Application.child_person_id == row.person_id)).scalars().all()
    return row, application


def _pdf_text(path):
    return "".join(subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True,
                                  text=True).stdout.split())


def _outbox(engine, person_id, reason):
    with engine.connect() as conn:
        return conn.execute(select(models.PmhOutbox.change_type).where(models.PmhOutbox.person_id == person_id,
                                                                       models.PmhOutbox.reason == reason)).all()


def test_reissue_keeps_the_number_voids_the_old_card_prints_and_tells_pmh(counter):
    engine = counter[0]
    child, _ = _holder(engine)
    form = CounterForm("REISSUE", child.person_id, RECEIVED, reason_code="LOST")
    result = _apply(counter, form)
    assert result["outcome"] == "DONE" and result["certificate_issue_no"] == 2
    with session_scope(engine) as session:
        issues = session.execute(select(CertificateIssue).where(CertificateIssue.person_id == child.person_id)
                                 .order_by(CertificateIssue.issue_no)).scalars().all()
        session.expunge_all()
    assert [(i.issue_no, i.status, i.void_reason, i.recipient_no) for i in issues] == [
        (1, "VOID", "LOST", child.recipient_no), (2, "ISSUED", None, child.recipient_no)]
    assert issues[1].issue_date == ISSUE and issues[1].valid_to == issues[0].valid_to
    assert _outbox(engine, child.person_id, "REISSUE") == [("1",)]
    pdf = result["print"]["files"][0]
    text = _pdf_text(pdf)
    assert "再交付（紛失）" in text and child.recipient_no in text and "令和8年10月21日" in text
    assert result["print"]["kinds"] == {"certificate": 1}
    # The same form again (same business key) changes nothing.
    again = _apply(counter, form)
    assert again["already_done"] is True
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(CertificateIssue)).scalar() == 2


def test_insurance_change_is_stored_recorded_and_idempotent(counter):
    engine = counter[0]
    child, _ = _holder(engine)
    form = CounterForm("CHANGE_INSURANCE", child.person_id, RECEIVED, effective_date=dt.date(2026, 10, 15),
                       insurer_number="06041234", insured_type_code="2", receipt_no="U-0001")
    result = _apply(counter, form)
    assert result["action_id"] == "U-0001" and result["outcome"] == "DONE"
    with engine.connect() as conn:
        cover = conn.execute(select(models.InsuranceCoverage.insurer_number, models.InsuranceCoverage.valid_from,
                                    models.InsuranceCoverage.valid_to)
                             .where(models.InsuranceCoverage.person_id == child.person_id)
                             .order_by(models.InsuranceCoverage.valid_from)).all()
        action = conn.execute(select(CounterAction.action_type, CounterAction.details_json, CounterAction.operator_id)
                              ).one()
        purposes = conn.execute(select(AccessRecord.purpose, AccessRecord.actor_id)).all()
    assert cover[-1] == ("06041234", dt.date(2026, 10, 15), None)
    assert all(c.valid_to == dt.date(2026, 10, 14) for c in cover[:-1] if c.valid_from < dt.date(2026, 10, 15))
    assert action.action_type == "CHANGE_INSURANCE" and "06041234" in action.details_json
    assert ("counter-change_insurance", "demo-operator") in purposes
    assert _apply(counter, form)["already_done"] is True


def test_address_change_is_encrypted_and_printed_on_a_new_card(counter):
    engine = counter[0]
    child, _ = _holder(engine)
    address = "東京都千代田区霞が関一丁目2番2号 送付先テスト"
    result = _apply(counter, CounterForm("CHANGE_ADDRESS", child.person_id, RECEIVED), {"address": address})
    with engine.connect() as conn:
        stored = conn.execute(select(ContactAddress.address_enc)).scalar_one()
        details = conn.execute(select(CounterAction.details_json)).scalar_one()
    assert address.encode() not in bytes(stored) and "霞が関" not in details
    assert result["print"]["kinds"] == {"certificate": 1}
    with engine.connect() as conn:
        assert conn.execute(select(CertificateIssue.status).order_by(CertificateIssue.issue_no)).scalars().all() == [
            "VOID", "ISSUED"]
    text = _pdf_text(result["print"]["files"][0])
    assert "東京都千代田区霞が関一丁目2番2号" in text and "再交付（記載事項変更）" in text


def test_loss_report_without_the_fact_is_held_not_guessed(counter):
    engine = counter[0]
    child, _ = _holder(engine)
    result = _apply(counter, CounterForm("LOSS_REPORT", child.person_id, RECEIVED, reason_code="MOVE_OUT",
                                         effective_date=dt.date(2026, 10, 25)))
    assert result["outcome"] == "HELD" and "確認待ち" in result["held_reason"]
    with engine.connect() as conn:
        assert conn.execute(select(CounterAction.outcome)).scalar_one() == "HELD"
        assert conn.execute(select(models.Certificate.status)
                            .where(models.Certificate.person_id == child.person_id)).scalar_one() == "ELIGIBLE"


def test_cancel_of_a_grant_reverts_the_certificate_tells_pmh_and_claims_money_back(counter):
    engine, ring, _, _, tmp_path = counter
    paid = pay_generated_claims(engine, ring, tmp_path)
    assert paid["payments"] > 0
    with engine.connect() as conn:  # a NEW child with paid receipts
        child_id = conn.execute(
            select(BenefitPayment.person_id)
            .join(models.Decision, (models.Decision.person_id == BenefitPayment.person_id)
                  & (models.Decision.decision_type == "NEW"))
            .group_by(BenefitPayment.person_id).order_by(func.sum(BenefitPayment.amount).desc())).scalars().first()
        paid_amount = conn.execute(select(func.sum(BenefitPayment.amount))
                                   .where(BenefitPayment.person_id == child_id)).scalar()
        applications = conn.execute(select(models.Application.application_id)
                                    .where(models.Application.child_person_id == child_id)).scalars().all()
    assert child_id and paid_amount > 0 and len(applications) == 1
    form = CounterForm("CANCEL", child_id, RECEIVED, reason_code="FACT_ERROR", decision_month=MONTH,
                       decision_type="NEW", application_id=applications[0])
    result = _apply(counter, form)
    with engine.connect() as conn:
        voided = conn.execute(select(DecisionVoid.decision_type, DecisionVoid.month)).all()
        certificate = conn.execute(select(models.Certificate.status)
                                   .where(models.Certificate.person_id == child_id)).scalar_one_or_none()
        refunds = conn.execute(select(func.sum(Receivable.amount)).where(Receivable.person_id == child_id)).scalar()
        decisions = conn.execute(select(models.Decision.decision_type)
                                 .where(models.Decision.person_id == child_id)).scalars().all()
    assert voided == [("NEW", MONTH)] and certificate is None and "NEW" not in decisions
    assert ("2",) in _outbox(engine, child_id, "CANCEL")
    assert refunds == paid_amount  # everything paid for the child is claimed back (返還請求)
    assert result["money"]["refund_claims"] >= 1 and result["money"]["refund_amount"] == paid_amount


def test_retroactive_registration_after_an_appeal_grants_from_the_ruled_date(counter):
    engine = counter[0]
    child, applications = _holder(engine)
    with session_scope(engine) as session:  # start from a child whose registration was refused: no application
        session.execute(models.Application.__table__.delete().where(
            models.Application.child_person_id == child.person_id))
    cancelled = _apply(counter, CounterForm("CANCEL", child.person_id, RECEIVED, reason_code="INPUT_ERROR",
                                            decision_month=MONTH, decision_type="NEW"), run_id="cancel-run")
    with engine.connect() as conn:
        assert conn.execute(select(models.Certificate.person_id)
                            .where(models.Certificate.person_id == child.person_id)).first() is None
        guardian = conn.execute(select(models.Person.person_id).where(
            models.Person.household_id == child.household_id, models.Person.relationship_code == "01")).scalar()
    assert cancelled["outcome"] == "DONE"
    result = _apply(counter, CounterForm("RETROACTIVE", child.person_id, dt.date(2026, 10, 28),
                                         reason_code="APPEAL_GRANTED", guardian_person_id=guardian,
                                         application_date=dt.date(2026, 4, 1)), run_id="appeal-run")
    assert result["decisions"].get("NEW") == 1
    with engine.connect() as conn:
        certificate = conn.execute(select(models.Certificate.status, models.Certificate.valid_from)
                                   .where(models.Certificate.person_id == child.person_id)).one()
    assert certificate.status == "ELIGIBLE"
    text = _pdf_text(result["print"]["files"][0])
    assert "受給者証交付通知書" in text and child.recipient_no in text and "審査請求" in text


def test_forms_are_checked_before_anything_changes(counter):
    engine = counter[0]
    child, _ = _holder(engine)
    with pytest.raises(CounterFormError, match="reason_code"):
        _apply(counter, CounterForm("REISSUE", child.person_id, RECEIVED, reason_code="BORED"))
    with pytest.raises(CounterFormError, match="no such 宛名番号"):
        _apply(counter, CounterForm("REISSUE", "0000000000", RECEIVED, reason_code="LOST"))
    with pytest.raises(CounterFormError, match="no such decision"):
        _apply(counter, CounterForm("CANCEL", child.person_id, RECEIVED, reason_code="INPUT_ERROR",
                                    decision_month="2020-01", decision_type="NEW"))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(CounterAction)).scalar() == 0
