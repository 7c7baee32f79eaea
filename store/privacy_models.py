"""Tables of the privacy controls (issue 6): access records, export approvals, deletion records.

* ``access_record`` — 取扱いの記録 (security.md SEC-07/08): one append-only, hash-chained row per
  operation on 特定個人情報. Subjects are 宛名番号 (person_id) only, never My Numbers: a sorted,
  zlib-compressed list plus its SHA-256 digest and count.
* ``access_chain_head`` — a single row (id = 1) holding the chain head; writers lock it (UPDATE first),
  so concurrent appenders serialise on PostgreSQL and SQLite alike.
* ``export_approval`` — 情報管理者's approval (行政情報利用協議書) for a transfer (SEC-10).
* ``deletion_record`` — 削除・廃棄記録 (SEC-09): date, operator, what, how many, how; no My Number.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.db import Base

GENESIS_HASH = "0" * 64


class AccessRecord(Base):
    """One access to 特定個人情報 (who, when, what, purpose, how many; hash-chained)."""

    __tablename__ = "access_record"
    __table_args__ = (
        Index("ix_access_record_occurred_at", "occurred_at"),
        Index("ix_access_record_run_id", "run_id"),
        Index("ix_access_record_actor_id", "actor_id"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False, doc="chain position")
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), doc="UTC, microseconds")
    actor_id: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(16), doc="role at the time; 'unknown' if unregistered")
    action: Mapped[str] = mapped_column(String(16), doc="read/create/update/export/delete/print")
    purpose: Mapped[str] = mapped_column(String(128))
    record_count: Mapped[int] = mapped_column(BigInteger)
    subject_count: Mapped[int] = mapped_column(BigInteger, doc="distinct person_ids listed")
    subject_digest: Mapped[str] = mapped_column(String(64), doc="SHA-256 of the sorted person_id list")
    subject_ids_z: Mapped[bytes | None] = mapped_column(LargeBinary, doc="zlib(sorted person_ids, '\\n')")
    run_id: Mapped[str | None] = mapped_column(String(64))
    approval_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    client: Mapped[str | None] = mapped_column(String(128), doc="host:pid of the writer")
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class AccessChainHead(Base):
    """The head of the access-record chain (exactly one row, id = 1)."""

    __tablename__ = "access_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    head_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)


class ExportApproval(Base):
    """An approved transfer request (情報管理者's approval of a 行政情報利用協議書)."""

    __tablename__ = "export_approval"

    approval_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    approver_id: Mapped[str] = mapped_column(String(64), doc="情報管理者 (an admin principal)")
    requester: Mapped[str | None] = mapped_column(String(128), doc="requesting section (課)")
    purpose: Mapped[str] = mapped_column(String(256))
    datasets: Mapped[str] = mapped_column(String(256), doc="comma-separated dataset names")
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date] = mapped_column(Date)
    revoked: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DeletionRecord(Base):
    """A deletion or disposal (削除・廃棄記録): date, operator, what, count, method; no My Number."""

    __tablename__ = "deletion_record"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    deleted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    operator_id: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128), doc="table name, 'backup' or 'export-file'")
    content: Mapped[str] = mapped_column(Text, doc="what was deleted (rule, cutoff, file name)")
    record_count: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(64), doc="e.g. 'sql-delete', 'overwrite+unlink'")
    subject_digest: Mapped[str | None] = mapped_column(String(64), doc="SHA-256 of the deleted person_ids")
    run_id: Mapped[str | None] = mapped_column(String(64))


# -- append-only guards (SEC-08): the application cannot UPDATE/DELETE/TRUNCATE access records ------------
_PG_GUARD = [
    """CREATE OR REPLACE FUNCTION access_record_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'access_record is append-only';
END
$$ LANGUAGE plpgsql""",
    """CREATE OR REPLACE TRIGGER access_record_no_change BEFORE UPDATE OR DELETE ON access_record
FOR EACH ROW EXECUTE FUNCTION access_record_append_only()""",
    """CREATE OR REPLACE TRIGGER access_record_no_truncate BEFORE TRUNCATE ON access_record
FOR EACH STATEMENT EXECUTE FUNCTION access_record_append_only()""",
]
_SQLITE_GUARD = [
    """CREATE TRIGGER IF NOT EXISTS access_record_no_update BEFORE UPDATE ON access_record
BEGIN SELECT RAISE(ABORT, 'access_record is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS access_record_no_delete BEFORE DELETE ON access_record
BEGIN SELECT RAISE(ABORT, 'access_record is append-only'); END""",
]


def append_only_guard_statements(dialect_name: str) -> list[str]:
    """Idempotent DDL that makes ``access_record`` append-only (run after creating the table)."""
    if dialect_name == "postgresql":
        return list(_PG_GUARD)
    if dialect_name == "sqlite":
        return list(_SQLITE_GUARD)
    return []


def _install_guards(target, connection, **_kw) -> None:
    from sqlalchemy import text

    for statement in append_only_guard_statements(connection.dialect.name):
        connection.execute(text(statement))


def _register_events() -> None:
    from sqlalchemy import event

    event.listen(AccessRecord.__table__, "after_create", _install_guards)


_register_events()
