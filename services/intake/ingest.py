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

from connectors.files import InputFileError, file_sha256, read_input_csv, read_manifest
from schemas.applications import ApplicationSchema
from schemas.checks import using_reference_date
from schemas.insurance import InsuranceSchema
from schemas.placements import PlacementSchema
from schemas.resident_events import ResidentEventSchema
from schemas.residents import ResidentSchema
from schemas.tax import TaxSchema
from schemas.validate import validate_frame
from schemas.welfare import WelfareSchema

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

    def counts(self) -> dict:
        """Aggregate counts (safe for logs and artifacts)."""
        return {
            "files": self.inputs[["file_name", "row_count", "accepted_count", "quarantined_count"]].to_dict("records")
            if not self.inputs.empty else [],
            "quarantined_cells": int(len(self.quarantine)),
        }


def model_columns(schema: type) -> list[str]:
    """The documented file columns of a schema (every column but ``source_row``)."""
    return [name for name in schema.to_schema().columns if name != "source_row"]


def read_inbox(inbox_dir: str | Path, names: list[str] | None = None) -> dict[str, tuple[pd.DataFrame, str]]:
    """Read every present input file (raw strings) with its SHA-256; a missing required file is an error."""
    directory = Path(inbox_dir)
    if not directory.is_dir():
        raise InputFileError(str(directory), "the inbox directory does not exist")
    raw: dict[str, tuple[pd.DataFrame, str]] = {}
    for name in names or list(INPUT_FILES):
        file_name, schema, required = INPUT_FILES[name]
        path = directory / file_name
        if not path.exists():
            if required:
                raise InputFileError(file_name, "the file is missing from the inbox")
            continue
        raw[name] = (read_input_csv(path, model_columns(schema)), file_sha256(path))
    return raw


def validate_inbox(raw: dict[str, tuple[pd.DataFrame, str]], extract_date: str | None) -> Inbox:
    """Validate each raw frame; collect good rows, per-file counts and quarantined cells."""
    inbox = Inbox(extract_date=extract_date)
    inputs, quarantined = [], []
    with using_reference_date(extract_date):
        for name, (frame, sha256) in raw.items():
            file_name, schema, _ = INPUT_FILES[name]
            result = validate_frame(frame, schema, file_name)
            inbox.frames[name] = result.good.drop(columns=["source_row"], errors="ignore")
            bad_rows = result.quarantine["row_number"].nunique() if not result.quarantine.empty else 0
            inputs.append({"file_name": file_name, "sha256": sha256, "row_count": len(frame),
                           "accepted_count": len(result.good), "quarantined_count": int(bad_rows)})
            if not result.quarantine.empty:
                quarantined.append(result.quarantine.assign(file_sha256=sha256))
    inbox.inputs = pd.DataFrame(inputs)
    inbox.quarantine = pd.concat(quarantined, ignore_index=True) if quarantined else pd.DataFrame(
        columns=["file_name", "file_sha256", "row_number", "column_name", "check_name", "masked_value", "reason"])
    return inbox


def load_inbox(inbox_dir: str | Path) -> Inbox:
    """Read and validate a whole inbox directory."""
    manifest = read_manifest(inbox_dir)
    return validate_inbox(read_inbox(inbox_dir), manifest.get("extract_date"))


CLAIM_FILES = ("claims.csv", "reimbursement_applications.csv")


def has_claim_files(inbox_dir: str | Path) -> bool:
    """Whether the inbox holds benefit inputs (receipts or 償還払い applications)."""
    return any((Path(inbox_dir) / name).exists() for name in CLAIM_FILES)
