"""Claims intake of the benefit stage: read and validate the month's receipt files.

``claims.csv`` (審査支払機関 receipts, 現物給付) and ``reimbursement_applications.csv`` (償還払 applications
with the payee account) are validated row by row (schemas.claims, docs/formats); invalid rows go to the
quarantine, so that ``in = stored + quarantined``. The Prefect task ``tasks.benefits.load_claims`` wraps it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from connectors.files import file_sha256, read_input_csv, read_manifest
from schemas.checks import using_reference_date
from schemas.claims import (
    CLAIM_COLUMNS,
    PAYEE_COLUMNS,
    REIMBURSEMENT_COLUMNS,
    ClaimSchema,
    ReimbursementApplicationSchema,
    claims_stage_frame,
)
from schemas.validate import validate_frame

CLAIM_FILES = {"claims.csv": (CLAIM_COLUMNS, ClaimSchema), "reimbursement_applications.csv": (
    REIMBURSEMENT_COLUMNS, ReimbursementApplicationSchema)}


@dataclass
class ClaimInbox:
    """Validated receipts of an inbox (one stage frame), the payee accounts and the quarantine."""

    claims: pd.DataFrame
    payees: pd.DataFrame
    quarantine: pd.DataFrame
    inputs: pd.DataFrame = field(default_factory=pd.DataFrame)

    def counts(self) -> dict:
        """Aggregate counts (safe for logs and artifacts)."""
        return {"receipts": int(len(self.claims)), "quarantined_rows": int(self.quarantine["row_number"].nunique())
                if len(self.quarantine) else 0,
                "files": self.inputs.to_dict("records") if len(self.inputs) else []}


def load_claim_files(inbox_dir: str | Path, month: str | None = None) -> ClaimInbox:
    """Read and validate the claim files of an inbox (either may be absent)."""
    inbox = Path(inbox_dir)
    manifest = read_manifest(inbox)
    extract_date = manifest.get("extract_date")
    good: dict[str, pd.DataFrame] = {}
    quarantines, inputs = [], []
    for name, (columns, model) in CLAIM_FILES.items():
        path = inbox / name
        if not path.exists():
            continue
        raw = read_input_csv(path, columns, encoding=manifest.get("encoding"))
        with using_reference_date(extract_date):
            result = validate_frame(raw, model, name, extract_date=extract_date)
        good[name] = result.good
        digest = file_sha256(path)
        quarantines.append(result.quarantine.assign(file_sha256=digest))
        inputs.append({"file_name": name, "sha256": digest, "row_count": int(len(raw)),
                       "accepted_count": int(len(result.good)), "quarantined_count": result.quarantined_rows})
    claims = claims_stage_frame(good.get("claims.csv"), good.get("reimbursement_applications.csv"), month)
    applications = good.get("reimbursement_applications.csv")
    if applications is not None and len(applications):
        payees = applications[PAYEE_COLUMNS].assign(claim_id="R-" + applications["application_id"].astype(str))
    else:
        payees = pd.DataFrame(columns=["claim_id", *PAYEE_COLUMNS])
    quarantine = pd.concat(quarantines, ignore_index=True) if quarantines else pd.DataFrame(
        columns=["file_name", "file_sha256", "row_number", "column_name", "check_name", "masked_value", "reason"])
    return ClaimInbox(claims=claims, payees=payees, quarantine=quarantine, inputs=pd.DataFrame(inputs))
