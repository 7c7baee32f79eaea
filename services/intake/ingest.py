"""Read and validate an inbox: the six input files of docs/formats/.

A file that cannot be read (encoding, header) stops the ingest with an ``InputFileError`` that names the
file and the problem; nothing of the inbox has been stored at that point (persisting comes after the
whole inbox is read), so nothing is half-stored. Bad rows are quarantined with file, row, column, check
and a masked value; the good rows go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from connectors.files import (
    CONTROL_TOTALS,
    UNREADABLE_LINES,
    InputFileError,
    file_sha256,
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
from schemas.welfare import WelfareSchema
from services.intake import gaiji

#: name → (file name, schema, required)
INPUT_FILES: dict[str, tuple[str, type, bool]] = {
    "residents": ("residents.csv", ResidentSchema, True),
    "resident_events": ("resident_events.csv", ResidentEventSchema, False),
    "tax": ("tax.csv", TaxSchema, False),
    "welfare": ("welfare.csv", WelfareSchema, False),
    "insurance": ("insurance.csv", InsuranceSchema, False),
    "applications": ("applications.csv", ApplicationSchema, False),
    "placements": ("placements.csv", PlacementSchema, False),
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

    def counts(self) -> dict:
        """Aggregate counts (safe for logs and artifacts)."""
        return {
            "files": self.inputs[["file_name", "row_count", "accepted_count", "quarantined_count"]].to_dict("records")
            if not self.inputs.empty else [],
            "quarantined_cells": int(len(self.quarantine)),
            "warnings": list(self.warnings),
            "gaiji_unmapped": list(self.gaiji_unmapped),
        }


def model_columns(schema: type) -> list[str]:
    """The documented file columns of a schema (every column but ``source_row``)."""
    return [name for name in schema.to_schema().columns if name != "source_row"]


def read_inbox(inbox_dir: str | Path, names: list[str] | None = None,
               manifest: dict | None = None) -> dict[str, tuple[pd.DataFrame, str]]:
    """Read every present input file (raw strings) with its SHA-256; a missing required file is an error.

    With the manifest's control totals (``files``), a file whose SHA-256 or row count differs from what the
    sender stated is an error naming the file: a file truncated at a line boundary is otherwise valid CSV.
    """
    directory = Path(inbox_dir)
    if not directory.is_dir():
        raise InputFileError(str(directory), "the inbox directory does not exist")
    totals = (manifest or {}).get(CONTROL_TOTALS, {})
    raw: dict[str, tuple[pd.DataFrame, str]] = {}
    for name in names or list(INPUT_FILES):
        file_name, schema, required = INPUT_FILES[name]
        path = directory / file_name
        if not path.exists():
            if required:
                raise InputFileError(file_name, "the file is missing from the inbox")
            if file_name in totals:
                raise InputFileError(file_name, "the manifest lists this file but it is missing from the inbox")
            continue
        frame, sha256 = read_input_csv(path, model_columns(schema)), file_sha256(path)
        check_control_totals(file_name, totals.get(file_name), rows=line_count(frame), sha256=sha256)
        raw[name] = (frame, sha256)
    return raw


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


def validate_inbox(raw: dict[str, tuple[pd.DataFrame, str]], extract_date: str | None) -> Inbox:
    """Validate each raw frame; collect good rows, per-file counts and quarantined cells."""
    inbox = Inbox(extract_date=extract_date)
    inputs, quarantined = [], []
    with using_reference_date(extract_date):
        for name, (frame, sha256) in raw.items():
            file_name, schema, _ = INPUT_FILES[name]
            result = validate_frame(frame, schema, file_name)
            # source_row stays: later checks (services.intake.collisions) name rows by file and line.
            inbox.frames[name] = result.good
            found = [q for q in (unreadable_quarantine(frame, file_name), result.quarantine) if not q.empty]
            table = pd.concat(found, ignore_index=True) if found else result.quarantine
            bad_rows = table["row_number"].nunique() if not table.empty else 0
            # Counted by physical line: every non-blank line is either accepted or quarantined.
            inputs.append({"file_name": file_name, "sha256": sha256,
                           "row_count": len(frame) + len(frame.attrs.get(UNREADABLE_LINES, ())),
                           "accepted_count": len(result.good), "quarantined_count": int(bad_rows)})
            if not table.empty:
                quarantined.append(table.assign(file_sha256=sha256))
    inbox.inputs = pd.DataFrame(inputs)
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


def load_inbox(inbox_dir: str | Path, gaiji_table: gaiji.GaijiTable | None = None) -> Inbox:
    """Read and validate a whole inbox directory; map registered 外字 (``gaiji_table``, default: shipped table)."""
    manifest = read_manifest(inbox_dir)
    raw = read_inbox(inbox_dir, manifest=manifest)
    inbox = validate_inbox(raw, manifest.get("extract_date"))
    inbox.warnings = control_total_warnings(manifest, raw)
    inbox.frames, inbox.gaiji_unmapped = gaiji.map_gaiji(inbox.frames, gaiji_table or gaiji.load_table())
    return inbox


CLAIM_FILES = ("claims.csv", "reimbursement_applications.csv")


def has_claim_files(inbox_dir: str | Path) -> bool:
    """Whether the inbox holds benefit inputs (receipts or 償還払い applications)."""
    return any((Path(inbox_dir) / name).exists() for name in CLAIM_FILES)
