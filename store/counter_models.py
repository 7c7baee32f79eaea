"""Counter tables (issue 15): 届出 and corrections received at the counter, every 受給者証 issued, voided decisions.

* ``counter_action`` — one row per action (変更届, 喪失届, 再交付, 取消/訂正, 遡及登録): ids, codes and dates
  only (``details_json`` never holds a name, address, account or My Number). ``action_id`` is the
  business key (the 受付番号 typed, or a digest of person, type, date and details), so a re-submitted form
  changes nothing.
* ``certificate_issue`` — every physical 受給者証: the same 受給者番号 may have several issues; a 再交付
  voids the previous one (``status`` VOID, ``void_date``, ``void_reason``).
* ``decision_void`` — a decision taken back by 取消/訂正: the whole row as it was, and the action; the row
  leaves ``decision`` so that the re-determination can record the corrected decision under the same key.
* ``contact_address`` — 送付先 outside the city's 住民記録 (変更届: 住所), AES-256-GCM (table
  ``contact_address``, column ``address``, row key ``action_id``).
* ``payee_account`` — the bank account registered for 償還払い (変更届: 口座), AES-256-GCM (table
  ``payee_account``, column ``account``, row key ``action_id``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, DateTime, Index, Integer, LargeBinary, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from store.db import Base

_ID = BigInteger().with_variant(Integer, "sqlite")

ACTION_LABELS = {
    "CHANGE_INSURANCE": "変更届（保険）", "CHANGE_GUARDIAN": "変更届（保護者）",
    "CHANGE_ADDRESS": "変更届（住所・送付先）",
    "CHANGE_ACCOUNT": "変更届（口座）", "LOSS_REPORT": "喪失届", "REISSUE": "再交付", "CANCEL": "決定の取消",
    "CORRECT": "決定の訂正", "RETROACTIVE": "遡及登録",
}


class CounterAction(Base):
    """A 届出 or correction handled at the counter."""

    __tablename__ = "counter_action"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    action_id: Mapped[str] = mapped_column(String(40), unique=True, doc="受付番号 or digest of the business key")
    person_id: Mapped[str] = mapped_column(String(15), index=True, doc="宛名番号 of the child")
    action_type: Mapped[str] = mapped_column(String(24))
    reason_code: Mapped[str | None] = mapped_column(String(24))
    received_date: Mapped[dt.date] = mapped_column(Date, doc="受付日")
    effective_date: Mapped[dt.date | None] = mapped_column(Date)
    details_json: Mapped[str] = mapped_column(Text, doc="ids, codes, dates and counts only")
    outcome: Mapped[str] = mapped_column(String(16), doc="DONE or HELD (held for review with held_reason)")
    held_reason: Mapped[str | None] = mapped_column(String(128))
    operator_id: Mapped[str] = mapped_column(String(32))
    run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    @property
    def label(self) -> str:
        return ACTION_LABELS.get(self.action_type, self.action_type)


class CertificateIssue(Base):
    """One physical 受給者証 (the card itself), with its issue number for the 受給者番号."""

    __tablename__ = "certificate_issue"
    __table_args__ = (UniqueConstraint("person_id", "issue_no"),
                      Index("ix_certificate_issue_recipient", "recipient_no"))

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    person_id: Mapped[str] = mapped_column(String(15))
    recipient_no: Mapped[str] = mapped_column(String(7))
    issue_no: Mapped[int] = mapped_column(Integer, doc="1, 2, … per child")
    issue_date: Mapped[dt.date] = mapped_column(Date, doc="交付年月日")
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date] = mapped_column(Date)
    cause: Mapped[str] = mapped_column(String(20), doc="NEW, RENEWAL, CHANGE (month decisions) or REISSUE")
    status: Mapped[str] = mapped_column(String(8), doc="ISSUED or VOID")
    void_date: Mapped[dt.date | None] = mapped_column(Date)
    void_reason: Mapped[str | None] = mapped_column(String(24), doc="LOST 紛失, DAMAGED 破損, ENTRY_CHANGE, …")
    action_id: Mapped[str | None] = mapped_column(String(40))


class DecisionVoid(Base):
    """A decision taken back by 取消/訂正 (the row as it was)."""

    __tablename__ = "decision_void"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    decision_id: Mapped[int] = mapped_column(_ID, doc="decision.id it had")
    month: Mapped[str] = mapped_column(String(7))
    person_id: Mapped[str] = mapped_column(String(15), index=True)
    decision_type: Mapped[str] = mapped_column(String(20))
    effective_date: Mapped[dt.date] = mapped_column(Date)
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str | None] = mapped_column(String(20))
    reason_code: Mapped[str] = mapped_column(Text)
    run_id: Mapped[str] = mapped_column(String(64))
    action_id: Mapped[str] = mapped_column(String(40))
    voided_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ContactAddress(Base):
    """送付先 outside the 住民記録 (encrypted)."""

    __tablename__ = "contact_address"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    action_id: Mapped[str] = mapped_column(String(40), unique=True)
    person_id: Mapped[str] = mapped_column(String(15), index=True)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    address_enc: Mapped[bytes] = mapped_column(LargeBinary, doc="AES-256-GCM: the address as printed")


class PayeeAccount(Base):
    """償還払い 振込先 registered by a 変更届 (encrypted)."""

    __tablename__ = "payee_account"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    action_id: Mapped[str] = mapped_column(String(40), unique=True)
    person_id: Mapped[str] = mapped_column(String(15), index=True)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    account_enc: Mapped[bytes] = mapped_column(LargeBinary, doc="AES-256-GCM: JSON bank, branch, type, number, kana")
