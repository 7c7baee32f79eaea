"""File defaults of the move-in inquiries: one CSV per outside system in an inquiry directory.

The embedded default (``<home>/inquiry``) and what most tests use; the Protocols, layouts and errors are
in :mod:`connectors.base`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from connectors.base import (
    INTERMEDIARY_COLUMNS,
    JUKINET_COLUMNS,
    REGISTRY_COLUMNS,
    TAX_COLUMNS,
    Consent,
    InquiryConnectors,
    InquiryRejected,
    InquiryUnavailable,
    NotFound,
    require_consent,
)
from connectors.files import read_input_csv
from privacy.masking import mask_id
from schemas.codes import SOURCE_ROW

FILE_NAMES = {
    "registry": "registry.csv",
    "tax": "tax.csv",
    "jukinet": "jukinet.csv",
    "intermediary": "intermediary_income.csv",
}


def _to_str_frame(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = frame[columns].astype("str").where(frame[columns].notna(), None).reset_index(drop=True)
    out[SOURCE_ROW] = pd.RangeIndex(2, len(out) + 2, dtype="int64")
    return out


# -- file defaults -----------------------------------------------------------------------------------
class _FileSource:
    """Reads one CSV of the inquiry directory (the embedded default: ``<home>/inquiry``)."""

    service = "file"
    kind = ""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def _read(self, columns: list[str]) -> pd.DataFrame:
        path = self.directory / FILE_NAMES[self.kind]
        if not path.exists():
            raise InquiryUnavailable(self.service, f"file {path.name} is missing in the inquiry directory")
        return read_input_csv(path, columns)


class FileResidentRegistry(_FileSource):
    """:class:`ResidentRegistry` over ``registry.csv`` (residents.csv columns + previous_municipality_code)."""

    service = "registry"
    kind = "registry"

    def fetch_household(self, *, person_id: str | None = None, household_id: str | None = None,
                        as_of: dt.date) -> pd.DataFrame:  # noqa: D102
        frame = self._read(REGISTRY_COLUMNS)
        if household_id is None:
            if person_id is None:
                raise InquiryRejected(self.service, "a person_id or a household_id is required", 400, "BAD_REQUEST")
            hits = frame.loc[frame["person_id"] == person_id, "household_id"]
            if hits.empty:
                raise NotFound(self.service, f"person {mask_id(person_id)} is not registered", 404, "NOT_FOUND")
            household_id = hits.iloc[0]
        members = frame[frame["household_id"] == household_id]
        if members.empty:
            raise NotFound(self.service, f"household {mask_id(household_id)} is not registered", 404, "NOT_FOUND")
        return _to_str_frame(members, REGISTRY_COLUMNS)


class FileTaxSystem(_FileSource):
    """:class:`TaxSystem` over ``tax.csv`` (the tax.csv inbox layout)."""

    service = "tax"
    kind = "tax"

    def fetch_tax(self, person_ids: list[str], tax_year: int) -> pd.DataFrame:  # noqa: D102
        frame = self._read(TAX_COLUMNS)
        hits = frame[frame["person_id"].isin(person_ids) & (frame["tax_year"] == str(tax_year))]
        return _to_str_frame(hits, TAX_COLUMNS)


class FileJukinet(_FileSource):
    """:class:`Jukinet` over ``jukinet.csv`` (person_id, previous_municipality_code)."""

    service = "jukinet"
    kind = "jukinet"

    def lookup_previous_municipality(self, person_id: str) -> str:  # noqa: D102
        frame = self._read(JUKINET_COLUMNS)
        hits = frame.loc[frame["person_id"] == person_id, "previous_municipality_code"].dropna()
        if hits.empty:
            raise NotFound(self.service, f"no previous address known for {mask_id(person_id)}", 404, "NOT_FOUND")
        return str(hits.iloc[-1])


class FileIntermediaryServer(_FileSource):
    """:class:`IntermediaryServer` over ``intermediary_income.csv`` (municipality_code + tax.csv columns)."""

    service = "intermediary"
    kind = "intermediary"

    def fetch_income(self, person_ids: list[str], *, tax_year: int, municipality_code: str,
                     consent: Consent | None, household_id: str, on: dt.date) -> pd.DataFrame:  # noqa: D102
        require_consent(consent, household_id=household_id, tax_year=tax_year, on=on)
        frame = self._read(INTERMEDIARY_COLUMNS)
        hits = frame[
            frame["person_id"].isin(person_ids)
            & (frame["tax_year"] == str(tax_year))
            & (frame["municipality_code"] == municipality_code)
        ]
        return _to_str_frame(hits, TAX_COLUMNS)


def file_connectors(directory: str | Path) -> InquiryConnectors:
    """The four file defaults over one inquiry directory."""
    return InquiryConnectors(
        FileResidentRegistry(directory), FileTaxSystem(directory), FileJukinet(directory),
        FileIntermediaryServer(directory),
    )
