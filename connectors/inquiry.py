"""Online inquiries for a move-in case (PIA §3 (1) ① 入手 ア–ウ).

Four outside systems, each a :class:`typing.Protocol` with a file default (a directory of CSV files,
the embedded default and what most tests use) and an HTTP implementation (one ``requests.Session``
per client; transient failures are retried only here, style.md points 12–14):

* :class:`ResidentRegistry` — 住民記録システム online inquiry for **one household** (住民票関係情報, PIA
  ア: 「異動があった都度、オンライン照会により随時入手」).
* :class:`TaxSystem` — 税務システム inquiry of the current 課税年度 (地方税関係情報, PIA ア).
* :class:`Jukinet` — 住民基本台帳ネットワーク lookup of the previous municipality when the registry does
  not know it (PIA ウ: 「照会先が不明な場合、住民基本台帳ネットワークを通じ照会先情報を入手」).
* :class:`IntermediaryServer` — 中間サーバ → 情報提供ネットワークシステム inquiry of the previous city's
  income, **only with the person's recorded consent** (PIA イ: 「本人からの同意を得た上で、中間サーバに
  より…入手」). Without a :class:`Consent` it raises :class:`ConsentMissing` *before* anything is sent.

Frames come back in the inbox layouts of docs/architecture.md (all ``str`` columns, missing = NA, plus
``source_row``) so the Pandera models in ``schemas/`` validate them exactly like inbox files.

Errors never carry personal values: identifiers are masked (``privacy.masking.mask_id``) and a
server's 4xx is reported by its status and error code only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from schemas.codes import SOURCE_ROW

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

#: Consent scope that allows the intermediary-server income inquiry.
INCOME_INQUIRY_SCOPE = "income_inquiry"

FILE_NAMES = {
    "registry": "registry.csv",
    "tax": "tax.csv",
    "jukinet": "jukinet.csv",
    "intermediary": "intermediary_income.csv",
}


def _mask(value: object) -> str:
    from privacy.masking import mask_id

    return mask_id(value)


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


# -- consent -----------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Consent:
    """A recorded consent to obtain the previous city's income through the 中間サーバ (PIA §3(1)①イ).

    Loaded from the ``movein_consent`` table by the caller; the connectors never trust a consent id on
    its own. ``scope`` must include :data:`INCOME_INQUIRY_SCOPE`.
    """

    consent_id: str
    consent_date: dt.date
    scope: str
    household_id: str
    tax_years: tuple[int, ...] = ()

    def covers(self, *, household_id: str, tax_year: int, on: dt.date) -> bool:
        """True when this consent allows the income inquiry of ``household_id`` for ``tax_year``."""
        scopes = {s.strip() for s in self.scope.split(",")}
        return (
            INCOME_INQUIRY_SCOPE in scopes
            and self.household_id == household_id
            and self.consent_date <= on
            and (not self.tax_years or tax_year in self.tax_years)
        )


def require_consent(consent: Consent | None, *, household_id: str, tax_year: int, on: dt.date,
                    consent_id: str | None = None) -> Consent:
    """Return ``consent`` if it covers the inquiry, else raise :class:`ConsentMissing` (clear message)."""
    if consent is None:
        wanted = f"consent {consent_id!r} is not recorded" if consent_id else "no consent id was given"
        raise ConsentMissing(
            "intermediary",
            f"income inquiry for household {_mask(household_id)} refused: {wanted}. The 中間サーバ inquiry "
            "of the previous city's income needs the person's consent recorded beforehand (PIA §3(1)①イ): "
            "record it with `kodomo move-in consent`, or use income_source='certificate' with the "
            "submitted 所得証明書. Nothing was queried.",
        )
    if not consent.covers(household_id=household_id, tax_year=tax_year, on=on):
        raise ConsentMissing(
            "intermediary",
            f"income inquiry for household {_mask(household_id)} refused: consent {consent.consent_id!r} "
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


# -- helpers -----------------------------------------------------------------------------------------
def _empty(columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="str") for c in columns})
    frame[SOURCE_ROW] = pd.Series(dtype="int64")
    return frame


def _cell(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _records_frame(records: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """JSON records → a frame of str columns (missing → NA) in ``columns`` order, plus source_row."""
    if not records:
        return _empty(columns)
    out = pd.DataFrame({c: pd.Series([_cell(r.get(c)) for r in records], dtype="str") for c in columns})
    out[SOURCE_ROW] = pd.RangeIndex(2, len(out) + 2, dtype="int64")
    return out


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
        from connectors.files import read_input_csv

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
                raise NotFound(self.service, f"person {_mask(person_id)} is not registered", 404, "NOT_FOUND")
            household_id = hits.iloc[0]
        members = frame[frame["household_id"] == household_id]
        if members.empty:
            raise NotFound(self.service, f"household {_mask(household_id)} is not registered", 404, "NOT_FOUND")
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
            raise NotFound(self.service, f"no previous address known for {_mask(person_id)}", 404, "NOT_FOUND")
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


# -- HTTP --------------------------------------------------------------------------------------------
RETRY_STATUSES = (429, 500, 502, 503, 504)


@dataclasses.dataclass(frozen=True)
class HttpOptions:
    """Transport options of the HTTP connectors (the only layer that retries)."""

    timeout: tuple[float, float] = (3.05, 10.0)
    retries: int = 3
    backoff_factor: float = 0.5
    backoff_max: float = 10.0
    retry_after_max: int = 30
    token: str | None = None


def build_session(options: HttpOptions, session: requests.Session | None = None) -> requests.Session:
    """A ``requests.Session`` whose adapter retries 429/5xx, timeouts and connection errors.

    The inquiries are read-only; they are sent as POST (so identifiers stay out of URLs and access
    logs) with a deterministic ``Idempotency-Key`` (style.md point 14), which is why POST is retryable.
    ``Retry-After`` is honoured up to ``retry_after_max`` seconds.
    """
    session = session or requests.Session()
    retry = Retry(
        total=options.retries,
        connect=options.retries,
        read=options.retries,
        status=options.retries,
        other=0,
        backoff_factor=options.backoff_factor,
        backoff_max=options.backoff_max,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "POST"}),
        respect_retry_after_header=True,
        retry_after_max=options.retry_after_max,
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.setdefault("Accept", "application/json")
    if options.token:
        session.headers["Authorization"] = f"Bearer {options.token}"
    return session


def idempotency_key(service: str, payload: dict[str, Any]) -> str:
    """Deterministic key of an inquiry: the same question gets the same key (re-runs included)."""
    text = json.dumps({"service": service, **payload}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:40]


class HttpClient:
    """Shared JSON POST with error mapping; one session for all four services."""

    def __init__(self, base_url: str, *, options: HttpOptions | None = None,
                 session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.options = options or HttpOptions()
        self.session = build_session(self.options, session)

    def post(self, service: str, path: str, payload: dict[str, Any],
             headers: dict[str, str] | None = None) -> dict[str, Any]:
        """POST ``payload`` to ``path``; return the JSON body or raise an :class:`InquiryError`."""
        all_headers = {"Idempotency-Key": idempotency_key(service, payload), **(headers or {})}
        try:
            response = self.session.post(
                f"{self.base_url}{path}", json=payload, headers=all_headers, timeout=self.options.timeout
            )
        except (requests.Timeout, requests.ConnectionError) as exc:
            timed_out = isinstance(exc, requests.Timeout) or "timed out" in str(exc).lower() or (
                "ReadTimeout" in repr(exc))
            cls = InquiryTimeout if timed_out else InquiryUnavailable
            what = "timed out" if timed_out else "could not be reached"
            raise cls(service, f"{what} after {self.options.retries + 1} attempt(s)",
                      self.options.retries + 1) from None
        except requests.RequestException as exc:
            raise InquiryUnavailable(service, f"transport error {type(exc).__name__}") from None
        status = response.status_code
        if status in RETRY_STATUSES:
            raise InquiryUnavailable(
                service, f"HTTP {status} after {self.options.retries + 1} attempt(s)", self.options.retries + 1
            )
        if status >= 400:
            error_code = _error_code(response)
            cls = NotFound if status == 404 else InquiryRejected
            raise cls(service, f"rejected with HTTP {status} ({error_code})", status, error_code)
        try:
            return response.json()
        except ValueError:
            raise InquiryUnavailable(service, "the answer is not JSON") from None


def _error_code(response: requests.Response) -> str:
    """The server's error code (never its free text, which might echo values)."""
    try:
        body = response.json()
    except ValueError:
        return "UNKNOWN"
    detail = body.get("detail", body) if isinstance(body, dict) else {}
    code = detail.get("code") if isinstance(detail, dict) else None
    return str(code)[:40] if code else "UNKNOWN"


