"""How eligibility periods store their reason codes: an integer id into an append-only lookup (issue 13).

The rules keep the ``;``-joined text in memory (``reason_codes``, ``sources``:
:mod:`rules.eligibility.codes`). A month stores hundreds of thousands of periods but only a few hundred
distinct texts, so the table ``eligibility_period`` stores ``reason_set_id`` and the text lives once in
``eligibility_reason_set``. This module is the only place that maps one to the other:

* :func:`encode` — periods with text → periods with ``reason_set_id`` (new texts are added);
* :func:`decode` / :func:`read_periods` — ids → text, for every output that explains a period.

Lookup rows are never updated or deleted, so an id read once means the same text for ever.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
from sqlalchemy import Connection

from store import models
from store.bulk import read_frame, read_frame_in

#: the columns of a period frame that the lookup stores
TEXT_COLUMNS = ["reason_codes", "sources"]
LOOKUP = models.EligibilityReasonSet.__table__


def _insert_new(conn: Connection, rows: pd.DataFrame) -> None:
    """Add lists not stored yet; a list another transaction added meanwhile is left as it is."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    records = [{"reason_codes": codes, "sources": None if pd.isna(sources) else sources}
               for codes, sources in zip(rows["reason_codes"], rows["sources"], strict=True)]
    conn.execute(insert(LOOKUP).on_conflict_do_nothing(index_elements=["reason_codes"]), records)


def encode(conn: Connection, periods: pd.DataFrame) -> pd.DataFrame:
    """``periods`` with ``reason_set_id`` in place of ``reason_codes`` (and ``sources``, if present).

    One read of the ids of the distinct texts and one insert of the texts not stored yet, whatever the
    number of periods. In the caller's transaction.
    """
    out = periods.drop(columns=[c for c in TEXT_COLUMNS if c in periods.columns])
    if periods.empty:
        return out.assign(reason_set_id=pd.Series(dtype="int64", index=periods.index))
    codes = periods["reason_codes"]
    if codes.isna().any():
        raise ValueError("an eligibility period without reason codes cannot be stored")
    sources = periods["sources"] if "sources" in periods.columns else pd.Series(None, index=periods.index,
                                                                                  dtype="object")
    distinct = pd.DataFrame({"reason_codes": codes.astype(object), "sources": sources.astype(object)}) \
        .drop_duplicates("reason_codes").sort_values("reason_codes")  # sorted: new ids in text order
    texts = distinct["reason_codes"].tolist()
    known = read_frame_in(conn, LOOKUP, ["reason_set_id", "reason_codes"], "reason_codes", texts)
    missing = distinct.loc[~distinct["reason_codes"].isin(known["reason_codes"]).to_numpy()]
    if len(missing):
        _insert_new(conn, missing)
        known = read_frame_in(conn, LOOKUP, ["reason_set_id", "reason_codes"], "reason_codes", texts)
    ids = pd.Series(known["reason_set_id"].astype("int64").to_numpy(), index=known["reason_codes"].astype(object))
    return out.assign(reason_set_id=codes.astype(object).map(ids).astype("int64").to_numpy())


def decode(conn: Connection, reason_set_ids: Iterable[int]) -> dict[int, str]:
    """The ``reason_codes`` text of each id (ids that are not stored are absent)."""
    ids = sorted({int(i) for i in reason_set_ids})
    stored = read_frame_in(conn, LOOKUP, ["reason_set_id", "reason_codes"], "reason_set_id", ids)
    return dict(zip(stored["reason_set_id"].astype("int64").tolist(), stored["reason_codes"].tolist(), strict=True))


def read_periods(conn: Connection, columns: list[str], where=None) -> pd.DataFrame:
    """Stored periods with ``columns``, where ``reason_codes`` (if asked for) is the text of the period's id."""
    table = models.EligibilityPeriod.__table__
    stored = [c for c in columns if c != "reason_codes"]
    if "reason_codes" not in columns:
        return read_frame(conn, table, stored, where=where)
    frame = read_frame(conn, table, list(dict.fromkeys([*stored, "reason_set_id"])), where=where)
    text = decode(conn, frame["reason_set_id"].tolist())
    frame["reason_codes"] = frame["reason_set_id"].map(text).astype(object)
    return frame[columns]
