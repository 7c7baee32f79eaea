"""PMH linkage tables: one row per registration request and the PMH-ID per person.

* ``pmh_batch`` — one registration request (≤ 100 records). ``batch_id`` is the request's
  Idempotency-Key (derived from the sorted record keys, :func:`services.pmh.outbox.batch_key`), so a
  re-sent batch is recognised by PMH and returns the original task.
* PMH's per-record answer (PMH-ID assigned, deleted, or an error code) is kept on the outbox row itself
  (``pmh_outbox.result``, the code in ``last_error``), written by the statement that settles the row: a
  table of its own (``pmh_result`` until migration 0018) cost three more B-tree writes per record.
* ``pmh_subject`` — the PMH-ID per person. It is personal data (linkable to the My Number at PMH), so it is
  stored only as AES-256-GCM ciphertext (table ``"pmh_subject"``, column ``"pmh_id"``, row key
  ``person_id``; docs/architecture.md "Encryption conventions").
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, Index, Integer, LargeBinary, String, func
from sqlalchemy.orm import Mapped, mapped_column

from store.db import Base


class PmhBatch(Base):
    """One registration request to PMH (or one file in file mode)."""

    __tablename__ = "pmh_batch"
    __table_args__ = (Index("ix_pmh_batch_status", "status"),)

    batch_id: Mapped[str] = mapped_column(String(64), primary_key=True, doc="Idempotency-Key of the request")
    status: Mapped[str] = mapped_column(
        String(16), doc="SENDING, SENT (task accepted), WRITTEN (file mode), COMPLETED, FAILED, REJECTED"
    )
    record_count: Mapped[int] = mapped_column(Integer)
    task_id: Mapped[str | None] = mapped_column(String(64), doc="PMH registration task id")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(128), doc="error code only")
    run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class PmhSubject(Base):
    """The PMH-ID of a person (encrypted) and the latest state PMH confirmed."""

    __tablename__ = "pmh_subject"

    person_id: Mapped[str] = mapped_column(String(15), primary_key=True, doc="宛名番号")
    pmh_id_enc: Mapped[bytes] = mapped_column(LargeBinary, doc="AES-256-GCM ciphertext of the PMH-ID")
    status: Mapped[str] = mapped_column(String(16), doc="REGISTERED or DELETED")
    last_outbox_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
