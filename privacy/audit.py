"""Access records (取扱いの記録): one hash-chained row per operation on 特定個人情報 (SEC-07, SEC-08).

Who (``actor_id`` + the role it had), when (UTC, microseconds), what (``action`` and the 宛名番号 of the
subjects), why (``purpose``), how many (``record_count``), under which run and approval, with what
``outcome``. My Numbers are never stored: ``subject_ids`` must be person_ids, and a 12-digit value that
passes the My Number check digit is refused.

Chain: ``entry_hash = HMAC-SHA-256(chain key, prev_hash ‖ canonical JSON of the entry)``; the entry
includes ``seq``, so deleting, editing or reordering a row breaks the chain at that index. The chain key
is derived from the key ring's index key (:func:`chain_key`), which lives apart from the database: whoever
can write the table but not read the key ring cannot recompute ("re-bless") a forged chain (issue 14 §4).
Truncation of the tail is caught by the head anchored outside the database (:mod:`privacy.anchor`,
``kodomo audit verify``); every anchoring is itself a record of the chain, so a deleted or rolled-back
anchor file is detected as well.

Concurrency: :func:`record_access` first ``UPDATE``s the single ``access_chain_head`` row (a row lock on
PostgreSQL, the write lock on SQLite), then reads it; concurrent writers therefore serialise and never
fork the chain. The lock is held until the caller's transaction ends, so keep access recording at the
end of a short transaction (it is one row per *operation*, not per person).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import socket
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from privacy.masking import scrub_my_numbers
from store.privacy_models import GENESIS_HASH, AccessChainHead, AccessRecord

ANCHOR_PURPOSE = "audit-anchor"  # the record each anchoring appends (privacy.anchor)
ACTIONS = frozenset({"read", "create", "update", "export", "delete", "print"})
OUTCOMES = frozenset({"ok", "refused", "failed"})
_CLIENT = f"{socket.gethostname()[:96]}:{os.getpid()}"


class AuditError(Exception):
    """Invalid access-record input (the message never contains subject values)."""

    safe_message = True


# -- subjects ----------------------------------------------------------------------------------------
def _normalise_subjects(subject_ids: Iterable[object] | None) -> list[str]:
    """Sorted distinct non-empty ids as str (vectorised: 200 000 ids in well under a second)."""
    if subject_ids is None:
        return []
    if isinstance(subject_ids, (str, bytes)):
        subject_ids = [subject_ids]
    import numpy as np
    import pandas as pd

    series = pd.Series(subject_ids if hasattr(subject_ids, "__len__") else list(subject_ids), dtype=object)
    series = series[series.notna()].astype(str)
    # distinct first (hashing), then sort: an ingest names each person in several files (tax rows by year)
    values = np.sort(pd.unique(series[series != ""].to_numpy(dtype=object)).astype(str))
    if len(values) > 1:  # distinct values of a sorted array (faster than np.unique's hashing for str)
        keep = np.empty(len(values), dtype=bool)
        keep[0] = True
        np.not_equal(values[1:], values[:-1], out=keep[1:])
        values = values[keep]
    _refuse_my_numbers(values)
    return values.tolist()


def _refuse_my_numbers(values) -> None:
    import numpy as np

    from rules.checkdigits import is_valid_my_number

    if len(values) == 0:
        return
    lengths = np.char.str_len(values)
    suspicious = 0
    for value in values[(lengths == 12) | (lengths == 14)].tolist():
        digits = value.replace("-", "")
        if len(digits) == 12 and digits.isdigit() and is_valid_my_number(digits):
            suspicious += 1
    if suspicious:
        raise AuditError(f"subject_ids must be person_ids; {suspicious} value(s) look like My Numbers")


def pack_subjects(ids: list[str]) -> tuple[bytes | None, str]:
    """Compress a sorted id list and return (blob, SHA-256 hex of the newline-joined list)."""
    joined = "\n".join(ids).encode("ascii", "backslashreplace")
    digest = hashlib.sha256(joined).hexdigest()
    return (zlib.compress(joined, 1) if ids else None), digest


def unpack_subjects(blob: bytes | None) -> list[str]:
    """The person_ids stored in ``subject_ids_z``."""
    if not blob:
        return []
    return zlib.decompress(bytes(blob)).decode("ascii").split("\n")


# -- hashing -----------------------------------------------------------------------------------------
def _iso(ts: dt.datetime) -> str:
    if ts.tzinfo is None:  # SQLite returns naive datetimes; they were written as UTC
        ts = ts.replace(tzinfo=dt.UTC)
    return ts.astimezone(dt.UTC).isoformat(timespec="microseconds")


def canonical_entry(row: AccessRecord | dict) -> bytes:
    """The canonical JSON of an entry (every column except the hashes and the compressed blob)."""
    get = row.get if isinstance(row, dict) else (lambda name: getattr(row, name))
    entry = {
        "seq": int(get("seq")),
        "occurred_at": _iso(get("occurred_at")),
        "actor_id": get("actor_id"),
        "actor_role": get("actor_role"),
        "action": get("action"),
        "purpose": get("purpose"),
        "record_count": int(get("record_count")),
        "subject_count": int(get("subject_count")),
        "subject_digest": get("subject_digest"),
        "run_id": get("run_id"),
        "approval_id": get("approval_id"),
        "outcome": get("outcome"),
        "client": get("client"),
    }
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


CHAIN_KEY_LABEL = b"kodomo/access-record-chain/v1"
_CHAIN_KEYS: dict[tuple, bytes] = {}


def chain_key(settings=None) -> bytes:
    """The HMAC key of the chain: HMAC-SHA-256(index key, label), from the key ring of ``settings``.

    The key ring is read from the worker's own settings (env keys, Secret block or key file; created on
    first use like every other consumer of the ring) and the derived key is cached per source.
    """
    from privacy.crypto import load_key_ring

    if settings is None:
        from config.settings import get_settings

        settings = get_settings()
    path = settings.resolved_key_file
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        mtime = None
    source = (settings.index_key.get_secret_value() if settings.index_key else None,
              settings.key_secret_block, str(path), mtime)
    key = _CHAIN_KEYS.get(source)
    if key is None:
        ring = load_key_ring(settings, create=True)
        key = hmac.new(ring.index_key, CHAIN_KEY_LABEL, hashlib.sha256).digest()
        _CHAIN_KEYS.clear()  # only the ring in force is kept
        _CHAIN_KEYS[source] = key
    return key


def chain_hash(prev_hash: str, canonical: bytes, key: bytes) -> str:
    """HMAC-SHA-256(key, prev_hash ‖ canonical entry), hex."""
    return hmac.new(key, prev_hash.encode("ascii") + canonical, hashlib.sha256).hexdigest()


# -- writing -----------------------------------------------------------------------------------------
def _lock_head(session: Session) -> AccessChainHead:
    """Lock the chain head (UPDATE first: row lock on PostgreSQL, write lock on SQLite) and return it."""
    stmt = update(AccessChainHead).where(AccessChainHead.id == 1).values(seq=AccessChainHead.seq)
    if session.execute(stmt).rowcount == 0:
        _create_head(session)
        session.execute(stmt)
    head = session.execute(
        select(AccessChainHead.seq, AccessChainHead.head_hash).where(AccessChainHead.id == 1)
    ).one()
    return head


def _create_head(session: Session) -> None:
    dialect = session.get_bind().dialect.name
    values = {"id": 1, "seq": 0, "head_hash": GENESIS_HASH}
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        from sqlalchemy import insert

        session.execute(insert(AccessChainHead).values(**values))
        return
    session.execute(insert(AccessChainHead).values(**values).on_conflict_do_nothing(index_elements=["id"]))


def _actor_role(actor_id: str) -> str:
    from privacy.operators import lookup_operator

    operator = lookup_operator(actor_id)
    return operator.role if operator is not None else "unknown"


def record_access(
    session: Session,
    *,
    actor_id: str,
    action: str,
    purpose: str,
    subject_ids: Iterable[object] | None,
    record_count: int,
    run_id: str | None = None,
    approval_id: str | None = None,
    outcome: str = "ok",
    key: bytes | None = None,
    actor_role: str | None = None,
) -> None:
    """Append one hash-chained access record in the caller's transaction (never commits).

    Args:
        session: the caller's session; the row commits or rolls back with the business change.
        actor_id: the operator or service principal (privacy.operators).
        action: read, create, update, export, delete or print.
        purpose: short purpose code, e.g. ``"monthly-eligibility"`` (no personal data).
        subject_ids: person_ids (宛名番号) concerned; any iterable (list, set, pandas Series). Never My
            Numbers. Stored sorted and compressed with their SHA-256 digest and count.
        record_count: number of records touched (may differ from the number of persons).
        run_id: pipeline run id (Prefect flow-run id) if any.
        approval_id: export approval id (SEC-10) if any.
        outcome: ok, refused or failed.
        key: the chain key (default: :func:`chain_key` of this process's settings).
        actor_role: the role to record (default: the actor's role in the registry in force).
    """
    if action not in ACTIONS:
        raise AuditError(f"unknown action {action!r}; expected one of {sorted(ACTIONS)}")
    if outcome not in OUTCOMES:
        raise AuditError(f"unknown outcome {outcome!r}; expected one of {sorted(OUTCOMES)}")
    if not actor_id:
        raise AuditError("an access record needs an actor_id")
    for name, text in (("purpose", purpose), ("approval_id", approval_id)):
        # typed by a person (``--purpose``, a consent id): the log is append-only, a number in it stays forever
        if text is not None and scrub_my_numbers(str(text)) != str(text):
            raise AuditError(f"{name} must not hold a My Number")
    ids = _normalise_subjects(subject_ids)
    blob, digest = pack_subjects(ids)
    key = key if key is not None else chain_key()
    values = {
        "occurred_at": dt.datetime.now(dt.UTC),
        "actor_id": str(actor_id),
        "actor_role": actor_role or _actor_role(str(actor_id)),
        "action": action,
        "purpose": str(purpose)[:128],
        "record_count": int(record_count),
        "subject_count": len(ids),
        "subject_digest": digest,
        "run_id": run_id,
        "approval_id": approval_id,
        "outcome": outcome,
        "client": _CLIENT,
    }
    head = _lock_head(session)
    values["seq"] = int(head.seq) + 1
    values["prev_hash"] = head.head_hash
    values["entry_hash"] = chain_hash(head.head_hash, canonical_entry(values), key)
    session.add(AccessRecord(subject_ids_z=blob, **values))
    session.execute(
        update(AccessChainHead)
        .where(AccessChainHead.id == 1)
        .values(seq=values["seq"], head_hash=values["entry_hash"])
    )
    session.flush()


# -- verification ------------------------------------------------------------------------------------
@dataclass
class ChainProblem:
    """One defect found by :func:`verify_chain` (kind: gap, prev_hash, entry_hash, subjects, head)."""

    seq: int
    kind: str
    detail: str


@dataclass
class ChainReport:
    """Outcome of :func:`verify_chain`."""

    rows: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS_HASH
    problems: list[ChainProblem] = field(default_factory=list)
    hashes_at: dict[int, str] = field(default_factory=dict)
    last_anchor_seq: int = 0  # seq of the last anchoring record in the chain (0: never anchored)

    @property
    def ok(self) -> bool:  # noqa: D102
        return not self.problems

    @property
    def first_bad_seq(self) -> int | None:  # noqa: D102
        return min((p.seq for p in self.problems), default=None)


def iter_records(session: Session, batch: int = 5000) -> Iterator[AccessRecord]:
    """All access records in chain order (streamed)."""
    last = 0
    while True:
        rows = session.execute(
            select(AccessRecord).where(AccessRecord.seq > last).order_by(AccessRecord.seq).limit(batch)
        ).scalars().all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def verify_chain(session: Session, *, hashes_at: Iterable[int] = (), key: bytes | None = None) -> ChainReport:
    """Recompute the chain from the entries; report every gap, edit or reorder by its seq.

    The stored hashes are not trusted: each ``entry_hash`` is recomputed under the chain key from the
    entry and the previous *recomputed* hash, and the subject list is checked against its digest. The
    seq of the last anchoring record (``purpose = audit-anchor``) is reported for :mod:`privacy.anchor`.
    """
    key = key if key is not None else chain_key()
    report = ChainReport()
    wanted = set(hashes_at)
    expected_prev = GENESIS_HASH
    expected_seq = 1
    for row in iter_records(session):
        report.rows += 1
        if row.seq != expected_seq:
            report.problems.append(ChainProblem(expected_seq, "gap", f"next row has seq {row.seq}"))
        if row.prev_hash != expected_prev:
            report.problems.append(ChainProblem(row.seq, "prev_hash", "link to the previous row broken"))
        computed = chain_hash(expected_prev, canonical_entry(row), key)
        if row.purpose == ANCHOR_PURPOSE and row.outcome == "ok":
            report.last_anchor_seq = row.seq
        if computed != row.entry_hash:
            report.problems.append(ChainProblem(row.seq, "entry_hash", "entry differs from its hash"))
        if pack_subjects(unpack_subjects(row.subject_ids_z))[1] != row.subject_digest:
            report.problems.append(ChainProblem(row.seq, "subjects", "subject list differs from digest"))
        expected_prev = computed
        if row.seq in wanted:
            report.hashes_at[row.seq] = computed
        expected_seq = row.seq + 1
        report.last_seq = row.seq
    report.last_hash = expected_prev
    head = session.execute(
        select(AccessChainHead.seq, AccessChainHead.head_hash).where(AccessChainHead.id == 1)
    ).one_or_none()
    if head is not None and (int(head.seq) != report.last_seq or head.head_hash != report.last_hash):
        report.problems.append(
            ChainProblem(report.last_seq + 1, "head", f"chain head says seq {head.seq}; rows end at {report.last_seq}")
        )
    return report


def record_refusal(actor_id: object, purpose: str, *, action: str = "read", database_url: str | None = None) -> bool:
    """Write one ``refused`` access record (issue 14 §7: unknown operator, wrong role, bad proof, path).

    Runs in its own short transaction; a database without the access-record table yet (before the first
    migration) records nothing. Returns whether a row was written. Never raises: a recording problem
    must not mask the refusal itself. The actor id is echoed only when it has the registry's shape.
    """
    from sqlalchemy import inspect

    from privacy.operators import shown_id
    from store.db import make_engine, session_scope

    try:
        if database_url is None:
            from config.settings import get_settings

            database_url = get_settings().resolved_database_url
        url = make_url(database_url)
        if url.get_backend_name() == "sqlite" and not (url.database and os.path.exists(url.database)):
            return False  # do not create an empty database file just to find no table in it
        engine = make_engine(database_url)
        try:
            if "access_record" not in set(inspect(engine).get_table_names()):
                return False
            with session_scope(engine) as session:
                # "unproven": a refused caller's role would come from whatever registry it pointed at
                record_access(session, actor_id=shown_id(actor_id), action=action, purpose=scrub_my_numbers(purpose),
                              subject_ids=[], record_count=0, outcome="refused", actor_role="unproven")
            return True
        finally:
            engine.dispose()
    except Exception:  # noqa: BLE001 - see docstring
        return False
