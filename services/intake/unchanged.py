"""Input files that the previous monthly ingest stored byte for byte: not read again (issue 13).

A re-run over an unchanged inbox must cost almost nothing. Re-reading, re-validating and re-upserting a file
stores nothing new when the upserts are idempotent (they are: services.intake.persist) and the stored rows of
its tables are still those the file produced. A file is therefore *unchanged*, and skipped, when all hold:

1. The latest monthly ingest (the access record with purpose ``monthly-ingest`` and the highest chain
   position) belongs to a COMPLETED ``monthly-run``.
2. Nobody wrote personal data since: no access record with a writing action after that one, except the run's
   own (its decide stage writes no input table) and those of the flows that never write input tables
   (``READ_ONLY_FLOWS``). Every writer of personal data leaves an access record (privacy.audit), the
   retention job and the counter and 転入 flows included.
3. That run recorded the file (``run_input``) with the same SHA-256 and the same ingest context: the declared
   encoding, the versions of reading/validation (``INGEST_VERSION``) and of the person digest
   (``persist.PERSON_DIGEST_VERSION``), and the extract date — or a later extract date (the next month's
   run over a file that did not change) when none of the file's rows failed an extract-date check: those
   checks (``*_not_in_future``, schemas.checks.reference_date) only fail a value after the extract date, so
   a later date fails none of the values the earlier one passed. An earlier extract date (re-running an
   older month after a newer one) reads the file again.
   The quarantine stored under the SHA-256 must hold exactly the rows that run counted as quarantined.
4. The person files (``residents.csv``, ``resident_events.csv``) only together, as the person rows are built
   from both; and only when (a) none of their rows was quarantined for a My Number collision, whose outcome
   against the stored persons may differ once the first run stored its rows, and (b) their bytes cannot hold
   a 外字 (the mapping table may have changed; the list of unmapped ones is rebuilt from the rows).

Under conditions 1–3, a file that did change is read line by line: only the lines that run did not accept
are read (services.intake.linediff).

A skipped file keeps the counts that run recorded and the quarantine stored under its SHA-256 (the quarantine
listing of the month, by the SHA-256 of its runs' files, already holds its bad rows).
:func:`assert_still_unchanged` repeats check 2 inside the persist transaction, so that a writer slipping in
between the two stages fails the run instead of being missed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import Connection, func, select

from services.intake import linediff
from services.intake.persist import PERSON_DIGEST_VERSION
from store import models
from store.privacy_models import AccessRecord

QUARANTINE_COLUMNS = ["file_name", "file_sha256", "row_number", "column_name", "check_name", "masked_value", "reason"]

#: Raised whenever reading or validation of the input files changes what they yield for the same bytes.
INGEST_VERSION = "1"
MONTHLY_FLOW = "monthly-run"
INGEST_PURPOSE = "monthly-ingest"
#: Access-record actions that write personal data (privacy.audit.ACTIONS).
WRITE_ACTIONS = ("create", "update", "delete")
#: Flows whose runs never write an input table (their access records do not break the chain of check 2).
READ_ONLY_FLOWS = frozenset({"benefit-run", "pmh-sync", "print-run", "uke-claims"})
PERSON_FILE_NAMES = ("residents.csv", "resident_events.csv")
#: The name ending of every check that depends on the extract date (schemas.checks.reference_date).
EXTRACT_DATE_CHECKS = "_not_in_future"
#: Bytes that may start a 外字: UTF-8 U+E000..U+E757 starts with EE; CP932 F040..F9FC with F0..F9 (also a trail
#: byte of other characters: a false alarm only means the file is read again).
_GAIJI_BYTES = re.compile(rb"[\xee\xf0-\xf9]")
#: ``bytes.translate`` table: 1 for the bytes of ``_GAIJI_BYTES``, 0 for every other byte.
GAIJI_BYTE_MARKS = bytes(1 if _GAIJI_BYTES.fullmatch(bytes([b])) else 0 for b in range(256))
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class InputsChangedError(RuntimeError):
    """Personal data was written between the unchanged-file check and the persist stage: re-run the month."""

    safe_message = True
    transient = True


@dataclass(frozen=True)
class PreviousFile:
    """A file as the previous monthly ingest recorded it."""

    sha256: str
    context: str | None
    row_count: int
    accepted_count: int
    quarantined_count: int


@dataclass
class Known:
    """What the previous monthly ingest stored, as far as the next one may rely on it (empty: read everything)."""

    context: str
    files: dict[str, PreviousFile] = field(default_factory=dict)
    #: The quarantine stored under each of those files' SHA-256.
    quarantine: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: The access-record chain position up to which nobody else wrote (check 2).
    checked_seq: int = 0
    previous_run_id: str | None = None
    #: The key of the line digests (services.intake.linediff); None: no line diff, no digests stored.
    line_key: str | None = None
    #: The previous ingest's accepted lines per file (services.intake.linediff.load_previous).
    lines: dict = field(default_factory=dict)
    #: Filled while reading this inbox: file name → (SHA-256, its FileLines, or None when skipped whole).
    current: dict = field(default_factory=dict)
    #: Whether the person files were line-diffed, and the persons of their event lines read whose residents line
    #: was skipped (they stay residents: persist.current_persons).
    person_lines: bool = False
    residents_elsewhere: frozenset = frozenset()

    def same_rules(self, name: str) -> bool:
        """Whether a line ``name`` accepted then is accepted now (check 3 without the quarantine condition)."""
        previous = self.files.get(name)
        if previous is None or previous.context is None:
            return False
        if previous.context == self.context:
            return True
        before, _, then = previous.context.rpartition(";")
        same_rules, _, now = self.context.rpartition(";")
        # A later extract date fails no value an earlier one passed (schemas.checks.reference_date).
        return (before == same_rules and _DATE.fullmatch(then) is not None and _DATE.fullmatch(now) is not None
                and now >= then)

    def line_diffed(self) -> dict[str, int]:
        """File name → lines skipped, for the files read line-diffed."""
        return {name: lines.skipped_count for name, (_, lines) in self.current.items()
                if lines is not None and lines.skipped_count}

    def without_person_lines(self) -> Known:
        """The same, with the person files read whole (services.intake.linediff.LineDiffRefused)."""
        lines = {name: value for name, value in self.lines.items() if name not in PERSON_FILE_NAMES}
        return dataclasses.replace(self, lines=lines, current={}, person_lines=False, residents_elsewhere=frozenset())

    def select(self, shas: dict[str, str], may_hold_gaiji: dict[str, bool]) -> set[str]:
        """The file names (of ``shas``: file name → SHA-256 of this inbox) to skip."""
        same = {name for name, sha in shas.items()
                if name in self.files and self.files[name].sha256 == sha and self._same_outcome(name)}
        people = [name for name in PERSON_FILE_NAMES if name in shas or name in self.files]
        people_ok = (all(name in same for name in people) and not any(may_hold_gaiji.get(n, True) for n in people)
                     and not self._collided(people))
        return {name for name in same if name not in PERSON_FILE_NAMES or people_ok}

    def _same_outcome(self, name: str) -> bool:
        """Whether reading and validating the same bytes now yields what the previous ingest got (check 3)."""
        previous = self.files[name]
        stored = self.stored_quarantine(previous.sha256)
        if stored["row_number"].nunique() != previous.quarantined_count or not self.same_rules(name):
            return False
        # Under a later extract date, only a row no extract-date check failed is quarantined the same way.
        return previous.context == self.context or not stored["check_name"].str.endswith(EXTRACT_DATE_CHECKS).any()

    def _collided(self, names: list[str]) -> bool:
        if self.quarantine.empty:
            return False
        shas = {self.files[name].sha256 for name in names if name in self.files}
        rows = self.quarantine[self.quarantine["file_sha256"].isin(shas)]
        return bool((rows["check_name"] == "my_number_collision").any())

    def stored_quarantine(self, sha256: str) -> pd.DataFrame:
        """The quarantined cells stored under ``sha256``."""
        if self.quarantine.empty:
            return pd.DataFrame(columns=QUARANTINE_COLUMNS).astype({"row_number": "int64"})
        return self.quarantine[self.quarantine["file_sha256"] == sha256].reset_index(drop=True)


def ingest_context(manifest: dict, today: dt.date | None = None) -> str:
    """Everything besides a file's bytes that decides what reading and validating it yields."""
    extract = manifest.get("extract_date") or f"today={today or dt.date.today()}"
    # The extract date last: Known._same_outcome compares the rest and the date apart.
    return f"v{INGEST_VERSION};{manifest.get('encoding') or 'detected'};p{PERSON_DIGEST_VERSION};{extract}"[:64]


