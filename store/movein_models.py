"""Move-in cases (転入), recorded consents and where each income record came from.

* ``movein_case`` — one 転入 case handled at the counter: the 宛名番号 it was opened for, the household
  once the registry answered, how income is known (``certificate`` | ``inquiry`` | ``not_yet``), the
  previous municipality and how it was found (``registry`` or ``jukinet``), and the state.
* ``movein_consent`` — the person's consent to obtain the previous city's 地方税関係情報 through the
  中間サーバ (PIA §3 (1) ① イ). Without a row here covering the household, scope and date, the inquiry is
  refused before anything is sent (``connectors.inquiry.ConsentMissing``).
* ``income_source`` — per (person, 課税年度): whether the tax record came from a submitted 所得証明書,
  the city's tax system or the 中間サーバ (with the consent id), for the case file and audits.

No My Number, name or address is stored here (those live encrypted in ``person``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, DateTime, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from store.db import Base


class MoveInCase(Base):
    """A 転入 case (case id, 宛名番号, household, income route, state)."""

    __tablename__ = "movein_case"

    case_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(15), index=True, doc="宛名番号 the case was opened for")
    household_id: Mapped[str | None] = mapped_column(String(15), index=True, doc="世帯番号 (registry answer)")
    operator_id: Mapped[str] = mapped_column(String(32), doc="staff member who opened the case")
    application_date: Mapped[dt.date] = mapped_column(Date, doc="受付日 of the 資格登録届 at the counter")
    income_source: Mapped[str] = mapped_column(String(12), doc="certificate | inquiry | not_yet")
    move_in_date: Mapped[dt.date | None] = mapped_column(Date, doc="住民となった日 (registry answer)")
    previous_municipality_code: Mapped[str | None] = mapped_column(String(6), doc="全国地方公共団体コード")
    previous_municipality_source: Mapped[str | None] = mapped_column(String(12), doc="registry | jukinet")
    status: Mapped[str] = mapped_column(String(16), default="OPEN",
                                        doc="AWAITING_INCOME | AWAITING_INSURANCE | DETERMINED")
    determined_run_id: Mapped[str | None] = mapped_column(String(64), doc="run that last changed the state")
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class MoveInConsent(Base):
    """A recorded consent (id, date, scope) to the 中間サーバ income inquiry for one household."""

    __tablename__ = "movein_consent"

    consent_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    household_id: Mapped[str] = mapped_column(String(15), index=True)
    person_id: Mapped[str] = mapped_column(String(15), doc="宛名番号 of the person who consented")
    case_id: Mapped[str | None] = mapped_column(String(20))
    consent_date: Mapped[dt.date] = mapped_column(Date)
    scope: Mapped[str] = mapped_column(String(64), doc="comma-separated scopes, e.g. income_inquiry")
    tax_years: Mapped[str | None] = mapped_column(String(32), doc="comma-separated 課税年度; empty = any")
    recorded_by: Mapped[str] = mapped_column(String(32), doc="operator id")
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_date: Mapped[dt.date | None] = mapped_column(Date)


class IncomeSource(Base):
    """Where the tax record of a person and 課税年度 came from."""

    __tablename__ = "income_source"
    __table_args__ = (UniqueConstraint("person_id", "tax_year"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(15))
    tax_year: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(12), doc="certificate | city_tax | intermediary")
    municipality_code: Mapped[str | None] = mapped_column(String(6))
    case_id: Mapped[str | None] = mapped_column(String(20))
    consent_id: Mapped[str | None] = mapped_column(String(20))
    run_id: Mapped[str] = mapped_column(String(64))

