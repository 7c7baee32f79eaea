"""Interval algebra (rules.intervals) and residence spells (rules.residence)."""

from __future__ import annotations

import pandas as pd
import pytest

from rules import intervals as iv
from rules.residence import apply_events, collect_persons

D = pd.Timestamp


def frame(rows, columns=("person_id", "start", "end")):
    df = pd.DataFrame(rows, columns=list(columns))
    df["start"] = pd.to_datetime(df["start"]).astype("datetime64[ns]")
    df["end"] = pd.to_datetime(df["end"]).astype("datetime64[ns]")
    return df


def spans(df):
    return [(r.person_id, r.start.date().isoformat(), r.end.date().isoformat()) for r in df.itertuples()]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [("p", "2020-01-01", "2020-01-10"), ("p", "2020-01-05", "2020-01-20")],
            [("p", "2020-01-01", "2020-01-20")],
            id="overlapping intervals merge",
        ),
        pytest.param(
            [("p", "2020-01-01", "2020-01-10"), ("p", "2020-01-11", "2020-01-20")],
            [("p", "2020-01-01", "2020-01-20")],
            id="adjacent intervals (next day) merge",
        ),
        pytest.param(
            [("p", "2020-01-01", "2020-01-10"), ("p", "2020-01-12", "2020-01-20")],
            [("p", "2020-01-01", "2020-01-10"), ("p", "2020-01-12", "2020-01-20")],
            id="a one-day gap keeps two intervals",
        ),
        pytest.param(
            [("p", "2020-01-01", "2020-12-31"), ("p", "2020-02-01", "2020-02-10"), ("p", "2020-03-01", "2021-01-05")],
            [("p", "2020-01-01", "2021-01-05")],
            id="an interval contained in an earlier one does not break the chain (cummax)",
        ),
        pytest.param(
            [("p", "2020-01-01", "2020-01-10"), ("q", "2020-01-11", "2020-01-20")],
            [("p", "2020-01-01", "2020-01-10"), ("q", "2020-01-11", "2020-01-20")],
            id="different people never merge",
        ),
        pytest.param(
            [("p", "2020-05-01", "2020-05-01"), ("p", "2020-04-01", "2020-04-30")],
            [("p", "2020-04-01", "2020-05-01")],
            id="unsorted input and one-day intervals",
        ),
    ],
)
def test_normalise(rows, expected):
    assert spans(iv.normalise(frame(rows))) == expected


def test_normalise_carries_attributes():
    df = frame(
        [("p", "2020-01-01", "2020-01-31", 1, "A"), ("p", "2020-02-01", "2020-02-29", 4, "B")],
        columns=("person_id", "start", "end", "codes", "reason"),
    )
    out = iv.normalise(df, agg={"codes": "bitor", "reason": "last"})
    assert out.loc[0, "codes"] == 5
    assert out.loc[0, "reason"] == "B"
    first = iv.normalise(df, agg={"reason": "first"})
    assert first.loc[0, "reason"] == "A"


def test_normalise_by_attribute_keeps_different_statuses_apart():
    df = frame(
        [("p", "2020-01-01", "2020-01-31", "E"), ("p", "2020-02-01", "2020-02-29", "S"),
         ("p", "2020-03-01", "2020-03-31", "S")],
        columns=("person_id", "start", "end", "status"),
    )
    out = iv.normalise(df, by=["person_id", "status"])
    assert [(r.status, r.start.month, r.end.month) for r in out.itertuples()] == [("E", 1, 1), ("S", 2, 3)]


def test_normalise_empty_and_unknown_aggregation():
    empty = frame([])
    assert iv.normalise(empty).empty
    with pytest.raises(ValueError, match="unknown aggregation"):
        iv.normalise(frame([("p", "2020-01-01", "2020-01-02")]), agg={"start": "sum"})


def test_intersect_per_person_keeps_only_overlaps():
    a = frame([("p", "2020-01-01", "2020-06-30"), ("q", "2020-01-01", "2020-01-31")])
    b = frame([("p", "2020-03-01", "2020-12-31"), ("q", "2020-02-01", "2020-02-28"), ("r", "2020-01-01", "2020-12-31")])
    assert spans(iv.intersect(a, b)) == [("p", "2020-03-01", "2020-06-30")]


def test_intersect_single_shared_day_is_kept():
    a = frame([("p", "2020-01-01", "2020-01-10")])
    b = frame([("p", "2020-01-10", "2020-01-20")])
    assert spans(iv.intersect(a, b)) == [("p", "2020-01-10", "2020-01-10")]


