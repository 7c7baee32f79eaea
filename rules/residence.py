"""Residence in Sendai (住民登録) from the 住民票 extract and the 異動 events.

Legal rule: the subsidy is for children registered as residents of Sendai (仙台市子ども医療費の助成に
関する規則 第2条; 旧制度案内 S12, FY2025 summary S56). Residence therefore bounds every eligibility
period; a move out (転出) or death (死亡) ends it (喪失).

Date conventions (assumptions [I], to be confirmed with the city's 住民記録 team):

* A person is resident from ``residence_start_date`` of the extract, or from the ``event_date`` of an
  出生 (A3), 国内転入 (A1), 国外転入 (A2) or 職権記載 (A9) event.
* 国内転出 (D1), 国外転出 (D2) and 職権消除 (D9): the ``event_date`` is the 異動日 (the day the person
  left), so the person is resident **until the day before** it; ``end_reason`` = ``MOVE_OUT``. D9 is
  treated as a move out because the record is deleted for non-residence.
* 死亡 (D3): the person is resident **through** the day of death; ``end_reason`` = ``DEATH``.
* A person who appears only in the events with an end event and no start event (moved out or died
  before the extract, the arrival being older than the event history) is taken to have been resident
  since birth; the registration rule (:mod:`rules.eligibility`) still starts coverage no earlier than
  the application allows.
* The latest household (世帯) and 続柄 of a person is the extract's, overridden by the latest event
  that carries a household (M3 世帯変更 and every other event with a ``household_id``) — by
  ``event_date``, then ``notified_date``, then ``event_id``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rules.intervals import OPEN_START, as_dates

START_EVENT_CODES = ("A1", "A2", "A3", "A9")
MOVE_OUT_EVENT_CODES = ("D1", "D2", "D9")
DEATH_EVENT_CODES = ("D3",)

RESIDENCE_COLUMNS = ["person_id", "start", "end", "end_reason"]
PERSON_COLUMNS = ["person_id", "birth_date", "household_id", "relationship_code"]


def _birth_dates(residents: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    both = pd.concat(
        [
            residents[["person_id", "birth_date"]],
            events[["person_id", "birth_date"]],
        ],
        ignore_index=True,
    )
    both["birth_date"] = as_dates(both["birth_date"])
    # The extract's rows come first, so the first known birth date per person is the extract's.
    return both.dropna(subset=["birth_date"]).drop_duplicates("person_id")[["person_id", "birth_date"]]


def apply_events(residents: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Residence intervals per person from the extract and the 異動 events.

    Args:
        residents: the 住民票 extract: ``person_id, birth_date, residence_start_date`` (other columns
            ignored).
        events: the 異動 events: ``person_id, birth_date, event_code, event_date`` (other columns
            ignored).

    Returns:
        ``person_id, start, end, end_reason``: one row per residence spell; ``end`` is NaT and
        ``end_reason`` is NA while the person is still resident, else ``end_reason`` is ``MOVE_OUT`` or
        ``DEATH`` (see the module docstring for the date conventions). Sorted by person and start.

    Each start (extract start or start event) is paired with the first end on or after it
    (``merge_asof`` forward by person); several starts paired with the same end form one spell from
    the earliest of them.
    """
    return _spells(residents, events, extra_ends=None)


