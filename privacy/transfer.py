"""Transfers to other departments (移転) only under a registered approval (PIA §3 (3)②, SEC-10).

"子ども医療費助成関係情報の移転を受けるには事前に書面により申請のうえ、情報管理者の承認を得なければならない".
An admin (the 情報管理者) registers the approved 行政情報利用協議書 with :func:`approve`
(``kodomo export approve``): approval id, purpose, the datasets it covers and its validity. :func:`export`
refuses any export without a valid approval covering the dataset — and records the refusal — and records
every export (action ``export``, the approval id, the persons, the count).

Datasets contain only what the receiving work needs; **no dataset contains a My Number**, which is never
transferred by this system (the PIA provides no My Number transfer to other departments).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, select

from privacy.crypto import KeyRing
from privacy.csv_cells import neutralise_cell
from privacy.files import atomic_writer
from store.privacy_models import ExportApproval


class ExportRefused(PermissionError):  # noqa: N818 - reads as a sentence in the CLI
    """The export is not covered by a valid approval (no personal data in the message)."""

    safe_message = True


@dataclass(frozen=True)
class Dataset:
    """An exportable dataset: its columns and how to read it."""

    name: str
    description: str
    columns: tuple[str, ...]
    needs_month: bool
    reader: Callable[[Connection, KeyRing | None, str | None], list[tuple]]


def _recipients(conn: Connection, _ring, _month) -> list[tuple]:
    from store.models import Certificate

    c = Certificate.__table__.c
    return [tuple(r) for r in conn.execute(
        select(c.person_id, c.recipient_no, c.valid_from, c.valid_to, c.status).order_by(c.person_id))]


def _recipient_addresses(conn: Connection, ring: KeyRing | None, _month) -> list[tuple]:
    from store.models import Certificate, Person

    c, p = Certificate.__table__.c, Person.__table__.c
    rows = conn.execute(
        select(c.person_id, c.recipient_no, p.profile_enc).join(Person.__table__, p.person_id == c.person_id)
        .where(c.status == "ELIGIBLE").order_by(c.person_id)).all()
    plain = ring.decrypt_many([r.profile_enc for r in rows], table="person", column="profile",
                              row_keys=[r.person_id for r in rows]) if rows else []
    out = []
    for row, text in zip(rows, plain, strict=True):
        profile = json.loads(text) if text else {}
        out.append((row.person_id, row.recipient_no, profile.get("name"), profile.get("name_kana"),
                    profile.get("address")))
    return out


def _decisions(conn: Connection, _ring, month: str | None) -> list[tuple]:
    from store.models import Decision

    d = Decision.__table__.c
    return [tuple(r) for r in conn.execute(
        select(d.month, d.person_id, d.decision_type, d.effective_date).where(d.month == month)
        .order_by(d.person_id, d.decision_type))]


DATASETS: dict[str, Dataset] = {
    "recipients": Dataset("recipients", "受給者番号 and validity of every certificate (no names)",
                          ("person_id", "recipient_no", "valid_from", "valid_to", "status"), False, _recipients),
    "recipient-addresses": Dataset(
        "recipient-addresses", "受給者 with name, kana and address for mailing (eligible only; no My Number)",
        ("person_id", "recipient_no", "name", "name_kana", "address"), False, _recipient_addresses),
    "decisions": Dataset("decisions", "decisions of a month (type and effective date only)",
                         ("month", "person_id", "decision_type", "effective_date"), True, _decisions),
}


def approve(session, *, approval_id: str, approver_id: str, purpose: str, datasets: list[str],
            valid_until: dt.date, valid_from: dt.date | None = None, requester: str | None = None) -> ExportApproval:
    """Register an approval (the caller has checked that ``approver_id`` is an admin)."""
    unknown = sorted(set(datasets) - set(DATASETS))
    if unknown:
        raise ValueError(f"unknown dataset(s): {', '.join(unknown)}; known: {', '.join(sorted(DATASETS))}")
    valid_from = valid_from or dt.datetime.now(dt.UTC).date()
    if valid_until < valid_from:
        raise ValueError("valid_until is before valid_from")
    row = ExportApproval(approval_id=approval_id, approver_id=approver_id, requester=requester, purpose=purpose,
                         datasets=",".join(sorted(set(datasets))), valid_from=valid_from, valid_until=valid_until)
    session.add(row)
    session.flush()
    return row


def check_approval(session, approval_id: str | None, dataset: str, today: dt.date) -> ExportApproval:
    """The approval if it is registered, not revoked, valid today and covers ``dataset``."""
    if not approval_id:
        raise ExportRefused("an export needs --approval-id (情報管理者's approval)")
    approval = session.get(ExportApproval, approval_id)
    if approval is None:
        raise ExportRefused(f"approval {approval_id!r} is not registered")
    if approval.revoked:
        raise ExportRefused(f"approval {approval_id!r} was revoked")
    if not approval.valid_from <= today <= approval.valid_until:
        raise ExportRefused(f"approval {approval_id!r} is not valid on {today.isoformat()}")
    if dataset not in approval.datasets.split(","):
        raise ExportRefused(f"approval {approval_id!r} does not cover dataset {dataset!r}")
    return approval


SEALED_MAGIC = b"KODOMO-EXPORT-1\n"


def seal_export(data: bytes, passphrase: str) -> bytes:
    """Encrypt an export for hand-over (security.md §1.5 ⑥): scrypt(passphrase) → AES-256-GCM."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    if len(passphrase) < 12:
        raise ExportRefused("the export passphrase must have at least 12 characters")
    salt, nonce = os.urandom(16), os.urandom(12)
    key = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase.encode())
    return SEALED_MAGIC + salt + nonce + AESGCM(key).encrypt(nonce, data, SEALED_MAGIC)


