"""Incremental months give what a full recomputation gives (issue 13 §1).

Generated months with changes (異動, new 資格登録届, 税額更正: :func:`devtools.generate.generate_changes`)
are run twice from the same inboxes: once deciding every month in full (the reference, SQLite), once
incrementally (SQLite and PostgreSQL). After every month the stored periods, decisions, certificates,
受給者番号 and PMH outbox rows must be equal. The months cover the dates that cross stored boundaries
without any input change: the school-year end at the age limit (March → LOSS_AGE), the renewal month
(September → RENEWAL), and the months the decision horizon moves (September and October → full).
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from policy import load_policy
from services.eligibility import decide, incremental, reason_sets
from services.intake import ingest, persist
from store import changes, migrate, models
from store.bulk import read_frame
from store.db import make_engine

#: Compared columns per table (run ids and surrogate keys differ by construction).
COMPARED = {
    models.EligibilityPeriod: ["person_id", "valid_from", "valid_to", "status", "end_reason", "reason_codes"],
    models.Decision: ["month", "person_id", "decision_type", "effective_date", "valid_from", "valid_to",
                      "reason_code", "status"],
    models.Certificate: ["person_id", "recipient_no", "valid_from", "valid_to", "status", "last_decision_month"],
    models.Recipient: ["person_id", "recipient_no"],
    models.PmhOutbox: ["person_id", "change_type", "reason", "valid_from", "valid_to", "idempotency_key"],
}


def _inboxes(root, first_month: str, months: int, children: int, seed: int) -> list[tuple[str, object]]:
    """``months`` consecutive (month, inbox) pairs: a generated extract, then months with 2 % changes."""
    from devtools.generate import generate_dataset
    from devtools.generate.changes import generate_changes

    periods = pd.period_range(first_month, periods=months, freq="M")
    out = []
    previous = None
    for index, period in enumerate(periods):
        directory = root / f"inbox-{period}"
        as_of = period.end_time.strftime("%Y-%m-%d")
        if previous is None:
            generate_dataset(directory, children=children, seed=seed, as_of=as_of)
        else:
            generate_changes(previous, directory, share=0.03, seed=seed + index, as_of=as_of)
        out.append((str(period), directory))
        previous = directory
    return out


def _run_month(engine, key_ring, month: str, inbox, *, full: bool) -> dict:
    box = ingest.load_inbox(inbox)
    run_id = f"{'full' if full else 'inc'}-{month}"
    with Session(engine) as session, session.begin():
        persist.persist_inputs(session.connection(), box.frames, key_ring, run_id)
    with Session(engine) as session, session.begin():
        return decide.decide_month(session, month=month, policy=load_policy(), run_id=run_id, operator_id="op",
                                   full=full)


def _state(engine) -> dict[str, pd.DataFrame]:
    out = {}
    with engine.connect() as conn:
        for model, columns in COMPARED.items():
            table = model.__table__
            frame = (reason_sets.read_periods(conn, columns) if model is models.EligibilityPeriod
                     else read_frame(conn, table, columns))
            frame = frame.astype({c: "string" for c in frame.columns if frame[c].dtype == object})
            out[table.name] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return out


def _assert_same(month: str, full: dict, incremental_state: dict) -> None:
    for name, expected in full.items():
        pd.testing.assert_frame_equal(incremental_state[name], expected, check_dtype=False,
                                      obj=f"{name} after {month}")


def _engine(url: str):
    migrate.upgrade(url)
    return make_engine(url)


@pytest.mark.parametrize("first_month,months", [("2027-01", 4), ("2027-08", 4)],
                         ids=["age-limit-spring", "renewal-autumn"])
def test_incremental_months_equal_full_recomputation(db_url, tmp_path, key_ring, first_month, months):
    inboxes = _inboxes(tmp_path, first_month, months, children=600, seed=41)
    reference = _engine(f"sqlite:///{tmp_path / 'full.db'}")
    engine = _engine(db_url)
    modes, decided = [], {}
    for month, inbox in inboxes:
        full_counts = _run_month(reference, key_ring, month, inbox, full=True)
        counts = _run_month(engine, key_ring, month, inbox, full=False)
        modes.append(counts["mode_reason"])
        decided[month] = (counts["new_decisions"], full_counts["new_decisions"], counts["by_type"],
                          counts["children_recomputed"], full_counts["children_recomputed"])
        _assert_same(month, _state(reference), _state(engine))
    reference.dispose()
    engine.dispose()

    assert modes[0] == "first-month"
    incremental_months = [m for (m, _), mode in zip(inboxes, modes, strict=True) if mode == "incremental"]
    assert incremental_months, f"no month was decided incrementally: {modes}"
    for month in incremental_months:
        new, full_new, _, recomputed, everyone = decided[month]
        assert new == full_new > 0, json.dumps(decided[month])  # the months are not vacuous
        assert recomputed < everyone / 2, f"{month}: {recomputed} of {everyone} children recomputed"
    if first_month == "2027-01":
        # March 31 ends the school year at the age limit: losses with no input change, found by the date.
        assert decided["2027-03"][2].get("LOSS_AGE", 0) > 0 and modes[2] == "incremental"
    else:
        # The horizon moves with the certificate cycle: the end in September, the start in October.
        assert modes[1:3] == ["horizon-moved", "horizon-moved"], modes
        assert decided["2027-09"][2].get("RENEWAL", 0) > 0
        assert modes[3] == "incremental"


def test_a_change_between_monthly_runs_is_decided_by_the_next_run(engine, key_ring, tmp_path):
    """A writer outside the monthly intake (move-in, counter) queues what it touched; the queue empties."""
    from devtools.generate import generate_dataset

    inbox = tmp_path / "inbox"
    generate_dataset(inbox, children=80, seed=3, as_of="2026-10-31")
    _run_month(engine, key_ring, "2026-10", inbox, full=False)
    with engine.begin() as conn:
        assert incremental.pending_changes(conn).empty
        child = read_frame(conn, models.Application.__table__, ["child_person_id"])["child_person_id"].iloc[0]
        assert changes.record_changes(conn, "counter-run", person_ids=[child]) == 1
    with Session(engine) as session, session.begin():
        counts = decide.decide_month(session, month="2026-11", policy=load_policy(), run_id="r-11",
                                     operator_id="op")
    assert counts["mode"] == "incremental"
    with engine.connect() as conn:
        assert incremental.pending_changes(conn).empty  # the rows read are gone
        assert child in incremental.changed_children(conn, pd.DataFrame(
            {"seq": [1], "person_id": [child], "household_id": [None]}))


def test_a_change_of_policy_rules_or_calendar_decides_everyone():
    from types import SimpleNamespace

    horizon = (pd.Timestamp("2020-10-01"), pd.Timestamp("2027-09-30"))
    basis = SimpleNamespace(derived_under="pol1/rules1/cal1", horizon_start=horizon[0].date(),
                            horizon_end=horizon[1].date(), month="2026-11")

    def reason(derived_under, month="2026-12", full=False, moved=False):
        span = (horizon[0], horizon[1] + pd.offsets.YearEnd(1)) if moved else horizon
        return incremental.plan(basis, derived_under=derived_under, horizon=span, month=month, full=full).reason

    assert reason("pol1/rules1/cal1") == "incremental"
    assert reason("pol1/rules1/cal1", month="2026-11") == "incremental"  # a re-run of the last month
    assert reason("pol2/rules1/cal1") == "policy-changed"
    assert reason("pol1/rules2/cal1") == "rules-changed"
    assert reason("pol1/rules1/cal2") == "rules-changed"
    assert reason("pol1/rules1/cal1", moved=True) == "horizon-moved"
    assert reason("pol1/rules1/cal1", month="2027-01") == "month-not-consecutive"
    assert reason("pol1/rules1/cal1", month="2026-10") == "month-not-consecutive"  # an earlier month again
    assert reason("pol1/rules1/cal1", full=True) == "requested"
    assert incremental.plan(None, derived_under="p/r/c", horizon=horizon, month="2026-12").reason == "first-month"
    # The rules' digest is part of what stored periods are derived under.
    assert incremental.derivation("pol1", pd.to_datetime(["2026-01-01"]).to_numpy()).split("/")[1] \
        == incremental.RULES_DIGEST


def test_full_is_forced_and_a_skipped_month_decides_everyone(engine, key_ring, tmp_path):
    from devtools.generate import generate_dataset

    inbox = tmp_path / "inbox"
    generate_dataset(inbox, children=60, seed=9, as_of="2026-10-31")
    first = _run_month(engine, key_ring, "2026-10", inbox, full=False)
    assert (first["mode"], first["mode_reason"]) == ("full", "first-month")
    forced = _run_month(engine, key_ring, "2026-11", inbox, full=True)
    assert (forced["mode"], forced["mode_reason"]) == ("full", "requested")
    skipped = _run_month(engine, key_ring, "2027-01", inbox, full=False)
    assert (skipped["mode"], skipped["mode_reason"]) == ("full", "month-not-consecutive")
    with engine.begin() as conn:
        basis = incremental.read_basis(conn)
    assert basis.month == "2027-01" and basis.run_id == "inc-2027-01"


@pytest.mark.integration
def test_the_monthly_flow_decides_a_quiet_month_incrementally_and_full_on_request(prefect_harness, kodomo_env,
                                                                                   tmp_path):
    """The flow (as the UI and ``kodomo monthly`` run it): the mode is in the run's counts and the summary."""
    from devtools.generate import generate_dataset
    from devtools.generate.changes import generate_changes
    from flows.monthly import monthly_run
    from services.notices.summary import month_summary
    from store.db import engine_for

    october, november = tmp_path / "inbox-10", tmp_path / "inbox-11"
    generate_dataset(october, children=150, seed=17, as_of="2026-10-31")
    generate_changes(october, november, share=0.05, seed=18, as_of="2026-11-30")
    monthly_run(month="2026-10", inbox=str(october), operator_id="demo-operator", sync_pmh=False)
    monthly_run(month="2026-11", inbox=str(november), operator_id="demo-operator", sync_pmh=False)
    monthly_run(month="2026-11", inbox=str(november), operator_id="demo-operator", sync_pmh=False, full=True)

    engine = engine_for(kodomo_env.resolved_database_url)
    with engine.connect() as conn:
        runs = conn.execute(select(models.Run.run_id, models.Run.month, models.Run.counts_json)
                            .where(models.Run.flow_name == "monthly-run")).all()
        decided = {(month, json.loads(counts)["decide"]["mode_reason"]): (run_id, json.loads(counts)["decide"])
                   for run_id, month, counts in runs}
        assert set(decided) == {("2026-10", "first-month"), ("2026-11", "incremental"), ("2026-11", "requested")}
        run_id, quiet = decided[("2026-11", "incremental")]
        assert quiet["new_decisions"] > 0
        assert decided[("2026-11", "requested")][1]["new_decisions"] == 0  # the full run finds nothing missing
        text = month_summary(conn, month="2026-11", run_id=run_id, counts={"decide": quiet}).markdown
        totals = month_summary(conn, month="2026-11", run_id=run_id, counts={"decide": quiet}).totals
    assert "判定方式: 差分判定" in text and f"再判定した児童 {quiet['children_recomputed']:,} 人" in text
    assert totals["decide"] == {"mode": "incremental", "reason": "incremental",
                                "children_recomputed": quiet["children_recomputed"], "held_no_recipient_number": 0}


