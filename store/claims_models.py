"""Tables of UKE claims (the bill of 国保連 / 支払基金) and of 債権管理 (the life of a receivable).

Claims:

* ``uke_file`` — one ingested facility file (by SHA-256: the same file twice changes nothing).
* ``uke_receipt`` — one receipt billed to the city, by identity ``claim_id`` = (審査支払機関, 医療機関コード,
  診療年月, レセプト番号): the billed KO figures, the city's own figures, the outcome (``APPROVED``,
  ``REVIEW`` — unmatched/mismatched recipient, ``DISPUTED`` — 過誤/再審査 request, ``WITHDRAWN`` — 取下げ)
  and the differing rule. No name column: the patient's name on the receipt is never stored.
* ``uke_bill`` — one bill per 審査支払機関 and 請求年月 (件数, 日数, 点数, 金額), its approved total and, once
  closed, the payment record (``payment_amount``, ``paid_on``).
* ``uke_bill_entry`` — what a bill pays per receipt: ``CHARGE`` (approved amount) or ``REVERSAL`` (an earlier
  charge undone by a correction or 取下げ); ``entry_key`` = claim | kind | version makes it idempotent.

債権管理 (on top of ``receivable`` / ``receivable_payment`` of store.benefit_models):

* ``receivable_account`` — 調定: the kind (公債権/私債権), 通知日, 納期限, 時効 start and date, reminders.
* ``receivable_event`` — append-only history (NOTICE, PAYMENT, OVERPAYMENT, REMINDER, PLAN, WRITE_OFF).
* ``receivable_installment`` — 分納 schedule.
* ``payment_review`` — bank payment rows that matched no open receivable (消込 review list).

Money is integer yen (BigInteger).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.db import Base

_ID = BigInteger().with_variant(Integer, "sqlite")

RECEIPT_STATUSES = ("APPROVED", "REVIEW", "DISPUTED", "WITHDRAWN")
ENTRY_KINDS = ("CHARGE", "REVERSAL")
RECEIVABLE_KINDS = ("PUBLIC", "PRIVATE")
EVENT_KINDS = ("NOTICE", "PAYMENT", "OVERPAYMENT", "REMINDER", "PLAN", "WRITE_OFF")


class UkeFile(Base):
    """One ingested UKE facility file."""

    __tablename__ = "uke_file"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    file_name: Mapped[str] = mapped_column(String(128))
    payer: Mapped[str] = mapped_column(String(8), doc="SHAHO (支払基金) or KOKUHO (国保連)")
    institution_code: Mapped[str] = mapped_column(String(10))
    billing_month: Mapped[str] = mapped_column(String(7), index=True)
    receipts_read: Mapped[int] = mapped_column(Integer)
    receipts_accepted: Mapped[int] = mapped_column(Integer)
    receipts_quarantined: Mapped[int] = mapped_column(Integer)
    receipts_without_city_public: Mapped[int] = mapped_column(Integer)
    other_public_records: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class UkeReceipt(Base):
    """A receipt billed to the city, its check and its outcome."""

    __tablename__ = "uke_receipt"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    claim_id: Mapped[str] = mapped_column(String(32), unique=True, doc="identity: payer, institution, month, no")
    payer: Mapped[str] = mapped_column(String(8))
    institution_code: Mapped[str] = mapped_column(String(10))
    service_month: Mapped[str] = mapped_column(String(7))
    receipt_no: Mapped[str] = mapped_column(String(6))
    billing_month: Mapped[str] = mapped_column(String(7), index=True, doc="請求年月 of the latest version")
    receipt_type: Mapped[str] = mapped_column(String(4))
    care_type: Mapped[str] = mapped_column(String(12))
    public_payer_number: Mapped[str] = mapped_column(String(8))
    recipient_no: Mapped[str] = mapped_column(String(7), index=True)
    person_id: Mapped[str | None] = mapped_column(String(15), index=True)
    first_service_date: Mapped[dt.date] = mapped_column(Date)
    last_service_date: Mapped[dt.date] = mapped_column(Date)
    service_dates_source: Mapped[str] = mapped_column(String(8), doc="CALENDAR or MONTH")
    service_days: Mapped[int] = mapped_column(Integer)
    admission_id: Mapped[str | None] = mapped_column(String(20), index=True)
    admission_date: Mapped[dt.date | None] = mapped_column(Date)
    total_points: Mapped[int] = mapped_column(BigInteger)
    insurer_number: Mapped[str | None] = mapped_column(String(8))
    insured_self_pay_amount: Mapped[int] = mapped_column(BigInteger)
    meal_amount: Mapped[int] = mapped_column(BigInteger)
    high_cost_category: Mapped[str | None] = mapped_column(String(1))
    high_cost_many_times_flag: Mapped[bool] = mapped_column(default=False)
    specific_disease_code: Mapped[str | None] = mapped_column(String(4))
    first_visit_flag: Mapped[bool] = mapped_column(default=False)
    billed_days: Mapped[int] = mapped_column(Integer)
    billed_points: Mapped[int] = mapped_column(BigInteger)
    billed_subsidy_amount: Mapped[int] = mapped_column(BigInteger, doc="KO 負担金額 公費 (what the city is billed)")
    billed_copay_amount: Mapped[int] = mapped_column(BigInteger, doc="KO 一部負担金 (外来 or 入院)")
    city_subsidy_amount: Mapped[int | None] = mapped_column(BigInteger, doc="the city's own assessment")
    city_copay_amount: Mapped[int | None] = mapped_column(BigInteger)
    city_self_pay_amount: Mapped[int | None] = mapped_column(BigInteger, doc="self-pay left after insurance")
    copay_rule_amount: Mapped[int] = mapped_column(BigInteger, default=0, doc="for admission day counting")
    status: Mapped[str] = mapped_column(String(12), doc="APPROVED, REVIEW, DISPUTED, WITHDRAWN")
    review_reason: Mapped[str | None] = mapped_column(String(40))
    differing_rule: Mapped[str | None] = mapped_column(String(40))
    rule_detail: Mapped[str | None] = mapped_column(Text, doc="rule codes behind the city's figure")
    version: Mapped[int] = mapped_column(Integer, default=1, doc="1 + corrections received")
    content_digest: Mapped[str] = mapped_column(String(64))
    file_sha256: Mapped[str] = mapped_column(String(64))
    source_line: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str] = mapped_column(String(64))


class UkeBill(Base):
    """One bill per 審査支払機関 and 請求年月, with its payment once closed."""

    __tablename__ = "uke_bill"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    bill_key: Mapped[str] = mapped_column(String(20), unique=True, doc="payer|billing_month")
    payer: Mapped[str] = mapped_column(String(8))
    billing_month: Mapped[str] = mapped_column(String(7))
    receipts: Mapped[int] = mapped_column(Integer, default=0, doc="件数 billed")
    days: Mapped[int] = mapped_column(Integer, default=0, doc="日数 billed")
    points: Mapped[int] = mapped_column(BigInteger, default=0, doc="点数 billed")
    billed_amount: Mapped[int] = mapped_column(BigInteger, default=0, doc="金額 billed (KO 公費負担金額)")
    approved_receipts: Mapped[int] = mapped_column(Integer, default=0)
    approved_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    reversal_amount: Mapped[int] = mapped_column(BigInteger, default=0, doc="earlier charges undone (≥ 0)")
    disputed_receipts: Mapped[int] = mapped_column(Integer, default=0)
    disputed_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    review_receipts: Mapped[int] = mapped_column(Integer, default=0)
    payment_amount: Mapped[int | None] = mapped_column(BigInteger, doc="approved − reversals; set on closing")
    paid_on: Mapped[dt.date | None] = mapped_column(Date)
    closed_run_id: Mapped[str | None] = mapped_column(String(64))


class UkeBillEntry(Base):
    """What one bill pays (or takes back) for one receipt."""

    __tablename__ = "uke_bill_entry"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    entry_key: Mapped[str] = mapped_column(String(64), unique=True, doc="claim_id|kind|version")
    bill_key: Mapped[str] = mapped_column(String(20), index=True)
    claim_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(10), doc="CHARGE or REVERSAL")
    amount: Mapped[int] = mapped_column(BigInteger, doc="signed: charges positive, reversals negative")
    reason: Mapped[str] = mapped_column(String(40))
    run_id: Mapped[str] = mapped_column(String(64))


class ReceivableAccount(Base):
    """調定 of a receivable: kind, 納期限, 時効."""

    __tablename__ = "receivable_account"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    receivable_id: Mapped[int] = mapped_column(ForeignKey("receivable.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(8), doc="PUBLIC (公債権) or PRIVATE (私債権)")
    legal_basis: Mapped[str] = mapped_column(String(120))
    notice_date: Mapped[dt.date] = mapped_column(Date, doc="返還請求書 (納付書) date = 調定日")
    due_date: Mapped[dt.date] = mapped_column(Date, doc="納期限")
    prescription_start: Mapped[dt.date] = mapped_column(Date)
    prescription_date: Mapped[dt.date] = mapped_column(Date, doc="the day the claim becomes time-barred")
    reminder_count: Mapped[int] = mapped_column(Integer, default=0)
    last_reminder_date: Mapped[dt.date | None] = mapped_column(Date)
    overpaid_amount: Mapped[int] = mapped_column(BigInteger, default=0, doc="collected beyond the claim (還付)")


class ReceivableEvent(Base):
    """One step in the life of a receivable (append-only)."""

    __tablename__ = "receivable_event"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    event_key: Mapped[str] = mapped_column(String(96), unique=True)
    receivable_id: Mapped[int] = mapped_column(ForeignKey("receivable.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    event_date: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[int] = mapped_column(BigInteger, default=0)
    detail: Mapped[str] = mapped_column(Text, default="")
    operator_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ReceivableInstallment(Base):
    """One due instalment of a 分納 plan."""

    __tablename__ = "receivable_installment"
    __table_args__ = (UniqueConstraint("receivable_id", "seq"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    receivable_id: Mapped[int] = mapped_column(ForeignKey("receivable.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[int] = mapped_column(BigInteger)


class PaymentReview(Base):
    """A bank payment row that matched no open receivable."""

    __tablename__ = "payment_review"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    review_key: Mapped[str] = mapped_column(String(96), unique=True, doc="file sha256|payment_ref")
    file_name: Mapped[str] = mapped_column(String(128))
    line: Mapped[int] = mapped_column(Integer)
    payment_ref: Mapped[str] = mapped_column(String(32))
    paid_date: Mapped[dt.date | None] = mapped_column(Date)
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