def open_export(sealed: bytes, passphrase: str) -> bytes:
    """Decrypt :func:`seal_export` output (the receiving section's side); InvalidTag on a wrong passphrase."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    if not sealed.startswith(SEALED_MAGIC):
        raise ValueError("not a sealed kodomo export")
    body = sealed[len(SEALED_MAGIC):]
    salt, nonce, ciphertext = body[:16], body[16:28], body[28:]
    key = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase.encode())
    return AESGCM(key).decrypt(nonce, ciphertext, SEALED_MAGIC)


@dataclass
class ExportResult:
    """What :func:`export` wrote."""

    path: Path
    rows: int
    persons: int


def export(engine: Engine, *, actor_id: str, approval_id: str | None, dataset: str, out: Path,
           ring: KeyRing | None = None, month: str | None = None, today: dt.date | None = None,
           run_id: str | None = None, passphrase: str | None = None) -> ExportResult:
    """Write ``dataset`` to ``out`` (CSV, UTF-8 with BOM, mode 0600) if the approval allows it.

    With ``passphrase`` the file is sealed (:func:`seal_export`) for hand-over on media or by mail.
    """
    from privacy.audit import record_access
    from store.db import session_scope

    today = today or dt.datetime.now(dt.UTC).date()
    if passphrase is not None and len(passphrase) < 12:
        raise ExportRefused("the export passphrase must have at least 12 characters")
    spec = DATASETS.get(dataset)
    try:
        if spec is None:
            raise ExportRefused(f"unknown dataset {dataset!r}; known: {', '.join(sorted(DATASETS))}")
        if spec.needs_month and not month:
            raise ExportRefused(f"dataset {dataset!r} needs --month")
        with session_scope(engine) as session:
            approval = check_approval(session, approval_id, dataset, today)
            purpose = approval.purpose
    except ExportRefused:
        with session_scope(engine) as session:
            record_access(session, actor_id=actor_id, action="export", purpose=f"export:{dataset}"[:128],
                          subject_ids=[], record_count=0, approval_id=approval_id, outcome="refused", run_id=run_id)
        raise
    # The export appears only once its access record has committed: the session closes (commits) inside
    # the atomic writer, whose rename runs after; a failed commit removes the temporary file.
    with atomic_writer(out) as handle, session_scope(engine) as session:
        rows = spec.reader(session.connection(), ring, month)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(spec.columns)
        writer.writerows(["" if v is None else (v.isoformat() if hasattr(v, "isoformat") else neutralise_cell(v))
                          for v in r] for r in rows)
        payload = buffer.getvalue().encode("utf-8-sig")
        if passphrase is not None:
            payload = seal_export(payload, passphrase)
        handle.write(payload)
        persons = sorted({str(r[spec.columns.index("person_id")]) for r in rows})
        record_access(session, actor_id=actor_id, action="export", purpose=f"{dataset}:{purpose}"[:128],
                      subject_ids=persons, record_count=len(rows), approval_id=approval_id, run_id=run_id)
    return ExportResult(Path(out), len(rows), len(persons))
