"""A batch of 異動 events between monthly runs (PIA §3 (1) ① ア: 住民票関係情報 「異動があった都度…随時入手」).

Steps (one transaction after reading): validate the events file like an inbox file (bad rows are
quarantined with masked values, the good rows go on); update the persons the events name; store the
events; re-determine every household an event touches — the household after the event and the one the
person was in before (a 世帯分離 changes both) — with the monthly pipeline's rules
(:mod:`services.movein.determine`): 出生 → a child (with a 資格登録届) gets a 新規 decision, 死亡 → 喪失（死亡）,
転出 → 喪失（転出）, both with a PMH delete carrying the 異動日, 転居/氏名変更 → the person data PMH holds is
refreshed by the next registration of that child.

Person data: the latest event of a person carries the whole record after the event (docs/formats);
``residence_start_date`` is kept from the stored person, or for a new person taken from the start event
(出生 A3, 転入 A1/A2, 職権記載 A9). Residence spells themselves are derived by :mod:`rules.residence`.

Sibling files: when the events file's directory also holds ``applications.csv`` or ``insurance.csv``
(a newborn's 資格登録届 and insurance, received with the 出生届), they are validated and stored too.

Re-running the same file changes nothing: events are keyed by ``event_id``, persons by digest, decisions
and PMH rows by their natural keys.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pandas as pd
from sqlalchemy.orm import Session

from connectors.files import file_sha256, read_input_csv
from privacy.audit import record_access
from privacy.crypto import KeyRing
from rules.residence import START_EVENT_CODES
from schemas.resident_events import ResidentEventSchema
from schemas.validate import validate_frame
from services import runs
from services.intake import persist
from services.intake.ingest import INPUT_FILES, model_columns
from services.movein.determine import redetermine
from store import models
from store.bulk import read_frame

SIBLING_FILES = ("applications", "insurance")


@dataclasses.dataclass
class EventBatch:
    """A validated batch (in memory only): good events, sibling frames, file records and quarantine."""

    events: pd.DataFrame
    siblings: dict[str, pd.DataFrame]
    inputs: pd.DataFrame
    quarantine: pd.DataFrame

    def counts(self) -> dict:
        """Aggregates only."""
        return {"events": int(len(self.events)), "quarantined_cells": int(len(self.quarantine)),
                "by_event_code": {str(k): int(v) for k, v in self.events["event_code"].value_counts().items()},
                "sibling_rows": {k: int(len(v)) for k, v in self.siblings.items()}}


def read_batch(events_file: str | Path, as_of: dt.date) -> EventBatch:
    """Read and validate the events file (and sibling files); bad rows go to quarantine, not exceptions."""
    path = Path(events_file)
    specs = {"resident_events": (path, ResidentEventSchema)}
    for name in SIBLING_FILES:
        file_name, schema, _ = INPUT_FILES[name]
        sibling = path.parent / file_name
        if sibling.exists():
            specs[name] = (sibling, schema)
    frames: dict[str, pd.DataFrame] = {}
    inputs, quarantined = [], []
    for name, (file_path, schema) in specs.items():
        raw = read_input_csv(file_path, model_columns(schema))
        sha = file_sha256(file_path)
        result = validate_frame(raw, schema, file_path.name, extract_date=pd.Timestamp(as_of))
        frames[name] = result.good.drop(columns=["source_row"], errors="ignore")
        bad_rows = int(result.quarantine["row_number"].nunique()) if not result.quarantine.empty else 0
        inputs.append({"file_name": file_path.name, "sha256": sha, "row_count": len(raw),
                       "accepted_count": len(result.good), "quarantined_count": bad_rows})
        if not result.quarantine.empty:
            quarantined.append(result.quarantine.assign(file_sha256=sha))
    quarantine = pd.concat(quarantined, ignore_index=True) if quarantined else pd.DataFrame(
        columns=["file_name", "file_sha256", "row_number", "column_name", "check_name", "masked_value", "reason"])
    events = frames.pop("resident_events")
    return EventBatch(events, frames, pd.DataFrame(inputs), quarantine)


def persons_from_events(conn, events: pd.DataFrame) -> pd.DataFrame:
    """The person rows after the events: the latest event's record, residence start kept or from A-events."""
    ordered = events.sort_values(["person_id", "event_date", "notified_date", "event_id"], kind="stable")
    latest = ordered.drop_duplicates("person_id", keep="last")
    table = models.Person.__table__
    ids = latest["person_id"].tolist()
    stored = read_frame(conn, table, ["person_id", "residence_start_date"], where=table.c.person_id.in_(ids))
    starts = (ordered.loc[ordered["event_code"].isin(START_EVENT_CODES), ["person_id", "event_date"]]
              .drop_duplicates("person_id", keep="first").rename(columns={"event_date": "_event_start"}))
    persons = latest.merge(stored, on="person_id", how="left").merge(starts, on="person_id", how="left")
    persons["residence_start_date"] = pd.to_datetime(persons["residence_start_date"]).fillna(
        persons["_event_start"]).astype("datetime64[ns]")
    return persons[["person_id", *persist.PERSON_SOURCE_COLUMNS]]


