"""Read and validate an inbox: the six input files of docs/formats/.

A file that cannot be read (encoding, header) stops the ingest with an ``InputFileError`` that names the
file and the problem; nothing of the inbox has been stored at that point (persisting comes after the
whole inbox is read), so nothing is half-stored. Bad rows are quarantined with file, row, column, check
and a masked value; the good rows go on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from connectors.files import (
    CONTROL_TOTALS,
    UNREADABLE_LINES,
    InputFileError,
    file_sha256,
    read_csv_bytes,
    read_input_csv,
    read_manifest,
)
from schemas.applications import ApplicationSchema
from schemas.checks import using_reference_date
from schemas.insurance import InsuranceSchema
from schemas.placements import PlacementSchema
from schemas.resident_events import ResidentEventSchema
from schemas.residents import ResidentSchema
from schemas.tax import TaxSchema
from schemas.validate import QUARANTINE_COLUMNS, validate_frame
from schemas.validate import _coerce as coerce_frame
from schemas.welfare import WelfareSchema
from services.intake import gaiji, linediff
from services.intake.inputs import INPUT_FILE_NAMES
from services.intake.unchanged import Known, may_hold_gaiji

#: name → (file name, schema, required): only the 住民票 extract is required.
INPUT_FILES: dict[str, tuple[str, type, bool]] = {
    name: (INPUT_FILE_NAMES[name], schema, name == "residents")
    for name, schema in {"residents": ResidentSchema, "resident_events": ResidentEventSchema, "tax": TaxSchema,
                         "welfare": WelfareSchema, "insurance": InsuranceSchema, "applications": ApplicationSchema,
                         "placements": PlacementSchema}.items()
}


@dataclass
class Inbox:
    """What an inbox held: validated frames, per-file counts and the quarantined cells."""

    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    inputs: pd.DataFrame = field(default_factory=pd.DataFrame)
    quarantine: pd.DataFrame = field(default_factory=pd.DataFrame)
    extract_date: str | None = None
    #: Aggregate, value-free warnings for the run summary (e.g. a file without control totals).
    warnings: list[str] = field(default_factory=list)
    #: Persons whose name, kana or address still holds an unregistered 外字: masked 宛名番号 and count.
    gaiji_unmapped: list[dict] = field(default_factory=list)
    #: Files not read again: the previous monthly ingest stored them byte for byte (services.intake.unchanged).
    unchanged_files: list[str] = field(default_factory=list)
    #: What that check relied on (re-checked in the persist transaction); None when nothing was skipped.
    known: Known | None = None
    #: The line digests of this inbox's files, to store for the next month (services.intake.linediff).
    lines: Known | None = None

    def unchanged_inputs(self) -> pd.DataFrame:
        """The input rows (file name, counts) of the files not read again."""
        if self.inputs.empty:
            return self.inputs
        return self.inputs[self.inputs["file_name"].isin(self.unchanged_files)]

    def counts(self) -> dict:
        """Aggregate counts (safe for logs and artifacts)."""
        return {
            "files": self.inputs[["file_name", "row_count", "accepted_count", "quarantined_count"]].to_dict("records")
            if not self.inputs.empty else [],
            "quarantined_cells": int(len(self.quarantine)),
            "warnings": list(self.warnings),
            "gaiji_unmapped": list(self.gaiji_unmapped),
        } | ({"unchanged_files": list(self.unchanged_files)} if self.unchanged_files else {})


def model_columns(schema: type) -> list[str]:
    """The documented file columns of a schema (every column but ``source_row``)."""
    return [name for name in schema.to_schema().columns if name != "source_row"]


def read_inbox(inbox_dir: str | Path, names: list[str] | None = None, manifest: dict | None = None,
               known: Known | None = None) -> dict[str, tuple[pd.DataFrame | None, str]]:
    """Read every present input file (raw strings) with its SHA-256; a missing required file is an error.

    With the manifest's control totals (``files``), a file whose SHA-256 or row count differs from what the
    sender stated is an error naming the file: a file truncated at a line boundary is otherwise valid CSV.
    With ``known`` (services.intake.unchanged), a file the previous monthly ingest stored byte for byte is
    not read: its frame is ``None`` and its row count the recorded one.
    """
    directory = Path(inbox_dir)
    if not directory.is_dir():
        raise InputFileError(str(directory), "the inbox directory does not exist")
    totals = (manifest or {}).get(CONTROL_TOTALS, {})
    present: dict[str, Path] = {}
    for name in names or list(INPUT_FILES):
        file_name, schema, required = INPUT_FILES[name]
        path = directory / file_name
        if not path.exists():
            if required:
                raise InputFileError(file_name, "the file is missing from the inbox")
            if file_name in totals:
                raise InputFileError(file_name, "the manifest lists this file but it is missing from the inbox")
            continue
        present[name] = path
    skipped: set[str] = set()
    shas: dict[str, str] = {}
    contents: dict[str, bytes] = {}  # kept for the line diff: each file is read from disk once
    if known is not None and known.files:
        shas, gaiji_bytes = {}, {}
        for name, path in present.items():
            if not path.is_file():
                continue  # read_input_csv names the problem
            data = path.read_bytes()
            shas[name] = hashlib.sha256(data).hexdigest()
            gaiji_bytes[INPUT_FILES[name][0]] = may_hold_gaiji(data)
            if known.line_key is not None and INPUT_FILES[name][0] in known.lines:
                contents[name] = data
            del data
        skipped = known.select({INPUT_FILES[n][0]: sha for n, sha in shas.items()}, gaiji_bytes)
    raw: dict[str, tuple[pd.DataFrame | None, str]] = {}
    # The declared encoding, as read_input_csv finds it (the manifest given, else the inbox's manifest.json).
    encoding = (manifest if manifest is not None else read_manifest(directory)).get("encoding")
    diffed = _read_changed_lines(present, skipped, known, encoding, shas, contents)
    contents.clear()
    for name, path in present.items():
        file_name, schema, _ = INPUT_FILES[name]
        if file_name in skipped:
            check_control_totals(file_name, totals.get(file_name), rows=known.files[file_name].row_count,
                                 sha256=shas[name])
            raw[name] = (None, shas[name])
            if known is not None and known.line_key is not None:
                known.current[file_name] = (shas[name], None)
            continue
        if name in diffed:
            frame, sha256, lines = diffed[name]
            check_control_totals(file_name, totals.get(file_name), rows=line_count(frame) + lines.skipped_count,
                                 sha256=sha256)
            raw[name] = (frame, sha256)
            continue
        if known is not None and known.line_key is not None and path.is_file():
            data = path.read_bytes()
            sha256 = hashlib.sha256(data).hexdigest()
            frame = read_csv_bytes(data, file_name, model_columns(schema), encoding)
            known.current[file_name] = (sha256, linediff.file_lines(file_name, data, known.line_key))
            del data
        else:
            frame = read_input_csv(path, model_columns(schema))
            sha256 = shas.get(name) or file_sha256(path)
        check_control_totals(file_name, totals.get(file_name), rows=line_count(frame), sha256=sha256)
        raw[name] = (frame, sha256)
    return raw


def _read_changed_lines(present: dict[str, Path], skipped: set[str], known: Known | None, encoding: str | None,
                        shas: dict[str, str], contents: dict[str, bytes]
                        ) -> dict[str, tuple[pd.DataFrame, str, linediff.FileLines]]:
    """The files read line-diffed (services.intake.linediff): name → (frame of the lines read, SHA-256, lines).

    A file missing here is read whole (or skipped whole). The person files are line-diffed together or not at all.
    """
    if known is None or known.line_key is None or not known.lines:
        return {}
    out: dict[str, tuple[pd.DataFrame, str, linediff.FileLines]] = {}
    people: dict[str, tuple] = {}
    for name, path in present.items():
        file_name, schema, _ = INPUT_FILES[name]
        if file_name in skipped or file_name not in known.lines or not known.same_rules(file_name):
            continue
        if not path.is_file():
            continue
        data = contents.pop(name, None) or path.read_bytes()
        planned = _plan_file(name, data, known, encoding)
        if planned is None:
            continue
        if file_name in linediff.PERSON_FACET:
            people[name] = (data, *planned)
            continue
        frame, lines, _, _ = planned
        if _duplicate_key(frame, name, lines, known.line_key):
            continue
        out[name] = (frame, shas.get(name) or hashlib.sha256(data).hexdigest(), lines)
        known.current[file_name] = (out[name][1], lines)
    if people and set(people) == {n for n in ("residents", "resident_events") if n in present}:
        persons = _person_lines(people, known, encoding, shas)
        for name, (frame, sha256, lines) in (persons or {}).items():
            out[name] = (frame, sha256, lines)
            known.current[INPUT_FILES[name][0]] = (sha256, lines)
    return out


def _plan_file(name: str, data: bytes, known: Known, encoding: str | None, also: np.ndarray | None = None,
               planned: tuple | None = None):
    """Read the lines of ``data`` not skipped: (frame, lines, body, encoding), or None to read the whole file.

    ``also``: lines to read although they could be skipped; ``planned``: the plan already made for ``data``.
    """
    file_name, schema, _ = INPUT_FILES[name]
    if encoding is None:
        try:  # an undeclared encoding is detected on the whole file, as a full read does
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        encoding = "utf-8"
    planned = planned or linediff.plan(file_name, data, known.line_key, known.lines[file_name],
                                       person_file=file_name in linediff.PERSON_FACET)
    if planned is None:
        return None
    lines, body = planned
    if also is not None and also.any():
        lines.skip_only(lines.skipped & ~also, known.lines[file_name])
    end = data.find(b"\n")
    header = data if end < 0 else data[:end]
    subset, numbers = linediff.subset_bytes(header, body, ~lines.skipped)
    try:
        frame = read_csv_bytes(subset, file_name, model_columns(schema), encoding)
    except InputFileError:
        return None  # the whole file names the problem with its own line number
    if frame.attrs.get(UNREADABLE_LINES):
        return None  # the line-by-line reader reads every line of such a file: so does the whole read
    frame["source_row"] = numbers[frame["source_row"].to_numpy(dtype="int64") - 2]
    return frame, lines, body, encoding


def _duplicate_key(frame: pd.DataFrame, name: str, lines: linediff.FileLines, key: str) -> bool:
    """Whether a line read carries a unique key (as validated) that a skipped line carries."""
    file_name, schema, _ = INPUT_FILES[name]
    if not lines.skipped_count or frame.empty:
        return False
    work, _ = coerce_frame(frame.reset_index(drop=True), schema.to_schema())
    read = linediff.facet_digests(work, file_name, key)
    return any(linediff.member(read[:, i], lines.skipped_facets[:, i]).any() for i in linediff.UNIQUE[file_name])


def _person_lines(people: dict[str, tuple], known: Known, encoding: str | None, shas: dict[str, str]):
    """Line-diff residents.csv and resident_events.csv together (see services.intake.linediff), or None."""
    key = known.line_key
    person = linediff.PERSON_FACET
    # Every event line of a person with a line read, added or removed is read too (their latest event).
    touched = []
    for name, (_, frame, lines, _, _) in people.items():
        file_name = INPUT_FILES[name][0]
        touched.append(linediff.digest_values(frame["person_id"].astype(object).where(frame["person_id"].notna(),
                                                                                       None).tolist(), key))
        touched.append(linediff.removed_facets(known.lines[file_name], lines)[:, person[file_name]])
    touched = np.concatenate(touched)
    if "resident_events" in people:
        data, frame, lines, body, _ = people["resident_events"]
        facets = known.lines["resident_events.csv"]
        found, positions = facets.lookup(lines.digests)
        also = found & linediff.member(facets.facets[positions, person["resident_events.csv"]], touched)
        also &= lines.skipped
        if also.any():
            planned = _plan_file("resident_events", data, known, encoding, also=also, planned=(lines, body))
            if planned is None:
                return None
            people["resident_events"] = (data, *planned)
    out = {}
    for name, (data, frame, lines, _, _) in people.items():
        if _duplicate_key(frame, name, lines, key):
            return None
        out[name] = (frame, shas.get(name) or hashlib.sha256(data).hexdigest(), lines)
    # Persons on a skipped residents line stay residents: their event lines never make them events-only.
    if "resident_events" in out and "residents" in out:
        events = out["resident_events"][0]
        resident_digests = out["residents"][2].skipped_facets[:, person["residents.csv"]]
        on_skipped = linediff.member(linediff.digest_values(_none(events["person_id"]), key), resident_digests)
        known.residents_elsewhere = frozenset(events.loc[on_skipped, "person_id"].astype(str))
    known.person_lines = True
    return out


def _none(series: pd.Series) -> list:
    return series.astype(object).where(series.notna(), None).tolist()


def line_count(frame: pd.DataFrame) -> int:
    """Non-blank data lines of a file as read: records plus the lines that were no record."""
    return len(frame) + len(frame.attrs.get(UNREADABLE_LINES) or ())


def check_control_totals(file_name: str, stated: dict | None, *, rows: int, sha256: str) -> None:
    """Refuse a file whose row count or SHA-256 differs from the sender's control totals (if stated)."""
    if not stated:
        return
    if "rows" in stated and int(stated["rows"]) != rows:
        raise InputFileError(file_name, f"control total mismatch: the manifest states {int(stated['rows'])} rows, "
                                        f"the file has {rows} (truncated or incomplete?)")
    if "sha256" in stated and str(stated["sha256"]).lower() != sha256:
        raise InputFileError(file_name, "control total mismatch: the SHA-256 differs from the manifest "
                                        "(the file changed after the sender's export)")


