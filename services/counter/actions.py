"""Counter actions (窓口): 変更届, 喪失届, 再交付, 取消/訂正 of a decision, 遡及登録 after an appeal.

Each action is one transaction (the caller's session):

1. the form is checked (ids, codes and dates only — names, addresses, accounts and My Numbers never
   travel in a form; a new 送付先 address or bank account comes separately as ``private`` details, read
   from the terminal or a file, and is stored encrypted);
2. the stored inputs are changed (insurance, application, address, account) or the decision is taken
   back (取消/訂正: the row moves to ``decision_void`` and the certificate state is rebuilt from the
   remaining decisions);
3. the child's household is re-determined with the monthly run's rules over the whole claim horizon
   (:func:`services.movein.determine.redetermine`), so a correction applies retroactively; its decisions,
   受給者番号, certificate state and PMH outbox rows use the monthly run's keys;
4. money is reconciled as the benefit run does: the child's stored receipts are re-assessed and the
   difference booked as a supplementary payment or a 返還請求 (:mod:`services.benefits.assessment`,
   :mod:`services.benefits.ledger`);
5. PMH gets what changed (the decisions' outbox rows; a 再交付 and a 取消 their own rows);
6. the documents for the child are printed (``<home>/print/<YYYY-MM>/counter/``), the action is stored in
   ``counter_action`` and the access is recorded.

``action_id`` is the 受付番号 typed or a digest of the business key, so submitting the same form twice
does nothing the second time. Where the law needs a fact the counter does not have (a 喪失届 whose cause
has not arrived from 住記 or the welfare office), the action is stored as ``HELD`` with the reason and
nothing is decided.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson
import pandas as pd
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from policy.loader import Policy
from privacy.audit import record_access
from privacy.crypto import KeyRing
from privacy.paths import REFERENCE_PATTERN
from rules import decisions as decision_rules
from services.benefits import assessment, ledger
from services.counter.labels import ACTION_REASONS
from services.documents import month as documents
from services.movein.determine import redetermine
from services.pmh import outbox
from store import models
from store.bulk import read_frame
from store.counter_models import (
    ACTION_LABELS,
    CertificateIssue,
    ContactAddress,
    CounterAction,
    DecisionVoid,
    PayeeAccount,
)

#: Reasons each action accepts (codes; Japanese in services.counter.labels.ACTION_REASONS).
REASONS = {
    "REISSUE": {"LOST", "DAMAGED", "ENTRY_CHANGE"},
    "LOSS_REPORT": {"INSURANCE_LOSS", "MOVE_OUT", "WELFARE", "OTHER_PROGRAM"},
    "CANCEL": {"INPUT_ERROR", "FACT_ERROR", "SELF_CORRECTION", "APPEAL_GRANTED", "COURT_RULING"},
    "CORRECT": {"INPUT_ERROR", "FACT_ERROR", "LATE_EVIDENCE", "SELF_CORRECTION", "APPEAL_GRANTED", "COURT_RULING"},
    "RETROACTIVE": {"APPEAL_GRANTED", "COURT_RULING", "SELF_CORRECTION"},
}
ISSUING = ("NEW", "RENEWAL", "CHANGE")
HELD_LOSS = "喪失の根拠（住民記録の異動・保護開始の連絡等）が未着のため確認待ち"


class CounterFormError(ValueError):
    """The form is incomplete or inconsistent (the message names the field; never personal data)."""

    safe_message = True


@dataclass(frozen=True)
class CounterForm:
    """A counter form: ids, codes and dates only."""

    action_type: str
    person_id: str
    received_date: dt.date
    receipt_no: str | None = None
    reason_code: str | None = None
    effective_date: dt.date | None = None
    insurer_number: str | None = None
    insured_type_code: str | None = None
    guardian_person_id: str | None = None
    decision_month: str | None = None
    decision_type: str | None = None
    application_id: str | None = None
    application_date: dt.date | None = None

    def details(self) -> dict:
        """The form as JSON-safe codes (stored in ``counter_action.details_json``)."""
        return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in asdict(self).items()
                if v is not None and k not in ("action_type", "person_id", "received_date", "receipt_no")}


def action_key(form: CounterForm, private: dict | None) -> str:
    """The 受付番号, or ``CA-`` + a digest of person, action, date, form and private details."""
    if form.receipt_no:
        return form.receipt_no
    payload = json.dumps({"type": form.action_type, "person": form.person_id, "date": form.received_date.isoformat(),
                          "form": form.details(), "private": private or {}}, sort_keys=True, ensure_ascii=False)
    return "CA-" + hashlib.sha256(payload.encode()).hexdigest()[:30]


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise CounterFormError(message)


def check_form(session: Session, form: CounterForm, private: dict | None) -> None:
    """Refuse an unknown action, a missing field or an unknown person/decision before changing anything."""
    _require(form.action_type in ACTION_LABELS, f"unknown action_type {form.action_type!r}")
    for name in ("receipt_no", "application_id"):  # stored and printed in clear: never a My Number
        value = getattr(form, name)
        _require(value is None or (len(value) <= 40 and re.match(REFERENCE_PATTERN, value) is not None),
                 f"{name}: letters, digits (at most 11) and hyphens")
    _require(session.get(models.Person, form.person_id) is not None, "person_id: no such 宛名番号")
    allowed = REASONS.get(form.action_type)
    if allowed is not None:
        _require(form.reason_code in allowed, f"reason_code must be one of {sorted(allowed)}")
    kind = form.action_type
    if kind == "CHANGE_INSURANCE" or (kind == "CORRECT" and form.insurer_number):
        _require(bool(form.insurer_number) and str(form.insurer_number).isdigit()
                 and len(form.insurer_number) in (6, 8), "insurer_number: 6 or 8 digits")
        _require(form.insured_type_code in ("1", "2"), "insured_type_code: 1 (本人) or 2 (家族)")
        _require(form.effective_date is not None, "effective_date: the first day of the new insurance")
    if kind in ("CHANGE_GUARDIAN", "RETROACTIVE"):
        _require(bool(form.guardian_person_id) and session.get(models.Person, form.guardian_person_id) is not None,
                 "guardian_person_id: no such 宛名番号")
    if kind == "RETROACTIVE":
        _require(form.application_date is not None, "application_date: the registration date the ruling sets")
    if kind == "CHANGE_ADDRESS":
        _require(bool(private and private.get("address")), "the new address is missing (entered separately)")
    if kind == "CHANGE_ACCOUNT":
        account = (private or {}).get("account") or {}
        _require(all(account.get(k) for k in ("bank_code", "branch_code", "account_type", "account_number",
                                              "holder_kana")), "the bank account is incomplete (entered separately)")
    if kind == "LOSS_REPORT":
        _require(form.effective_date is not None, "effective_date: the day the subsidy should end")
    if kind in ("CANCEL", "CORRECT"):
        _require(bool(form.decision_month and form.decision_type), "decision_month and decision_type name the decision")
        _require(_decision(session, form) is not None, "no such decision for this person")
    if kind == "CORRECT":
        _require(bool(form.insurer_number) or bool(form.application_id and form.application_date),
                 "a correction needs the corrected input: insurance, or application_id with application_date")
    if kind in ("CANCEL", "CORRECT") and form.application_id:
        app = session.get(models.Application, form.application_id)
        _require(app is not None and app.child_person_id == form.person_id, "application_id: not this child's")


def _decision(session: Session, form: CounterForm) -> models.Decision | None:
    d = models.Decision
    return session.execute(select(d).where(d.person_id == form.person_id, d.month == form.decision_month,
                                           d.decision_type == form.decision_type)).scalar_one_or_none()


# -- input changes -------------------------------------------------------------------------------------
def change_insurance(session: Session, form: CounterForm) -> None:
    """Close the open coverage the day before ``effective_date`` and add the new one (if not there yet)."""
    cover = models.InsuranceCoverage
    start = form.effective_date
    session.execute(update(cover).where(cover.person_id == form.person_id, cover.valid_from < start,
                                        (cover.valid_to.is_(None)) | (cover.valid_to >= start))
                    .values(valid_to=start - dt.timedelta(days=1)))
    same = session.execute(select(cover).where(cover.person_id == form.person_id, cover.valid_from == start)
                           ).scalar_one_or_none()
    if same is None:
        session.add(cover(person_id=form.person_id, insurer_number=form.insurer_number,
                          insured_type_code=form.insured_type_code, valid_from=start, valid_to=None))
    else:  # a correction of the coverage starting that day
        same.insurer_number, same.insured_type_code = form.insurer_number, form.insured_type_code
    session.flush()


def end_insurance(session: Session, form: CounterForm) -> None:
    """喪失届 (保険資格の喪失): the coverage ends the day before ``effective_date``."""
    cover = models.InsuranceCoverage
    start = form.effective_date
    session.execute(update(cover).where(cover.person_id == form.person_id, cover.valid_from < start,
                                        (cover.valid_to.is_(None)) | (cover.valid_to >= start))
                    .values(valid_to=start - dt.timedelta(days=1)))
    session.flush()


def add_application(session: Session, form: CounterForm, action_id: str, date: dt.date) -> None:
    """A 資格登録届 for the child with the given guardian and date (保護者の変更, 遡及登録)."""
    application_id = ("A" + action_id.replace("CA-", ""))[:32]
    if session.get(models.Application, application_id) is None:
        session.add(models.Application(application_id=application_id, child_person_id=form.person_id,
                                       guardian_person_id=form.guardian_person_id, application_date=date))
        session.flush()


def void_decision(session: Session, form: CounterForm, action_id: str) -> models.Decision:
    """Move the decision to ``decision_void`` and rebuild the certificate state from the remaining ones."""
    decision = _decision(session, form)
    session.add(DecisionVoid(decision_id=decision.id, month=decision.month, person_id=decision.person_id,
                             decision_type=decision.decision_type, effective_date=decision.effective_date,
                             valid_from=decision.valid_from, valid_to=decision.valid_to, status=decision.status,
                             reason_code=decision.reason_code, run_id=decision.run_id, action_id=action_id))
    session.execute(delete(models.Decision).where(models.Decision.id == decision.id))
    session.flush()
    rebuild_certificate(session, form.person_id)
    if decision.decision_type in ISSUING:
        session.execute(update(CertificateIssue).where(
            CertificateIssue.person_id == form.person_id, CertificateIssue.status == "ISSUED",
            CertificateIssue.valid_from == decision.valid_from, CertificateIssue.valid_to == decision.valid_to)
            .values(status="VOID", void_date=form.received_date, void_reason="CANCELLED"))
    return decision


def rebuild_certificate(session: Session, person_id: str) -> None:
    """The certificate state as the remaining decisions leave it (none when nothing was issued)."""
    d = models.Decision.__table__
    remaining = read_frame(session.connection(), d, ["person_id", "decision_type", "effective_date", "valid_from",
                                                     "valid_to", "status", "month"], where=d.c.person_id == person_id)
    session.execute(delete(models.Certificate).where(models.Certificate.person_id == person_id))
    if remaining.empty:
        session.flush()
        return
    state = decision_rules.apply_decisions(None, remaining)
    row = state.iloc[0]
    recipient = session.get(models.Recipient, person_id)
    if recipient is not None and not pd.isna(row["valid_from"]) and not pd.isna(row["valid_to"]):
        session.add(models.Certificate(person_id=person_id, recipient_no=recipient.recipient_no,
                                       valid_from=row["valid_from"].date(), valid_to=row["valid_to"].date(),
                                       status=str(row["status"]), last_decision_month=str(remaining["month"].max())))
    session.flush()


def store_private(session: Session, ring: KeyRing, form: CounterForm, action_id: str, private: dict) -> None:
    """送付先 or bank account, encrypted with the action id as row key."""
    start = form.effective_date or form.received_date
    if form.action_type == "CHANGE_ADDRESS":
        blob = ring.encrypt(private["address"], table="contact_address", column="address", row_key=action_id)
        session.add(ContactAddress(action_id=action_id, person_id=form.person_id, valid_from=start, address_enc=blob))
    else:
        text = orjson.dumps(private["account"], option=orjson.OPT_SORT_KEYS).decode()
        blob = ring.encrypt(text, table="payee_account", column="account", row_key=action_id)
        session.add(PayeeAccount(action_id=action_id, person_id=form.person_id, valid_from=start, account_enc=blob))
    session.flush()


# -- certificates --------------------------------------------------------------------------------------
def current_issue(session: Session, person_id: str) -> CertificateIssue | None:
    """The card in the family's hands: the last ISSUED row, created from the certificate state if missing."""
    issued = session.execute(select(CertificateIssue).where(CertificateIssue.person_id == person_id,
                                                            CertificateIssue.status == "ISSUED")
                             .order_by(CertificateIssue.issue_no.desc())).scalars().first()
    if issued is not None:
        return issued
    certificate = session.get(models.Certificate, person_id)
    if certificate is None or certificate.status == decision_rules.LOST:
        return None
    d = models.Decision
    origin = session.execute(select(d).where(d.person_id == person_id, d.decision_type.in_(ISSUING),
                                             d.valid_from == certificate.valid_from)
                             .order_by(d.effective_date.desc())).scalars().first()
    number = (session.execute(select(func.max(CertificateIssue.issue_no))
                              .where(CertificateIssue.person_id == person_id)).scalar() or 0) + 1
    issue = CertificateIssue(person_id=person_id, recipient_no=certificate.recipient_no, issue_no=number,
                             issue_date=origin.effective_date if origin else certificate.valid_from,
                             valid_from=certificate.valid_from, valid_to=certificate.valid_to,
                             cause=origin.decision_type if origin else "NEW", status="ISSUED")
    session.add(issue)
    session.flush()
    return issue