def test_an_input_changed_without_queueing_is_missed_so_every_writer_queues(db_url, tmp_path, key_ring):
    """The control attacked: a writer that changes an input but does not queue the person makes the
    incremental month differ from the full one; queued, the two agree (here: insurance ended in the month)."""
    from sqlalchemy import update

    from devtools.generate import generate_dataset

    inbox = tmp_path / "inbox"
    generate_dataset(inbox, children=120, seed=29, as_of="2026-10-31")
    engines = {"queued": _engine(db_url), "full": _engine(f"sqlite:///{tmp_path / 'full.db'}"),
               "silent": _engine(f"sqlite:///{tmp_path / 'silent.db'}")}
    for name, engine in engines.items():
        _run_month(engine, key_ring, "2026-10", inbox, full=name == "full")
    with engines["full"].connect() as conn:
        certificates = read_frame(conn, models.Certificate.__table__, ["person_id", "status"])
    child = sorted(certificates.loc[certificates["status"] == "ELIGIBLE", "person_id"])[0]
    insurance = models.InsuranceCoverage.__table__
    for name, engine in engines.items():
        with engine.begin() as conn:  # the insurer reports the child's coverage ended on November 10
            conn.execute(update(insurance).where(insurance.c.person_id == child)
                         .values(valid_to=pd.Timestamp("2026-11-10").date()))
            if name == "queued":
                assert changes.record_changes(conn, "insurer-report", person_ids=[child]) == 1
    for name, engine in engines.items():  # no new inbox: the insurer's report is the month's only change
        with Session(engine) as session, session.begin():
            decide.decide_month(session, month="2026-11", policy=load_policy(), run_id=f"{name}-11",
                                operator_id="op", full=name == "full")
    states = {name: _state(engine) for name, engine in engines.items()}
    for engine in engines.values():
        engine.dispose()

    losses = states["full"]["decision"]
    assert ((losses["person_id"] == child) & (losses["decision_type"] == "LOSS_INSURANCE")).any()
    _assert_same("2026-11", states["full"], states["queued"])
    with pytest.raises(AssertionError):  # without the queue row the month misses the loss
        _assert_same("2026-11", states["full"], states["silent"])
