"""Benchmark of the monthly run, stage by stage.

``python -m benchmarks.monthly --children N [--database-url URL] [--rerun] [--changes SHARE] [--floor]``
generates a synthetic inbox (not timed), then runs the monthly pipeline's stages — the same plain
functions the Prefect tasks wrap — on a fresh database and prints per-stage seconds.

* ``--rerun`` times a second run of the same month (it must write nothing).
* ``--changes 0.02`` generates the following month's inbox in which 2 % of the persons changed
  (:func:`devtools.generate.changes.generate_changes`: 異動, new 資格登録届, 税額更正; not timed) and
  times the run of that month after the first one (``changes_*`` keys: incremental, as the monthly run
  decides it), then the same month decided in full on a copy of the database (``changes_full_*``), and
  reports whether both stored the same decisions (``changes_same_decisions``).
* ``--repeat N`` runs the first load N times, each on a fresh database (same inbox, same key ring), and adds
  ``total_s_runs``, ``cpu_s_runs`` and their minima ``total_s_min`` / ``cpu_s_min``: on a shared machine
  whose speed drifts, the minimum of several runs is the figure to compare side by side. ``stages_s`` and
  everything else stay those of the first run.
* ``--floor`` writes, in the same process, every row the first run stored into a fresh database whose
  tables have primary keys only, with plain ``executemany`` (SQLite) or ``COPY`` (PostgreSQL), and
  reports that time as ``floor_s`` and ``floor_ratio`` = (persist + decide seconds of the first load) /
  ``floor_s``: how far the writing stages are from the machine's floor for the same rows.

The last line printed is one JSON object (``load_avg`` = the 1-minute load average before and after;
``cpu_s`` = this process's CPU seconds over the stages, steadier than wall time on a shared machine;
``host_probe_s`` = :func:`benchmarks.host.probe_s` before and after, the machine's speed at the time;
``peak_rss_mb`` and ``peak_rss_kb_per_child`` = the first load's peak memory (``peak_rss_mb_runs`` each
load's with ``--repeat``; ``peak_rss_mb_process`` the process's over every run) — the inbox is generated in a
child process, so the generator's memory is not counted).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import resource
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import pandas as pd
from sqlalchemy import Column, MetaData, Table, create_engine, text

from benchmarks.host import probe_s


def _fresh_database(url: str | None, workdir: Path) -> tuple[str, callable]:
    if not url:
        workdir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{workdir / 'bench.db'}", lambda: None
    name = f"kb_{uuid.uuid4().hex[:10]}"
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return url.rsplit("/", 1)[0] + f"/{name}", drop


def _floor_seconds(source_url: str, floor_url: str) -> float:
    """Seconds to write every stored row of ``source_url`` into ``floor_url`` (primary keys only).

    Rows are read back as stored (ciphertexts included, untimed) one table at a time; only the writes
    (plain ``executemany`` on SQLite, ``COPY`` row by row on PostgreSQL) and their commit are timed.
    """
    from store.db import Base, make_engine

    source, target = make_engine(source_url), make_engine(floor_url)
    bare = MetaData()
    tables = [Table(t.name, bare, *[Column(c.name, c.type, primary_key=c.primary_key) for c in t.columns])
              for t in Base.metadata.sorted_tables]
    bare.create_all(target)
    total = 0.0
    try:
        for table in tables:
            names = [c.name for c in table.columns]
            quoted = ", ".join(f'"{n}"' for n in names)
            with source.connect() as conn:
                cursor = conn.connection.driver_connection.cursor()
                cursor.execute(f'SELECT {quoted} FROM "{table.name}"')
                rows = cursor.fetchall()
                cursor.close()
            if not rows:
                continue
            with target.connect() as conn:
                raw = conn.connection.driver_connection
                start = time.perf_counter()
                if target.dialect.name == "postgresql":
                    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
                        for row in rows:
                            copy.write_row(row)
                else:
                    cursor = raw.cursor()
                    cursor.executemany(f'INSERT INTO "{table.name}" ({quoted}) VALUES ({", ".join("?" * len(names))})',
                                       rows)
                    cursor.close()
                raw.commit()
                total += time.perf_counter() - start
            del rows
    finally:
        source.dispose()
        target.dispose()
    return round(total, 3)


def _clone_database(url: str, workdir: Path) -> tuple[str, callable]:
    """A copy of the benchmark database (file copy on SQLite, ``TEMPLATE`` on PostgreSQL)."""
    if url.startswith("sqlite"):
        source = Path(url.removeprefix("sqlite:///"))
        target = workdir / "clone.db"
        shutil.copyfile(source, target)
        return f"sqlite:///{target}", lambda: target.unlink(missing_ok=True)
    base, _, source_name = url.rpartition("/")
    name = f"kb_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{source_name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return f"{base}/{name}", drop


def _decisions_of(url: str, month: str) -> pd.DataFrame:
    """The stored decisions of ``month`` (no run ids), sorted: what the two paths must agree on."""
    from store import models
    from store.bulk import read_frame
    from store.db import make_engine

    engine = make_engine(url)
    table = models.Decision.__table__
    columns = ["person_id", "decision_type", "effective_date", "valid_from", "valid_to", "reason_code", "status"]
    with engine.connect() as conn:
        frame = read_frame(conn, table, columns, where=table.c.month == month)
    engine.dispose()
    return frame.sort_values(columns[:3]).reset_index(drop=True)


def _stage_seconds(timings: dict) -> dict[str, float]:
    """The timed stages of a :func:`run_stages` result (no migration, no ``_`` side values)."""
    return {k: v for k, v in timings.items() if not k.startswith("_") and k != "migrate"}


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _reset_peak_rss() -> None:
    """Start a new peak-memory measurement (Linux: ``clear_refs`` 5 resets VmHWM; elsewhere nothing happens)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def _peak_rss_kib() -> int:
    """This process's peak resident memory since the last :func:`_reset_peak_rss` (else since it started)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_stages(inbox: Path, month: str, url: str, home: Path, ring, full: bool = False) -> dict[str, float]:
    """Run every stage once with the key ring ``ring``; return seconds per stage (``full``: decide everyone)."""
    from policy import load_policy
    from services import runs
    from services.eligibility import decide
    from services.intake import collisions, ingest, persist, unchanged
    from services.notices import lists as export
    from services.notices import summary
    from store import migrate
    from store.db import make_engine, session_scope

    timings: dict[str, float] = {}
    engine = make_engine(url)
    policy = load_policy()
    run_id = f"bench-{uuid.uuid4()}"

    cpu = 0.0

    def timed(name, fn):
        nonlocal cpu
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        timings[name] = round(time.perf_counter() - start, 3)
        if name != "migrate":
            cpu += time.process_time() - start_cpu
        return result

    timed("migrate", lambda: migrate.upgrade(url))
    with engine.begin() as conn:
        runs.start_run(conn, run_id=run_id, flow_name=unchanged.MONTHLY_FLOW, month=month,
                       operator_id="demo-operator", policy_version=policy.version)
    manifest = json.loads((inbox / "manifest.json").read_text())

    def _read():
        if full:  # the full path reads every file again, as kodomo monthly --full does
            return ingest.read_inbox(inbox), None
        # The files and lines the previous (COMPLETED) monthly run stored are not read (services.intake.linediff).
        with engine.connect() as conn:
            known = unchanged.previous_inputs(conn, run_id=run_id, ring=ring,
                                              context=unchanged.ingest_context(manifest))
        return ingest.read_inbox(inbox, known=known), known

    raw, known = timed("read", _read)

    def _validate():
        # The monthly task's My Number collision check too: the line diff may refuse there (read persons whole).
        def load(scope):  # the first call validates what was read (timed above); a refusal reads again
            files = raw if scope is known else ingest.read_inbox(inbox, known=scope)
            return ingest.validate_inbox(files, manifest.get("extract_date"), known=scope)

        with engine.connect() as conn:
            return collisions.checked_inbox(conn, load, known, ring)

    box = timed("validate", _validate)

    def _persist():  # as tasks.monthly.persist_inputs and decide_month: the checkpoint off the commit
        with session_scope(engine, checkpoint_later=True) as session:
            conn = session.connection()
            runs.record_inputs(conn, run_id=run_id, inputs=box.inputs)
            unchanged.assert_still_unchanged(conn, box.known, run_id)
            runs.record_quarantine(conn, run_id=run_id, quarantine=box.quarantine)
            persist.persist_inputs(conn, box.frames, ring, run_id, unchanged=box.unchanged_inputs(), lines=box.lines)
            persist.record_ingest_access(session, inbox=box, operator_id="demo-operator", run_id=run_id)

    timed("persist", _persist)
    # The inbox is stored: as in the flow, which hands the month to decide by run id (not the frames),
    # nothing after this point reads the in-memory files.
    raw = box = None

    def _decide():
        with session_scope(engine, checkpoint_later=True) as session:
            return decide.decide_month(session, month=month, policy=policy, run_id=run_id,
                                       operator_id="demo-operator", full=full)

    decided = timed("decide", _decide)

    def _export():
        with session_scope(engine) as session:
            return export.export_month_lists(session, month, ring, home / "outbox", operator_id="demo-operator",
                                             run_id=run_id)

    timed("export", _export)
    with engine.connect() as conn:
        timed("summary", lambda: summary.month_summary(conn, month=month, run_id=run_id, counts={}))
    with engine.begin() as conn:
        runs.finish_run(conn, run_id=run_id, status=runs.COMPLETED, counts={})
    engine.dispose()
    timings["_decisions"] = decided.get("new_decisions", 0)
    timings["_held"] = decided.get("held_no_recipient_number", 0)  # 新規 beyond the 受給者番号 series (1.6M)
    timings["_children_recomputed"] = decided.get("children_recomputed")
    timings["_cpu_s"] = round(cpu, 3)
    return timings


def _generate(inbox: Path, children: int, seed: int) -> None:
    from devtools.generate import generate_dataset

    generate_dataset(inbox, children=children, seed=seed, as_of="2026-10-31")


def _generate_changes(inbox: Path, out_dir: Path, share: float, seed: int, as_of: str) -> None:
    from devtools.generate.changes import generate_changes

    generate_changes(inbox, out_dir, share=share, seed=seed, as_of=as_of)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--children", type=int, default=160_000)
    parser.add_argument("--month", default="2026-10")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", help="PostgreSQL server URL (a fresh database is created on it)")
    parser.add_argument("--rerun", action="store_true", help="also time a re-run of the same month")
    parser.add_argument("--changes", type=float, default=None, metavar="SHARE",
                        help="also time the following month with this share of persons changed (e.g. 0.02)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run the first load N times on fresh databases and report the minimum too")
    parser.add_argument("--floor", action="store_true",
                        help="also write the same rows with plain executemany/COPY, primary keys only")
    args = parser.parse_args(argv)

    from privacy.crypto import KeyRing

    workdir = Path(tempfile.mkdtemp(prefix="kodomo-bench-"))
    try:
        inbox = workdir / "inbox"
        next_month = (pd.Period(args.month, "M") + 1)
        start = time.perf_counter()
        # The synthetic inbox is generated in a child process: its memory is not the pipeline's, and
        # peak_rss_mb below is this process's peak over the stages alone.
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            pool.submit(_generate, inbox, args.children, args.seed).result()
            generate_s = round(time.perf_counter() - start, 3)
            if args.changes is not None:
                pool.submit(_generate_changes, inbox, workdir / "inbox-next", args.changes, args.seed + 1,
                            str(next_month.end_time.date())).result()
        load_before, probe_before = _load(), probe_s()
        url, drop = _fresh_database(args.database_url, workdir)
        floor_s = None
        try:
            ring = KeyRing.generate()  # one key ring for every run, as in production
            # Each first load's own peak: a later run starts on the heap the previous one left behind, and
            # the process's overall peak (peak_rss_mb_process) also covers --rerun, --changes and --floor.
            setup_peak_kib = _peak_rss_kib()
            _reset_peak_rss()
            first = run_stages(inbox, args.month, url, workdir, ring)
            peaks_kib = [_peak_rss_kib()]
            repeats = []
            for number in range(1, max(1, args.repeat)):
                again_url, drop_again = _fresh_database(args.database_url, workdir / f"repeat-{number}")
                try:
                    _reset_peak_rss()
                    repeats.append(run_stages(inbox, args.month, again_url, workdir, ring))
                    peaks_kib.append(_peak_rss_kib())
                finally:
                    drop_again()
                    shutil.rmtree(workdir / f"repeat-{number}", ignore_errors=True)  # SQLite: the file
            if args.floor:
                floor_url, drop_floor = _fresh_database(args.database_url, workdir / "floor")
                try:
                    floor_s = _floor_seconds(url, floor_url)
                finally:
                    drop_floor()
            second = run_stages(inbox, args.month, url, workdir, ring) if args.rerun else None
            changed = changed_full = None
            if args.changes is not None:
                # The same month decided in full on a copy of the database: both figures, and the same result.
                clone_url, drop_clone = _clone_database(url, workdir)
                try:
                    changed = run_stages(workdir / "inbox-next", str(next_month), url, workdir, ring)
                    changed_full = run_stages(workdir / "inbox-next", str(next_month), clone_url, workdir, ring,
                                              full=True)
                    same = _decisions_of(url, str(next_month)).equals(_decisions_of(clone_url, str(next_month)))
                finally:
                    drop_clone()
        finally:
            drop()
        # a reset also resets getrusage's ru_maxrss: the process's peak is the largest of the measured spans
        process_peak_kib = max(setup_peak_kib, *peaks_kib, _peak_rss_kib())
        peak_kib = peaks_kib[0]
        decisions = first.pop("_decisions")
        held = first.pop("_held")
        cpu_s = first.pop("_cpu_s")
        first.pop("_children_recomputed")
        stages = _stage_seconds(first)
        result = {
            "children": args.children,
            "database": url.split(":", 1)[0],
            "generate_s": generate_s,
            "total_s": round(sum(stages.values()), 3),
            "stages_s": stages,
            "cpu_s": cpu_s,  # this process's CPU seconds over the stages: less noisy than wall time on a busy machine
            "decisions": decisions,
            "held_no_recipient_number": held,
            "peak_rss_mb": round(peak_kib / 1024, 1),  # the first load's peak (the inbox is generated elsewhere)
            "peak_rss_kb_per_child": round(peak_kib / args.children, 2),
            "peak_rss_mb_process": round(process_peak_kib / 1024, 1),  # every run of this process
        }
        if repeats:
            runs_total = [result["total_s"]] + [round(sum(_stage_seconds(r).values()), 3) for r in repeats]
            runs_cpu = [cpu_s] + [r["_cpu_s"] for r in repeats]
            result.update(total_s_runs=runs_total, total_s_min=min(runs_total),
                          cpu_s_runs=runs_cpu, cpu_s_min=min(runs_cpu),
                          peak_rss_mb_runs=[round(k / 1024, 1) for k in peaks_kib])
        if floor_s is not None:
            result["floor_s"] = floor_s
            result["floor_ratio"] = round((stages["persist"] + stages["decide"]) / floor_s, 2) if floor_s else None
        if second is not None:
            rerun_decisions = second.pop("_decisions")
            result["rerun_cpu_s"] = second.pop("_cpu_s")
            result["rerun_children_recomputed"] = second.pop("_children_recomputed")
            second.pop("_held")
            rerun_stages = _stage_seconds(second)
            result["rerun_total_s"] = round(sum(rerun_stages.values()), 3)
            result["rerun_stages_s"] = rerun_stages
            result["rerun_new_decisions"] = rerun_decisions
        if changed is not None:
            changes_decisions = changed.pop("_decisions")
            result["changes_cpu_s"] = changed.pop("_cpu_s")
            result["changes_children_recomputed"] = changed.pop("_children_recomputed")
            changed.pop("_held")
            changes_stages = _stage_seconds(changed)
            result["changes_share"] = args.changes
            result["changes_total_s"] = round(sum(changes_stages.values()), 3)
            result["changes_stages_s"] = changes_stages
            result["changes_new_decisions"] = changes_decisions
            full_decisions = changed_full.pop("_decisions")
            result["changes_full_cpu_s"] = changed_full.pop("_cpu_s")
            changed_full.pop("_children_recomputed")
            changed_full.pop("_held")
            full_stages = _stage_seconds(changed_full)
            result["changes_full_total_s"] = round(sum(full_stages.values()), 3)
            result["changes_full_stages_s"] = full_stages
            result["changes_full_new_decisions"] = full_decisions
            result["changes_same_decisions"] = bool(same)
        result["load_avg"] = [load_before, _load()]
        result["host_probe_s"] = [probe_before, probe_s()]  # benchmarks.host: the machine's speed, before/after
        print(json.dumps(result))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
