"""Assessment of receipts: eligibility per receipt and amounts, stored with their inputs.

The benefit rules (:func:`rules.benefits.assess_claims`: 自己負担, other public funds, 高額療養費, the
copay of the city; domain.md §2) are applied under the stored eligibility periods; admission days of
earlier months come from the stored receipts. Receipts of children whose eligibility changed in the
month's eligibility run (late 転出/死亡 notices, backdated 生活保護) are re-assessed. Repository functions
take a connection and never commit; the caller owns the transaction.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from policy import Policy
from privacy.crypto import KeyRing
from rules import benefits
from schemas.claims import PAYEE_COLUMNS
from services.benefits.intake import ClaimInbox
from services.intake.persist import keyed_digest
from store import benefit_models as bm
from store import models
from store.bulk import read_frame, read_frame_in, upsert_frame

#: Stage-frame columns stored in ``benefit_claim`` (the inputs needed to recompute a receipt).
INPUT_COLUMNS = [
    "claim_id", "route", "recipient_no", "billing_month", "service_month", "first_service_date",
    "last_service_date", "service_days", "institution_code", "care_type", "first_visit_flag", "admission_id",
    "admission_date", "total_cost_amount", "receipt_amount", "insurer_number", "other_law_no_1", "other_amount_1",
    "other_law_no_2", "other_amount_2", "other_law_no_3", "other_amount_3", "high_cost_amount",
    "high_cost_category", "high_cost_many_times_flag", "additional_benefit_amount", "meal_amount",
    "application_date", "reimbursement_reason", "service_dates",
]
RESULT_COLUMNS = [
    "person_id", "status", "rejection_reason", "ineligibility_cause", "self_pay_percent", "self_pay_amount",
    "other_public_amount", "high_cost_deducted_amount", "additional_benefit_deducted_amount",
    "copay_rule_amount", "copay_amount", "copay_charged_days", "subsidy_amount", "share_rule", "copay_rule",
    "high_cost_rule", "covered_days", "uncovered_days",
]


def load_references(conn: Connection, person_ids: list[str] | None = None) -> tuple[pd.DataFrame, ...]:
    """Recipients (person_id, recipient_no), persons (person_id, birth_date) and eligibility periods."""
    recipients = read_frame(conn, models.Recipient.__table__, ["person_id", "recipient_no"])
    persons = read_frame(conn, models.Person.__table__, ["person_id", "birth_date"])
    periods = read_frame(conn, models.EligibilityPeriod.__table__,
                         ["person_id", "valid_from", "valid_to", "status", "end_reason"])
    return recipients, persons, periods


def attach_admission_history(frame: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """Add ``admission_prior_days`` / ``admission_prior_copay_amount`` from the stored receipts.

    Only stored receipts of the same admission that started before each receipt and are not themselves in
    ``frame`` count (the rule adds the receipts in the frame itself).
    """
    out = frame.copy(deep=False)
    out["admission_prior_days"] = 0
    out["admission_prior_copay_amount"] = 0
    if stored.empty or out["admission_id"].isna().all():
        return out
    history = stored[~stored["claim_id"].isin(out["claim_id"])]
    probe = out.loc[out["admission_id"].notna(), ["claim_id", "admission_id", "first_service_date"]]
    joined = probe.merge(history[["admission_id", "first_service_date", "service_days", "copay_rule_amount"]],
                         on="admission_id", suffixes=("", "_prior"))
    joined = joined[joined["first_service_date_prior"] < joined["first_service_date"]]
    sums = joined.groupby("claim_id")[["service_days", "copay_rule_amount"]].sum()
    mapped = out["claim_id"].map(sums["service_days"])
    out["admission_prior_days"] = mapped.fillna(0).astype("int64")
    out["admission_prior_copay_amount"] = out["claim_id"].map(sums["copay_rule_amount"]).fillna(0).astype("int64")
    return out


def _stored_admissions(conn: Connection, admission_ids: pd.Series) -> pd.DataFrame:
    columns = ["claim_id", "admission_id", "first_service_date", "service_days", "copay_rule_amount"]
    return read_frame_in(conn, bm.BenefitClaim.__table__, columns, "admission_id",
                         sorted(set(admission_ids.dropna().astype(str))))


def later_admission_receipts(conn: Connection, claims: pd.DataFrame) -> pd.DataFrame:
    """Stored receipts of the same admissions as ``claims`` that begin after one of them (stage frame).

    A receipt of an earlier month that arrives late (the March receipt after April was paid) changes the
    day count and the per-admission co-pay cap of every later receipt of the stay (copay.inpatient.*), so
    those are re-assessed together with it (issue 12 §9). Receipts in ``claims`` are not repeated.
    """
    admitted = claims.loc[claims["admission_id"].notna(), ["admission_id", "first_service_date"]]
    if admitted.empty:
        return pd.DataFrame(columns=INPUT_COLUMNS)
    earliest = admitted.groupby("admission_id")["first_service_date"].min()
    stored = read_frame_in(conn, bm.BenefitClaim.__table__, INPUT_COLUMNS, "admission_id",
                           sorted(set(earliest.index.astype(str))))
    if stored.empty:
        return pd.DataFrame(columns=INPUT_COLUMNS)
    stored = stored.loc[~stored["claim_id"].isin(claims["claim_id"])]
    frame = _stage_from_store(stored)
    later = frame["first_service_date"] > frame["admission_id"].map(earliest)
    return frame.loc[later.to_numpy(dtype=bool)].reset_index(drop=True)


def assess(conn: Connection, claims: pd.DataFrame, policy: Policy, *, with_later_receipts: bool = True
           ) -> pd.DataFrame:
    """Eligibility and amounts of ``claims`` under the stored periods (rules.benefits.assess_claims).

    Later stored receipts of the same admissions are re-assessed with them (:func:`later_admission_receipts`)
    and come back flagged ``admission_reassessed`` (stored as corrections, settled as supplementary payments
    or refund claims, left out of the month's receipt counts). ``with_later_receipts=False`` when the
    caller re-assesses whole sets of stored receipts itself (:func:`reassess_stored_claims`).
    """
    if claims.empty:
        return claims.assign(**{c: pd.Series(dtype=object) for c in RESULT_COLUMNS + ["is_payable", "birth_date"]})
    recipients, persons, periods = load_references(conn)
    later = later_admission_receipts(conn, claims) if with_later_receipts else pd.DataFrame(columns=INPUT_COLUMNS)
    together = pd.concat([claims, later], ignore_index=True) if len(later) else claims
    frame = attach_admission_history(together, _stored_admissions(conn, together["admission_id"]))
    assessed = benefits.assess_claims(frame, recipients, persons, periods, policy)
    assessed["admission_reassessed"] = assessed["claim_id"].isin(later["claim_id"]).to_numpy(dtype=bool)
    # HELD: neither paid nor rejected until staff supply the missing fact (区分不明, rules.benefits.HOLD_REASONS);
    # a re-sent receipt with the 区分 (same claim_id, UKE 特記事項 26–30 or claims.csv high_cost_category)
    # replaces it and is assessed then.
    assessed["status"] = np.select([assessed["is_payable"].to_numpy(dtype=bool),
                                    assessed["hold_reason"].notna().to_numpy(dtype=bool)],
                                   ["PAYABLE", "HELD"], "REJECTED")
    return assessed


def assess_new_claims(conn: Connection, inbox: ClaimInbox, policy: Policy) -> pd.DataFrame:
    """Assess the receipts of the month's inbox."""
    return assess(conn, inbox.claims, policy)


def _claim_rows(assessed: pd.DataFrame, month: str, run_id: str, policy: Policy, ring: KeyRing) -> pd.DataFrame:
    rows = assessed[INPUT_COLUMNS + RESULT_COLUMNS].copy()
    for column in ("share_rule", "copay_rule", "high_cost_rule"):
        rows[column] = rows[column].astype(str)
    rows["high_cost_amount"] = rows["high_cost_amount"].astype("Int64")
    rows["receipt_amount"] = rows["receipt_amount"].astype("Int64")
    rows["assessed_month"] = month
    rows["policy_version"] = policy.version
    rows["run_id"] = run_id
    rows["row_digest"] = keyed_digest(rows, INPUT_COLUMNS + RESULT_COLUMNS, ring)
    return rows


def store_claims(conn: Connection, assessed: pd.DataFrame, payees: pd.DataFrame, *, month: str, run_id: str,
                 policy: Policy, ring: KeyRing) -> dict:
    """Upsert receipts and their assessment; a changed receipt (再審査 correction) is updated in place."""
    if assessed.empty:
        return {"inserted": 0, "updated": 0, "unchanged": 0}
    table = bm.BenefitClaim.__table__
    reassessed = (assessed["admission_reassessed"].to_numpy(dtype=bool) if "admission_reassessed" in assessed
                  else np.zeros(len(assessed), dtype=bool))
    corrected = 0
    if reassessed.any():  # later receipts of an admission: new results only (inputs and payee untouched)
        rows = _claim_rows(assessed.loc[reassessed], month, run_id, policy, ring)
        existing = read_frame_in(conn, table, ["claim_id", "row_digest"], "claim_id", rows["claim_id"].tolist())
        keep = ["claim_id", *RESULT_COLUMNS, "assessed_month", "policy_version", "run_id", "row_digest"]
        corrected = upsert_frame(conn, table, rows[keep], ["claim_id"], digest_column="row_digest",
                                 existing=existing).updated
        assessed = assessed.loc[~reassessed]
        if assessed.empty:
            return {"inserted": 0, "updated": int(corrected), "unchanged": 0}
    rows = _claim_rows(assessed, month, run_id, policy, ring)
    rows["processed_month"] = month
    keys = rows["claim_id"].astype(str).tolist()
    # Payee accounts (applications only): compact JSON, encrypted with the claim id as row key.
    payee = payees[payees["claim_id"].isin(rows["claim_id"])].drop_duplicates("claim_id")
    payee_json = pd.Series(
        [json.dumps(record, ensure_ascii=False, sort_keys=True)
         for record in payee[PAYEE_COLUMNS].astype(str).to_dict("records")], index=payee["claim_id"].to_numpy(),
        dtype=object)
    texts = rows["claim_id"].map(payee_json).astype(object)
    rows["payee_enc"] = ring.encrypt_many(texts.where(texts.notna(), None).tolist(), table="benefit_claim",
                                          column="payee", row_keys=keys)
    existing = read_frame(conn, table, ["claim_id", "row_digest", "processed_month"],
                          where=table.c.claim_id.in_(keys) if len(keys) <= 10_000 else None)
    # A correction keeps the month it was first processed in.
    first_month = rows["claim_id"].map(existing.set_index("claim_id")["processed_month"]) if len(existing) else None
    if first_month is not None:
        rows["processed_month"] = first_month.fillna(month)
    counts = upsert_frame(conn, table, rows, ["claim_id"], digest_column="row_digest",
                          existing=existing[["claim_id", "row_digest"]])
    return {"inserted": counts.inserted, "updated": counts.updated + int(corrected), "unchanged": counts.unchanged}


def _stage_from_store(stored: pd.DataFrame) -> pd.DataFrame:
    frame = stored[INPUT_COLUMNS].copy()
    for column in ("high_cost_amount", "receipt_amount"):
        frame[column] = frame[column].astype("Int64")
    for column in ("first_visit_flag", "high_cost_many_times_flag"):
        frame[column] = frame[column].astype(bool)
    for column in ("first_service_date", "last_service_date", "admission_date", "application_date"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
    return frame


def changed_persons(conn: Connection, month: str) -> list[str]:
    """Children whose periods or 受給者番号 were written by the latest monthly run of ``month``."""
    run = models.Run.__table__
    latest = conn.execute(select(run.c.run_id).where(run.c.month == month, run.c.flow_name == "monthly-run")
                          .order_by(run.c.started_at.desc()).limit(1)).scalar()
    if latest is None:
        return []
    period = models.EligibilityPeriod.__table__
    recipient = models.Recipient.__table__
    ids = set(read_frame(conn, period, ["person_id"], where=period.c.run_id == latest)["person_id"])
    ids |= set(read_frame(conn, recipient, ["person_id"], where=recipient.c.assigned_run_id == latest)["person_id"])
    return sorted(ids)


def reassess_stored_claims(conn: Connection, policy: Policy, *, month: str, run_id: str, ring: KeyRing,
                           person_ids: list[str] | None, exclude_claim_ids: pd.Series | None = None) -> pd.DataFrame:
    """Re-assess stored receipts of ``person_ids`` (``None`` = every stored receipt) and store the results.

    Also picks up receipts rejected as NOT_REGISTERED whose 受給者番号 has been assigned since.
    """
    table = bm.BenefitClaim.__table__
    columns = INPUT_COLUMNS + ["person_id", "row_digest"]
    if person_ids is None:
        stored = read_frame(conn, table, columns)
    else:
        recipient = models.Recipient.__table__
        numbers = read_frame(conn, recipient, ["recipient_no"], where=recipient.c.person_id.in_(person_ids))
        stored = read_frame_in(conn, table, columns, "person_id", person_ids)
        if len(numbers):  # rejected as NOT_REGISTERED before the 受給者番号 was assigned
            stored = pd.concat([stored, read_frame(conn, table, columns, where=(table.c.person_id.is_(None)) & (
                table.c.recipient_no.in_(numbers["recipient_no"].tolist())))], ignore_index=True)
    if exclude_claim_ids is not None and len(stored):
        stored = stored[~stored["claim_id"].isin(exclude_claim_ids)]
    if stored.empty:
        return pd.DataFrame()
    assessed = assess(conn, _stage_from_store(stored.drop_duplicates("claim_id")), policy, with_later_receipts=False)
    rows = _claim_rows(assessed, month, run_id, policy, ring)
    existing = stored[["claim_id", "row_digest"]].drop_duplicates("claim_id")
    changed = rows.merge(existing.rename(columns={"row_digest": "_old"}), on="claim_id")
    changed = changed[changed["row_digest"] != changed["_old"]]
    if len(changed):
        keep = ["claim_id", *RESULT_COLUMNS, "assessed_month", "policy_version", "run_id", "row_digest"]
        upsert_frame(conn, table, changed[keep], ["claim_id"], digest_column="row_digest", existing=existing)
    return assessed
