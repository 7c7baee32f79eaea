"""Project tables (SQLAlchemy 2, typed).

Personal data: ``person.my_number_enc`` and ``person.profile_enc`` hold AES-256-GCM ciphertexts;
``person.my_number_hmac`` is the keyed blind index with the only unique key on My Number. There is no
plaintext My Number, name or address column anywhere (security.md SEC-05/06).

Feature modules (benefits, PMH, privacy) define their tables in their own modules on the same ``Base``;
they are imported at the bottom so ``Base.metadata`` always holds the whole schema.
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
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.db import Base


class Run(Base):
    """One pipeline run (keyed by the Prefect flow-run id when run under Prefect)."""

    __tablename__ = "run"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    flow_name: Mapped[str] = mapped_column(String(64))
    month: Mapped[str | None] = mapped_column(String(7))
    operator_id: Mapped[str | None] = mapped_column(String(32))
    policy_version: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="RUNNING")
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    counts_json: Mapped[str | None] = mapped_column(Text, doc="Aggregate counts only (no personal data)")
    lock_key: Mapped[str | None] = mapped_column(
        String(96), unique=True, index=True,
        doc="``<flow>:<month or case>`` while RUNNING, NULL once finished: one running run per kind (services.runs)")
    host: Mapped[str | None] = mapped_column(String(64), doc="Host of the process running it (liveness check)")
    pid: Mapped[int | None] = mapped_column(Integer, doc="Process id running it (liveness check)")


class RunInput(Base):
    """An input file of a run: its hash and row counts."""

    __tablename__ = "run_input"
    __table_args__ = (UniqueConstraint("run_id", "file_name"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("run.run_id"))
    file_name: Mapped[str] = mapped_column(String(128))
    sha256: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int] = mapped_column(BigInteger)
    accepted_count: Mapped[int] = mapped_column(BigInteger)
    quarantined_count: Mapped[int] = mapped_column(BigInteger)
    ingest_context: Mapped[str | None] = mapped_column(
        String(64), doc="Extract date, declared encoding and reader/validator versions the file was read under")


class NoticeList(Base):
    """A staff list file the month's routine export wrote: what a re-run may keep instead of rewriting it.

    services.notices.lists skips the routine export when every file of the month is still on disk with this
    SHA-256 and nobody wrote personal data after the export's access record (``access_seq``).
    """

    __tablename__ = "notice_list"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    list_key: Mapped[str] = mapped_column(String(16), primary_key=True, doc="issuance, suspension or loss")
    file_name: Mapped[str] = mapped_column(String(128))
    sha256: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int] = mapped_column(BigInteger)
    access_seq: Mapped[int] = mapped_column(BigInteger, doc="chain position of the export's access record")
    run_id: Mapped[str] = mapped_column(String(64))


class InputLineDigests(Base):
    """The lines of an input file that a monthly ingest accepted and stored, as keyed 8-byte digests.

    The next monthly ingest skips a line whose digest is here (services.intake.linediff). Only the latest
    ingest's rows are kept: each ingest replaces them. No personal data: every digest is keyed (SipHash under a
    key derived from the key ring), never an unkeyed hash.
    """

    __tablename__ = "input_line_digests"
    __table_args__ = (UniqueConstraint("run_id", "file_name"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("run.run_id"))
    file_name: Mapped[str] = mapped_column(String(128))
    sha256: Mapped[str] = mapped_column(String(64))
    header_digest: Mapped[int] = mapped_column(BigInteger, doc="Keyed digest of the header line (signed 64-bit)")
    line_count: Mapped[int] = mapped_column(BigInteger, doc="Accepted lines (digests in the blobs)")
    line_digests: Mapped[bytes] = mapped_column(LargeBinary, doc="Sorted uint64 digests of the accepted lines")
    facet_digests: Mapped[bytes] = mapped_column(
        LargeBinary, doc="Per accepted line (same order), uint64 digests of its key columns (linediff.FACETS)")


class QuarantinedRow(Base):
    """A rejected input cell: file, row, column, check and a masked value (never the full value)."""

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("file_sha256", "row_number", "column_name", "check_name"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    file_name: Mapped[str] = mapped_column(String(128))
    file_sha256: Mapped[str] = mapped_column(String(64))
    row_number: Mapped[int] = mapped_column(BigInteger)
    column_name: Mapped[str] = mapped_column(String(64))
    check_name: Mapped[str] = mapped_column(String(128))
    masked_value: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(256))


class Person(Base):
    """A resident known to the subsidy (child or guardian), keyed by 宛名番号."""

    __tablename__ = "person"
    # A unique index, not a table constraint: a first load builds it after the rows (store.bulk.insert_frame),
    # in the same transaction, so a duplicate blind index still fails the whole load.
    __table_args__ = (Index("uq_person_my_number_hmac", "my_number_hmac", unique=True),)

    person_id: Mapped[str] = mapped_column(String(15), primary_key=True, doc="宛名番号")
    household_id: Mapped[str] = mapped_column(String(15), index=True, doc="世帯番号")
    relationship_code: Mapped[str] = mapped_column(String(2), doc="続柄")
    my_number_hmac: Mapped[str | None] = mapped_column(String(64), doc="HMAC-SHA-256 blind index (unique)")
    my_number_enc: Mapped[bytes | None] = mapped_column(LargeBinary, doc="AES-256-GCM ciphertext")
    profile_enc: Mapped[bytes | None] = mapped_column(LargeBinary, doc="AES-256-GCM: name, kana, address")
    birth_date: Mapped[dt.date] = mapped_column(Date)
    sex_code: Mapped[str] = mapped_column(String(1))
    dv_support_flag: Mapped[bool] = mapped_column(default=False, doc="住民基本台帳 支援措置")
    residence_start_date: Mapped[dt.date | None] = mapped_column(Date, doc="from the extract; spells: rules.residence")
    row_digest: Mapped[str] = mapped_column(String(64), doc="Keyed digest of the source row (change check)")
    updated_run_id: Mapped[str | None] = mapped_column(String(64))


class ResidentEvent(Base):
    """A 異動 event (without the personal fields, which update ``person``)."""

    __tablename__ = "resident_event"

    event_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(15), index=True)
    # Indexed: an incremental month reads the members of changed households from their 異動
    # (services.eligibility.incremental); without the index every run scanned the whole event history.
    household_id: Mapped[str] = mapped_column(String(15), index=True)
    event_code: Mapped[str] = mapped_column(String(2))
    event_date: Mapped[dt.date] = mapped_column(Date)
    notified_date: Mapped[dt.date | None] = mapped_column(Date)
    run_id: Mapped[str | None] = mapped_column(String(64))


class TaxRecord(Base):
    """地方税: one taxpayer and 課税年度 (income of calendar year tax_year - 1)."""

    __tablename__ = "tax_record"
    __table_args__ = (UniqueConstraint("person_id", "tax_year"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(15))
    tax_year: Mapped[int] = mapped_column(Integer)
    total_income_amount: Mapped[int] = mapped_column(BigInteger)
    casualty_loss_deduction_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    medical_deduction_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    small_business_deduction_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    disability_deduction_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    dependents_count: Mapped[int] = mapped_column(Integer, default=0)
    elderly_dependents_count: Mapped[int] = mapped_column(Integer, default=0)


class WelfareCase(Base):
    """生活保護 case of a household (from the ward offices' slips)."""

    __tablename__ = "welfare_case"

    case_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    household_id: Mapped[str] = mapped_column(String(15), index=True)
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)


