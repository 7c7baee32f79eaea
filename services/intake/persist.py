"""Persist validated inputs: persons (encrypted), 異動 events, tax, welfare, insurance, applications.

Every write is an idempotent upsert on the natural key with a keyed row digest, so re-running the same
inbox changes nothing. My Number and the name/kana/address are encrypted before they reach SQL; only
rows that are new or changed are encrypted, so a re-run costs no cryptography.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
import pandas as pd
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from privacy.audit import record_access
from privacy.crypto import KeyRing
from schemas.checks import flag_to_bool
from services.intake import linediff
from services.intake.inputs import FILE_TABLES, INPUT_FILE_NAMES
from store import changes, models
from store.bulk import UpsertCounts, insert_missing_rows, read_frame, sorted_distinct, upsert_frame

PERSON_SOURCE_COLUMNS = [
    "household_id", "relationship_code", "my_number", "name", "name_kana", "address", "birth_date",
    "sex_code", "dv_support_flag", "residence_start_date",
]
#: Part of every person's row digest. Raised when the mapping from file text to stored values changes, so
#: that re-running an unchanged inbox rewrites rows stored under the old mapping. Version 2: the 支援措置
#: flag "0" was stored as True by version 1 (issue 10).
PERSON_DIGEST_VERSION = "2"


@dataclass
class PersistCounts:
    """Rows inserted/updated/unchanged per table (aggregates only)."""

    tables: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, table: str, counts: UpsertCounts | int) -> None:
        if isinstance(counts, int):
            counts = UpsertCounts(counts, 0, 0)
        self.tables[table] = {"inserted": counts.inserted, "updated": counts.updated, "unchanged": counts.unchanged}


def _text(series: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        return series.dt.strftime("%Y-%m-%d").fillna("")
    return series.astype("string").fillna("")


def keyed_digest(frame: pd.DataFrame, columns: list[str], ring: KeyRing) -> list[str]:
    """HMAC of the canonical text of ``columns`` per row (unkeyed hashes of personal data are forbidden)."""
    if frame.empty:
        return []
    # One join per row over plain object arrays: pandas' pairwise str.cat builds a new column per column.
    parts = [_text(frame[column]).to_numpy(dtype=object) for column in columns]
    joined = list(map("\x1f".join, zip(*parts, strict=True)))
    return ring.blind_index_many(joined, purpose="row_digest")


def current_persons(residents: pd.DataFrame, events: pd.DataFrame, also_residents=frozenset()) -> pd.DataFrame:
    """The person rows to store: the full extract, plus people known only from 異動 events.

    Someone absent from the extract (moved out or died in the events window) keeps the personal data of
    their latest event. Residence spells themselves are derived from the stored events by
    :func:`rules.residence.apply_events`; nothing derivable is stored here. ``also_residents``: persons of
    the extract whose line was not read (services.intake.linediff): never events-only.
    """
    columns = ["person_id", *PERSON_SOURCE_COLUMNS]
    only_events = events[~events["person_id"].isin(residents["person_id"])]
    if also_residents:
        only_events = only_events[~only_events["person_id"].isin(list(also_residents))]
    latest = only_events.sort_values(["person_id", "event_date", "event_id"]).drop_duplicates("person_id", keep="last")
    latest = latest.assign(residence_start_date=pd.NaT)
    return pd.concat([residents[columns], latest[columns]], ignore_index=True)


def persist_persons(conn: Connection, persons: pd.DataFrame, ring: KeyRing, run_id: str,
                    few: bool = False) -> UpsertCounts:
    """Upsert persons; encrypt My Number and profile only for new or changed rows.

    ``few``: only some of the persons (the lines read, services.intake.linediff): read just their stored rows.
    """
    table = models.Person.__table__
    if persons.empty:  # nothing to compare: spare reading every stored digest
        return UpsertCounts(0, 0, 0)
    frame = persons.copy(deep=False)  # copy-on-write: the digest column is added without copying the rest
    frame["row_digest"] = keyed_digest(frame.assign(_digest_version=PERSON_DIGEST_VERSION),
                                       ["person_id", *PERSON_SOURCE_COLUMNS, "_digest_version"], ring)
    existing = read_frame(conn, table, ["person_id", "row_digest", "household_id"],
                          among=("person_id", sorted_distinct(frame["person_id"])) if few else None)
    merged = frame[["person_id", "row_digest"]].merge(
        existing[["person_id", "row_digest"]].rename(columns={"row_digest": "_old"}), on="person_id", how="left"
    )
    to_write = frame.loc[(merged["_old"] != merged["row_digest"]).to_numpy()]
    if to_write.empty:
        return UpsertCounts(0, 0, len(frame))
    keys = to_write["person_id"].tolist()
    my_numbers = to_write["my_number"].astype(object).where(to_write["my_number"].notna(), None).tolist()
    profiles = [
        orjson.dumps({"name": n, "name_kana": k, "address": a}).decode()
        for n, k, a in zip(to_write["name"].tolist(), to_write["name_kana"].tolist(), to_write["address"].tolist(),
                           strict=True)  # lists: iterating a pandas string array boxes every value
    ]
    profile_enc = ring.encrypt_many(profiles, table="person", column="profile", row_keys=keys)
    del profiles  # the plaintext JSON is not held while the rows are written (peak memory of a first load)
    rows = pd.DataFrame({
        "person_id": to_write["person_id"].to_numpy(),
        "household_id": to_write["household_id"].to_numpy(),
        "relationship_code": to_write["relationship_code"].to_numpy(),
        "my_number_hmac": ring.blind_index_many(my_numbers),
        "my_number_enc": ring.encrypt_many(my_numbers, table="person", column="my_number", row_keys=keys),
        "profile_enc": profile_enc,
        "birth_date": to_write["birth_date"].to_numpy(),
        "sex_code": to_write["sex_code"].to_numpy(),
        "dv_support_flag": flag_to_bool(to_write["dv_support_flag"]).to_numpy(),
        "residence_start_date": to_write["residence_start_date"].to_numpy(),
        "row_digest": to_write["row_digest"].to_numpy(),
        "updated_run_id": run_id,
    })
    counts = upsert_frame(conn, table, rows, ["person_id"], digest_column="row_digest",
                          existing=existing[["person_id", "row_digest"]])
    # The household a changed person left matters too (its children lose a 住記 guardian).
    left = existing.loc[existing["person_id"].isin(to_write["person_id"]), ["person_id", "household_id"]]
    return UpsertCounts(counts.inserted, counts.updated, counts.unchanged, written=to_write.index,
                        replaced=left.reset_index(drop=True))


#: Per input table: its natural key, and the columns naming the persons / households a change reaches.
SIMPLE_INPUTS: dict[str, tuple[object, list[str], list[str], list[str]]] = {
    "tax": (models.TaxRecord.__table__, ["person_id", "tax_year"], ["person_id"], []),
    "welfare": (models.WelfareCase.__table__, ["case_id"], [], ["household_id"]),
    "insurance": (models.InsuranceCoverage.__table__, ["person_id", "insurer_number", "valid_from"],
                  ["person_id"], []),
    "applications": (models.Application.__table__, ["application_id"],
                     ["child_person_id", "guardian_person_id", "spouse_person_id"], []),
    "placements": (models.Placement.__table__, ["placement_id"], ["person_id"], []),
}


class _Reach:
    """The persons and households the stored changes reach (for the eligibility_change queue)."""

    def __init__(self, tracking: bool) -> None:
        self.tracking = tracking
        self.persons: set[str] = set()
        self.households: set[str] = set()

    def add(self, frame: pd.DataFrame, person_columns: list[str], household_columns: list[str]) -> None:
        if not self.tracking:  # before the first decided month nothing is queued (it decides everyone)
            return
        for target, columns in ((self.persons, person_columns), (self.households, household_columns)):
            for column in columns:
                if column in frame.columns and len(frame):
                    target.update(v for v in frame[column].dropna().astype(str) if v)


def persist_inputs(conn: Connection, frames: dict[str, pd.DataFrame], ring: KeyRing, run_id: str,
                   unchanged: pd.DataFrame | None = None, lines=None) -> PersistCounts:
    """Write every validated input frame (keys: residents, resident_events, tax, welfare, insurance, applications).

    ``unchanged``: the input rows (``file_name``, ``accepted_count``) of the files not read again because they
    are stored already (services.intake.unchanged); their tables count their accepted rows as unchanged.
    ``lines`` (services.intake.unchanged.Known with a line key): the lines of each file as read; the lines not
    read (services.intake.linediff) count as unchanged rows, and this ingest's line digests are stored.
    The persons and households whose stored inputs changed are queued for the next decided month
    (:func:`store.changes.record_changes`), in this transaction.
    """
    counts = PersistCounts()
    reach = _Reach(changes.tracking(conn))
    skipped = unchanged if unchanged is not None else pd.DataFrame(columns=["file_name", "accepted_count"])
    for file_name, accepted in zip(skipped["file_name"], skipped["accepted_count"], strict=True):
        counts.add(FILE_TABLES[file_name], UpsertCounts(0, 0, int(accepted)))
    diffed = lines.line_diffed() if lines is not None else {}
    if "residents" in frames or "resident_events" in frames or not len(skipped):
        _persist_persons_and_events(conn, frames, ring, run_id, counts, reach,
                                    lines.residents_elsewhere if lines is not None else frozenset(),
                                    few=lines is not None and lines.person_lines)
    _persist_simple(conn, frames, counts, reach, {name for name, file_name in INPUT_FILE_NAMES.items()
                                                  if file_name in diffed})
    if diffed:
        _count_skipped_lines(frames, counts, diffed, lines)
    changes.record_changes(conn, run_id, person_ids=reach.persons, household_ids=reach.households)
    if lines is not None:
        by_file = {INPUT_FILE_NAMES[name]: (name, frame) for name, frame in frames.items() if name in INPUT_FILE_NAMES}
        linediff.store_lines(conn, run_id, lines.current, by_file, lines.lines, lines.line_key)
    return counts


def _count_skipped_lines(frames: dict[str, pd.DataFrame], counts: PersistCounts, diffed: dict[str, int],
                         lines) -> None:
    """Count the rows of the lines not read as unchanged, as a read of the whole file would have."""
    for file_name, skipped in diffed.items():
        table = FILE_TABLES[file_name]
        now = counts.tables.get(table, {"inserted": 0, "updated": 0, "unchanged": 0})
        if table == "person":
            continue
        counts.tables[table] = now | {"unchanged": now["unchanged"] + skipped}
    if lines.person_lines:
        now = counts.tables.get("person", {"inserted": 0, "updated": 0, "unchanged": 0})
        # As persist_persons counts a whole read: every person unchanged when none is written, else the upsert's.
        if now["inserted"] + now["updated"] == 0:
            counts.tables["person"] = now | {"unchanged": linediff.person_total(frames, lines.current,
                                                                                lines.line_key)}


def _persist_persons_and_events(conn: Connection, frames: dict[str, pd.DataFrame], ring: KeyRing, run_id: str,
                                counts: PersistCounts, reach: _Reach, also_residents=frozenset(),
                                few: bool = False) -> None:
    """Persons (from the extract and the 異動 events) and the new 異動 events."""
    residents = frames.get("residents", pd.DataFrame(columns=["person_id", *PERSON_SOURCE_COLUMNS]))
    events = frames.get("resident_events")
    if events is None:
        events = pd.DataFrame(columns=["event_id", *residents.columns.drop("residence_start_date", errors="ignore"),
                                       "event_code", "event_date", "notified_date"])
    persons = current_persons(residents, events, also_residents)
    person_counts = persist_persons(conn, persons, ring, run_id, few=few)
    counts.add("person", person_counts)
    reach.add(persons.loc[person_counts.written], ["person_id"], ["household_id"])
    reach.add(person_counts.replaced, [], ["household_id"])
    if not events.empty:
        event_rows = events[["event_id", "person_id", "household_id", "event_code", "event_date", "notified_date"]]
        new_events = insert_missing_rows(conn, models.ResidentEvent.__table__, event_rows.assign(run_id=run_id),
                                         ["event_id"], among_keys=few)
        # The events stored before count as unchanged rows, as the whole-file skip counts them (unchanged.py).
        counts.add("resident_event", UpsertCounts(len(new_events), 0, len(event_rows) - len(new_events)))
        reach.add(new_events, ["person_id"], ["household_id"])


def _persist_simple(conn: Connection, frames: dict[str, pd.DataFrame], counts: PersistCounts,
                    reach: _Reach, few: set[str] = frozenset()) -> None:
    """Upsert the frames stored one row per file row on their natural keys (tax, welfare, insurance, ...).

    ``few``: the frames holding only the lines read (services.intake.linediff): compared with just the stored
    rows of their keys' first column.
    """
    for name, (table, keys, person_columns, household_columns) in SIMPLE_INPUTS.items():
        frame = frames.get(name)
        if frame is None or frame.empty:
            continue
        columns = [c.name for c in table.columns if c.name in frame.columns]
        existing = None
        if name in few:
            compare = [c for c in columns if c not in keys]
            existing = read_frame(conn, table, [*keys, *compare],
                                  among=(keys[0], sorted_distinct(frame[keys[0]])))
        written = upsert_frame(conn, table, frame[columns], keys, existing=existing)
        counts.add(table.name, written)
        reach.add(frame.loc[written.written], person_columns, household_columns)
        reach.add(written.replaced, person_columns, household_columns)


def record_ingest_access(session: Session, *, inbox, operator_id: str, run_id: str) -> None:
    """One access record for the whole ingest: who stored whose data, and how many rows.

    The rows and persons are those read and stored by this run: a file or line not read again because it is
    stored already (services.intake.unchanged, services.intake.linediff) was neither read nor written.
    """
    person_ids = pd.concat([frame["person_id"] for name, frame in inbox.frames.items()
                            if "person_id" in frame.columns], ignore_index=True) if inbox.frames else []
    rows = int(sum(len(frame) for frame in inbox.frames.values()))
    record_access(session, actor_id=operator_id, action="create", purpose="monthly-ingest",
                  subject_ids=person_ids, record_count=rows, run_id=run_id)