class HttpResidentRegistry:
    """:class:`ResidentRegistry` over ``POST /registry/v1/household-inquiry``."""

    service = "registry"

    def __init__(self, client: HttpClient) -> None:
        self.client = client

    def fetch_household(self, *, person_id: str | None = None, household_id: str | None = None,
                        as_of: dt.date) -> pd.DataFrame:  # noqa: D102
        body = self.client.post(self.service, "/registry/v1/household-inquiry", {
            "person_id": person_id, "household_id": household_id, "as_of": as_of.isoformat(),
        })
        frame = _records_frame(body.get("members", []), REGISTRY_COLUMNS)
        if frame.empty:
            raise NotFound(self.service, "the household has no members", 404, "NOT_FOUND")
        return frame


class HttpTaxSystem:
    """:class:`TaxSystem` over ``POST /tax/v1/income-inquiry``."""

    service = "tax"

    def __init__(self, client: HttpClient) -> None:
        self.client = client

    def fetch_tax(self, person_ids: list[str], tax_year: int) -> pd.DataFrame:  # noqa: D102
        body = self.client.post(self.service, "/tax/v1/income-inquiry",
                                {"person_ids": sorted(person_ids), "tax_year": tax_year})
        return _records_frame(body.get("records", []), TAX_COLUMNS)


