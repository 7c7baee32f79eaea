"""返還請求書 / 納付書 and 督促状 PDFs of receivables, with the document capability (services.documents).

The printed forms carry the guardian's name and address (decrypted in memory by
services.documents.month.load_print_rows), the 納付番号 the bank file returns (services.receivables.ledger),
the 納期限 (or the 督促 指定期限) and the 教示文. Every print is recorded (action ``print``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from sqlalchemy.orm import Session

from policy import Policy
from privacy.crypto import KeyRing
from services.documents.batch import PrintBatch, print_directory, write_batch
from services.documents.model import Addressee, RefundDemand, RefundItem, appeal_instruction, issuer_title
from services.documents.month import CARE_NOTE, load_print_rows
from services.documents.record import record_print
from services.receivables.ledger import ledger_frame, payment_number

#: Why the subsidy is claimed back (rules.benefits reason codes), as printed.
REASON_TEXTS = {
    "NOT_ELIGIBLE_ON_SERVICE_DATE": "診療日に受給資格がなかったため",
    "AMOUNT_CHANGED": "助成額が変更になったため",
    "SUSPENDED_INCOME": "診療日に所得制限により支給停止中であったため",
    "OUTPATIENT_AGE_NOT_COVERED": "通院の対象年齢を超えていたため",
    "INPATIENT_AGE_NOT_COVERED": "入院の対象年齢を超えていたため",
}
CAUSE_TEXTS = {"MOVE_OUT": "転出", "DEATH": "死亡", "WELFARE": "生活保護", "AGE": "年齢到達",
               "INSURANCE": "保険資格喪失"}
PAYMENT_DETAILS = ("同封の納付書により、期限までに指定金融機関又は市の窓口で納付してください。",
                   "分割での納付（分納）をご希望の場合は、期限までにご相談ください。")


def demands(session: Session, ring: KeyRing, policy: Policy, receivables: pd.DataFrame, *, issue_date: dt.date,
            reminder: bool) -> list[RefundDemand]:
    """One 返還請求書 (or 督促状) per receivable row of :func:`services.receivables.ledger.ledger_frame`.

    ``receivables`` may carry ``deadline`` (督促 指定期限) and ``open_amount``; a 督促状 asks for what is open.
    """
    if receivables.empty:
        return []
    persons = pd.DataFrame({"person_id": receivables["person_id"].dropna().unique(), "decision_type": "REFUND",
                            "effective_date": pd.Timestamp(issue_date), "valid_from": pd.NaT, "valid_to": pd.NaT})
    rows = load_print_rows(session, ring, policy, persons).drop_duplicates("person_id").set_index("person_id")
    appeal, issuer = appeal_instruction(policy, issue_date), issuer_title(policy, issue_date)
    out = []
    for r in receivables.sort_values("id").itertuples(index=False):
        who = rows.loc[r.person_id] if r.person_id in rows.index else None
        name = who["name"] if who is not None else ""
        addressee = Addressee(who["guardian_name"] or f"{name}の保護者" if who is not None else "", who["address"]
                              if who is not None else "", care_note=CARE_NOTE if who is not None and bool(
                                  who["dv_support_flag"]) else "")
        amount = int(r.open_amount) if reminder else int(r.amount)
        cause = CAUSE_TEXTS.get(r.ineligibility_cause, "") if isinstance(r.ineligibility_cause, str) else ""
        reason = REASON_TEXTS.get(r.reason_code, "助成の要件を満たさなかったため") + (f"（{cause}）" if cause else "")
        due = getattr(r, "deadline", None) if reminder else None
        out.append(RefundDemand(
            person_id=r.person_id, recipient_no=r.recipient_no, addressee=addressee, child_name=name,
            items=(RefundItem(r.service_month, f"レセプト {r.claim_id}", amount),),
            due_date=due or pd.Timestamp(r.due_date).date(), reason=reason, payment_details=PAYMENT_DETAILS,
            issue_date=issue_date, issuer=issuer, appeal=appeal, reference_no=payment_number(int(r.id)),
            demand_label="督促" if reminder else "返還請求"))
    return out


def print_demands(session: Session, ring: KeyRing, policy: Policy, receivable_ids: list[int], *, issue_date: dt.date,
                  home: Path, operator_id: str, reminder: bool = False,
                  deadlines: dict[int, dt.date] | None = None) -> PrintBatch:
    """Render the 返還請求書 (or 督促状) of ``receivable_ids`` into ``<home>/print/<month>/`` and record it."""
    frame = ledger_frame(session.connection(), as_of=issue_date)
    frame = frame[frame["id"].isin(receivable_ids)]
    detail = frame.copy()
    if deadlines:
        detail["deadline"] = detail["id"].map(deadlines)
    documents = demands(session, ring, policy, detail, issue_date=issue_date, reminder=reminder)
    name = f"{'督促状' if reminder else '返還請求書'}_{issue_date.isoformat()}"
    batch = write_batch(documents, print_directory(home, issue_date.strftime("%Y-%m")), name)
    record_print(session, batch, documents, operator_id=operator_id,
                 purpose="receivables-reminder" if reminder else "receivables-notice")
    return batch

