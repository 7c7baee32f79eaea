"""My Numbers that collide: one number carried by two persons (issue 10).

A My Number belongs to exactly one person for life (番号法 7条). Two 宛名番号 carrying the same number — two
rows of this inbox (numbers swapped, or an event for an absent person carrying a resident's number), or a row
and a person already stored — is a data error of the sender that the pipeline cannot resolve. Storing it would
break the unique blind index (``person.my_number_hmac``) and abort the whole month. Instead every row of every
person involved is quarantined, naming its file and line and the other side's file and line (or "a stored
person"), and the rest of the month goes on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pandas as pd
from sqlalchemy import Connection

from privacy.crypto import KeyRing
from schemas.validate import QUARANTINE_COLUMNS, mask_value
from services.intake import linediff
from services.intake.ingest import INPUT_FILES, Inbox
from services.intake.unchanged import Known
from store import models
from store.bulk import read_frame, read_frame_in, sorted_distinct

CHECK_NAME = "my_number_collision"
#: Files whose rows carry a person's My Number: frame name → file name.
PERSON_FILES = {"residents": INPUT_FILES["residents"][0], "resident_events": INPUT_FILES["resident_events"][0]}


def _person_rows(inbox: Inbox) -> pd.DataFrame:
    """Every row carrying a My Number: frame, file, line, person and number."""
    parts = []
    for name, file_name in PERSON_FILES.items():
        frame = inbox.frames.get(name)
        if frame is None or frame.empty:
            continue
        parts.append(pd.DataFrame({"frame": name, "file_name": file_name,
                                   "row_number": frame["source_row"].to_numpy(dtype="int64"),
                                   "person_id": frame["person_id"].to_numpy(dtype=object),
                                   "my_number": frame["my_number"].to_numpy(dtype=object)}))
    if not parts:
        return pd.DataFrame(columns=["frame", "file_name", "row_number", "person_id", "my_number"])
    return pd.concat(parts, ignore_index=True)


def checked_inbox(conn: Connection, load: Callable[[Known | None], Inbox], known: Known | None,
                  ring: KeyRing) -> Inbox:
    """``load(known)`` with the My Number collisions quarantined (:func:`quarantine_my_number_collisions`).

    When the changed lines cannot answer the collision check (services.intake.linediff refuses), the person
    files are loaded again whole (``known.without_person_lines()``) and checked: what a full read gives.
    """
    try:
        return quarantine_my_number_collisions(conn, load(known), ring)
    except linediff.LineDiffRefusedError:
        return quarantine_my_number_collisions(conn, load(known.without_person_lines()), ring)


def quarantine_my_number_collisions(conn: Connection, inbox: Inbox, ring: KeyRing) -> Inbox:
    """Take the rows of persons whose My Number another person carries out of ``inbox`` into its quarantine.

    Compares the blind indexes (never clear numbers) within the inbox and against the stored persons. Returns
    a new :class:`Inbox` with the frames, per-file counts and quarantine updated; ``inbox`` if none collides.
    """
    rows = _person_rows(inbox)
    if rows.empty:
        return inbox
    diffed = inbox.lines is not None and inbox.lines.person_lines
    if diffed and linediff.carried_by_skipped(rows, inbox.lines.current, inbox.lines.line_key):
        raise linediff.LineDiffRefusedError("a My Number of a person line read is carried by a line not read")
    rows["hmac"] = ring.blind_index_many(rows["my_number"].where(rows["my_number"].notna(), None).tolist())
    rows = rows[rows["hmac"].notna()]
    owners = rows.drop_duplicates(["hmac", "person_id"])
    shared = owners["hmac"].duplicated(keep=False)
    # Only the stored persons carrying one of these numbers matter: read just those when few lines were read.
    stored = (read_frame_in(conn, models.Person.__table__, ["person_id", "my_number_hmac"], "my_number_hmac",
                            sorted_distinct(rows["hmac"])) if diffed
              else read_frame(conn, models.Person.__table__, ["person_id", "my_number_hmac"]))
    stored = stored[stored["my_number_hmac"].notna()]
    against = owners.merge(stored, left_on="hmac", right_on="my_number_hmac", suffixes=("", "_stored"))
    against = against[against["person_id"] != against["person_id_stored"]]
    colliding = set(owners.loc[shared.to_numpy(), "person_id"]) | set(against["person_id"])
    if not colliding:
        return inbox
    if diffed:
        # The other rows of the persons involved may be on lines not read: only the whole files tell them.
        raise linediff.LineDiffRefusedError("a My Number collision among the person lines read")

    hit = rows[rows["person_id"].isin(colliding)].copy()
    stored_owner = dict(zip(against["hmac"], against["person_id_stored"], strict=True))

    def other_side(row) -> str:
        """Where the other carrier of this number is: its rows in this inbox, else the stored person."""
        owner = stored_owner.get(row.hmac)
        others = hit[((hit["hmac"] == row.hmac) | (hit["person_id"] == owner)) & (hit["person_id"] != row.person_id)]
        places = [f"{f} line {n}" for f, n in zip(others["file_name"], others["row_number"], strict=True)][:5]
        if owner is not None and not (hit["person_id"] == owner).any():
            places.append("a person already stored")
        return ", ".join(places) or "another row of the same person"

    hit["reason"] = [f"My Number also carried by another person ({other_side(r)}); held for review"
                     for r in hit.itertuples()]
    sha = dict(zip(inbox.inputs["file_name"], inbox.inputs["sha256"], strict=True))
    quarantine = pd.DataFrame({
        "file_name": hit["file_name"].to_numpy(), "row_number": hit["row_number"].to_numpy(dtype="int64"),
        "column_name": "my_number", "check_name": CHECK_NAME,
        "masked_value": [mask_value(v) for v in hit["my_number"]], "reason": hit["reason"].to_numpy(),
    })[QUARANTINE_COLUMNS]
    quarantine["file_sha256"] = quarantine["file_name"].map(sha)

    frames = dict(inbox.frames)
    for name in PERSON_FILES:
        if name in frames:
            frames[name] = frames[name][~frames[name]["person_id"].isin(colliding)].reset_index(drop=True)
    combined = pd.concat([inbox.quarantine, quarantine], ignore_index=True) if not inbox.quarantine.empty else (
        quarantine)
    inputs = inbox.inputs.copy()
    for position, file_name in inputs["file_name"].items():
        name = next((n for n, f in PERSON_FILES.items() if f == file_name), None)
        if name is None or name not in frames:
            continue
        inputs.loc[position, "accepted_count"] = len(frames[name])
        inputs.loc[position, "quarantined_count"] = combined.loc[combined["file_name"] == file_name,
                                                                 "row_number"].nunique()
    return dataclasses.replace(inbox, frames=frames, inputs=inputs, quarantine=combined)