def reissue(session: Session, form: CounterForm, action_id: str, issue_date: dt.date, run_id: str,
            reason: str) -> CertificateIssue | None:
    """再交付: void the card held and issue a new one, same 受給者番号 and validity, new issue date."""
    held = current_issue(session, form.person_id)
    if held is None:
        return None
    held.status, held.void_date, held.void_reason = "VOID", issue_date, reason
    new = CertificateIssue(person_id=held.person_id, recipient_no=held.recipient_no, issue_no=held.issue_no + 1,
                           issue_date=issue_date, valid_from=held.valid_from, valid_to=held.valid_to, cause="REISSUE",
                           status="ISSUED", action_id=action_id)
    session.add(new)
    session.flush()
    outbox.enqueue_changes(session, pd.DataFrame([{
        "person_id": new.person_id, "change_type": outbox.CHANGE_REGISTER, "reason": "REISSUE",
        "event_date": issue_date, "valid_from": new.valid_from, "valid_to": new.valid_to,
        "recipient_no": new.recipient_no}]), run_id)
    return new


# -- the action ----------------------------------------------------------------------------------------
def today_tokyo() -> dt.date:
    """Today in Asia/Tokyo (the 交付日 of a counter action)."""
    return pd.Timestamp.now(tz="Asia/Tokyo").date()


