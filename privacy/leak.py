"""Leak readiness (漏えい等報告; security.md §1.6, SEC-13).

:func:`affected_subjects` lists, from the access records alone, the persons (person_id) and record
counts touched by a run or within a time window — the population of a 速報/確報. :func:`report_deadlines`
does the clock arithmetic from the day the city learnt of the incident (知った日):

* 速報: "promptly" (速やかに) — guidance of about 3–5 days; we show day +5 as the latest target [I];
* 確報: within 30 days, or 60 days when the leak may have been made with an unlawful purpose (不正の目的)
  (個人情報保護法施行規則 第8条 / the 番号法 報告規則 analogue; security.md §1.6 [C]/[I]).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from privacy.audit import unpack_subjects
from store.privacy_models import AccessRecord

SOKUHO_TARGET_DAYS = 5
KAKUHO_DAYS = 30
KAKUHO_DAYS_UNLAWFUL = 60


@dataclass
class Affected:
    """Persons and records touched by the selected access records."""

    person_ids: list[str] = field(default_factory=list)
    record_count: int = 0
    access_records: list[int] = field(default_factory=list)
    actions: dict[str, int] = field(default_factory=dict)

    @property
    def person_count(self) -> int:  # noqa: D102
        return len(self.person_ids)


def affected_subjects(session: Session, *, run_id: str | None = None, since: dt.datetime | None = None,
                      until: dt.datetime | None = None, actions: set[str] | None = None) -> Affected:
    """Union of the subjects of the access records of ``run_id`` and/or in [since, until)."""
    if run_id is None and since is None and until is None:
        raise ValueError("give a run id or a time window")
    query = select(AccessRecord).order_by(AccessRecord.seq)
    if run_id is not None:
        query = query.where(AccessRecord.run_id == run_id)
    if since is not None:
        query = query.where(AccessRecord.occurred_at >= since)
    if until is not None:
        query = query.where(AccessRecord.occurred_at < until)
    if actions:
        query = query.where(AccessRecord.action.in_(sorted(actions)))
    persons: set[str] = set()
    result = Affected()
    for row in session.execute(query).scalars():
        persons.update(unpack_subjects(row.subject_ids_z))
        result.record_count += int(row.record_count)
        result.access_records.append(int(row.seq))
        result.actions[row.action] = result.actions.get(row.action, 0) + 1
    result.person_ids = sorted(persons)
    return result


@dataclass(frozen=True)
class Deadlines:
    """Report clock from the day the incident became known."""

    discovered: dt.date
    sokuho_target: dt.date
    kakuho_due: dt.date
    unlawful_purpose: bool


def report_deadlines(discovered: dt.date, *, unlawful_purpose: bool = False) -> Deadlines:
    """速報 target (+5 days) and 確報 due date (+30, or +60 days for 不正の目的)."""
    days = KAKUHO_DAYS_UNLAWFUL if unlawful_purpose else KAKUHO_DAYS
    return Deadlines(discovered, discovered + dt.timedelta(days=SOKUHO_TARGET_DAYS),
                     discovered + dt.timedelta(days=days), unlawful_purpose)