class HttpJukinet:
    """:class:`Jukinet` over ``POST /jukinet/v1/previous-municipality``."""

    service = "jukinet"

    def __init__(self, client: HttpClient) -> None:
        self.client = client

    def lookup_previous_municipality(self, person_id: str) -> str:  # noqa: D102
        body = self.client.post(self.service, "/jukinet/v1/previous-municipality", {"person_id": person_id})
        code = body.get("previous_municipality_code")
        if not code:
            raise NotFound(self.service, f"no previous address known for {_mask(person_id)}", 404, "NOT_FOUND")
        return str(code)


class HttpIntermediaryServer:
    """:class:`IntermediaryServer` over ``POST /intermediary/v1/income-inquiry`` (consent checked first)."""

    service = "intermediary"

    def __init__(self, client: HttpClient) -> None:
        self.client = client

    def fetch_income(self, person_ids: list[str], *, tax_year: int, municipality_code: str,
                     consent: Consent | None, household_id: str, on: dt.date) -> pd.DataFrame:  # noqa: D102
        consent = require_consent(consent, household_id=household_id, tax_year=tax_year, on=on)
        body = self.client.post(self.service, "/intermediary/v1/income-inquiry", {
            "person_ids": sorted(person_ids),
            "tax_year": tax_year,
            "municipality_code": municipality_code,
            "consent": {"consent_id": consent.consent_id, "consent_date": consent.consent_date.isoformat(),
                        "scope": consent.scope},
        })
        return _records_frame(body.get("records", []), TAX_COLUMNS)


def http_connectors(base_url: str, *, options: HttpOptions | None = None,
                    session: requests.Session | None = None) -> InquiryConnectors:
    """The four HTTP connectors sharing one session (and so one retry policy and pool)."""
    client = HttpClient(base_url, options=options, session=session)
    return InquiryConnectors(
        HttpResidentRegistry(client), HttpTaxSystem(client), HttpJukinet(client), HttpIntermediaryServer(client)
    )


def default_inquiry_dir(settings=None) -> Path:
    """The embedded default's inquiry directory: ``<home>/inquiry``."""
    if settings is None:
        from config.settings import get_settings

        settings = get_settings()
    return Path(settings.home) / "inquiry"


def connectors_from_settings(settings=None, *, directory: str | Path | None = None,
                             options: HttpOptions | None = None) -> InquiryConnectors:
    """Pick the implementation from settings (``connector``: ``file`` default, or ``http``)."""
    if settings is None:
        from config.settings import get_settings

        settings = get_settings()
    if settings.connector == "http":
        if not settings.inquiry_url:
            raise InquiryUnavailable("settings", "KODOMO_CONNECTOR=http needs KODOMO_INQUIRY_URL")
        return http_connectors(settings.inquiry_url, options=options)
    return file_connectors(directory or default_inquiry_dir(settings))


def read_income_certificate(path: str | Path) -> pd.DataFrame:
    """A submitted 所得証明書 transcribed as CSV in the tax.csv layout (PIA §3(1)①イ, first route)."""
    from connectors.files import read_input_csv

    return read_input_csv(Path(path), TAX_COLUMNS)
