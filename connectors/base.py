"""One ``typing.Protocol`` per outside system (style.md point 12), with their typed errors.

Implementations: PMH in ``connectors/pmh.py`` (HTTP and ``FilePmhClient``); the move-in inquiries in
``connectors/inquiry_files.py`` (file defaults) and ``connectors/inquiry_http.py`` (HTTP), chosen by
``connectors/inquiry.py``; inbox files in ``connectors/files.py``; the 全銀 file in ``connectors/zengin.py``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import pandas as pd

from privacy.masking import mask_id
from rules.consent import INCOME_INQUIRY_SCOPE, Consent
from schemas.codes import SOURCE_ROW

# =====================================================================================================
# PMH (Public Medical Hub) — registration of subsidy subjects (issue 4; owner: PMH linkage).
# Self-contained section: the types below are used by connectors/pmh.py and kodomo/pmh/.
# =====================================================================================================


@dataclass(frozen=True)
class PmhReceipt:
    """PMH accepted a registration request: the asynchronous task id (None in file mode)."""

    task_id: str | None
    record_count: int
    replayed: bool = False
    location: str | None = None  # file mode: the written file (relative to the outbox)


@dataclass(frozen=True)
class PmhRecordResult:
    """PMH's answer for one record of a task (index = position in the request array)."""

    index: int
    result: str  # REGISTERED, DELETED or ERROR
    pmh_id: str | None = None
    error_code: str | None = None


@dataclass(frozen=True)
class PmhTaskStatus:
    """State of a registration task: PROCESSING, or COMPLETED with per-record results."""

    task_id: str
    status: str
    results: Sequence[PmhRecordResult] = field(default_factory=tuple)

    @property
    def completed(self) -> bool:
        return self.status == "COMPLETED"


@runtime_checkable
class PmhClient(Protocol):
    """Registration API of PMH (医療費助成対象者情報登録API, pmh_interfaces.md §1.2).

    ``submit`` sends one batch (a JSON array of ≤ 100 records) under an Idempotency-Key and returns the
    task; re-submitting the same key and body returns the original task. ``poll`` reads a task's results.
    Errors: ``connectors.pmh.PmhRejected`` (4xx, PMH's codes) and ``PmhUnavailable`` (outcome unknown).
    """

    #: False for the file client (no task to poll; rows end as SENT until a manual upload).
    polls_results: bool

    def submit(self, records: Sequence[Mapping], idempotency_key: str) -> PmhReceipt: ...

    def poll(self, task_id: str) -> PmhTaskStatus: ...

    def close(self) -> None: ...


# ===================================================================================== end of PMH ====


# =====================================================================================================
# Move-in inquiries (PIA §3 (1) ① 入手 ア–ウ): 住民記録, 税務, 住基ネット, 中間サーバ.
# Frames come back in the inbox layouts (all ``str`` columns, missing = NA, plus ``source_row``).
# Errors never carry personal values: identifiers are masked and a server's 4xx is reported by its
# status and error code only.
# =====================================================================================================
# -- layouts -----------------------------------------------------------------------------------------
RESIDENT_COLUMNS = [
    "person_id", "household_id", "relationship_code", "my_number", "name", "name_kana", "address",
    "birth_date", "sex_code", "dv_support_flag", "residence_start_date",
]
#: The registry answer: residents.csv columns + the 前住所 municipality (全国地方公共団体コード, 6 digits),
#: empty when the registry does not know it (then 住基ネット is asked).
REGISTRY_COLUMNS = [*RESIDENT_COLUMNS, "previous_municipality_code"]
TAX_COLUMNS = [
    "person_id", "tax_year", "total_income_amount", "casualty_loss_deduction_amount",
    "medical_deduction_amount", "small_business_deduction_amount", "disability_deduction_amount",
    "dependents_count", "elderly_dependents_count",
]
JUKINET_COLUMNS = ["person_id", "previous_municipality_code"]
INTERMEDIARY_COLUMNS = ["municipality_code", *TAX_COLUMNS]


def empty_frame(columns: list[str]) -> pd.DataFrame:
    """An inquiry answer with no rows: ``str`` columns in ``columns`` order, plus ``source_row``."""
    frame = pd.DataFrame({c: pd.Series(dtype="str") for c in columns})
    frame[SOURCE_ROW] = pd.Series(dtype="int64")
    return frame


FILE_NAMES = {
    "registry": "registry.csv",
    "tax": "tax.csv",
    "jukinet": "jukinet.csv",
    "intermediary": "intermediary_income.csv",
}


# -- errors ------------------------------------------------------------------------------------------
class InquiryError(Exception):
    """Base of every inquiry failure; ``service`` names the outside system, never a person."""

    code = "INQUIRY_ERROR"
    #: The message holds masked ids, codes and counts only (privacy.errors passes it through).
    safe_message = True

    def __init__(self, service: str, message: str) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service


