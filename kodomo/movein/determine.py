"""Re-determine a few households (a move-in case, a batch of 異動) with the monthly pipeline's rules.

The eligibility and decision logic is the monthly run's (:mod:`rules.eligibility`,
:mod:`rules.decisions`, the helpers of :mod:`kodomo.pipeline.decide`); this module only narrows the
inputs and the stored state to the affected households, so that a case handled between two monthly
runs touches nobody else:

* inputs: persons of the households (and everyone named by the batch), their tax, insurance and
  applications, the households' welfare cases;
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

from connectors.inquiry import TAX_COLUMNS
from kodomo.pipeline import decide
from kodomo.pmh import outbox
from kodomo.privacy.audit import record_access
from rules import decisions, eligibility, residence
from rules.dates import month_bounds
from schemas.stages import DecisionSchema, EligibilityPeriodSchema
from store import models
from store.bulk import delete_keys, insert_frame, insert_missing, read_frame


def _in(table, column: str, keys: set[str]):
    return table.c[column].in_(sorted(keys))


def load_household_inputs(conn, person_ids: set[str], household_ids: set[str]) -> eligibility.EligibilityInputs:
    """The eligibility inputs of the scoped persons and households only (same frames as the monthly run).

    ``residents`` is the stored person row (the latest household and 続柄 after every stored event);
    ``residence`` comes from :func:`rules.residence.residence_from_persons` over the stored residence
    start and the stored 異動 events, exactly as in the monthly run (``kodomo.pipeline.decide``).
    """
    p, e = models.Person.__table__, models.ResidentEvent.__table__
    persons = read_frame(conn, p, ["person_id", "household_id", "relationship_code", "birth_date",
                                   "residence_start_date"], where=_in(p, "person_id", person_ids))
    events = read_frame(conn, e, ["event_id", "person_id", "household_id", "event_code", "event_date",
                                  "notified_date"], where=_in(e, "person_id", person_ids))
    i, w, t, a = (models.InsuranceCoverage.__table__, models.WelfareCase.__table__, models.TaxRecord.__table__,
                  models.Application.__table__)
    return eligibility.EligibilityInputs(
        residents=persons[["person_id", "birth_date", "household_id", "relationship_code"]],
        residence=residence.residence_from_persons(persons, events),
        insurance=read_frame(conn, i, ["person_id", "insurer_number", "insured_type_code", "valid_from", "valid_to"],
                             where=_in(i, "person_id", person_ids)),
        welfare=read_frame(conn, w, ["case_id", "household_id", "start_date", "end_date"],
                           where=_in(w, "household_id", household_ids)),
        tax=read_frame(conn, t, TAX_COLUMNS, where=_in(t, "person_id", person_ids)),
        applications=read_frame(conn, a, ["application_id", "child_person_id", "guardian_person_id",
                                          "application_date"], where=_in(a, "child_person_id", person_ids)),
    )


def household_persons(session: Session, household_ids: set[str], extra_person_ids: set[str]) -> set[str]:
    """Everyone stored in ``household_ids`` plus ``extra_person_ids`` (e.g. a person who left)."""
    table = models.Person.__table__
    stored = read_frame(session.connection(), table, ["person_id"],
                        where=table.c.household_id.in_(sorted(household_ids))) if household_ids else None
    ids = set(extra_person_ids)
    if stored is not None:
        ids |= set(stored["person_id"])
    return ids


def store_scoped_periods(session: Session, periods: pd.DataFrame, person_ids: set[str], policy_version: str,
                         run_id: str) -> int:
    """Replace the stored periods of the scoped persons whose periods changed (nobody else's)."""
    conn = session.connection()
    table = models.EligibilityPeriod.__table__
    columns = decide.PERIOD_COLUMNS
    stored = read_frame(conn, table, columns, where=table.c.person_id.in_(sorted(person_ids)))
    fresh = periods.loc[periods["person_id"].isin(person_ids), columns]
    for frame in (stored, fresh):
        for column in ("valid_from", "valid_to"):
            frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
    both = fresh.merge(stored, on=columns, how="outer", indicator=True)
    changed = sorted(both.loc[both["_merge"] != "both", "person_id"].unique())
    if not changed:
        return 0
    delete_keys(conn, table, "person_id", changed)
    insert_frame(conn, table, fresh[fresh["person_id"].isin(changed)].assign(policy_version=policy_version,
                                                                              run_id=run_id))
    return len(changed)


def determine_periods(inputs, policy, month: str) -> pd.DataFrame:
    """Eligibility periods over the monthly run's horizon (``as_of`` = month end), so stored periods agree."""
    _, month_end = month_bounds(month)
    return EligibilityPeriodSchema.validate(eligibility.determine_eligibility(inputs, policy, as_of=month_end))


def redetermine(session: Session, *, household_ids: set[str], person_ids: set[str], month: str, policy,
                run_id: str, operator_id: str, purpose: str) -> dict:
    """Eligibility, decisions, 受給者番号, certificates and PMH outbox rows for the affected households.

    Runs in the caller's transaction; returns aggregate counts and the affected person ids (for masked
    artifacts). Idempotent: a second call with the same stored inputs writes nothing.
    """
    conn = session.connection()
    scope = household_persons(session, household_ids, person_ids)
    _, month_end = month_bounds(month)
    inputs = load_household_inputs(conn, scope, household_ids)
    periods = determine_periods(inputs, policy, month)
    periods = periods.loc[periods["person_id"].isin(scope)]
    changed = store_scoped_periods(session, periods, scope, policy.version, run_id)

    cert_table = models.Certificate.__table__
    previous = read_frame(conn, cert_table, ["person_id", "valid_from", "valid_to", "status"],
                          where=cert_table.c.person_id.in_(sorted(scope)))
    month_decisions = DecisionSchema.validate(decisions.decide_month(periods, previous, month, policy))
    month_decisions = month_decisions.loc[month_decisions["person_id"].isin(scope)]
    d = models.Decision.__table__
    stored = read_frame(conn, d, ["person_id", "decision_type"],
                        where=(d.c.month == month) & d.c.person_id.in_(sorted(scope)))
    seen = month_decisions.merge(stored.assign(_seen=True), on=["person_id", "decision_type"], how="left")
    new = month_decisions.loc[seen["_seen"].isna().to_numpy()]

    snapshot = policy.at(month_end)
    assigned = decide.assign_recipients(conn, new.loc[new["decision_type"] == "NEW", "person_id"],
                                        snapshot.get("program.public_payer_number"), run_id)
    inserted = insert_missing(conn, d, new.assign(month=month, run_id=run_id),
                              ["month", "person_id", "decision_type"])
    certificates = decide.store_certificates(conn, previous, new, month)
    r = models.Recipient.__table__
    recipients = read_frame(conn, r, ["person_id", "recipient_no"], where=r.c.person_id.in_(sorted(scope)))
    changes = new.merge(recipients, on="person_id", how="left")
    queued = outbox.enqueue_changes(session, pd.DataFrame({
        "person_id": changes["person_id"],
        "change_type": changes["decision_type"].map(decide.PMH_CHANGE_TYPE),
        "reason": changes["decision_type"],
        "event_date": changes["effective_date"],
        "valid_from": changes["valid_from"],
        "valid_to": changes["valid_to"],
        "recipient_no": changes["recipient_no"],
    }), run_id) if not changes.empty else 0
    if not new.empty:
        record_access(session, actor_id=operator_id, action="update", purpose=purpose,
                      subject_ids=new["person_id"], record_count=int(len(new)), run_id=run_id)
    by_type = {str(k): int(v) for k, v in new["decision_type"].value_counts().items()}
    return {
        "month": month,
        "households": len(household_ids),
        "persons_in_scope": len(scope),
        "children_with_periods": int(periods["person_id"].nunique()),
        "children_with_changed_periods": changed,
        "new_decisions": int(inserted),
        "by_type": by_type,
        "recipient_numbers_assigned": int(assigned),
        "certificates_updated": int(certificates),
        "pmh_outbox_rows": int(queued or 0),
        "decided_person_ids": sorted(new["person_id"].unique().tolist()),
    }