def control_total_warnings(manifest: dict, raw: dict[str, tuple[pd.DataFrame, str]]) -> list[str]:
    """One warning per file read without a stated control total (the run goes on)."""
    totals = manifest.get(CONTROL_TOTALS, {})
    return [f"{INPUT_FILES[name][0]}: no control total (rows, sha256) in manifest.json; completeness not checked"
            for name in raw if not {"rows", "sha256"} <= set(totals.get(INPUT_FILES[name][0], {}))]


def validate_inbox(raw: dict[str, tuple[pd.DataFrame | None, str]], extract_date: str | None,
                   known: Known | None = None) -> Inbox:
    """Validate each raw frame; collect good rows, per-file counts and quarantined cells.

    A file not read (frame ``None``, see :func:`read_inbox`) keeps the counts the previous monthly ingest
    recorded and the quarantine stored under its SHA-256; it adds no good rows.
    """
    inbox = Inbox(extract_date=extract_date)
    inputs, quarantined = [], []
    diffed = known.line_diffed() if known is not None else {}
    with using_reference_date(extract_date):
        for name, (frame, sha256) in raw.items():
            file_name, schema, _ = INPUT_FILES[name]
            if frame is None:
                previous = known.files[file_name]
                inputs.append({"file_name": file_name, "sha256": sha256, "row_count": previous.row_count,
                               "accepted_count": previous.accepted_count,
                               "quarantined_count": previous.quarantined_count})
                stored = known.stored_quarantine(sha256)
                if not stored.empty:
                    quarantined.append(stored)
                inbox.unchanged_files.append(file_name)
                continue
            result = validate_frame(frame, schema, file_name)
            # source_row stays: later checks (services.intake.collisions) name rows by file and line.
            inbox.frames[name] = result.good
            found = [q for q in (unreadable_quarantine(frame, file_name), result.quarantine) if not q.empty]
            table = pd.concat(found, ignore_index=True) if found else result.quarantine
            bad_rows = table["row_number"].nunique() if not table.empty else 0
            # Counted by physical line: every non-blank line is either accepted or quarantined (a skipped line
            # was accepted: services.intake.linediff).
            skipped_lines = diffed.get(file_name, 0)
            inputs.append({"file_name": file_name, "sha256": sha256,
                           "row_count": len(frame) + len(frame.attrs.get(UNREADABLE_LINES, ())) + skipped_lines,
                           "accepted_count": len(result.good) + skipped_lines, "quarantined_count": int(bad_rows)})
            if not table.empty:
                quarantined.append(table.assign(file_sha256=sha256))
    inbox.inputs = pd.DataFrame(inputs)
    if known is not None and not inbox.inputs.empty:
        inbox.inputs["ingest_context"] = known.context
    inbox.known = known if inbox.unchanged_files or diffed else None
    inbox.lines = known if known is not None and known.line_key is not None else None
    inbox.quarantine = pd.concat(quarantined, ignore_index=True) if quarantined else pd.DataFrame(
        columns=["file_name", "file_sha256", "row_number", "column_name", "check_name", "masked_value", "reason"])
    return inbox


