"""Online inquiries for a move-in case (PIA §3 (1) ① 入手 ア–ウ): pick the implementation.

Four outside systems, each a :class:`typing.Protocol` in :mod:`connectors.base`, with a file default
(:mod:`connectors.inquiry_files`, a directory of CSV files: the embedded default and what most tests
use) and an HTTP implementation (:mod:`connectors.inquiry_http`; transient failures are retried only there):

* ``ResidentRegistry`` — 住民記録システム online inquiry for **one household** (住民票関係情報, PIA
  ア: 「異動があった都度、オンライン照会により随時入手」).
* ``TaxSystem`` — 税務システム inquiry of the current 課税年度 (地方税関係情報, PIA ア).
* ``Jukinet`` — 住民基本台帳ネットワーク lookup of the previous municipality when the registry does
  not know it (PIA ウ: 「照会先が不明な場合、住民基本台帳ネットワークを通じ照会先情報を入手」).
* ``IntermediaryServer`` — 中間サーバ → 情報提供ネットワークシステム inquiry of the previous city's
  income, **only with the person's recorded consent** (PIA イ; the rule: :mod:`rules.consent`). Without
  a covering ``Consent`` it raises ``ConsentMissing`` *before* anything is sent.

This module is what callers import (``from connectors import inquiry as iq``): the choice of
implementation from settings, the 所得証明書 reader, and the names of the three modules above.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from config.settings import get_settings
from connectors.base import (
    INCOME_INQUIRY_SCOPE,
    INTERMEDIARY_COLUMNS,
    JUKINET_COLUMNS,
    REGISTRY_COLUMNS,
    RESIDENT_COLUMNS,
    TAX_COLUMNS,
    Consent,
    ConsentMissing,
    InquiryConnectors,
    InquiryError,
    InquiryRejected,
    InquiryTimeout,
    InquiryUnavailable,
    IntermediaryServer,
    Jukinet,
    NotFound,
    ResidentRegistry,
    TaxSystem,
    empty_frame,
    require_consent,
)
from connectors.files import read_input_csv
from connectors.inquiry_files import (
    FILE_NAMES,
    FileIntermediaryServer,
    FileJukinet,
    FileResidentRegistry,
    FileTaxSystem,
    file_connectors,
)
from connectors.inquiry_http import (
    RETRY_STATUSES,
    HttpClient,
    HttpIntermediaryServer,
    HttpJukinet,
    HttpOptions,
    HttpResidentRegistry,
    HttpTaxSystem,
    build_session,
    http_connectors,
    idempotency_key,
)

__all__ = [
    "FILE_NAMES", "INCOME_INQUIRY_SCOPE", "INTERMEDIARY_COLUMNS", "JUKINET_COLUMNS", "REGISTRY_COLUMNS",
    "RESIDENT_COLUMNS", "RETRY_STATUSES", "TAX_COLUMNS", "Consent", "ConsentMissing", "FileIntermediaryServer",
    "FileJukinet", "FileResidentRegistry", "FileTaxSystem", "HttpClient", "HttpIntermediaryServer", "HttpJukinet",
    "HttpOptions", "HttpResidentRegistry", "HttpTaxSystem", "InquiryConnectors", "InquiryError",
    "InquiryRejected", "InquiryTimeout", "InquiryUnavailable", "IntermediaryServer", "Jukinet", "NotFound",
    "ResidentRegistry", "TaxSystem", "build_session", "connectors_from_settings", "default_inquiry_dir",
    "empty_frame", "file_connectors", "http_connectors", "idempotency_key", "read_income_certificate",
    "require_consent",
]


def default_inquiry_dir(settings=None) -> Path:
    """The embedded default's inquiry directory: ``<home>/inquiry``."""
    settings = settings if settings is not None else get_settings()
    return Path(settings.home) / "inquiry"


def connectors_from_settings(settings=None, *, directory: str | Path | None = None,
                             options: HttpOptions | None = None) -> InquiryConnectors:
    """Pick the implementation from settings (``connector``: ``file`` default, or ``http``)."""
    settings = settings if settings is not None else get_settings()
    if settings.connector == "http":
        if not settings.inquiry_url:
            raise InquiryUnavailable("settings", "KODOMO_CONNECTOR=http needs KODOMO_INQUIRY_URL")
        return http_connectors(settings.inquiry_url, options=options)
    return file_connectors(directory or default_inquiry_dir(settings))


def read_income_certificate(path: str | Path) -> pd.DataFrame:
    """A submitted 所得証明書 transcribed as CSV in the tax.csv layout (PIA §3(1)①イ, first route)."""
    return read_input_csv(Path(path), TAX_COLUMNS)