class Placement(Base):
    """措置 of a child (児童福祉施設入所・里親委託; 法別53): not eligible while placed."""

    __tablename__ = "placement"

    placement_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(15), index=True)
    placement_type: Mapped[str] = mapped_column(String(12))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)


class InsuranceCoverage(Base):
    """Health insurance of a child."""

    __tablename__ = "insurance_coverage"
    __table_args__ = (UniqueConstraint("person_id", "insurer_number", "valid_from"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(15), index=True)
    insurer_number: Mapped[str] = mapped_column(String(8), doc="保険者番号")
    insured_type_code: Mapped[str] = mapped_column(String(1), doc="1 本人 / 2 家族")
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)


class Application(Base):
    """資格登録届 (registration application)."""

    __tablename__ = "application"

    application_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    child_person_id: Mapped[str] = mapped_column(String(15), index=True)
    # Indexed: an incremental month finds the children whose 資格登録届 names a changed parent
    # (services.eligibility.incremental); without the indexes every run scanned every application ever filed.
    guardian_person_id: Mapped[str | None] = mapped_column(
        String(15), index=True, doc="the applying 保護者; none when a child of 15+ applies alone (規則第4条)")
    spouse_person_id: Mapped[str | None] = mapped_column(String(15), index=True,
                                                         doc="the applicant's spouse (保護者)")
    application_date: Mapped[dt.date] = mapped_column(Date)


class EligibilityReasonSet(Base):
    """One distinct list of reason codes of eligibility periods (append-only lookup, issue 13).

    A month stores hundreds of thousands of periods but only a few hundred distinct ``;``-joined code
    lists (``RULE:parameter=value@YYYY-MM-DD;…``), so each period stores the integer id of its list.
    Rows are never updated or deleted: an id means the same text for ever
    (``services.eligibility.reason_sets`` writes and reads them).
    """

    __tablename__ = "eligibility_reason_set"

    reason_set_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reason_codes: Mapped[str] = mapped_column(Text, unique=True)
    sources: Mapped[str | None] = mapped_column(
        Text, doc="domain.md source ids of each code, position by position (NULL for lists stored before 0009)")