class ConsentMissing(InquiryError):  # noqa: N818 - name fixed by the brief
    """The intermediary-server inquiry was refused locally: no recorded consent covers it.

    Nothing is sent to any system (neither 住基ネット nor the 中間サーバ) when this is raised.
    """

    code = "CONSENT_MISSING"


class InquiryRejected(InquiryError):  # noqa: N818 - style.md point 13
    """The outside system answered 4xx (bad request, not found, forbidden): retrying will not help."""

    code = "INQUIRY_REJECTED"

    def __init__(self, service: str, message: str, status: int | None = None, error_code: str | None = None):
        super().__init__(service, message)
        self.status = status
        self.error_code = error_code


class NotFound(InquiryRejected):
    """The system knows no such household / person / previous municipality."""

    code = "NOT_FOUND"


class InquiryUnavailable(InquiryError):  # noqa: N818 - style.md point 13
    """Transport failure, timeouts or 429/5xx after the connector's retries were exhausted."""

    code = "INQUIRY_UNAVAILABLE"

    def __init__(self, service: str, message: str, attempts: int | None = None):
        super().__init__(service, message)
        self.attempts = attempts


class InquiryTimeout(InquiryUnavailable):
    """Every attempt timed out."""

    code = "INQUIRY_TIMEOUT"


# -- consent (the rule is rules.consent; every IntermediaryServer enforces it before sending) --------
def require_consent(consent: Consent | None, *, household_id: str, tax_year: int, on: dt.date,
                    consent_id: str | None = None) -> Consent:
    """Return ``consent`` if it covers the inquiry, else raise :class:`ConsentMissing` (clear message)."""
    if consent is None:
        wanted = f"consent {consent_id!r} is not recorded" if consent_id else "no consent id was given"
        raise ConsentMissing(
            "intermediary",
            f"income inquiry for household {mask_id(household_id)} refused: {wanted}. The 中間サーバ inquiry "
            "of the previous city's income needs the person's consent recorded beforehand (PIA §3(1)①イ): "
            "record it with `kodomo move-in consent`, or use income_source='certificate' with the "
            "submitted 所得証明書. Nothing was queried.",
        )
    if not consent.covers(household_id=household_id, tax_year=tax_year, on=on):
        raise ConsentMissing(
            "intermediary",
            f"income inquiry for household {mask_id(household_id)} refused: consent {consent.consent_id!r} "
            f"(dated {consent.consent_date.isoformat()}, scope {consent.scope!r}) does not cover the "
            f"{INCOME_INQUIRY_SCOPE} of 課税年度 {tax_year} for this household on {on.isoformat()}. "
            "Nothing was queried.",
        )
    return consent


# -- protocols ---------------------------------------------------------------------------------------
@runtime_checkable
class ResidentRegistry(Protocol):
    """住民記録システム: the current 住民票 of one household."""

    def fetch_household(self, *, person_id: str | None = None, household_id: str | None = None,
                        as_of: dt.date) -> pd.DataFrame:
        """The members of the household of ``person_id`` (or ``household_id``): :data:`REGISTRY_COLUMNS`."""
        ...


@runtime_checkable
class TaxSystem(Protocol):
    """税務システム: 個人住民税 records assessed by this city."""

    def fetch_tax(self, person_ids: list[str], tax_year: int) -> pd.DataFrame:
        """Records of ``tax_year`` for those of ``person_ids`` the city assessed (:data:`TAX_COLUMNS`)."""
        ...


@runtime_checkable
class Jukinet(Protocol):
    """住民基本台帳ネットワーク (本人確認情報): the municipality of the previous address."""

    def lookup_previous_municipality(self, person_id: str) -> str:
        """The 6-digit 全国地方公共団体コード of the previous address; :class:`NotFound` if unknown."""
        ...


@runtime_checkable
class IntermediaryServer(Protocol):
    """中間サーバ: 地方税関係情報 of another municipality through 情報提供ネットワークシステム."""

    def fetch_income(self, person_ids: list[str], *, tax_year: int, municipality_code: str,
                     consent: Consent | None, household_id: str, on: dt.date) -> pd.DataFrame:
        """Tax records of ``tax_year`` held by ``municipality_code`` (:data:`TAX_COLUMNS`)."""
        ...


@dataclasses.dataclass(frozen=True)
class InquiryConnectors:
    """The four connectors a move-in case uses."""

    registry: ResidentRegistry
    tax: TaxSystem
    jukinet: Jukinet
    intermediary: IntermediaryServer


# ============================================================================ end of inquiries ====
