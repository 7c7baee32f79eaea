"""Re-determine a few households (a move-in case, a batch of 異動) with the monthly pipeline's rules.

The eligibility and decision logic is the monthly run's (:mod:`rules.eligibility`,
:mod:`rules.decisions`, the helpers of :mod:`services.eligibility.decide`); this module only narrows the
inputs and the stored state to the affected households, so that a case handled between two monthly
runs touches nobody else:

* inputs: persons of the households (and everyone named by the batch), their tax, insurance and
  applications, the households' welfare cases;
* the persons are queued for the next monthly run (:mod:`store.changes`, read by
  :mod:`services.eligibility.incremental`);
* stored periods are replaced only for those persons; decisions are keyed (month, person, type) like the
  monthly run's, so the next monthly run finds them present and writes nothing twice;
* 受給者番号, certificate state and PMH outbox rows go through the same helpers and idempotency keys;
  the stage frames are validated with the same stage schemas before anything is stored.

The month decided is the month of the processing date, under the policy in force on the dates the rules
evaluate (``Policy.at``/``series`` inside the rules).
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy.orm import Session

from rules import decisions, eligibility
from schemas.stages import DecisionSchema, EligibilityPeriodSchema
from services.eligibility import decide
from services.eligibility.calendar import holidays_for_horizon
from store import changes, models
from store.bulk import read_frame


def household_persons(session: Session, household_ids: set[str], extra_person_ids: set[str]) -> set[str]:
    """Everyone stored in ``household_ids`` plus ``extra_person_ids`` (e.g. a person who left)."""
    table = models.Person.__table__
    stored = read_frame(session.connection(), table, ["person_id"],
                        where=table.c.household_id.in_(sorted(household_ids))) if household_ids else None
    ids = set(extra_person_ids)
    if stored is not None:
        ids |= set(stored["person_id"])
    return ids


def determine_periods(inputs, policy, month: str) -> pd.DataFrame:
    """Eligibility periods over the monthly run's horizon (:func:`decide.decision_horizon`).

    The periods stored by a move-in case and by the monthly run then agree.
    """
    horizon_start, horizon_end = decide.decision_horizon(month, policy)
    return EligibilityPeriodSchema.validate(
        eligibility.determine_eligibility(inputs, policy, horizon_start, horizon_end,
                                          closed_days=holidays_for_horizon(horizon_start, horizon_end)))


def redetermine(session: Session, *, household_ids: set[str], person_ids: set[str], month: str, policy,
                run_id: str, operator_id: str, purpose: str) -> dict:
    """Eligibility, decisions, 受給者番号, certificates and PMH outbox rows for the affected households.

    Runs in the caller's transaction; returns aggregate counts and the affected person ids (for masked
    artifacts). Idempotent: a second call with the same stored inputs writes nothing.
    """
    conn = session.connection()
    scope = household_persons(session, household_ids, person_ids)
    inputs = decide.load_eligibility_inputs(conn, person_ids=scope, household_ids=household_ids)
    periods = determine_periods(inputs, policy, month)
    periods = periods.loc[periods["person_id"].isin(scope)]
    changed = decide.store_periods(conn, periods, policy.version, run_id, person_ids=scope)

    cert_table = models.Certificate.__table__
    previous = read_frame(conn, cert_table, ["person_id", "valid_from", "valid_to", "status"],
                          where=cert_table.c.person_id.in_(sorted(scope)))
    month_decisions = DecisionSchema.validate(decisions.decide_month(periods, previous, month, policy))
    month_decisions = month_decisions.loc[month_decisions["person_id"].isin(scope)]
    new = decide.unrecorded_decisions(conn, month_decisions, month, scope)
    effects = decide.store_decisions(session, previous, new, month=month, policy=policy, run_id=run_id,
                                     operator_id=operator_id, purpose=purpose, person_ids=scope)
    new = effects["decided"]  # without the 新規 held for want of a 受給者番号 (decide.assign_recipients)
    # The next monthly run re-decides these persons' children: their inputs, periods or certificate may
    # have changed here, between two monthly runs (services.eligibility.incremental).
    changes.record_changes(conn, run_id, person_ids=scope, household_ids=household_ids)
    by_type = {str(k): int(v) for k, v in new["decision_type"].value_counts().items()}
    return {
        "month": month,
        "households": len(household_ids),
        "persons_in_scope": len(scope),
        "children_with_periods": int(periods["person_id"].nunique()),
        "children_with_changed_periods": changed,
        "new_decisions": effects["inserted"],
        "by_type": by_type,
        "recipient_numbers_assigned": effects["assigned"],
        "certificates_updated": effects["certificates"],
        "pmh_outbox_rows": effects["queued"],
        "held_no_recipient_number": effects["held_no_number"],
        "decided_person_ids": sorted(new["person_id"].unique().tolist()),
    }