def test_intersect_suffixes_clashing_attributes():
    a = frame([("p", "2020-01-01", "2020-01-10", "x")], columns=("person_id", "start", "end", "tag"))
    b = frame([("p", "2020-01-05", "2020-01-20", "y")], columns=("person_id", "start", "end", "tag"))
    out = iv.intersect(a, b)
    assert (out.loc[0, "tag_a"], out.loc[0, "tag_b"]) == ("x", "y")


@pytest.mark.parametrize(
    ("a_rows", "b_rows", "expected", "cuts"),
    [
        pytest.param(
            [("p", "2020-01-01", "2020-12-31")],
            [("p", "2020-03-01", "2020-03-31")],
            [("p", "2020-01-01", "2020-02-29"), ("p", "2020-04-01", "2020-12-31")],
            [True, False],
            id="a hole in the middle splits in two and the first piece is cut",
        ),
        pytest.param(
            [("p", "2020-01-01", "2020-12-31")],
            [("p", "2019-01-01", "2020-01-31")],
            [("p", "2020-02-01", "2020-12-31")],
            [False],
            id="b covering the start trims it",
        ),
        pytest.param(
            [("p", "2020-01-01", "2020-12-31")],
            [("p", "2020-12-01", "2200-12-31")],
            [("p", "2020-01-01", "2020-11-30")],
            [True],
            id="an open-ended b cuts the end",
        ),
        pytest.param(
            [("p", "2020-01-01", "2020-01-31")],
            [("p", "2019-01-01", "2021-01-01")],
            [],
            [],
            id="b covering a removes it",
        ),
        pytest.param(
            [("p", "2020-01-01", "2020-01-31")],
            [("p", "2020-02-01", "2020-02-28")],
            [("p", "2020-01-01", "2020-01-31")],
            [False],
            id="b starting the day after a ends is no cut",
        ),
        pytest.param(
            [("p", "2020-01-01", "2020-01-31"), ("q", "2020-01-01", "2020-01-31")],
            [("p", "2020-01-10", "2020-01-10")],
            [("p", "2020-01-01", "2020-01-09"), ("p", "2020-01-11", "2020-01-31"), ("q", "2020-01-01", "2020-01-31")],
            [True, False, False],
            id="people without b are untouched",
        ),
    ],
)
def test_subtract(a_rows, b_rows, expected, cuts):
    out = iv.subtract(frame(a_rows), frame(b_rows), cut_flag="cut")
    assert spans(out) == expected
    assert out["cut"].tolist() == cuts


def test_complement_marks_bounded_gaps():
    gaps = iv.complement(frame([("p", "2020-03-01", "2020-03-31"), ("p", "2020-04-01", "2020-04-30")]),
                         within=(D("2020-01-01"), D("2020-12-31")))
    assert spans(gaps) == [("p", "2020-01-01", "2020-02-29"), ("p", "2020-05-01", "2020-12-31")]
    assert gaps["is_bounded"].tolist() == [True, False]


def test_clip_to_window():
    df = frame(
        [("p", "2019-01-01", "2020-01-15"), ("p", "2020-02-01", "2021-01-01"), ("p", "2018-01-01", "2018-12-31")]
    )
    assert spans(iv.clip(df, "2020-01-01", "2020-12-31")) == [
        ("p", "2020-01-01", "2020-01-15"),
        ("p", "2020-02-01", "2020-12-31"),
    ]


def test_close_open_ends():
    df = pd.DataFrame({"person_id": ["p"], "start": [pd.NaT], "end": [pd.NaT]})
    out = iv.close_open_ends(df)
    assert (out.loc[0, "start"], out.loc[0, "end"]) == (iv.OPEN_START, iv.OPEN_END)


# --- residence -------------------------------------------------------------------------------------


def _residents(rows):
    return pd.DataFrame(
        rows, columns=["person_id", "household_id", "relationship_code", "birth_date", "residence_start_date"]
    )


def _events(rows):
    return pd.DataFrame(
        rows,
        columns=["event_id", "person_id", "household_id", "relationship_code", "birth_date", "event_code",
                 "event_date", "notified_date"],
    )


def _res(df):
    return [
        (r.person_id, r.start.date().isoformat(), None if pd.isna(r.end) else r.end.date().isoformat(),
         None if pd.isna(r.end_reason) else r.end_reason)
        for r in df.itertuples()
    ]


