"""The access-record chain head anchored outside the database (security.md §3.3, SEC-08).

A hash chain alone cannot show that its *tail* was cut off, or that the whole chain was rebuilt. Each
``kodomo audit verify`` / ``kodomo audit anchor`` writes the verified head (seq, hash) to
``<home>/audit-anchor/<database digest>.json`` (owner-only) and appends it to ``anchors.jsonl``; the
next verification requires the chain to still contain that seq with that hash. For the city, copy the
anchor line into the 情報管理者's daily report or a WORM store (documented in docs/operations-security.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from privacy.audit import ChainProblem, ChainReport, verify_chain
from privacy.files import private_directory, write_private_file


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


def write_anchor(settings, engine: Engine, report: ChainReport) -> dict:
    """Write the verified head to the anchor file (atomic, 0600) and the history log."""
    folder = private_directory(anchor_dir(settings))
    record = {"seq": report.last_seq, "head_hash": report.last_hash,
              "anchored_at": dt.datetime.now(dt.UTC).isoformat(), "database": database_digest(engine)}
    write_private_file(anchor_path(settings, engine), json.dumps(record))
    with open(folder / "anchors.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")
    return record


@dataclass
class VerifyOutcome:
    """Chain verification plus the anchor comparison."""

    report: ChainReport
    anchor: dict | None
    anchored: dict | None

    @property
    def ok(self) -> bool:  # noqa: D102
        return self.report.ok


def verify_and_anchor(settings, engine: Engine, *, write: bool = True) -> VerifyOutcome:
    """Verify the chain and compare with the anchor; on success, move the anchor to the current head."""
    from store.db import session_scope

    anchor = read_anchor(settings, engine)
    wanted = [int(anchor["seq"])] if anchor else []
    with session_scope(engine) as session:
        report = verify_chain(session, hashes_at=wanted)
    if anchor:
        seq = int(anchor["seq"])
        if report.last_seq < seq:
            report.problems.append(ChainProblem(
                report.last_seq + 1, "truncated",
                f"anchored head is seq {seq}; the chain now ends at {report.last_seq}"))
        elif seq > 0 and report.hashes_at.get(seq) != anchor["head_hash"]:
            report.problems.append(ChainProblem(seq, "anchor", "row at the anchored seq differs from the anchor"))
    anchored = write_anchor(settings, engine, report) if (write and report.ok) else None
    return VerifyOutcome(report, anchor, anchored)
