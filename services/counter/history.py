"""One child's whole history for the counter (``kodomo person show``).

Found by 宛名番号, 受給者番号 or My Number; a My Number is looked up through the keyed blind index
(``person.my_number_hmac``, HMAC-SHA-256) and is neither stored, logged nor shown. The history is shown to
staff on the terminal only (never in Prefect); every look-up — found, not found or refused — is recorded in
the access log with the purpose the operator typed (番号法 §12 安全管理措置, security.md SEC-07/08).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from privacy.audit import record_access
from privacy.crypto import KeyRing
from services.counter import labels
from services.eligibility import reason_sets
from services.pmh.states import PMH_ERROR_PREFIX
from store import models
from store.benefit_models import BenefitClaim, BenefitPayment, Receivable, ReceivablePayment
from store.counter_models import CertificateIssue, CounterAction
from store.pmh_models import PmhSubject


class PersonNotFoundError(LookupError):
    """No person matches (the message never contains the key that was typed)."""

    safe_message = True


@dataclass
class PersonHistory:
    """Sections of the history, each a list of rows (dicts of Japanese column labels → text)."""

    person_id: str
    sections: dict[str, list[dict]] = field(default_factory=dict)
    subjects: list[str] = field(default_factory=list)


def resolve_person(session: Session, ring: KeyRing | None, *, person_id: str | None = None,
                   recipient_no: str | None = None, my_number: str | None = None) -> str | None:
    """The 宛名番号 of the one key given (exactly one of the three), or ``None``."""
    given = [k for k in (person_id, recipient_no, my_number) if k]
    if len(given) != 1:
        raise ValueError("give exactly one of --person-id, --recipient-no, --my-number")
    if person_id:
        return session.execute(select(models.Person.person_id)
                               .where(models.Person.person_id == person_id)).scalar_one_or_none()
    if recipient_no:
        return session.execute(select(models.Recipient.person_id)
                               .where(models.Recipient.recipient_no == recipient_no)).scalar_one_or_none()
    if ring is None:
        raise ValueError("a My Number look-up needs the key ring")
    digest = ring.blind_index(my_number.replace("-", "").strip())
    return session.execute(select(models.Person.person_id)
                           .where(models.Person.my_number_hmac == digest)).scalar_one_or_none()


def _date(value) -> str:
    return value.isoformat() if value is not None else ""


def _profile(ring: KeyRing, person_id: str, blob: bytes | None) -> dict:
    if not blob:
        return {}
    return orjson.loads(ring.decrypt(bytes(blob), table="person", column="profile", row_key=person_id))


def build_history(session: Session, ring: KeyRing, person_id: str) -> PersonHistory:
    """Read every table that concerns ``person_id`` (no access record: see :func:`show_person`)."""
    history = PersonHistory(person_id)
    s = history.sections
    person_table = models.Person
    person = session.execute(select(person_table).where(person_table.person_id == person_id)).scalar_one()
    profile = _profile(ring, person_id, person.profile_enc)
    s["本人"] = [{
        "宛名番号": person.person_id, "氏名": profile.get("name", ""), "カナ": profile.get("name_kana", ""),
        "生年月日": _date(person.birth_date), "性別": {"1": "男", "2": "女"}.get(person.sex_code, person.sex_code),
        "住所": profile.get("address", ""), "世帯番号": person.household_id,
        "続柄": labels.RELATIONSHIP_CODES.get(person.relationship_code, person.relationship_code),
        "住定日": _date(person.residence_start_date),
        "支援措置": "あり（送付先要確認）" if person.dv_support_flag else "",
    }]
    events = session.execute(select(models.ResidentEvent).where(models.ResidentEvent.person_id == person_id)
                             .order_by(models.ResidentEvent.event_date)).scalars().all()
    s["住民記録の異動"] = [{"異動日": _date(e.event_date), "届出日": _date(e.notified_date),
                       "事由": labels.EVENT_CODES.get(e.event_code, e.event_code), "世帯番号": e.household_id}
                      for e in events]
    households = {person.household_id} | {e.household_id for e in events}
    members = session.execute(
        select(person_table)
        .where(person_table.household_id.in_(sorted(households)), person_table.person_id != person_id)
        .order_by(person_table.household_id, person_table.relationship_code, person_table.person_id)).scalars().all()
    s["世帯員（世帯の変遷を含む）"] = [{
        "世帯番号": m.household_id, "宛名番号": m.person_id,
        "氏名": _profile(ring, m.person_id, m.profile_enc).get("name", ""),
        "続柄": labels.RELATIONSHIP_CODES.get(m.relationship_code, m.relationship_code),
        "生年月日": _date(m.birth_date),
    } for m in members]
    history.subjects = [person_id, *(m.person_id for m in members)]
    apps = session.execute(select(models.Application).where(models.Application.child_person_id == person_id)
                           .order_by(models.Application.application_date)).scalars().all()
    s["資格登録届"] = [{"届出番号": a.application_id, "届出日": _date(a.application_date),
                   "保護者宛名番号": a.guardian_person_id} for a in apps]
    cover = session.execute(select(models.InsuranceCoverage).where(models.InsuranceCoverage.person_id == person_id)
                            .order_by(models.InsuranceCoverage.valid_from)).scalars().all()
    s["医療保険"] = [{"保険者番号": c.insurer_number,
                  "本人家族": {"1": "本人", "2": "家族"}.get(c.insured_type_code, ""),
                  "資格取得日": _date(c.valid_from), "資格喪失日": _date(c.valid_to)} for c in cover]
    periods = session.execute(select(models.EligibilityPeriod).where(models.EligibilityPeriod.person_id == person_id)
                              .order_by(models.EligibilityPeriod.valid_from)).scalars().all()
    codes = reason_sets.decode(session.connection(), (p.reason_set_id for p in periods))
    s["資格期間"] = [{"開始日": _date(p.valid_from), "終了日": _date(p.valid_to),
                  "状態": labels.PERIOD_STATUS.get(p.status, p.status),
                  "終了事由": labels.END_REASONS.get(p.end_reason, p.end_reason),
                  "判定理由": labels.reason_text(codes[p.reason_set_id])} for p in periods]
    decisions = session.execute(select(models.Decision).where(models.Decision.person_id == person_id)
                                .order_by(models.Decision.month, models.Decision.effective_date)).scalars().all()
    s["決定"] = [{"処理月": d.month, "区分": labels.DECISION_LABELS.get(d.decision_type, d.decision_type),
                "効力発生日": _date(d.effective_date), "有効期間": f"{_date(d.valid_from)}〜{_date(d.valid_to)}",
                "判定理由": labels.reason_text(d.reason_code)} for d in decisions]
    recipient = session.get(models.Recipient, person_id)
    certificate = session.get(models.Certificate, person_id)
    s["受給者証"] = [] if certificate is None else [{
        "受給者番号": certificate.recipient_no,
        "公費負担者番号": recipient.public_payer_number if recipient else "",
        "有効期間": f"{_date(certificate.valid_from)}〜{_date(certificate.valid_to)}",
        "状態": labels.CERTIFICATE_STATUS.get(certificate.status, certificate.status),
        "最終決定月": certificate.last_decision_month}]
    issues = session.execute(select(CertificateIssue).where(CertificateIssue.person_id == person_id)
                             .order_by(CertificateIssue.issue_no)).scalars().all()
    s["受給者証の交付履歴"] = [{"回": i.issue_no, "受給者番号": i.recipient_no, "交付日": _date(i.issue_date),
                         "有効期間": f"{_date(i.valid_from)}〜{_date(i.valid_to)}",
                         "事由": labels.ISSUE_CAUSES.get(i.cause, i.cause),
                         "状態": "無効" if i.status == "VOID" else "有効",
                         "無効理由": labels.ACTION_REASONS.get(i.void_reason or "", i.void_reason or "")}
                        for i in issues]
    actions = session.execute(select(CounterAction).where(CounterAction.person_id == person_id)
                              .order_by(CounterAction.id)).scalars().all()
    s["窓口の届出・訂正"] = [{"受付番号": a.action_id, "種類": a.label, "受付日": _date(a.received_date),
                       "効力発生日": _date(a.effective_date),
                       "理由": labels.ACTION_REASONS.get(a.reason_code or "", a.reason_code or ""),
                       "結果": "保留（" + (a.held_reason or "") + "）" if a.outcome == "HELD" else "処理済",
                       "担当": a.operator_id} for a in actions]
    claims = session.execute(select(BenefitClaim).where(BenefitClaim.person_id == person_id)
                             .order_by(BenefitClaim.service_month, BenefitClaim.claim_id)).scalars().all()
    s["レセプト・償還払い"] = [{"番号": c.claim_id, "診療月": c.service_month,
                        "種別": labels.ROUTES.get(c.route, c.route),
                        "医療費": f"{c.total_cost_amount:,}", "助成額": f"{c.subsidy_amount:,}",
                        "判定": labels.CLAIM_STATUS.get(c.status, c.status), "不支給理由": c.rejection_reason or ""}
                       for c in claims]
    payments = session.execute(select(BenefitPayment).where(BenefitPayment.person_id == person_id)
                               .order_by(BenefitPayment.month, BenefitPayment.id)).scalars().all()
    s["支払"] = [{"支払月": p.month, "番号": p.claim_id, "種類": labels.PAYMENT_KINDS.get(p.kind, p.kind),
                "支払先": {"ZENGIN": "申請者口座", "REVIEW_BODY": "審査支払機関"}.get(p.channel, p.channel),
                "金額": f"{p.amount:,}"} for p in payments]
    receivables = session.execute(select(Receivable).where(Receivable.person_id == person_id)
                                  .order_by(Receivable.issued_month, Receivable.id)).scalars().all()
    collected = {}
    if receivables:
        rows = session.execute(select(ReceivablePayment.receivable_id, ReceivablePayment.paid_date,
                                      ReceivablePayment.amount)
                               .where(ReceivablePayment.receivable_id.in_([r.id for r in receivables]))).all()
        for row in rows:
            collected.setdefault(row.receivable_id, []).append(f"{_date(row.paid_date)} {row.amount:,}")
    s["返還請求（債権）"] = [{"請求月": r.issued_month, "番号": r.claim_id, "診療月": r.service_month,
                        "請求額": f"{r.amount:,}", "納付済": f"{r.paid_amount:,}",
                        "状態": labels.RECEIVABLE_STATUS.get(r.status, r.status),
                        "入金": "、".join(collected.get(r.id, []))} for r in receivables]
    outbox = session.execute(select(models.PmhOutbox).where(models.PmhOutbox.person_id == person_id)
                             .order_by(models.PmhOutbox.id)).scalars().all()
    s["PMH連携"] = [{"登録日": _date(o.event_date),
                   "区分": {"1": "登録・更新", "2": "削除"}.get(o.change_type, o.change_type),
                   "理由": labels.DECISION_LABELS.get(o.reason, o.reason),
                   "状態": labels.PMH_STATUS.get(o.status, o.status),
                   "結果": _pmh_answer(o)}
                  for o in outbox]
    subject = session.get(PmhSubject, person_id)
    if subject is not None:  # the PMH-ID itself stays encrypted: staff need the state, not the id
        s["PMH連携"].append({"登録日": "", "区分": "PMH上の状態", "理由": "",
                           "状態": labels.PMH_STATUS.get(subject.status, subject.status), "結果": ""})
    return history


def _pmh_answer(row: models.PmhOutbox) -> str:
    """PMH's answer for an outbox row as staff read it: 登録済み / 削除済み, or エラー with PMH's code."""
    if row.result == "ERROR":
        return f"エラー（{(row.last_error or '').removeprefix(PMH_ERROR_PREFIX)}）"
    return labels.PMH_STATUS.get(row.result, row.result) if row.result else ""


def show_person(session: Session, ring: KeyRing, *, operator_id: str, purpose: str, person_id: str | None = None,
                recipient_no: str | None = None, my_number: str | None = None) -> PersonHistory:
    """Find the person, read the history and record the access (``read``, with ``purpose``).

    A look-up that finds nobody is recorded too (``outcome="failed"``, no subject) and raises
    :class:`PersonNotFoundError`.
    """
    found = resolve_person(session, ring, person_id=person_id, recipient_no=recipient_no, my_number=my_number)
    key = "person_id" if person_id else "recipient_no" if recipient_no else "my_number"
    if found is None:
        record_access(session, actor_id=operator_id, action="read", purpose=f"person-show:{purpose}"[:128],
                      subject_ids=[], record_count=0, outcome="failed")
        raise PersonNotFoundError(f"no person found for the given {key}")
    history = build_history(session, ring, found)
    records = sum(len(rows) for rows in history.sections.values())
    record_access(session, actor_id=operator_id, action="read", purpose=f"person-show:{purpose}"[:128],
                  subject_ids=history.subjects, record_count=records)
    return history