def affected_households(conn, events: pd.DataFrame) -> set[str]:
    """Households after the events plus the stored (previous) households of the persons named."""
    table = models.Person.__table__
    ids = events["person_id"].unique().tolist()
    stored = read_frame(conn, table, ["household_id"], where=table.c.person_id.in_(ids))
    return set(events["household_id"].dropna()) | set(stored["household_id"].dropna())


def apply_batch(session: Session, batch: EventBatch, *, ring: KeyRing, policy, run_id: str, operator_id: str,
                as_of: dt.date) -> dict:
    """Store the batch and re-determine the affected households (the caller's transaction)."""
    conn = session.connection()
    runs.record_inputs(conn, run_id=run_id, inputs=batch.inputs)
    runs.record_quarantine(conn, run_id=run_id, quarantine=batch.quarantine)
    if batch.events.empty and not batch.siblings:
        return {"batch": batch.counts(), "stored": {}, "determination": {}}
    households = affected_households(conn, batch.events) if not batch.events.empty else set()
    frames = {"resident_events": batch.events, **batch.siblings}
    if not batch.events.empty:
        frames["residents"] = persons_from_events(conn, batch.events)
    stored = persist.persist_inputs(conn, frames, ring, run_id)
    person_ids = set(batch.events["person_id"])
    for frame in batch.siblings.values():
        for column in ("person_id", "child_person_id"):
            if column in frame:
                person_ids |= set(frame[column])
    stored_people = read_frame(conn, models.Person.__table__, ["person_id", "household_id"],
                               where=models.Person.__table__.c.person_id.in_(sorted(person_ids)))
    households |= set(stored_people["household_id"].dropna())
    record_access(session, actor_id=operator_id, action="update", purpose="resident-changes:ingest",
                  subject_ids=sorted(person_ids), record_count=int(len(batch.events)), run_id=run_id)
    month = pd.Timestamp(as_of).strftime("%Y-%m")
    determined = redetermine(session, household_ids=households, person_ids=person_ids, month=month, policy=policy,
                             run_id=run_id, operator_id=operator_id, purpose="resident-changes:determination")
    determined.pop("decided_person_ids", None)
    return {"batch": batch.counts(), "stored": stored.tables, "determination": determined}


def summary_markdown(result: dict, file_name: str) -> str:
    """The run's artifact: counts only."""
    b, d = result["batch"], result.get("determination") or {}
    lines = [f"# Resident changes `{file_name}`", "",
             f"* events accepted: {b['events']}; quarantined cells: {b['quarantined_cells']}",
             "* by 異動事由: " + (", ".join(f"{k} {v}" for k, v in sorted(b["by_event_code"].items())) or "none"),
             f"* households re-determined: {d.get('households', 0)}", "",
             "| decision | count |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(d.get("by_type", {}).items())] or ["| (none) | 0 |"]
    lines += ["", f"PMH outbox rows: {d.get('pmh_outbox_rows', 0)}; certificates updated: "
              f"{d.get('certificates_updated', 0)}"]
    return "\n".join(lines)
