"""Analysis of the access records (取扱いの記録の分析; security.md §1.2, SEC-07).

Flags, per record:

* ``out_of_hours`` — outside office hours in JST (default 08:30–18:00, Monday–Friday; configurable),
* ``bulk`` — ``record_count`` above a threshold (default 1000),
* ``out_of_role`` — the actor was not registered when the record was written, or its role then did not
  include the action (privacy.operators.RECORD_ACTIONS_BY_ROLE),
* ``actor_now_inactive`` — the actor has since been disabled or removed (for the review),
* ``refused`` / ``failed`` — the outcome was not ``ok``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from privacy.operators import RECORD_ACTIONS_BY_ROLE, Registry, load_registry
from store.privacy_models import AccessRecord

JST = ZoneInfo("Asia/Tokyo")


@dataclass(frozen=True)
class ReportRules:
    """Thresholds of the report."""

    office_start: dt.time = dt.time(8, 30)
    office_end: dt.time = dt.time(18, 0)
    weekdays_only: bool = True
    bulk_threshold: int = 1000


@dataclass
class FlaggedRecord:
    """One access record and why it is flagged."""

    seq: int
    occurred_at_jst: str
    actor_id: str
    actor_role: str
    action: str
    purpose: str
    record_count: int
    outcome: str
    run_id: str | None
    flags: list[str] = field(default_factory=list)


def _aware(ts: dt.datetime) -> dt.datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)


def flags_for(row: AccessRecord, rules: ReportRules, registry: Registry) -> list[str]:
    """The anomaly flags of one record."""
    flags = []
    local = _aware(row.occurred_at).astimezone(JST)
    if (not rules.office_start <= local.time() < rules.office_end) or (rules.weekdays_only and local.weekday() >= 5):
        flags.append("out_of_hours")
    if row.record_count > rules.bulk_threshold:
        flags.append("bulk")
    # judged by the role the actor had when the record was written ("unknown" = not registered then)
    role = row.actor_role if row.actor_role in RECORD_ACTIONS_BY_ROLE else None
    if role is None or row.action not in RECORD_ACTIONS_BY_ROLE[role]:
        flags.append("out_of_role")
    operator = registry.get(row.actor_id)
    if role is not None and (operator is None or not operator.enabled):
        flags.append("actor_now_inactive")  # a leaver's or removed id: for review, not an anomaly per se
    if row.outcome != "ok":
        flags.append(row.outcome)
    return flags


def access_report(session: Session, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
                  rules: ReportRules | None = None, registry: Registry | None = None,
                  flagged_only: bool = False) -> list[FlaggedRecord]:
    """Records in [since, until) with their flags (all records, or only flagged ones)."""
    rules = rules or ReportRules()
    registry = registry or load_registry()
    query = select(AccessRecord).order_by(AccessRecord.seq)
    if since is not None:
        query = query.where(AccessRecord.occurred_at >= since)
    if until is not None:
        query = query.where(AccessRecord.occurred_at < until)
    out = []
    for row in session.execute(query.execution_options(yield_per=2000)).scalars():
        flags = flags_for(row, rules, registry)
        if flagged_only and not flags:
            continue
        out.append(FlaggedRecord(
            row.seq, _aware(row.occurred_at).astimezone(JST).isoformat(timespec="seconds"), row.actor_id,
            row.actor_role, row.action, row.purpose, row.record_count, row.outcome, row.run_id, flags,
        ))
    return out
