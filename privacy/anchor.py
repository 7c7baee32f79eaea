"""The access-record chain head anchored outside the database (security.md §3.3, SEC-08).

A hash chain alone cannot show that its *tail* was cut off, or that the whole chain was rebuilt. Each
``kodomo audit verify`` / ``kodomo audit anchor`` that finds the chain intact first appends an anchoring
record to the chain itself (``purpose = audit-anchor``), then writes the new head (seq, hash) with an HMAC
under the chain key to ``<home>/audit-anchor/<database digest>.json`` (owner-only) and appends it to
``anchors.jsonl``. The next verification requires:

* the anchor file's MAC to verify (an anchor cannot be forged without the key ring);
* the chain to still contain the anchored seq with the anchored hash (truncation, rebuilding);
* the anchor file to exist and to be at least as new as the chain's last anchoring record, so a
  deleted or rolled-back (older) anchor file is reported, never silently replaced by the current head.

A database whose chain was never anchored is anchored on its first verification. For the city, copy the
anchor line into the 情報管理者's daily report or a WORM store (documented in docs/operations-security.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url

from privacy.audit import ANCHOR_PURPOSE, ChainProblem, ChainReport, chain_key, record_access, verify_chain
from privacy.files import private_directory, write_private_file
from store.privacy_models import AccessChainHead


def anchor_dir(settings) -> Path:
    """``<home>/audit-anchor``."""
    return Path(settings.home) / "audit-anchor"


def database_digest(engine: Engine) -> str:
    """A short, password-free digest naming the database (so one home can anchor several databases)."""
    url = make_url(str(engine.url)).set(password=None)
    return hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:16]


def anchor_path(settings, engine: Engine) -> Path:
    """The anchor file of ``engine``'s database."""
    return anchor_dir(settings) / f"{database_digest(engine)}.json"


def read_anchor(settings, engine: Engine) -> dict | None:
    """The last anchored head, or None."""
    path = anchor_path(settings, engine)
    return json.loads(path.read_text()) if path.exists() else None


def anchor_mac(record: dict, key: bytes) -> str:
    """HMAC-SHA-256 of the anchor's fields under the chain key (hex)."""
    fields = {name: record[name] for name in ("seq", "head_hash", "anchored_at", "database")}
    return hmac.new(key, json.dumps(fields, sort_keys=True).encode("utf-8"), hashlib.sha256).hexdigest()


def write_anchor(settings, engine: Engine, seq: int, head_hash: str, key: bytes) -> dict:
    """Write the head (seq, hash) with its MAC to the anchor file (atomic, 0600) and the history log."""
    folder = private_directory(anchor_dir(settings))
    record = {"seq": seq, "head_hash": head_hash,
              "anchored_at": dt.datetime.now(dt.UTC).isoformat(), "database": database_digest(engine)}
    record["mac"] = anchor_mac(record, key)
    write_private_file(anchor_path(settings, engine), json.dumps(record))
    log_path = folder / "anchors.jsonl"
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")
    return record


def _append_anchor_record(engine: Engine, key: bytes, actor_id: str, anchored_seq: int) -> tuple[int, str]:
    """Append the anchoring record and return the new head (its seq and hash)."""
    from store.db import session_scope

    with session_scope(engine) as session:
        record_access(session, actor_id=actor_id, action="read", purpose=ANCHOR_PURPOSE, subject_ids=[],
                      record_count=anchored_seq, key=key)
        head = session.execute(select(AccessChainHead.seq, AccessChainHead.head_hash)
                               .where(AccessChainHead.id == 1)).one()
    return int(head.seq), head.head_hash


@dataclass
class VerifyOutcome:
    """Chain verification plus the anchor comparison."""

    report: ChainReport
    anchor: dict | None
    anchored: dict | None

    @property
    def ok(self) -> bool:  # noqa: D102
        return self.report.ok


def verify_and_anchor(settings, engine: Engine, *, write: bool = True,
                      actor_id: str = "system-scheduler") -> VerifyOutcome:
    """Verify the chain and compare with the anchor; on success, anchor the current head.

    ``actor_id`` is the proven operator doing it (the anchoring record names them).
    """
    from store.db import session_scope

    key = chain_key(settings)
    anchor = read_anchor(settings, engine)
    wanted = [int(anchor["seq"])] if anchor else []
    with session_scope(engine) as session:
        report = verify_chain(session, hashes_at=wanted, key=key)
    if anchor is None and report.last_anchor_seq:
        report.problems.append(ChainProblem(
            report.last_anchor_seq, "anchor-missing",
            f"the chain was anchored at seq {report.last_anchor_seq} but the anchor file is gone"))
    if anchor:
        seq = int(anchor["seq"])
        if not hmac.compare_digest(str(anchor.get("mac", "")), anchor_mac(anchor, key)):
            report.problems.append(ChainProblem(seq, "anchor-forged", "the anchor file's MAC does not verify"))
        elif seq < report.last_anchor_seq:
            report.problems.append(ChainProblem(
                seq, "anchor-rolled-back",
                f"the anchor file is older (seq {seq}) than the chain's last anchoring (seq {report.last_anchor_seq})"))
        if report.last_seq < seq:
            report.problems.append(ChainProblem(
                report.last_seq + 1, "truncated",
                f"anchored head is seq {seq}; the chain now ends at {report.last_seq}"))
        elif seq > 0 and report.hashes_at.get(seq) != anchor["head_hash"]:
            report.problems.append(ChainProblem(seq, "anchor", "row at the anchored seq differs from the anchor"))
    anchored = None
    if write and report.ok:
        head_seq, head_hash = _append_anchor_record(engine, key, actor_id, report.last_seq)
        anchored = write_anchor(settings, engine, head_seq, head_hash, key)
    return VerifyOutcome(report, anchor, anchored)