def residence_from_persons(persons: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Residence intervals from stored person rows and stored events.

    Like :func:`apply_events`, but ``persons`` may also carry the stored ``residence_end_date`` (last
    resident day, inclusive) and ``residence_end_reason`` (``MOVE_OUT``/``DEATH``) of the person's latest
    spell — e.g. when the ending event itself is older than the stored event history. ``events`` need
    no ``birth_date`` (it is taken from ``persons``).
    """
    extra = None
    if "residence_end_date" in persons:
        ended = persons.loc[persons["residence_end_date"].notna()]
        extra = pd.DataFrame(
            {
                "person_id": ended["person_id"].astype("str").to_numpy(),
                "event_date": as_dates(ended["residence_end_date"]).to_numpy(),
                "end": as_dates(ended["residence_end_date"]).to_numpy(),
                "end_reason": ended["residence_end_reason"].astype("string").fillna("MOVE_OUT").to_numpy(),
            }
        )
    return _spells(persons, events, extra_ends=extra)


def _sorted_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(values, sort=True)`` for text ids (missing = -1), sorting only the distinct ids.

    The distinct ids are sorted as fixed-width unicode in C (the code-point order of Python's str sort),
    not by one Python comparison per pair.
    """
    codes, distinct = pd.factorize(values)
    if pd.api.types.infer_dtype(distinct, skipna=False) != "string":
        return pd.factorize(values, sort=True)
    order = np.argsort(distinct.astype(str), kind="stable")
    rank = np.empty(len(order), dtype=np.intp)
    rank[order] = np.arange(len(order), dtype=np.intp)
    return np.where(codes >= 0, rank[np.maximum(codes, 0)], -1), np.asarray(distinct, dtype=object)[order]


def _spells(residents: pd.DataFrame, events: pd.DataFrame, extra_ends: pd.DataFrame | None) -> pd.DataFrame:
    # Integer person codes in the order of the ids (one hashing pass): every merge, sort, merge_asof and
    # groupby below works on int64 instead of text, and sorting by code is sorting by id.
    parts = [residents["person_id"], events["person_id"]] + ([] if extra_ends is None else [extra_ends["person_id"]])
    codes, person_ids = _sorted_codes(np.concatenate([part.astype("str").to_numpy(dtype=object) for part in parts]))
    bounds = np.cumsum([0, *(len(part) for part in parts)])
    residents = residents.assign(
        person_id=codes[bounds[0]:bounds[1]],
        residence_start_date=as_dates(residents["residence_start_date"]),
        birth_date=as_dates(residents["birth_date"]),
    )
    events = events.assign(person_id=codes[bounds[1]:bounds[2]])
    if extra_ends is not None:
        extra_ends = extra_ends.assign(person_id=codes[bounds[2]:bounds[3]])
    if "birth_date" not in events:
        events = events.merge(residents[["person_id", "birth_date"]], on="person_id", how="left")
    events = events.assign(event_date=as_dates(events["event_date"]), birth_date=as_dates(events["birth_date"]))
    births = _birth_dates(residents, events)

    starts = pd.concat(
        [
            pd.DataFrame(
                {
                    "person_id": residents["person_id"].to_numpy(),
                    "start": residents["residence_start_date"].fillna(residents["birth_date"]).to_numpy(),
                }
            ),
            pd.DataFrame(
                {
                    "person_id": events.loc[events["event_code"].isin(START_EVENT_CODES), "person_id"].to_numpy(),
                    "start": events.loc[events["event_code"].isin(START_EVENT_CODES), "event_date"].to_numpy(),
                }
            ),
        ],
        ignore_index=True,
    ).dropna(subset=["start"])
    starts["start"] = starts["start"].astype("datetime64[ns]")

    is_move_out = events["event_code"].isin(MOVE_OUT_EVENT_CODES)
    is_death = events["event_code"].isin(DEATH_EVENT_CODES)
    enders = events.loc[is_move_out | is_death, ["person_id", "event_date", "event_code"]].dropna(
        subset=["event_date"]
    )
    ends = pd.DataFrame(
        {
            "person_id": enders["person_id"].to_numpy(),
            "event_date": enders["event_date"].to_numpy(),
            "end": (
                enders["event_date"]
                - pd.to_timedelta(enders["event_code"].isin(MOVE_OUT_EVENT_CODES).astype("int64"), unit="D")
            ).to_numpy(),
            "end_reason": pd.Series(
                enders["event_code"].isin(MOVE_OUT_EVENT_CODES).map({True: "MOVE_OUT", False: "DEATH"})
            ).to_numpy(),
        }
    )
    if extra_ends is not None and len(extra_ends):
        ends = pd.concat([ends, extra_ends[["person_id", "event_date", "end", "end_reason"]]], ignore_index=True)
    ends["end"] = ends["end"].astype("datetime64[ns]")
    ends["event_date"] = ends["event_date"].astype("datetime64[ns]")
    ends["person_id"] = ends["person_id"].astype("int64")
    ends = ends.sort_values(["end", "person_id"], kind="stable").reset_index(drop=True)
    ends["end_id"] = range(len(ends))

    paired = pd.merge_asof(
        starts.sort_values("start", kind="stable"),
        ends[["person_id", "end", "end_reason", "end_id"]],
        left_on="start",
        right_on="end",
        by="person_id",
        direction="forward",
    )
    paired["end_id"] = paired["end_id"].fillna(-1).astype("int64")
    spells = (
        paired.groupby(["person_id", "end_id"], as_index=False, sort=False)
        .agg(start=("start", "min"), end=("end", "first"), end_reason=("end_reason", "first"))
    )

    # End events that no start claimed: keep the first one of a person with no start before it.
    unclaimed = ends.loc[~ends["end_id"].isin(paired["end_id"])].sort_values("event_date", kind="stable")
    earlier = pd.merge_asof(
        unclaimed,
        starts.rename(columns={"start": "_earlier_start"}).sort_values("_earlier_start", kind="stable"),
        left_on="event_date",
        right_on="_earlier_start",
        by="person_id",
        direction="backward",
    )
    orphans = earlier.loc[earlier["_earlier_start"].isna()].sort_values(["person_id", "end"], kind="stable")
    orphans = orphans.drop_duplicates("person_id").merge(births, on="person_id", how="left")
    orphans["start"] = orphans["birth_date"].fillna(OPEN_START).astype("datetime64[ns]")
    orphans = orphans.loc[orphans["start"] <= orphans["end"]]

    result = pd.concat([spells[RESIDENCE_COLUMNS], orphans[RESIDENCE_COLUMNS]], ignore_index=True)
    result = result.sort_values(["person_id", "start"], kind="stable").reset_index(drop=True)
    known = result["person_id"].to_numpy("int64")
    result["person_id"] = pd.Series(np.where(known >= 0, np.asarray(person_ids, dtype=object)[known], None),
                                    dtype="str")
    result["start"] = result["start"].astype("datetime64[ns]")
    result["end"] = result["end"].astype("datetime64[ns]")
    result["end_reason"] = result["end_reason"].astype("string")
    return result


def collect_persons(
    residents: pd.DataFrame, events: pd.DataFrame, extract_date: pd.Timestamp | str | None = None
) -> pd.DataFrame:
    """One row per person with birth date and the latest household and 続柄.

    Args:
        residents: the extract: ``person_id, household_id, relationship_code, birth_date``.
        events: ``event_id, person_id, household_id, relationship_code, birth_date, event_date``
            (``notified_date`` used for ordering when present).
        extract_date: when given, only events dated after it override the extract (older events are
            already reflected in it); when None every event is taken as newer than the extract.

    Returns:
        ``person_id, birth_date, household_id, relationship_code`` for everyone in either frame.
    """
    base = residents[PERSON_COLUMNS].assign(_rank=0, _date=pd.NaT, _notified=pd.NaT, _event="")
    order_columns = {"_date": as_dates(events["event_date"])}
    order_columns["_notified"] = (
        as_dates(events["notified_date"]) if "notified_date" in events else pd.Series(pd.NaT, index=events.index)
    )
    order_columns["_event"] = events["event_id"].astype("string") if "event_id" in events else ""
    moves = events.assign(_rank=1, **order_columns).dropna(subset=["household_id"])
    if extract_date is not None:
        in_extract = moves["person_id"].isin(residents["person_id"])
        moves = moves.loc[~in_extract | (moves["_date"] > pd.Timestamp(extract_date))]
    both = pd.concat([base, moves[[*PERSON_COLUMNS, "_rank", "_date", "_notified", "_event"]]], ignore_index=True)
    both = both.sort_values(["person_id", "_rank", "_date", "_notified", "_event"], kind="stable")
    latest = both.drop_duplicates("person_id", keep="last")[["person_id", "household_id", "relationship_code"]]
    everyone = pd.concat([residents["person_id"], events["person_id"]], ignore_index=True).drop_duplicates()
    persons = (
        everyone.to_frame()
        .merge(latest, on="person_id", how="left")
        .merge(_birth_dates(residents, events), on="person_id", how="left")
    )
    return persons[PERSON_COLUMNS].sort_values("person_id", kind="stable").reset_index(drop=True)


HOUSEHOLD_SPELL_COLUMNS = ["person_id", "household_id", "relationship_code", "start", "end"]


def household_spells(residents: pd.DataFrame, events: pd.DataFrame,
                     extract_date: pd.Timestamp | str | None = None) -> pd.DataFrame:
    """The household (世帯) and 続柄 of each person on each date, from the 住記 extract and its events.

    Rule (住民基本台帳法 第7条: the 住民票 records 世帯 and 続柄; issue 12 §5 — 生活保護 and the guardians are
    taken from the household **on the date**): every event that carries a ``household_id`` (M3 世帯変更,
    出生, 転入 …) starts a membership on its ``event_date`` that lasts to the day before the person's next
    such event. Before a person's first event the extract's household applies — when ``extract_date`` is
    given, only events dated after it are newer than the extract (older ones are already reflected in it
    and are ignored, as in :func:`collect_persons`). Events without ``relationship_code`` keep the
    person's 続柄 from the extract.

    Returns ``person_id, household_id, relationship_code, start, end`` (``start`` = :data:`OPEN_START`
    before the first event, ``end`` NaT while open), sorted by person and start.
    """
    base = residents[["person_id", "household_id", "relationship_code"]].assign(
        start=OPEN_START, _rank=0, _notified=pd.NaT, _event="")
    moves = events.dropna(subset=["household_id"])
    if "relationship_code" not in moves:
        moves = moves.merge(residents[["person_id", "relationship_code"]], on="person_id", how="left")
    moves = moves.assign(
        start=as_dates(moves["event_date"]), _rank=1,
        _notified=as_dates(moves["notified_date"]) if "notified_date" in moves else pd.NaT,
        _event=moves["event_id"].astype("string") if "event_id" in moves else "",
    ).dropna(subset=["start"])
    if extract_date is not None:
        in_extract = moves["person_id"].isin(residents["person_id"])
        moves = moves.loc[~in_extract | (moves["start"] > pd.Timestamp(extract_date))]
    columns = ["person_id", "household_id", "relationship_code", "start", "_rank", "_notified", "_event"]
    both = pd.concat([base[columns], moves[columns]], ignore_index=True)
    both["start"] = as_dates(both["start"])
    both = both.sort_values(["person_id", "start", "_rank", "_notified", "_event"], kind="stable")
    # several events on one day: the last one holds from that day
    both = both.drop_duplicates(["person_id", "start"], keep="last").reset_index(drop=True)
    following = both.groupby("person_id", sort=False)["start"].shift(-1)
    both["end"] = (following - pd.Timedelta(days=1)).astype("datetime64[ns]")
    return both[HOUSEHOLD_SPELL_COLUMNS].reset_index(drop=True)
