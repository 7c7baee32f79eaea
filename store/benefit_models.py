"""Benefit tables: receipts and their assessment, payments, receivables (債権) and their collections.

* ``benefit_claim`` — one row per 現物給付 receipt or 償還払い application (``claim_id``; applications are
  ``R-<application_id>``): the inputs needed to recompute it and its latest assessment (amounts, rule
  codes, rejection reason). The payee account of an application is personal data and is stored only as
  AES-256-GCM ciphertext (table ``"benefit_claim"``, column ``"payee"``, row key ``claim_id``).
* ``benefit_payment`` — append-only: every amount paid for a receipt (``INITIAL``, ``SUPPLEMENTARY``).
  ``payment_key`` = claim | kind | month is unique, so re-running a month pays nothing twice.
* ``receivable`` — a 返還請求 (refund claim) for a receipt paid for dates now found ineligible (or paid
  too much): issued amount, collected, written off, status ``ISSUED`` → ``PARTLY_PAID`` → ``PAID`` or
  ``WRITTEN_OFF``; ``CANCELLED`` when eligibility is restored (what was collected is paid back as a
  supplementary payment). ``receivable_key`` = claim | issued month is unique.
* ``receivable_payment`` — one collection (入金) against a receivable; unique per (receivable, payment_ref).

Money is integer yen (BigInteger). No name, address or My Number column exists here.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.db import Base

_ID = BigInteger().with_variant(Integer, "sqlite")

RECEIVABLE_STATUSES = ("ISSUED", "PARTLY_PAID", "PAID", "WRITTEN_OFF", "CANCELLED")
PAYMENT_KINDS = ("INITIAL", "SUPPLEMENTARY")
PAYMENT_CHANNELS = ("ZENGIN", "REVIEW_BODY")


class BenefitClaim(Base):
    """A receipt or reimbursement application and its latest assessment."""

    __tablename__ = "benefit_claim"
    __table_args__ = (
        Index("ix_benefit_claim_person_service", "person_id", "first_service_date"),
        Index("ix_benefit_claim_processed_month", "processed_month"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    claim_id: Mapped[str] = mapped_column(String(32), unique=True, doc="レセプト id, or R-<application_id>")
    route: Mapped[str] = mapped_column(String(16), doc="IN_KIND (現物給付) or REIMBURSEMENT (償還払い)")
    person_id: Mapped[str | None] = mapped_column(String(15), doc="宛名番号 (None when not registered)")
    recipient_no: Mapped[str] = mapped_column(String(7), index=True)
    billing_month: Mapped[str] = mapped_column(String(7))
    service_month: Mapped[str] = mapped_column(String(7))
    first_service_date: Mapped[dt.date] = mapped_column(Date)
    last_service_date: Mapped[dt.date] = mapped_column(Date)
    service_days: Mapped[int] = mapped_column(Integer)
    institution_code: Mapped[str | None] = mapped_column(String(10))
    care_type: Mapped[str] = mapped_column(String(12))
    first_visit_flag: Mapped[bool] = mapped_column(default=False)
    admission_id: Mapped[str | None] = mapped_column(String(20), index=True)
    admission_date: Mapped[dt.date | None] = mapped_column(Date)
    total_cost_amount: Mapped[int] = mapped_column(BigInteger)
    receipt_amount: Mapped[int | None] = mapped_column(BigInteger, doc="償還払い: 領収額")
    insurer_number: Mapped[str] = mapped_column(String(8))
    other_law_no_1: Mapped[str | None] = mapped_column(String(2))
    other_amount_1: Mapped[int] = mapped_column(BigInteger, default=0)
    other_law_no_2: Mapped[str | None] = mapped_column(String(2))
    other_amount_2: Mapped[int] = mapped_column(BigInteger, default=0)
    other_law_no_3: Mapped[str | None] = mapped_column(String(2))
    other_amount_3: Mapped[int] = mapped_column(BigInteger, default=0)
    high_cost_amount: Mapped[int | None] = mapped_column(BigInteger, doc="高額療養費 as stated (None = computed)")
    high_cost_category: Mapped[str | None] = mapped_column(String(1))
    high_cost_many_times_flag: Mapped[bool] = mapped_column(default=False)
    additional_benefit_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    meal_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    service_dates: Mapped[str | None] = mapped_column(String(96), doc="診療日 (2-digit days, ';'-separated)")
    application_date: Mapped[dt.date | None] = mapped_column(Date)
    reimbursement_reason: Mapped[str | None] = mapped_column(String(32))
    payee_enc: Mapped[bytes | None] = mapped_column(LargeBinary, doc="AES-256-GCM: payee bank account (JSON)")
    # Latest assessment
    status: Mapped[str] = mapped_column(String(12), doc="PAYABLE, HELD or REJECTED")
    rejection_reason: Mapped[str | None] = mapped_column(String(40))
    ineligibility_cause: Mapped[str | None] = mapped_column(String(16))
    self_pay_percent: Mapped[int] = mapped_column(Integer)
    self_pay_amount: Mapped[int] = mapped_column(BigInteger)
    other_public_amount: Mapped[int] = mapped_column(BigInteger)
    high_cost_deducted_amount: Mapped[int] = mapped_column(BigInteger)
    additional_benefit_deducted_amount: Mapped[int] = mapped_column(BigInteger)
    copay_rule_amount: Mapped[int] = mapped_column(BigInteger)
    copay_amount: Mapped[int] = mapped_column(BigInteger)
    copay_charged_days: Mapped[int] = mapped_column(Integer)
    subsidy_amount: Mapped[int] = mapped_column(BigInteger)
    share_rule: Mapped[str] = mapped_column(String(16))
    copay_rule: Mapped[str] = mapped_column(String(24))
    high_cost_rule: Mapped[str] = mapped_column(String(24))
    covered_days: Mapped[int | None] = mapped_column(Integer, doc="service days inside eligibility")
    uncovered_days: Mapped[str | None] = mapped_column(String(2000), doc="days outside eligibility with rule codes")
    processed_month: Mapped[str] = mapped_column(String(7), doc="month the receipt was first processed")
    assessed_month: Mapped[str] = mapped_column(String(7), doc="month of the latest assessment")
    policy_version: Mapped[str] = mapped_column(String(32))
    run_id: Mapped[str] = mapped_column(String(64))
    row_digest: Mapped[str] = mapped_column(String(64), doc="digest of the input fields (corrections)")


class BenefitPayment(Base):
    """One payment for a receipt (append-only)."""

    __tablename__ = "benefit_payment"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    payment_key: Mapped[str] = mapped_column(String(80), unique=True, doc="claim_id|kind|month")
    claim_id: Mapped[str] = mapped_column(String(32), index=True)
    person_id: Mapped[str | None] = mapped_column(String(15), index=True)
    route: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16), doc="INITIAL or SUPPLEMENTARY")
    channel: Mapped[str] = mapped_column(String(16), doc="ZENGIN (to the payee) or REVIEW_BODY (国保連/支払基金)")
    month: Mapped[str] = mapped_column(String(7), index=True, doc="payment month")
    amount: Mapped[int] = mapped_column(BigInteger)
    reason_code: Mapped[str] = mapped_column(String(40))
    run_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Receivable(Base):
    """A 返還請求 (債権) for an overpaid receipt."""

    __tablename__ = "receivable"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    receivable_key: Mapped[str] = mapped_column(String(64), unique=True, doc="claim_id|issued_month")
    claim_id: Mapped[str] = mapped_column(String(32), index=True)
    person_id: Mapped[str | None] = mapped_column(String(15), index=True)
    recipient_no: Mapped[str] = mapped_column(String(7))
    service_month: Mapped[str] = mapped_column(String(7))
    issued_month: Mapped[str] = mapped_column(String(7), index=True)
    amount: Mapped[int] = mapped_column(BigInteger, doc="amount claimed back")
    paid_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    written_off_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(12), doc="ISSUED, PARTLY_PAID, PAID, WRITTEN_OFF, CANCELLED")
    reason_code: Mapped[str] = mapped_column(String(40))
    ineligibility_cause: Mapped[str | None] = mapped_column(String(16), doc="MOVE_OUT, DEATH, WELFARE …")
    run_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ReceivablePayment(Base):
    """A collection (入金) against a receivable."""

    __tablename__ = "receivable_payment"
    __table_args__ = (UniqueConstraint("receivable_id", "payment_ref"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    receivable_id: Mapped[int] = mapped_column(ForeignKey("receivable.id"), index=True)
    payment_ref: Mapped[str] = mapped_column(String(32), doc="入金 reference (収納 system id)")
    paid_date: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

