"""The consent rule of the 中間サーバ income inquiry (PIA §3 (1) ① 入手 イ).

The previous city's 地方税関係情報 may be obtained through the 中間サーバ only 「本人からの同意を得た上で」:
a recorded consent whose scope includes the income inquiry, given for the household, dated on or before
the inquiry, and (when it names 課税年度) naming the year asked for. Pure: the connectors enforce it
(connectors.base.require_consent) before anything is sent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

#: Consent scope that allows the intermediary-server income inquiry.
INCOME_INQUIRY_SCOPE = "income_inquiry"


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
