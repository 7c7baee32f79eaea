"""Repository of move-in cases and consents (session first, never commits; style.md point 16)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors import inquiry as iq
from privacy.audit import record_access
from privacy.crypto import KeyRing
from privacy.paths import REFERENCE_PATTERN
from store.movein_models import MoveInCase, MoveInConsent

CASE_ID = re.compile(r"^[0-9A-Za-z-]{1,16}$")
CONSENT_ID = re.compile(REFERENCE_PATTERN)  # with at most 20 characters: neither a 宛名番号 nor a My Number fits
PERSON_ID = re.compile(r"^[0-9]{10}$")
INCOME_SOURCES = ("certificate", "inquiry", "not_yet")


class CaseError(ValueError):
    """A case or consent request that cannot be served (message without personal values)."""

    safe_message = True


def get_case(session: Session, case_id: str) -> MoveInCase | None:
    """The case row, or None."""
    return session.get(MoveInCase, case_id)


def find_open_case(session: Session, person_id: str) -> MoveInCase | None:
    """The most recent case opened for ``person_id``, if any."""
    return session.scalars(
        select(MoveInCase).where(MoveInCase.person_id == person_id).order_by(MoveInCase.opened_at.desc())
    ).first()


def derive_case_id(person_id: str, ring: KeyRing) -> str:
    """A stable case id for a 宛名番号 that reveals nothing of it (keyed blind index)."""
    digest = ring.blind_index(person_id, purpose="movein_case")
    return "MI-" + hashlib.sha256(digest.encode()).hexdigest()[:12].upper()


def open_case(session: Session, *, person_id: str, operator_id: str, ring: KeyRing,
              application_date: dt.date) -> tuple[MoveInCase, bool]:
    """The case of ``person_id`` (the most recent), or a new ``OPEN`` one; returns ``(case, created)``.

    Opened on the terminal so that the Prefect form needs only the case id (issue 14: no 宛名番号 in
    Prefect parameters). The income route is settled when the case runs (``not_yet`` until then).
    The access is recorded.
    """
    if not PERSON_ID.match(person_id or ""):
        raise CaseError("a 宛名番号 has 10 ASCII digits")
    row = find_open_case(session, person_id)
    created = row is None
    if created:
        row = MoveInCase(case_id=derive_case_id(person_id, ring), person_id=person_id, operator_id=operator_id,
                         application_date=application_date, income_source="not_yet", status="OPEN")
        session.add(row)
        session.flush()
    record_access(session, actor_id=operator_id, action="create" if created else "read", purpose="move-in:open-case",
                  subject_ids=[person_id], record_count=1, approval_id=row.case_id)
    return row, created


def record_consent(session: Session, *, consent_id: str, household_id: str, person_id: str,
                   consent_date: dt.date, scope: str, recorded_by: str, case_id: str | None = None,
                   tax_years: tuple[int, ...] = ()) -> MoveInConsent:
    """Store a consent (id, date, scope). Recording the same consent again changes nothing."""
    if not consent_id or len(consent_id) > 20 or not CONSENT_ID.match(consent_id):
        raise CaseError("a consent id has 1-20 ASCII letters, digits (at most 11, or 8 without a letter) or hyphens")
    if not PERSON_ID.match(person_id) or not PERSON_ID.match(household_id):
        raise CaseError("person_id and household_id are 10 ASCII digits")
    scopes = {s.strip() for s in scope.split(",") if s.strip()}
    if not scopes:
        raise CaseError("a consent needs a scope (e.g. income_inquiry)")
    years = ",".join(str(y) for y in sorted(tax_years)) or None
    existing = session.get(MoveInConsent, consent_id)
    if existing is not None:
        same = (existing.household_id, existing.person_id, existing.consent_date, existing.scope,
                existing.tax_years) == (household_id, person_id, consent_date, ",".join(sorted(scopes)), years)
        if not same:
            raise CaseError(f"consent {consent_id!r} is recorded already with different content")
        return existing
    row = MoveInConsent(consent_id=consent_id, household_id=household_id, person_id=person_id, case_id=case_id,
                        consent_date=consent_date, scope=",".join(sorted(scopes)), tax_years=years,
                        recorded_by=recorded_by)
    session.add(row)
    session.flush()
    return row


def load_consent(session: Session, consent_id: str | None) -> iq.Consent | None:
    """The recorded, unrevoked consent ``consent_id`` as a connector :class:`~connectors.inquiry.Consent`."""
    if not consent_id:
        return None
    row = session.get(MoveInConsent, consent_id)
    if row is None or row.revoked_date is not None:
        return None
    years = tuple(int(y) for y in row.tax_years.split(",")) if row.tax_years else ()
    return iq.Consent(row.consent_id, row.consent_date, row.scope, row.household_id, years)
