"""Decide a month: eligibility periods → decisions → 受給者番号 → certificates → PMH outbox.

Everything happens in the caller's transaction, so the decisions, the numbers, the certificate state,
the PMH outbox rows and the access record commit together or not at all (security.md REL-01). A re-run
of the same month finds every effect already present and writes nothing (unique keys on
(month, person, decision type); 受給者番号 once per child; outbox idempotency keys).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from connectors.inquiry import TAX_COLUMNS
from privacy.audit import record_access
from rules import checkdigits, decisions, eligibility, residence
from rules import intervals as iv
from rules.dates import month_bounds, policy_snapshot_date
from rules.eligibility.codes import STORED_PERIOD_COLUMNS
from schemas.stages import DecisionSchema, EligibilityPeriodSchema
from services.eligibility import incremental, reason_sets
from services.eligibility.calendar import holidays_for_horizon
from services.pmh import outbox
from store import models
from store.bulk import delete_keys, insert_frame, insert_missing, read_frame, read_frame_in, sorted_distinct

#: Up to this many persons, their 受給者番号 are read by chunked IN lists instead of the whole table.
FEW_PERSONS = 20_000
#: PMH change type per decision: register/update ("1") or delete with the 異動日 ("2", 転出・死亡 only).
PMH_CHANGE_TYPE = {"NEW": "1", "RENEWAL": "1", "CHANGE": "1", "SUSPEND_INCOME": "1", "LOSS_AGE": "1",
                   "LOSS_WELFARE": "1", "LOSS_INSURANCE": "1", "LOSS_PLACEMENT": "1", "LOSS_MOVE_OUT": "2",
                   "LOSS_DEATH": "2"}


def _where(*clauses):
    """The AND of the clauses that are not ``None`` (``None`` when there is none)."""
    present = [c for c in clauses if c is not None]
    return sqlalchemy.and_(*present) if present else None


def load_eligibility_inputs(conn: Connection, first_tax_year: int | None = None, *, person_ids: set[str] | None = None,
                            household_ids: set[str] | None = None,
                            tax_years: list[int] | None = None) -> eligibility.EligibilityInputs:
    """Every stored input the eligibility rules need (no decrypted personal data).

    ``first_tax_year`` skips tax years whose income cycles end before the horizon (an income cycle
    starting on October 1 of year Y is judged on 課税年度 Y); ``tax_years`` reads only those 課税年度
    (:func:`rules.eligibility.income_test_tax_years`: the income test ended on 2023-03-31, so most stored
    tax rows are never needed). ``person_ids``/``household_ids`` narrow the
    inputs to those persons (persons, events, insurance, tax, applications) and households (welfare), as a
    move-in case or a batch of 異動 does (``services.movein.determine``); ``None`` = everyone.
    """
    p, e = models.Person.__table__, models.ResidentEvent.__table__
    i, w, t, a = (models.InsuranceCoverage.__table__, models.WelfareCase.__table__, models.TaxRecord.__table__,
                  models.Application.__table__)
    persons = _read_among(conn, p, ["person_id", "household_id", "relationship_code", "birth_date",
                                    "residence_start_date"], "person_id", person_ids)
    events = _read_among(conn, e, ["event_id", "person_id", "household_id", "event_code", "event_date",
                                   "notified_date"], "person_id", person_ids)
    return eligibility.EligibilityInputs(
        residents=persons[["person_id", "birth_date", "household_id", "relationship_code"]],
        residence=residence.residence_from_persons(persons, events),
        insurance=_read_among(conn, i, ["person_id", "insurer_number", "insured_type_code", "valid_from", "valid_to"],
                              "person_id", person_ids),
        welfare=_read_among(conn, w, ["case_id", "household_id", "start_date", "end_date"], "household_id",
                            household_ids),
        tax=_read_among(conn, t, TAX_COLUMNS, "person_id", person_ids, where=_where(
            None if first_tax_year is None else t.c.tax_year >= first_tax_year,
            None if tax_years is None else t.c.tax_year.in_(tax_years))),
        applications=_read_among(conn, a, ["application_id", "child_person_id", "guardian_person_id",
                                           "spouse_person_id", "application_date"], "child_person_id", person_ids),
        households=residence.household_spells(persons, events, extract_date=None),
        placements=_read_among(conn, models.Placement.__table__, ["person_id", "start_date", "end_date"],
                               "person_id", person_ids),
    )


def _read_among(conn: Connection, table, columns: list[str], column: str, keys: set[str] | None, where=None):
    """``columns`` of the rows whose ``column`` is in ``keys`` (``None`` = every row), and ``where``."""
    if keys is None:
        return read_frame(conn, table, columns, where=where)
    return read_frame(conn, table, columns, where=where, among=(column, sorted(keys)))


def store_periods(conn: Connection, periods: pd.DataFrame, policy_version: str, run_id: str,
                  person_ids: set[str] | None = None) -> int:
    """Replace the stored periods of exactly the children whose periods changed; return that count.

    With ``person_ids`` only those persons' stored and fresh periods are compared and replaced (nobody
    else's).
    """
    table = models.EligibilityPeriod.__table__
    # The reason codes are compared and stored as their id in the lookup (reason_sets), not as text.
    compared = [*(c for c in STORED_PERIOD_COLUMNS if c != "reason_codes"), "reason_set_id"]
    stored = _read_among(conn, table, compared, "person_id", person_ids)
    fresh = periods if person_ids is None else periods.loc[periods["person_id"].isin(person_ids)]
    fresh = reason_sets.encode(conn, fresh[[*STORED_PERIOD_COLUMNS, "sources"]])
    stored["reason_set_id"] = stored["reason_set_id"].astype("int64")
    for frame in (stored, fresh):
        for column in ("valid_from", "valid_to"):
            frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
    if stored.empty:
        # None stored for these persons (a first load): every fresh period is new, no merge needed.
        changed = fresh["person_id"].unique()
    else:
        both = fresh.merge(stored, on=compared, how="outer", indicator=True)
        changed = both.loc[both["_merge"] != "both", "person_id"].unique()
    if len(changed) == 0:
        return 0
    delete_keys(conn, table, "person_id", sorted_distinct(changed[pd.Index(changed).isin(stored["person_id"])]))
    insert_frame(conn, table, fresh[fresh["person_id"].isin(changed)].assign(policy_version=policy_version,
                                                                              run_id=run_id))
    return int(len(changed))


def recipients_of(conn: Connection, person_ids) -> pd.DataFrame:
    """``person_id, recipient_no`` of the stored 受給者番号 of ``person_ids``.

    A quiet month decides a few children: their numbers are read by IN lists; with many persons (a first
    load) the whole table is read, which is then faster. Callers join on their own persons, so the extra
    rows of a whole-table read change nothing.
    """
    table = models.Recipient.__table__
    distinct = pd.unique(np.asarray(person_ids, dtype=object))
    if len(distinct) > FEW_PERSONS:  # counted before sorting: the whole-table read needs no sorted list
        return read_frame(conn, table, ["person_id", "recipient_no"])
    return read_frame_in(conn, table, ["person_id", "recipient_no"], "person_id", sorted_distinct(distinct))


def assign_recipients(conn: Connection, person_ids: pd.Series, public_payer_number: str,
                      run_id: str) -> tuple[int, list[str]]:
    """Give each child without one a 受給者番号 (6-digit sequence + モジュラス10 ウエイト2・1 check digit).

    Returns how many were numbered and the children held because the series has no number left for them.
    A 受給者番号 is a 6-digit sequence plus check digit under one 公費負担者番号 (domain.md §5.2), so one
    number series holds 999,998 recipients (checkdigits.LAST_RECIPIENT_SEQUENCE). A child who would need a
    number beyond it cannot be issued a 受給者証 under the law's format, and the system must not invent one:
    the caller holds its 新規 (no decision, certificate or PMH row) and counts it in the run summary, for the
    city to obtain another 公費負担者番号. The child keeps an eligible period that no certificate holds, so
    every following month decides it again (services.eligibility.incremental: crossed children). Children
    are numbered in 宛名番号 order.
    """
    table = models.Recipient.__table__
    if len(person_ids) == 0:
        return 0, []
    have = recipients_of(conn, person_ids)
    ids = pd.Index(pd.unique(np.asarray(person_ids, dtype=object)))
    need = sorted_distinct(ids[~ids.isin(have["person_id"])])
    if not need:
        return 0, []
    highest = conn.execute(select(func.max(table.c.recipient_no))).scalar()
    first = int(highest[:6]) + 1 if highest else 1
    room = max(0, checkdigits.LAST_RECIPIENT_SEQUENCE - first + 1)  # numbers left in the series
    need, held = need[:room], need[room:]
    if need:
        numbers = checkdigits.assign_recipient_numbers(first, len(need))
        insert_frame(conn, table, pd.DataFrame({"person_id": need, "recipient_no": numbers,
                                                "public_payer_number": public_payer_number,
                                                "assigned_run_id": run_id}))
    return len(need), held


def store_certificates(conn: Connection, previous: pd.DataFrame, new_decisions: pd.DataFrame, month: str) -> int:
    """Store the certificate state after the month's new decisions (:func:`rules.decisions.apply_decisions`)."""
    if new_decisions.empty:
        return 0
    state = decisions.apply_decisions(previous, new_decisions)
    touched = state[state["person_id"].isin(new_decisions["person_id"])]
    rows = touched.merge(recipients_of(conn, touched["person_id"]),
                         on="person_id", how="inner").assign(last_decision_month=month)
    table = models.Certificate.__table__
    held = previous["person_id"] if previous is not None and not previous.empty else pd.Series([], dtype=object)
    delete_keys(conn, table, "person_id", sorted_distinct(rows.loc[rows["person_id"].isin(held), "person_id"]))
    insert_frame(conn, table, rows[["person_id", "recipient_no", "valid_from", "valid_to", "status",
                                    "last_decision_month"]])
    return len(rows)


