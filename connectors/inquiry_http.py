"""HTTP implementations of the move-in inquiries: one ``requests.Session`` for the four services.

Transient failures (429/5xx, timeouts, connection errors) are retried here and only here (style.md
points 12–14); the Protocols, layouts and errors are in :mod:`connectors.base`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from typing import Any

import pandas as pd
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from connectors.base import (
    REGISTRY_COLUMNS,
    TAX_COLUMNS,
    Consent,
    InquiryConnectors,
    InquiryRejected,
    InquiryTimeout,
    InquiryUnavailable,
    NotFound,
    empty_frame,
    require_consent,
)
from privacy.masking import mask_id
from schemas.codes import SOURCE_ROW

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


def _cell(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _records_frame(records: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """JSON records → a frame of str columns (missing → NA) in ``columns`` order, plus source_row."""
    if not records:
        return empty_frame(columns)
    out = pd.DataFrame({c: pd.Series([_cell(r.get(c)) for r in records], dtype="str") for c in columns})
    out[SOURCE_ROW] = pd.RangeIndex(2, len(out) + 2, dtype="int64")
    return out


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
            raise NotFound(self.service, f"no previous address known for {mask_id(person_id)}", 404, "NOT_FOUND")
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
