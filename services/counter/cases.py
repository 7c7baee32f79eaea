"""Counter cases (issue 14): an opaque id that stands for a child (and its guardian) in the Prefect forms.

A case is opened on the terminal (``kodomo counter open``), where the 宛名番号 is typed and the access is
recorded; the Prefect forms then take only the case id, which the task resolves back to the person inside
the service's transaction. Prefect therefore never stores a 宛名番号 in ``flow_run.parameters``.
Repository functions take the session first and never commit (style.md point 16).
"""

from __future__ import annotations

import base64
import dataclasses
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from privacy.audit import record_access
from store.counter_models import CounterCase

#: ``CC-`` and 10 characters of RFC 4648 base32 (50 random bits): never a 10-digit 宛名番号.
CASE_ID_PATTERN = r"^CC-[A-Z2-7]{10}$"
CASE_ID = re.compile(CASE_ID_PATTERN)
PERSON_ID = re.compile(r"^[0-9]{10}$")


class CounterCaseError(ValueError):
    """A case that cannot be opened or found (the message holds the case id only, never a 宛名番号)."""

    safe_message = True


@dataclasses.dataclass(frozen=True)
class ResolvedCase:
    """The persons a case stands for (kept in memory inside the task, never returned to Prefect)."""

    case_id: str
    person_id: str
    guardian_person_id: str | None


def new_case_id() -> str:
    """``CC-`` + 10 random base32 characters (``secrets``: not derived from the person)."""
    return "CC-" + base64.b32encode(secrets.token_bytes(10)).decode("ascii")[:10]


def open_case(session: Session, *, person_id: str, operator_id: str,
              guardian_person_id: str | None = None) -> tuple[CounterCase, bool]:
    """The open case of the child (and guardian), or a new one; returns ``(case, created)``.

    The access is recorded (the operator typed a 宛名番号 to open or look up the case).
    """
    if not PERSON_ID.match(person_id or ""):
        raise CounterCaseError("the child's 宛名番号 has 10 ASCII digits")
    if guardian_person_id is not None and not PERSON_ID.match(guardian_person_id):
        raise CounterCaseError("the guardian's 宛名番号 has 10 ASCII digits")
    row = session.scalars(
        select(CounterCase).where(CounterCase.person_id == person_id, CounterCase.status == "OPEN",
                                  CounterCase.guardian_person_id.is_(None) if guardian_person_id is None
                                  else CounterCase.guardian_person_id == guardian_person_id)
        .order_by(CounterCase.opened_at.desc(), CounterCase.case_id)).first()
    created = row is None
    if created:
        row = CounterCase(case_id=new_case_id(), person_id=person_id, guardian_person_id=guardian_person_id,
                          status="OPEN", opened_by=operator_id)
        session.add(row)
        session.flush()
    subjects = [person_id] + ([guardian_person_id] if guardian_person_id else [])
    record_access(session, actor_id=operator_id, action="create" if created else "read", purpose="counter:open-case",
                  subject_ids=subjects, record_count=1, approval_id=row.case_id)
    return row, created


def resolve_case(session: Session, case_id: str) -> ResolvedCase:
    """The persons of an open case; an unknown or closed case is refused with its id."""
    if not CASE_ID.match(case_id or ""):
        raise CounterCaseError("a counter case id is CC- and 10 characters A-Z, 2-7 (kodomo counter open)")
    row = session.get(CounterCase, case_id)
    if row is None:
        raise CounterCaseError(f"counter case {case_id} does not exist (kodomo counter open)")
    if row.status != "OPEN":
        raise CounterCaseError(f"counter case {case_id} is closed")
    return ResolvedCase(row.case_id, row.person_id, row.guardian_person_id)