def unrecorded_decisions(conn: Connection, month_decisions: pd.DataFrame, month: str,
                         person_ids: set[str] | None = None) -> pd.DataFrame:
    """The month's decisions not stored yet (decisions are keyed by month, person and decision type)."""
    table = models.Decision.__table__
    stored = _read_among(conn, table, ["person_id", "decision_type"], "person_id", person_ids,
                         where=table.c.month == month)
    if month_decisions.empty or stored.empty:
        # A quiet month (no decision at all) gives an empty frame whose key column has no text dtype;
        # merging it with text keys raises. Nothing decided, or nothing stored yet: nothing to filter.
        return month_decisions
    seen = month_decisions.merge(stored.assign(_seen=True), on=["person_id", "decision_type"], how="left")
    return month_decisions.loc[seen["_seen"].isna().to_numpy()]


def pmh_changes(previous: pd.DataFrame, new_decisions: pd.DataFrame) -> pd.DataFrame:
    """The PMH registration changes of the month's decisions.

    Columns ``person_id, change_type, reason, event_date, valid_from, valid_to``.

    A suspension (支給停止, SUSPEND_INCOME) must not reach PMH as a valid certificate — PMH has no status
    field (pmh_interfaces.md §1.2): the held certificate's record is updated to end the day before the
    suspension takes effect, and a child suspended without a held eligible certificate sends nothing.
    Lifting the suspension is a CHANGE, which registers the new validity again.
    """
    frame = pd.DataFrame({
        "person_id": new_decisions["person_id"],
        "change_type": new_decisions["decision_type"].map(PMH_CHANGE_TYPE),
        "reason": new_decisions["decision_type"],
        "event_date": new_decisions["effective_date"],
        "valid_from": new_decisions["valid_from"],
        "valid_to": new_decisions["valid_to"],
    })
    suspended = (frame["reason"] == "SUSPEND_INCOME").to_numpy()
    if not suspended.any():
        return frame
    held = previous[["person_id", "valid_from", "status"]].rename(columns={"valid_from": "_held_from"})
    held = held.loc[held["status"].astype("string").isin(["ELIGIBLE", "ACTIVE"]).fillna(False).to_numpy()]
    held = held.drop_duplicates("person_id", keep="last").drop(columns="status")
    stops = frame.loc[suspended].merge(held, on="person_id", how="inner")
    effective = pd.to_datetime(stops["event_date"])
    held_from = pd.to_datetime(stops["_held_from"])
    stops = stops.loc[(held_from < effective).to_numpy()].assign(
        valid_from=held_from, valid_to=effective - pd.Timedelta(days=1)).drop(columns="_held_from")
    return pd.concat([frame.loc[~suspended], stops], ignore_index=True)