def _month_of(day: dt.date) -> str:
    return day.strftime("%Y-%m")


def _reconcile_money(session: Session, ring: KeyRing, policy: Policy, person_ids: list[str], month: str,
                     run_id: str) -> dict:
    conn = session.connection()
    assessed = assessment.reassess_stored_claims(conn, policy, month=month, run_id=run_id, ring=ring,
                                                    person_ids=person_ids)
    if assessed.empty:
        return {"claims_reassessed": 0, "payments": 0, "payment_amount": 0, "refund_claims": 0, "refund_amount": 0,
                "refunds_cancelled": 0}
    settled = ledger.settle_claims(conn, assessed, month=month, run_id=run_id)
    return {"claims_reassessed": int(len(assessed)), **settled}


def apply_action(session: Session, form: CounterForm, *, ring: KeyRing, policy: Policy, operator_id: str,
                 run_id: str, home: Path, issue_date: dt.date, private: dict | None = None) -> dict:
    """Carry out one counter action (module docstring); return ids, codes, counts and file paths only."""
    check_form(session, form, private)
    action_id = action_key(form, private)
    done = session.execute(select(CounterAction).where(CounterAction.action_id == action_id)).scalar_one_or_none()
    if done is not None:
        return {"action_id": action_id, "action": done.label, "outcome": done.outcome, "already_done": True}
    person = session.get(models.Person, form.person_id)
    month = _month_of(form.received_date)
    kind = form.action_type
    result: dict = {"action_id": action_id, "action": ACTION_LABELS[kind], "month": month, "outcome": "DONE"}
    held_reason = None
    voided = None
    redetermine_needed = kind not in ("CHANGE_ACCOUNT", "REISSUE")
    if kind == "CHANGE_INSURANCE":
        change_insurance(session, form)
    elif kind == "CHANGE_GUARDIAN":
        add_application(session, form, action_id, form.effective_date or form.received_date)
    elif kind in ("CHANGE_ADDRESS", "CHANGE_ACCOUNT"):
        store_private(session, ring, form, action_id, private)
        redetermine_needed = False
    elif kind == "LOSS_REPORT" and form.reason_code == "INSURANCE_LOSS":
        end_insurance(session, form)
    elif kind == "RETROACTIVE":
        add_application(session, form, action_id, form.application_date)
    elif kind in ("CANCEL", "CORRECT"):
        voided = void_decision(session, form, action_id)
        if form.insurer_number:
            change_insurance(session, form)
        if form.application_id:
            application = session.get(models.Application, form.application_id)
            result["application_date_was"] = application.application_date.isoformat()
            if form.application_date is None:  # 取消: the application itself was invalid (withdrawn, not this child's)
                session.delete(application)
            else:
                application.application_date = form.application_date
            session.flush()

    decided = pd.DataFrame()
    if redetermine_needed:
        counts = redetermine(session, household_ids={person.household_id}, person_ids={form.person_id}, month=month,
                             policy=policy, run_id=run_id, operator_id=operator_id, purpose=f"counter-{kind.lower()}")
        result["decisions"] = counts["by_type"]
        result["pmh_outbox_rows"] = counts["pmh_outbox_rows"]
        d = models.Decision.__table__
        decided = read_frame(session.connection(), d, ["person_id", "decision_type", "effective_date", "valid_from",
                                                       "valid_to"],
                             where=(d.c.run_id == run_id) & (d.c.person_id == form.person_id))
        if kind in ("CANCEL", "CORRECT", "RETROACTIVE", "LOSS_REPORT", "CHANGE_INSURANCE"):
            result["money"] = _reconcile_money(session, ring, policy, [form.person_id], month, run_id)
    if voided is not None and voided.decision_type == "NEW" and session.get(models.Certificate, form.person_id) is None:
        # 取消 of a grant with no certificate left: PMH deletes the record from the day it started.
        recipient = session.get(models.Recipient, form.person_id)
        result["pmh_outbox_rows"] = result.get("pmh_outbox_rows", 0) + outbox.enqueue_changes(session, pd.DataFrame([{
            "person_id": form.person_id, "change_type": outbox.CHANGE_DELETE, "reason": "CANCEL",
            "event_date": voided.valid_from or voided.effective_date, "valid_from": voided.valid_from,
            "valid_to": voided.valid_to, "recipient_no": recipient.recipient_no if recipient else None}]), run_id)
    if kind == "LOSS_REPORT" and not result.get("decisions"):
        held_reason = HELD_LOSS  # never guess a loss the law needs a fact for
        result["outcome"] = "HELD"
        result["held_reason"] = held_reason

    to_print = [dict(row) for row in decided.to_dict("records")]
    reissued = None
    if kind == "REISSUE":
        reissued = reissue(session, form, action_id, issue_date, run_id, form.reason_code)
        if reissued is None:
            held_reason = "有効な受給者証がないため再交付できません"
            result.update(outcome="HELD", held_reason=held_reason)
        else:
            result["certificate_issue_no"] = reissued.issue_no
            result["pmh_outbox_rows"] = 1
    elif kind in ("CHANGE_GUARDIAN", "CHANGE_ADDRESS") and not any(r["decision_type"] in ISSUING for r in to_print):
        # The card shows the guardian and the address: a 記載事項変更 gives a new card.
        reissued = reissue(session, form, action_id, issue_date, run_id, "ENTRY_CHANGE")
        result["pmh_outbox_rows"] = result.get("pmh_outbox_rows", 0) + (1 if reissued else 0)
    if reissued is not None:
        to_print.append({"person_id": form.person_id, "decision_type": "REISSUE", "effective_date": issue_date,
                         "valid_from": reissued.valid_from, "valid_to": reissued.valid_to})
    if to_print:
        note = f"再交付（{ACTION_REASONS.get(reissued_reason(form, reissued), '')}）" if reissued is not None else ""
        batch = documents.print_person_documents(
            session, person_id=form.person_id, decisions=to_print, ring=ring, policy=policy, home=home,
            issue_date=issue_date, operator_id=operator_id, purpose=f"counter-{kind.lower()}",
            batch_name=f"{ACTION_LABELS[kind]}_{action_id}", reissue_note=note)
        result["print"] = batch.as_dict()

    session.add(CounterAction(action_id=action_id, person_id=form.person_id, action_type=kind,
                              reason_code=form.reason_code, received_date=form.received_date,
                              effective_date=form.effective_date, details_json=json.dumps(form.details()),
                              outcome=result["outcome"], held_reason=held_reason, operator_id=operator_id,
                              run_id=run_id))
    record_access(session, actor_id=operator_id, action="update" if kind != "RETROACTIVE" else "create",
                  purpose=f"counter-{kind.lower()}", subject_ids=[form.person_id], record_count=1, run_id=run_id)
    session.flush()
    return result


def reissued_reason(form: CounterForm, issue: CertificateIssue | None) -> str:
    """The reason printed on a reissued card (紛失, 破損, 記載事項変更)."""
    if issue is None:
        return ""
    return form.reason_code if form.action_type == "REISSUE" else "ENTRY_CHANGE"
