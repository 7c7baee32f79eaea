"""Incremental months: decide only the children whose inputs changed, and those a date crosses.

A child's eligibility periods are a pure function of its inputs (and its household's and guardians'),
the policy and the decision horizon (:func:`rules.eligibility.determine_eligibility`); its month decisions
are a pure function of its periods, its certificate and the month (:func:`rules.decisions.decide_month`).
So, with the policy and the horizon unchanged since the last run, a full recomputation can change
something only for

* **changed children**: a child whose own, household's or guardians' inputs changed, or whose periods or
  certificate were changed between two monthly runs (a move-in case, a counter action). Every writer
  records the persons and households it touched in the ``eligibility_change`` queue, in its own
  transaction (:func:`store.changes.record_changes`); :func:`changed_children` widens them to the children they reach;
* **crossed children**: a child for whom a date of the month meets a stored boundary
  (:func:`crossed_children`): a period starting or ending in the month or on the day after it (an age limit,
  the end of a school year, an era boundary, a registration start, a loss), or a certificate that ends by
  the day after the month (the end of a certificate cycle), or an eligible period without a certificate
  that covers it.

The horizon (:func:`services.eligibility.decide.decision_horizon`) moves once a certificate cycle, not
every month, so most months are incremental; the month it moves, the policy, the rules' code or the
holiday calendar changes (:func:`derivation`), a month is skipped, or ``full`` is asked for, the run
recomputes everyone (:func:`plan`). ``tests/integration/test_incremental_months.py``
compares both paths over generated months with changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Connection, and_, insert, not_, or_, select

from rules.dates import month_bounds
from rules.intervals import ONE_DAY
from store import models
from store.bulk import delete_keys, read_frame, read_frame_in

#: The eligibility_basis row (there is one).
BASIS_ID = 1
#: Statuses of a certificate that holds no valid 受給者証 (rules.decisions.LOST).
LOST_STATUS = "LOST"


@dataclass(frozen=True)
class Plan:
    """How a month is decided: everyone (``full``) or the changed and crossed children, and why."""

    full: bool
    reason: str


def pending_changes(conn: Connection) -> pd.DataFrame:
    """The queued changes: ``seq, person_id, household_id``."""
    return read_frame(conn, models.EligibilityChange.__table__, ["seq", "person_id", "household_id"])


def clear_changes(conn: Connection, seqs: Iterable[int]) -> None:
    """Delete exactly the queue rows a run has read (rows queued meanwhile stay for the next run)."""
    delete_keys(conn, models.EligibilityChange.__table__, "seq", sorted(int(s) for s in seqs))


def read_basis(conn: Connection):
    """The stored basis row, or ``None`` before the first decided month."""
    table = models.EligibilityBasis.__table__
    return conn.execute(select(table).where(table.c.basis_id == BASIS_ID)).first()


def derivation(policy_version: str, closed_days: np.ndarray) -> str:
    """What stored periods are derived under: ``<policy version>/<rules code digest>/<calendar digest>``.

    A deploy that changes the rules' code (a law fix) or the holiday calendar (a new 振替休日) must
    re-determine everyone, exactly as a changed parameter file does.
    """
    calendar = hashlib.sha256(np.asarray(closed_days, dtype="datetime64[D]").tobytes()).hexdigest()[:8]
    return f"{policy_version}/{RULES_DIGEST}/{calendar}"


def _code_digest() -> str:
    """Digest of the source of everything that derives periods and decisions from the stored inputs."""
    root = Path(__file__).resolve().parents[2]
    files = sorted([*(root / "rules").rglob("*.py"), *(root / "services" / "eligibility").glob("*.py")])
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:8]


RULES_DIGEST = _code_digest()


def write_basis(conn: Connection, *, derived_under: str, horizon: tuple[pd.Timestamp, pd.Timestamp], month: str,
                run_id: str) -> None:
    """Record what the stored periods and certificates are now derived under."""
    table = models.EligibilityBasis.__table__
    values = {"derived_under": derived_under, "horizon_start": horizon[0].date(),
              "horizon_end": horizon[1].date(), "month": month, "run_id": run_id}
    if read_basis(conn) is None:
        conn.execute(insert(table).values(basis_id=BASIS_ID, **values))
    else:
        conn.execute(table.update().where(table.c.basis_id == BASIS_ID).values(**values))


def _month_before(month: str) -> str:
    return (pd.Period(month, freq="M") - 1).strftime("%Y-%m")


def plan(basis, *, derived_under: str, horizon: tuple[pd.Timestamp, pd.Timestamp], month: str,
         full: bool = False) -> Plan:
    """Full or incremental, with the reason (value-free: it goes to the run summary)."""
    if full:
        return Plan(True, "requested")
    if basis is None:
        return Plan(True, "first-month")
    stored_policy, _, stored_rest = basis.derived_under.partition("/")
    policy_version, _, rest = derived_under.partition("/")
    if stored_policy != policy_version:
        return Plan(True, "policy-changed")
    # The calendar digest covers the horizon's years, so a moved horizon changes it too: say the cause.
    if (pd.Timestamp(basis.horizon_start), pd.Timestamp(basis.horizon_end)) != (horizon[0], horizon[1]):
        return Plan(True, "horizon-moved")
    if stored_rest != rest:
        return Plan(True, "rules-changed")
    if basis.month not in (month, _month_before(month)):
        return Plan(True, "month-not-consecutive")
    return Plan(False, "incremental")


def _membership(conn: Connection, by: str, keys: set[str]) -> pd.DataFrame:
    """``person_id, household_id`` of every membership whose ``by`` column is in ``keys``.

    The person rows give the household now; their 異動 the households they joined or left.
    """
    if not keys:
        return pd.DataFrame({"person_id": [], "household_id": []})
    ordered = sorted(keys)
    return pd.concat([read_frame_in(conn, table, ["person_id", "household_id"], by, ordered)
                      for table in (models.Person.__table__, models.ResidentEvent.__table__)], ignore_index=True)


def _persons_of_households(conn: Connection, households: set[str]) -> set[str]:
    """Everyone stored as a member of ``households``, now or at an 異動."""
    return set(_membership(conn, "household_id", households)["person_id"])


def _households_of(conn: Connection, persons: set[str]) -> set[str]:
    """Every household ``persons`` belong or belonged to."""
    return {h for h in _membership(conn, "person_id", persons)["household_id"].dropna() if h}


def _registered_children(conn: Connection, persons: set[str]) -> set[str]:
    """Those of ``persons`` with a 資格登録届 (only they have eligibility periods)."""
    if not persons:
        return set()
    a = models.Application.__table__
    found = read_frame_in(conn, a, ["child_person_id"], "child_person_id", sorted(persons))
    return set(found["child_person_id"])


def _children_guarded_by(conn: Connection, persons: set[str]) -> set[str]:
    """Children whose 資格登録届 names one of ``persons`` as applicant or spouse (income-tested parents)."""
    if not persons:
        return set()
    a = models.Application.__table__
    keys = sorted(persons)
    by_guardian = read_frame_in(conn, a, ["child_person_id"], "guardian_person_id", keys)
    by_spouse = read_frame_in(conn, a, ["child_person_id"], "spouse_person_id", keys)
    return set(by_guardian["child_person_id"]) | set(by_spouse["child_person_id"])


def changed_children(conn: Connection, changes: pd.DataFrame) -> set[str]:
    """The registered children a queue of changed persons and households reaches.

    A person's change reaches every child of every household the person is or was in (residence,
    household and 住記 guardians), and every child whose 資格登録届 names the person; a household's
    change (生活保護) reaches every child who is or was in it.
    """
    persons = set(changes["person_id"].dropna())
    households = set(changes["household_id"].dropna()) | _households_of(conn, persons)
    reached = persons | _persons_of_households(conn, households)
    return _registered_children(conn, reached) | _children_guarded_by(conn, persons)


def crossed_children(conn: Connection, month: str) -> set[str]:
    """Children for whom a date of ``month`` (or the day after it) meets a stored boundary (module docstring)."""
    month_start, month_end = month_bounds(month)
    day_before, day_after = (month_start - ONE_DAY).date(), (month_end + ONE_DAY).date()
    first = month_start.date()
    p, c = models.EligibilityPeriod.__table__, models.Certificate.__table__
    boundary = read_frame(conn, p, ["person_id"], where=or_(
        and_(p.c.valid_from >= first, p.c.valid_from <= day_after),
        and_(p.c.valid_to >= day_before, p.c.valid_to <= day_after)))
    ending = read_frame(conn, c, ["person_id"], where=and_(c.c.status != LOST_STATUS, c.c.valid_to <= day_after))
    # An eligible or suspended period over the month with no certificate holding it: in a steady state the
    # month that period began issued one, but a run must not depend on that.
    uncovered_stmt = (
        select(p.c.person_id)
        .select_from(p.outerjoin(c, c.c.person_id == p.c.person_id))
        .where(p.c.valid_from <= day_after, p.c.valid_to >= first,
               or_(c.c.person_id.is_(None), c.c.status == LOST_STATUS,
                   and_(c.c.status != p.c.status, not_(and_(c.c.status == "ACTIVE", p.c.status == "ELIGIBLE"))),
                   c.c.valid_to < p.c.valid_from))
    )
    uncovered = {row[0] for row in conn.execute(uncovered_stmt)}
    return set(boundary["person_id"]) | set(ending["person_id"]) | uncovered


def input_scope(conn: Connection, children: set[str]) -> tuple[set[str], set[str]]:
    """The persons and households whose inputs decide ``children``.

    The children, everyone of every household they are or were in (now or at an 異動: residence,
    生活保護 and the 住記 guardians), and the parents their 資格登録届 name (the income test).
    """
    households = _households_of(conn, children)
    persons = set(children) | _persons_of_households(conn, households)
    if children:
        a = models.Application.__table__
        named = read_frame_in(conn, a, ["guardian_person_id", "spouse_person_id"], "child_person_id", sorted(children))
        persons |= {x for x in pd.concat([named["guardian_person_id"], named["spouse_person_id"]]).dropna() if x}
    return persons, households