class EligibilityPeriod(Base):
    """A period in which a child holds the subsidy 資格 (ELIGIBLE) or is suspended (SUSPENDED_INCOME)."""

    __tablename__ = "eligibility_period"
    __table_args__ = (UniqueConstraint("person_id", "valid_from"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(15), index=True)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    end_reason: Mapped[str] = mapped_column(String(16))
    reason_set_id: Mapped[int] = mapped_column(Integer, ForeignKey("eligibility_reason_set.reason_set_id"),
                                               doc="the period's reason codes (EligibilityReasonSet)")
    policy_version: Mapped[str] = mapped_column(String(32))
    run_id: Mapped[str] = mapped_column(String(64))


class EligibilityChange(Base):
    """A person or household whose eligibility inputs, periods or certificate changed (a queue).

    Written in the same transaction as the change (intake, move-in, counter); the next monthly run
    re-decides the children these rows reach and deletes exactly the rows it read
    (:mod:`services.eligibility.incremental`).
    """

    __tablename__ = "eligibility_change"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=True)
    person_id: Mapped[str | None] = mapped_column(String(15))
    household_id: Mapped[str | None] = mapped_column(String(15))
    run_id: Mapped[str] = mapped_column(String(64))


class EligibilityBasis(Base):
    """What the stored eligibility periods and certificates were last fully derived under (one row).

    An incremental month is allowed only while the policy version, the rules' code, the holiday calendar
    and the decision horizon are the ones recorded here, and the previous month was decided
    (:mod:`services.eligibility.incremental`).
    """

    __tablename__ = "eligibility_basis"

    basis_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    derived_under: Mapped[str] = mapped_column(
        String(64), doc="policy version / digest of the rules' code / digest of the holiday calendar")
    horizon_start: Mapped[dt.date] = mapped_column(Date)
    horizon_end: Mapped[dt.date] = mapped_column(Date)
    month: Mapped[str] = mapped_column(String(7), doc="the last month decided (YYYY-MM)")
    run_id: Mapped[str] = mapped_column(String(64))


class Recipient(Base):
    """The child's 公費受給者番号 (assigned once, never reused)."""

    __tablename__ = "recipient"

    person_id: Mapped[str] = mapped_column(String(15), primary_key=True)
    recipient_no: Mapped[str] = mapped_column(String(7), unique=True)
    public_payer_number: Mapped[str] = mapped_column(String(8), doc="公費負担者番号 (from policy)")
    assigned_run_id: Mapped[str] = mapped_column(String(64))
    assigned_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Decision(Base):
    """A monthly decision: 新規 (受給者証 交付), 変更, 更新, 支給停止, 喪失."""

    __tablename__ = "decision"
    __table_args__ = (
        UniqueConstraint("month", "person_id", "decision_type"),
        Index("ix_decision_person_month", "person_id", "month"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7))
    person_id: Mapped[str] = mapped_column(String(15))
    decision_type: Mapped[str] = mapped_column(String(20))
    effective_date: Mapped[dt.date] = mapped_column(Date)
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str | None] = mapped_column(String(20))
    reason_code: Mapped[str] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(Text)
    parameter: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[str] = mapped_column(String(64))


class Certificate(Base):
    """The current 受給者証 state per child (the latest NEW/CHANGE/RENEWAL/loss applied)."""

    __tablename__ = "certificate"

    person_id: Mapped[str] = mapped_column(String(15), primary_key=True)
    recipient_no: Mapped[str] = mapped_column(String(7))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    last_decision_month: Mapped[str] = mapped_column(String(7))


class PmhOutbox(Base):
    """Transactional outbox: a change PMH must learn, written in the same transaction as the decision.

    ``idempotency_key`` is derived from the business identity (person, certificate, change), so the same
    decision never creates a second row and a re-sent request is recognised by PMH.
    """

    __tablename__ = "pmh_outbox"
    __table_args__ = (
        Index("ix_pmh_outbox_status", "status", "id"),
        Index("ix_pmh_outbox_batch", "batch_id"),
        Index("uq_pmh_outbox_idempotency_key", "idempotency_key", unique=True),  # an index: see Person
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[str] = mapped_column(String(15), index=True)
    change_type: Mapped[str] = mapped_column(String(1), doc="1 register/update, 2 delete")
    reason: Mapped[str] = mapped_column(String(20), doc="the decision type or resident change behind it")
    event_date: Mapped[dt.date] = mapped_column(Date, doc="異動日 / effective date")
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    recipient_no: Mapped[str | None] = mapped_column(String(7))
    status: Mapped[str] = mapped_column(
        String(16), default="PENDING",
        doc="PENDING, SENDING, SENT, COMPLETED, REJECTED, REJECTED_LOCAL, FAILED (docs/pmh.md)",
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    batch_id: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(String(256), doc="error code only, no personal data")
    result: Mapped[str | None] = mapped_column(
        String(16), doc="PMH's answer for this record in its task's results: REGISTERED, DELETED or ERROR "
                        "(the error code is in last_error); empty until the results are stored")
    created_run_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


def _import_feature_models() -> None:
    """Import feature modules so their tables join ``Base.metadata`` (they may not exist yet)."""
    import importlib

    for name in ("store.benefit_models", "store.pmh_models", "store.privacy_models", "store.movein_models",
                 "store.claims_models", "store.counter_models"):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


_import_feature_models()