def may_hold_gaiji(data: bytes) -> bool:
    """Whether the bytes might hold a 外字 (see ``_GAIJI_BYTES``)."""
    if data.isascii():  # C scans of the whole file, where the regular expression steps byte by byte
        return False
    return b"\x01" in data.translate(GAIJI_BYTE_MARKS)


def writes_since(conn: Connection, seq: int, allowed_runs: set[str]) -> int:
    """How many access records after ``seq`` wrote personal data outside ``allowed_runs`` and read-only flows."""
    ar, run = AccessRecord.__table__, models.Run.__table__
    rows = conn.execute(select(ar.c.run_id, run.c.flow_name).select_from(
        ar.outerjoin(run, run.c.run_id == ar.c.run_id)).where(ar.c.seq > seq, ar.c.action.in_(WRITE_ACTIONS))).all()
    return sum(1 for run_id, flow in rows if run_id not in allowed_runs and flow not in READ_ONLY_FLOWS)


def previous_inputs(conn: Connection, *, run_id: str, context: str, ring=None) -> Known:
    """The files of the previous monthly ingest that this run (``run_id``) may skip when their bytes match.

    With the key ring ``ring``, also the lines it accepted (services.intake.linediff): this run reads only the
    others, and stores its own lines' digests for the next month.
    """
    ar, run, inp = AccessRecord.__table__, models.Run.__table__, models.RunInput.__table__
    known = Known(context=context, line_key=linediff.line_key(ring.index_key) if ring is not None else None)
    last = conn.execute(select(ar.c.seq, ar.c.run_id).where(ar.c.purpose == INGEST_PURPOSE, ar.c.run_id != run_id)
                        .order_by(ar.c.seq.desc()).limit(1)).first()
    if last is None:
        return known
    previous = conn.execute(select(run.c.flow_name, run.c.status)
                            .where(run.c.run_id == last.run_id)).first()
    if previous is None or (previous.flow_name, previous.status) != (MONTHLY_FLOW, "COMPLETED"):
        return known
    if writes_since(conn, last.seq, {last.run_id, run_id}):
        return known
    known.checked_seq = int(conn.execute(select(func.coalesce(func.max(ar.c.seq), 0))).scalar())
    known.previous_run_id = last.run_id
    for row in conn.execute(select(inp.c.file_name, inp.c.sha256, inp.c.ingest_context, inp.c.row_count,
                                   inp.c.accepted_count, inp.c.quarantined_count)
                            .where(inp.c.run_id == last.run_id)).all():
        known.files[row.file_name] = PreviousFile(row.sha256, row.ingest_context, int(row.row_count),
                                                  int(row.accepted_count), int(row.quarantined_count))
    q = models.QuarantinedRow.__table__
    shas = sorted({f.sha256 for f in known.files.values()}) or [""]
    rows = conn.execute(select(*[q.c[c] for c in QUARANTINE_COLUMNS]).where(q.c.file_sha256.in_(shas))).all()
    known.quarantine = pd.DataFrame(rows, columns=QUARANTINE_COLUMNS).sort_values(
        ["file_name", "row_number", "column_name", "check_name"], kind="stable").reset_index(drop=True)
    known.quarantine["row_number"] = known.quarantine["row_number"].astype("int64")
    if known.line_key is not None:
        known.lines = {name: lines for name, lines in linediff.load_previous(conn, last.run_id).items()
                       if name in known.files and known.files[name].sha256 == lines.sha256}
    return known


def assert_still_unchanged(conn: Connection, known: Known | None, run_id: str) -> None:
    """Refuse to persist a run that skipped files if personal data was written since the check (check 2)."""
    if known is None or known.previous_run_id is None:
        return
    if writes_since(conn, known.checked_seq, {known.previous_run_id, run_id}):
        raise InputsChangedError("personal data was written by another run while this run read its inbox; "
                                 "run the month again")

