"""Issue 13: a re-run keeps the month's staff lists when they cannot differ, and rewrites them otherwise.

The monthly FLOW runs a generated month twice (Prefect test harness, SQLite and PostgreSQL): the second run
must leave the three CP932 lists byte for byte as they were and print nothing new. Then each way a list
could have become stale is tried, and each must lead to the lists written again — equal to what a fresh
export from the database writes:

* a list file deleted or edited on disk (the recorded SHA-256 no longer matches);
* a decision or a person written by another run after the lists (a counter/move-in writer: its writing
  access record comes after the export's);
* the re-run's own ingest storing a changed person (a 支援措置 flag that appears on the list).
"""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import select, update

from store import models
from store.privacy_models import AccessRecord

MONTH = "2026-10"
TITLES = ("受給者証交付一覧", "支給停止通知一覧", "資格喪失通知一覧")


@pytest.fixture
def month_inbox(tmp_path):
    from devtools.generate import generate_dataset

    inbox = tmp_path / "inbox"
    generate_dataset(inbox, children=120, seed=41, as_of="2026-10-31", dv_share=0.1)
    return inbox


def _lists(settings) -> dict[str, bytes]:
    directory = settings.resolved_outbox_dir / MONTH
    return {title: (directory / f"{title}_{MONTH}.csv").read_bytes() for title in TITLES}


def _prints(engine) -> int:
    ar = AccessRecord.__table__
    with engine.connect() as conn:
        return len(conn.execute(select(ar.c.seq).where(ar.c.purpose == "monthly-notice-lists")).all())


def _run(month_inbox) -> dict:
    from flows.monthly import monthly_run

    return monthly_run(month=MONTH, inbox=str(month_inbox), operator_id="demo-operator", run_benefits=False,
                       sync_pmh=False)


def _fresh_export(settings, tmp_path) -> dict[str, bytes]:
    """What an export from the database writes now, into another directory (the truth to compare with)."""
    from services.notices import lists
    from store.db import engine_for, session_scope

    outbox = tmp_path / "fresh"
    with session_scope(engine_for()) as session:
        lists.export_month_lists(session, MONTH, None, outbox, operator_id="demo-operator", run_id="check",
                                 with_names=False)
    return {title: (outbox / MONTH / f"{title}_{MONTH}.csv").read_bytes() for title in TITLES}


@pytest.mark.integration
def test_a_rerun_keeps_the_lists_and_rewrites_them_when_they_are_stale(prefect_harness, kodomo_env, month_inbox,
                                                                       tmp_path):
    from store.db import engine_for

    engine = engine_for()
    _run(month_inbox)
    first = _lists(kodomo_env)
    issuance = pd.read_csv(kodomo_env.resolved_outbox_dir / MONTH / f"{TITLES[0]}_{MONTH}.csv", dtype=str,
                           encoding="cp932", keep_default_na=False)
    assert len(issuance) > 50  # a first load issues certificates to most generated children
    prints = _prints(engine)

    # 1. Nothing changed: the lists are kept (no new print record), byte for byte.
    _run(month_inbox)
    assert _lists(kodomo_env) == first
    assert _prints(engine) == prints

    # 2. A list deleted, another edited: both are written again, as they were.
    directory = kodomo_env.resolved_outbox_dir / MONTH
    (directory / f"{TITLES[1]}_{MONTH}.csv").unlink()
    (directory / f"{TITLES[0]}_{MONTH}.csv").write_bytes(first[TITLES[0]].replace(b"\r\n", b"\n"))
    _run(month_inbox)
    assert _lists(kodomo_env) == first
    assert _prints(engine) == prints + 1

    # 3. Another run writes a child's 支援措置 flag and a decision date (with its access record, as every
    #    writer does): the next re-run writes the lists again, and they show the change.
    from privacy.audit import record_access
    from store.db import session_scope

    child = issuance["宛名番号"].iloc[0]
    person, decision = models.Person.__table__, models.Decision.__table__
    flagged_before = issuance.loc[issuance["宛名番号"] == child, "送付先注意（支援措置）"].iloc[0]
    with session_scope(engine) as session:
        session.execute(update(person).where(person.c.person_id == child)
                        .values(dv_support_flag=flagged_before != "要確認"))
        session.execute(update(decision).where(decision.c.person_id == child, decision.c.month == MONTH)
                        .values(effective_date=pd.Timestamp("2026-10-02").date()))
        record_access(session, actor_id="demo-operator", action="update", purpose="counter:correction",
                      subject_ids=[child], record_count=2, run_id="counter-run")
    _run(month_inbox)
    after = pd.read_csv(directory / f"{TITLES[0]}_{MONTH}.csv", dtype=str, encoding="cp932", keep_default_na=False)
    row = after[after["宛名番号"] == child].iloc[0]
    assert row["送付先注意（支援措置）"] == ("" if flagged_before == "要確認" else "要確認")
    assert row["効力発生日"] == "2026-10-02"
    assert _prints(engine) == prints + 2
    assert _lists(kodomo_env) == _fresh_export(kodomo_env, tmp_path)


@pytest.mark.integration
def test_a_rerun_whose_own_ingest_changed_a_person_rewrites_the_lists(prefect_harness, kodomo_env, month_inbox,
                                                                      tmp_path):
    from store.db import engine_for

    engine = engine_for()
    _run(month_inbox)
    issuance = pd.read_csv(kodomo_env.resolved_outbox_dir / MONTH / f"{TITLES[0]}_{MONTH}.csv", dtype=str,
                           encoding="cp932", keep_default_na=False)
    prints = _prints(engine)
    # The city's next extract of the same month flips one listed child's 支援措置 flag: same decisions, but
    # the list's 送付先注意 column must follow the stored person.
    residents = pd.read_csv(month_inbox / "residents.csv", dtype=str, keep_default_na=False, encoding="utf-8")
    child = issuance["宛名番号"].iloc[0]
    at = residents["person_id"] == child
    residents.loc[at, "dv_support_flag"] = "0" if residents.loc[at, "dv_support_flag"].iloc[0] == "1" else "1"
    residents.to_csv(month_inbox / "residents.csv", index=False, encoding="utf-8")
    import json

    manifest = json.loads((month_inbox / "manifest.json").read_text(encoding="utf-8"))
    manifest.pop("files", None)  # the edit breaks the control totals
    (month_inbox / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    _run(month_inbox)
    assert _prints(engine) == prints + 1
    assert _lists(kodomo_env) == _fresh_export(kodomo_env, tmp_path)
    after = pd.read_csv(kodomo_env.resolved_outbox_dir / MONTH / f"{TITLES[0]}_{MONTH}.csv", dtype=str,
                        encoding="cp932", keep_default_na=False)
    before_flag = issuance.loc[issuance["宛名番号"] == child, "送付先注意（支援措置）"].iloc[0]
    assert after.loc[after["宛名番号"] == child, "送付先注意（支援措置）"].iloc[0] != before_flag