def store_decisions(session: Session, previous: pd.DataFrame, new_decisions: pd.DataFrame, *, month: str, policy,
                    run_id: str, operator_id: str, purpose: str, person_ids: set[str] | None = None) -> dict:
    """The effects of the month's new decisions, in the caller's transaction.

    受給者番号 for the NEW ones, the decisions, the certificate state, the PMH outbox rows and one access
    record (``purpose``). The 受給者番号 are read for the decided persons only (:func:`recipients_of`), so
    ``person_ids`` (a move-in case's persons) needs no further narrowing. Returns the counts ``assigned,
    inserted, certificates, queued``.
    """
    conn = session.connection()
    assigned, held = assign_recipients(conn, new_decisions.loc[new_decisions["decision_type"] == "NEW", "person_id"],
                                       policy.at(policy_snapshot_date(month)).get("program.public_payer_number"),
                                       run_id)
    if held:  # no 受給者番号 left for them: their 新規 waits (assign_recipients)
        new_decisions = new_decisions.loc[~new_decisions["person_id"].isin(held)].reset_index(drop=True)
    decision_table = models.Decision.__table__
    inserted = insert_missing(conn, decision_table, new_decisions.assign(month=month, run_id=run_id),
                              ["month", "person_id", "decision_type"], where=decision_table.c.month == month)
    certificates = store_certificates(conn, previous, new_decisions, month)
    changes = pmh_changes(previous, new_decisions)
    changes = changes.merge(recipients_of(conn, changes["person_id"]), on="person_id", how="left")
    queued = outbox.enqueue_changes(session, changes, run_id) if not changes.empty else 0
    if not new_decisions.empty:
        record_access(session, actor_id=operator_id, action="update", purpose=purpose,
                      subject_ids=new_decisions["person_id"], record_count=int(len(new_decisions)), run_id=run_id)
    return {"assigned": int(assigned), "inserted": int(inserted), "certificates": int(certificates),
            "queued": int(queued or 0), "held_no_number": len(held), "decided": new_decisions}


