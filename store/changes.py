"""The ``eligibility_change`` queue, writers' side: who changed, for the next decided month.

Every writer of an eligibility input (intake, move-in and counter re-determination, retention purges) calls
:func:`record_changes` in its own transaction; :mod:`services.eligibility.incremental` reads and empties
the queue. It lives in ``store`` so that every layer that writes inputs (``privacy.retention`` included)
can reach it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, insert, select

from store import models

#: Tables whose rows the eligibility rules read (a change to them may change a child's periods).
ELIGIBILITY_INPUT_TABLES = frozenset({
    "person", "resident_event", "tax_record", "welfare_case", "insurance_coverage", "application", "placement",
})


def tracking(conn: Connection) -> bool:
    """Whether changes are queued: from the first decided month on (before it, a month decides everyone)."""
    return conn.execute(select(models.EligibilityBasis.basis_id)).first() is not None


def record_changes(conn: Connection, run_id: str, *, person_ids: Iterable[str] = (),
                   household_ids: Iterable[str] = ()) -> int:
    """Queue the persons and households whose eligibility inputs, periods or certificate changed.

    Nothing is queued before the first month is decided: that month recomputes everyone anyway.
    """
    if not tracking(conn):
        return 0
    rows = ([{"person_id": p, "household_id": None, "run_id": run_id} for p in sorted(set(person_ids)) if p]
            + [{"person_id": None, "household_id": h, "run_id": run_id} for h in sorted(set(household_ids)) if h])
    if rows:
        conn.execute(insert(models.EligibilityChange.__table__), rows)
    return len(rows)