def test_residence_from_extract_is_open():
    out = apply_events(_residents([("0000000001", "H1", "03", "2015-05-10", "2015-05-10")]), _events([]))
    assert _res(out) == [("0000000001", "2015-05-10", None, None)]


def test_move_out_ends_the_day_before_and_death_ends_on_the_day():
    residents = _residents([("0000000001", "H1", "03", "2015-05-10", "2015-05-10"),
                            ("0000000002", "H1", "03", "2016-01-01", "2016-01-01")])
    events = _events([
        ("e1", "0000000001", "H1", "03", "2015-05-10", "D1", "2020-04-10", "2020-04-12"),
        ("e2", "0000000002", "H1", "03", "2016-01-01", "D3", "2021-07-07", "2021-07-08"),
    ])
    assert _res(apply_events(residents, events)) == [
        ("0000000001", "2015-05-10", "2020-04-09", "MOVE_OUT"),
        ("0000000002", "2016-01-01", "2021-07-07", "DEATH"),
    ]


def test_move_out_and_back_gives_two_spells():
    residents = _residents([("0000000001", "H2", "03", "2015-05-10", "2021-01-01")])
    events = _events([
        ("e1", "0000000001", "H1", "03", "2015-05-10", "A3", "2015-05-10", None),
        ("e2", "0000000001", "H1", "03", "2015-05-10", "D2", "2019-08-01", None),
        ("e3", "0000000001", "H2", "03", "2015-05-10", "A2", "2021-01-01", None),
    ])
    assert _res(apply_events(residents, events)) == [
        ("0000000001", "2015-05-10", "2019-07-31", "MOVE_OUT"),
        ("0000000001", "2021-01-01", None, None),
    ]


def test_people_only_in_events_are_handled():
    events = _events([
        # moved in and out, both within the event history
        ("e1", "0000000007", "H7", "03", "2012-01-01", "A1", "2014-04-01", None),
        ("e2", "0000000007", "H7", "03", "2012-01-01", "D1", "2016-04-01", None),
        # died before the extract, arrival older than the events: resident since birth
        ("e3", "0000000008", "H8", "03", "2013-02-02", "D3", "2017-03-03", None),
    ])
    assert _res(apply_events(_residents([]), events)) == [
        ("0000000007", "2014-04-01", "2016-03-31", "MOVE_OUT"),
        ("0000000008", "2013-02-02", "2017-03-03", "DEATH"),
    ]


def test_latest_household_after_m3_events():
    residents = _residents([("0000000001", "H1", "03", "2015-05-10", "2015-05-10")])
    events = _events([
        ("e1", "0000000001", "H2", "03", "2015-05-10", "M3", "2020-01-01", None),
        ("e2", "0000000001", "H3", "01", "2015-05-10", "M3", "2022-01-01", None),
        ("e0", "0000000009", "H9", "03", "2019-09-09", "A3", "2019-09-09", None),
    ])
    persons = collect_persons(residents, events)
    assert persons.set_index("person_id").loc["0000000001", "household_id"] == "H3"
    assert persons.set_index("person_id").loc["0000000001", "relationship_code"] == "01"
    assert persons.set_index("person_id").loc["0000000009", "birth_date"] == D("2019-09-09")
    older = collect_persons(residents, events, extract_date="2023-01-01")
    assert older.set_index("person_id").loc["0000000001", "household_id"] == "H1"


def test_residence_from_stored_persons_uses_the_stored_end_and_needs_no_event_birth_date():
    from rules.residence import residence_from_persons

    persons = pd.DataFrame({
        "person_id": ["0000000001", "0000000002"], "household_id": ["H1", "H1"], "relationship_code": ["03", "03"],
        "birth_date": ["2015-05-10", "2016-01-01"], "residence_start_date": ["2015-05-10", "2016-01-01"],
        "residence_end_date": ["2020-04-09", None], "residence_end_reason": ["MOVE_OUT", None],
    })
    events = pd.DataFrame({"event_id": ["e1"], "person_id": ["0000000002"], "household_id": ["H1"],
                           "event_code": ["D3"], "event_date": ["2021-07-07"]})
    assert _res(residence_from_persons(persons, events)) == [
        ("0000000001", "2015-05-10", "2020-04-09", "MOVE_OUT"),
        ("0000000002", "2016-01-01", "2021-07-07", "DEATH"),
    ]