def decision_horizon(month: str, policy) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The span eligibility periods are computed and kept for: the claim window.

    From the claim deadline (``reimbursement.claim_deadline_years`` in force at the month's snapshot date,
    地方自治法236条 [I]) plus one year of margin before the certificate cycle holding the month, to the end
    of the month after it, stretched to the end of the certificate cycle then in force
    (:func:`rules.eligibility.default_horizon`). Claims older than the deadline are refused by the benefit
    rules, so older periods are never read.

    Both ends move once a certificate cycle (the start on the renewal date, the end the month before it),
    not every month: the stored periods of a child whose inputs did not change stay equal, which is what
    lets a month be decided incrementally (:mod:`services.eligibility.incremental`). Without a renewal
    date in force the start moves with the month, and every month is decided in full.
    """
    month_start, _ = month_bounds(month)
    snapshot = policy_snapshot_date(month)
    program_start, horizon_end = eligibility.default_horizon(snapshot, policy)
    years = policy.at(snapshot).get("reimbursement.claim_deadline_years")
    cycle_start = pd.Timestamp(decisions.certificate_cycle(policy, pd.Series([month_start]))[0][0])
    anchor = cycle_start if pd.Timestamp(iv.OPEN_START) < cycle_start <= month_start else month_start
    start = max(pd.Timestamp(program_start), anchor - pd.DateOffset(years=int(years) + 1))
    return pd.Timestamp(start), horizon_end


def decide_month(session: Session, *, month: str, policy, run_id: str, operator_id: str, full: bool = False) -> dict:
    """The whole decision step for ``month`` (see the module docstring); returns aggregate counts.

    Incremental unless ``full`` or :func:`incremental.plan` says otherwise: only the children whose inputs
    changed since the last decided month and those a date of the month crosses are recomputed and
    decided; everyone else's stored periods and certificate would come out of a full recomputation
    unchanged. The queue rows read are deleted and the basis recorded in the same transaction.
    """
    conn = session.connection()
    month_start, _ = month_bounds(month)
    horizon = decision_horizon(month, policy)
    queued = incremental.pending_changes(conn)
    closed_days = holidays_for_horizon(*horizon)
    derived_under = incremental.derivation(policy.version, closed_days)
    plan = incremental.plan(incremental.read_basis(conn), derived_under=derived_under, horizon=horizon,
                            month=month, full=full)
    children = None if plan.full else (incremental.changed_children(conn, queued)
                                       | incremental.crossed_children(conn, month))
    periods = determine_periods(conn, policy, horizon, children, closed_days)
    changed_children = store_periods(conn, periods, policy.version, run_id, person_ids=children)

    certificates = models.Certificate.__table__
    previous = read_frame(conn, certificates, ["person_id", "valid_from", "valid_to", "status"]) if plan.full else \
        read_frame_in(conn, certificates, ["person_id", "valid_from", "valid_to", "status"], "person_id",
                      sorted(children))
    month_decisions = DecisionSchema.validate(decisions.decide_month(periods, previous, month, policy))
    new_decisions = unrecorded_decisions(conn, month_decisions, month, children if not plan.full else None)
    effects = store_decisions(session, previous, new_decisions, month=month, policy=policy, run_id=run_id,
                              operator_id=operator_id, purpose="monthly-eligibility")
    incremental.clear_changes(conn, queued["seq"])
    incremental.write_basis(conn, derived_under=derived_under, horizon=horizon, month=month, run_id=run_id)
    by_type = effects["decided"]["decision_type"].value_counts().to_dict()
    return {"mode": "full" if plan.full else "incremental", "mode_reason": plan.reason,
            "children_recomputed": int(periods["person_id"].nunique()) if plan.full else len(children),
            "periods": int(len(periods)), "children_with_changed_periods": changed_children,
            "new_decisions": effects["inserted"], "by_type": {k: int(v) for k, v in by_type.items()},
            "recipient_numbers_assigned": effects["assigned"], "certificates_updated": effects["certificates"],
            "pmh_outbox_rows": effects["queued"], "held_no_recipient_number": effects["held_no_number"],
            "month_start": str(month_start.date())}


def determine_periods(conn: Connection, policy, horizon: tuple[pd.Timestamp, pd.Timestamp],
                      children: set[str] | None = None, closed_days=None) -> pd.DataFrame:
    """Eligibility periods over ``horizon`` of every registered child, or of ``children`` only.

    For ``children`` the inputs are read for the persons and households that decide them
    (:func:`incremental.input_scope`); the periods of other children in that scope are dropped, since
    their own scope may not have been read whole.
    """
    horizon_start, horizon_end = horizon
    tax_years = eligibility.income_test_tax_years(policy, horizon_start, horizon_end)
    if children is None:
        inputs = load_eligibility_inputs(conn, first_tax_year=horizon_start.year - 1, tax_years=tax_years)
    else:
        persons, households = incremental.input_scope(conn, children)
        inputs = load_eligibility_inputs(conn, first_tax_year=horizon_start.year - 1, person_ids=persons,
                                         household_ids=households, tax_years=tax_years)
    # Stage contracts: a rule returning a malformed frame fails here, before anything is stored.
    periods = EligibilityPeriodSchema.validate(
        eligibility.determine_eligibility(inputs, policy, horizon_start, horizon_end,
                                          closed_days=holidays_for_horizon(horizon_start, horizon_end)
                                          if closed_days is None else closed_days))
    if children is not None:
        periods = periods.loc[periods["person_id"].isin(children)].reset_index(drop=True)
    return periods