def unreadable_quarantine(frame: pd.DataFrame, file_name: str) -> pd.DataFrame:
    """Quarantine rows for the physical lines the reader could not read as a record (stray quote, bare CR)."""
    lines = frame.attrs.get(UNREADABLE_LINES) or ()
    if not lines:
        return pd.DataFrame(columns=QUARANTINE_COLUMNS)
    return pd.DataFrame({"file_name": file_name, "row_number": pd.Series([n for n, _ in lines], dtype="int64"),
                         "column_name": "(line)", "check_name": "readable_csv_record", "masked_value": None,
                         "reason": [problem for _, problem in lines]})


def load_inbox(inbox_dir: str | Path, gaiji_table: gaiji.GaijiTable | None = None,
               known: Known | None = None) -> Inbox:
    """Read and validate a whole inbox directory; map registered 外字 (``gaiji_table``, default: shipped table).

    ``known``: what the previous monthly ingest stored (services.intake.unchanged.previous_inputs); the files
    it stored byte for byte are not read again.
    """
    manifest = read_manifest(inbox_dir)
    raw = read_inbox(inbox_dir, manifest=manifest, known=known)
    inbox = validate_inbox(raw, manifest.get("extract_date"), known=known)
    inbox.warnings = control_total_warnings(manifest, raw)
    inbox.frames, inbox.gaiji_unmapped = gaiji.map_gaiji(inbox.frames, gaiji_table or gaiji.load_table())
    return inbox


CLAIM_FILES = ("claims.csv", "reimbursement_applications.csv")


def has_claim_files(inbox_dir: str | Path) -> bool:
    """Whether the inbox holds benefit inputs (receipts or 償還払い applications)."""
    return any((Path(inbox_dir) / name).exists() for name in CLAIM_FILES)
