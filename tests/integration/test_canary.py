"""Canary leak test (security.md §3.4, SEC-01 … SEC-06): 0 hits outside the encrypted columns.

A synthetic inbox is generated; *every* My Number, name, kana and address in it is a canary. The monthly
flow runs once cleanly and then with forced failures whose exception texts, logs and failure cases carry
canaries (a plain ValueError, a pandera SchemaErrors, a real unique-key violation on the database); the
PMH sync runs against the PMH simulator answering 500s. Then the test scans

* the Prefect database of the harness (every table: flow_run.parameters, task_run.name, state messages,
  log, artifact, events, …), after flushing the log and event workers,
* Prefect's local result storage,
* every log record emitted in the process (root, ``prefect`` and ``kodomo`` handlers) and stdout/stderr,
* the project database (every table and column, ciphertext columns included, and on PostgreSQL a
  ``pg_dump``),
* every file under KODOMO_HOME (outbox, exports, backups, anchors, keys) except the PMH payloads,

for every canary in every form (digits, hyphenated, full-width, JSON-escaped, SHA-256/SHA-1/MD5 hex;
names in UTF-8, CP932, UTF-16, JSON and URL encodings): **0 hits**. The staff lists of the monthly run
(受給者証交付一覧 etc.) identify children by 受給者番号 and 宛名番号 only, so they are scanned like every
other file; the named print for mailing is an explicit operator action (``kodomo notice-lists
--with-names``), not part of the run.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from devtools.canary import CanaryScanner, find_my_number_like

MONTH = "2026-10"
STAFF_LIST_PREFIXES = ("受給者証交付一覧", "支給停止通知一覧", "資格喪失通知一覧")


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture
def collected_logs():
    handler = _Collect()
    loggers = [logging.getLogger(n) for n in ("", "prefect", "kodomo", "sqlalchemy")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


@pytest.fixture
def canary_inbox(tmp_path):
    from devtools.generate import generate_dataset

    directory = tmp_path / "inbox"  # outside KODOMO_HOME: the inputs hold the canaries by definition
    generate_dataset(directory, children=40, seed=5, as_of="2026-10-31")
    residents = pd.read_csv(directory / "residents.csv", dtype=str, encoding="utf-8")
    events = pd.read_csv(directory / "resident_events.csv", dtype=str, encoding="utf-8")
    my_numbers = sorted(set(residents["my_number"].dropna()) | set(events["my_number"].dropna()))
    my_numbers = [n for n in my_numbers if len(n) == 12 and n.isdigit()]
    texts = set()
    for frame in (residents, events):
        for column in ("name", "name_kana", "address"):
            texts |= {t for t in frame[column].dropna() if len(t) >= 3}
    return directory, my_numbers, sorted(texts)


def _wait_until(predicate, timeout_s: float) -> bool:
    waiter, started = threading.Event(), time.monotonic()
    while time.monotonic() - started < timeout_s:
        if predicate():
            return True
        waiter.wait(0.2)
    return predicate()


def _prefect_engine():
    import prefect.settings
    from sqlalchemy import create_engine

    url = str(prefect.settings.PREFECT_SERVER_DATABASE_CONNECTION_URL.value())
    return create_engine(url.replace("sqlite+aiosqlite", "sqlite").replace("postgresql+asyncpg", "postgresql+psycopg"))


def _flush_prefect(flow_run_ids: list[str]) -> None:
    """Drain the client-side log/event workers, then wait (bounded) for the server to persist events."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from sqlalchemy import text

    APILogWorker.drain_all(timeout=10)
    EventsWorker.drain_all(timeout=10)
    engine = _prefect_engine()

    def persisted() -> bool:
        with engine.connect() as conn:
            found = conn.execute(text("SELECT count(DISTINCT resource_id) FROM events WHERE resource_id IN "
                                      f"({', '.join(':r' + str(i) for i in range(len(flow_run_ids)))})"),
                                 {f"r{i}": f"prefect.flow-run.{r}" for i, r in enumerate(flow_run_ids)}).scalar()
        return found == len(flow_run_ids)

    _wait_until(persisted, 20)
    engine.dispose()


def _failing(message: str, my_number: str):
    def fail(*_args, **_kwargs):
        # an accidental log line with a My Number (the masking must catch it); names are never logged
        logging.getLogger("kodomo.canary").warning("about to fail for %s", my_number)
        from prefect import get_run_logger

        get_run_logger().warning("run logger: %s-%s-%s", my_number[:4], my_number[4:8], my_number[8:])
        raise ValueError(message)

    return fail


def _schema_failure(my_number: str, name: str):
    def fail(*_args, **_kwargs):
        import pandera.pandas as pa

        class Strict(pa.DataFrameModel):
            my_number: str = pa.Field(str_matches=r"^X$")
            name: str = pa.Field(isin=["-"])

        Strict.validate(pd.DataFrame({"my_number": [my_number], "name": [name]}), lazy=True)

    return fail


def _unique_violation(my_number: str):
    def fail(*_args, **_kwargs):
        from sqlalchemy import text

        from config.settings import get_settings
        from store.db import engine_for

        with engine_for(get_settings().resolved_database_url).begin() as conn:
            conn.execute(text("CREATE TEMPORARY TABLE canary_uq (v VARCHAR(40) UNIQUE)"))
            conn.execute(text("INSERT INTO canary_uq VALUES (:v)"), {"v": my_number})
            conn.execute(text("INSERT INTO canary_uq VALUES (:v)"), {"v": my_number})

    return fail


@pytest.fixture
def project_schema(kodomo_env):
    """Migrate the project database; create any table the migrations do not (yet) cover."""
    import store.models  # noqa: F401
    from store.db import Base, make_engine
    from store.migrate import upgrade

    upgrade(kodomo_env.resolved_database_url)
    engine = make_engine(kodomo_env.resolved_database_url)
    Base.metadata.create_all(engine)  # checkfirst: a no-op once the migrations create everything
    engine.dispose()
    return kodomo_env


@pytest.fixture
def pmh_simulator(kodomo_env, monkeypatch):
    """The PMH simulator answering 5xx to half of the requests; the settings point at it (HTTP mode)."""
    from config.settings import get_settings
    from devtools.pmh_simulator import SimConfig, SimServer
    from devtools.pmh_testing import TOKEN

    with SimServer(SimConfig(token=TOKEN, error_rate=0.5, seed=3, task_delay_ms=5)) as server:
        monkeypatch.setenv("KODOMO_PMH_URL", server.url)
        monkeypatch.setenv("KODOMO_PMH_TOKEN", TOKEN)
        get_settings.cache_clear()
        yield server
        get_settings.cache_clear()


@pytest.mark.integration
def test_no_canary_anywhere(prefect_harness, project_schema, kodomo_env, pmh_simulator, canary_inbox,
                            collected_logs, capfd, monkeypatch):
    from devtools.pmh_testing import sim_stats
    from flows.monthly import monthly_run
    from flows.pmh_sync import pmh_sync
    from services.eligibility import decide
    from services.intake import persist
    from services.notices import lists as export

    directory, my_numbers, texts = canary_inbox
    assert len(my_numbers) > 50 and len(texts) > 50
    first, name = my_numbers[0], texts[0]
    states = []

    # 1. a clean monthly run (bad rows of the generator go through pandera into the quarantine); its
    #    pmh-sync subflow sends to the simulator, which answers 5xx to half of the requests
    states.append(monthly_run(month=MONTH, inbox=str(directory), operator_id="demo-operator", return_state=True))
    assert states[-1].is_completed()

    # 2. forced failures carrying canaries in exception texts, failure cases, DB error details and logs
    for target, attribute, replacement in (
        (export, "export_month_lists", _failing(f"cannot print {first} / {name}", first)),
        (persist, "persist_inputs", _schema_failure(first, name)),
        (decide, "decide_month", _unique_violation(first)),
    ):
        with monkeypatch.context() as patch:
            patch.setattr(target, attribute, replacement)
            state = monthly_run(month=MONTH, inbox=str(directory), operator_id="demo-operator", return_state=True)
        assert state.is_failed(), attribute
        states.append(state)

    # 3. a separate PMH sync run (retries whatever the 5xx left behind)
    states.append(pmh_sync(operator_id="demo-operator", return_state=True))
    assert states[-1].is_completed() or states[-1].is_failed()
    stats = sim_stats(pmh_simulator.url)
    assert stats["responses_503"] > 0 and stats["records_applied"] > 0, "no forced 5xx or nothing sent"

    _scan_everything(kodomo_env, states, my_numbers, texts, collected_logs, capfd)

    # the access records of these runs verify, and a leak scoping of the clean run finds its persons
    from privacy.audit import verify_chain
    from privacy.leak import affected_subjects
    from store.db import engine_for, session_scope

    with session_scope(engine_for(kodomo_env.resolved_database_url)) as session:
        assert verify_chain(session).ok
        affected = affected_subjects(session, run_id=str(states[0].state_details.flow_run_id))
        assert affected.person_count > 0 and all(len(p) == 10 for p in affected.person_ids)


def _scan_everything(settings, states, my_numbers, texts, collected_logs, capfd):
    import prefect.settings

    from store.db import engine_for

    scanner = CanaryScanner(my_numbers, texts)
    flow_run_ids = [str(s.state_details.flow_run_id) for s in states]
    hits = []

    # Prefect database (after the log and event workers flushed)
    _flush_prefect(flow_run_ids)
    prefect_engine = _prefect_engine()
    hits += scanner.scan_database(prefect_engine, label="prefect-db")
    generic = _generic_in_database(prefect_engine)
    prefect_engine.dispose()

    # result storage
    storage = Path(prefect.settings.PREFECT_LOCAL_STORAGE_PATH.value())
    hits += scanner.scan_tree(storage)

    # states returned to the caller (what a UI/API client sees as the message)
    for state in states:
        hits += scanner.scan_text(f"{state.name} {state.message}", f"state:{state.state_details.flow_run_id}")

    # logs and console
    log_text = "\n".join(collected_logs.lines)
    captured = capfd.readouterr()
    hits += scanner.scan_text(log_text, "logs")
    hits += scanner.scan_text(captured.out + captured.err, "stdout/stderr")
    generic += find_my_number_like(log_text) + find_my_number_like(captured.out + captured.err)

    # project database: every value, ciphertexts included (no plaintext inside them), plus pg_dump
    engine = engine_for(settings.resolved_database_url)
    hits += scanner.scan_database(engine, label="project-db")
    if engine.dialect.name == "postgresql" and shutil.which("pg_dump"):
        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        dump = subprocess.run(["pg_dump", "--data-only", url], capture_output=True, timeout=60)
        if dump.returncode == 0:
            hits += scanner.scan_bytes(dump.stdout, "pg_dump")

    # every output file except the PMH payloads, the staff lists included
    home = Path(settings.home)

    def is_pmh_payload(path: Path) -> bool:
        return "pmh" in {p.lower() for p in path.relative_to(home).parts[:-1]}

    staff_lists = [p for p in home.rglob("*.csv") if p.name.startswith(STAFF_LIST_PREFIXES)]
    assert staff_lists, "the monthly run wrote no staff lists to scan"
    hits += scanner.scan_tree(home, exclude=is_pmh_payload)

    assert not hits, "canaries found:\n" + "\n".join(sorted({str(h) for h in hits}))
    assert generic == 0, f"{generic} check-digit-valid 12-digit number(s) in the Prefect database or logs"


def _generic_in_database(engine) -> int:
    from sqlalchemy import MetaData, select

    meta = MetaData()
    meta.reflect(engine)
    total = 0
    with engine.connect() as conn:
        for table in meta.tables.values():
            for row in conn.execute(select(table)):
                for value in row:
                    if isinstance(value, str):
                        total += find_my_number_like(value)
    return total


TYPED_NAME = "山田カナリア花子"


def _typed_my_number() -> str:
    from rules.checkdigits import with_my_number_check_digit

    return with_my_number_check_digit("73519264801")


@pytest.mark.integration
def test_personal_data_typed_into_any_parameter_never_reaches_prefect(prefect_harness, project_schema, kodomo_env,
                                                                       capfd):
    """Issue 14 §6: a My Number and a name typed into every free-text parameter: 0 hits in the Prefect DB.

    Both ways a run starts: the CLI (the flow runs in-process; Prefect would store the parameters before
    validating them) and a deployment run from the UI/API form (the server enforces the schema).
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.utilities.callables import parameter_schema

    from cli.main import main
    from flows.benefits import benefit_run
    from flows.monthly import monthly_run
    from flows.movein import move_in
    from flows.pmh_sync import pmh_sync
    from flows.resident_changes import resident_changes

    my_number, name = _typed_my_number(), TYPED_NAME
    inbox = str(Path(kodomo_env.home) / "inbox" / MONTH)
    # 1. the CLI: every free-text option, each refused before a flow run exists
    for argv in (
        ["monthly", "--month", MONTH, "--operator", my_number],
        ["monthly", "--month", MONTH, "--operator", name],
        ["monthly", "--month", MONTH, "--operator", f"{my_number[:4]}-{my_number[4:8]}-{my_number[8:]}"],
        ["monthly", "--month", MONTH, "--inbox", name, "--operator", "demo-operator"],
        ["monthly", "--month", MONTH, "--inbox", f"inbox/{my_number}", "--operator", "demo-operator"],
        ["benefits", "--month", MONTH, "--inbox", name, "--operator", "demo-operator"],
        ["benefits", "--month", MONTH, "--inbox", inbox, "--operator", my_number],
        ["pmh-sync", "--operator", my_number],
        ["pmh-sync", "--operator", name],
        ["resident-changes", "--events", name, "--operator", "demo-operator"],
        ["resident-changes", "--events", my_number, "--operator", "demo-operator"],
        ["move-in", "run", "--operator", "demo-operator", "--person", my_number, "--income-source", "not_yet"],
        ["move-in", "run", "--operator", name, "--case-id", "C-1", "--income-source", "not_yet"],
        ["move-in", "run", "--operator", "demo-operator", "--case-id", "C-1", "--income-source", "certificate",
         "--certificate", name],
    ):
        assert main(argv) == 1, argv
    # 2. deployment runs from the form / API, with the schema the deployments enforce
    free_text = {
        monthly_run: [{"operator_id": my_number}, {"operator_id": name}, {"inbox": name}, {"operator_proof": name},
                      {"operator_proof": my_number}, {"month": my_number}],
        benefit_run: [{"month": MONTH, "inbox": name}, {"month": MONTH, "inbox": inbox, "operator_id": my_number}],
        pmh_sync: [{"operator_id": my_number}, {"operator_id": name}, {"operator_proof": name}],
        resident_changes: [{"events_file": name}, {"events_file": my_number}],
        move_in: [{"case": {"operator_id": "demo-operator", "income_source": "not_yet", "person_id": my_number}},
                  {"case": {"operator_id": name, "income_source": "not_yet", "case_id": "C-1"}},
                  {"case": {"operator_id": "demo-operator", "income_source": "certificate", "case_id": "C-1",
                            "certificate_path": name}},
                  {"case": {"operator_id": "demo-operator", "income_source": "not_yet", "case_id": "C-1",
                            "operator_proof": my_number}}],
    }
    with get_client(sync_client=True) as client:
        for flow, attempts in free_text.items():
            flow_id = client.create_flow_from_name(flow.name)
            deployment_id = client.create_deployment(
                flow_id=flow_id, name=f"canary-{flow.name}", entrypoint=f"flows:{flow.name}",
                parameter_openapi_schema=parameter_schema(flow).model_dump_for_openapi(),
                enforce_parameter_schema=True)
            for parameters in attempts:
                with pytest.raises(PrefectHTTPStatusError) as refused:
                    client.create_flow_run_from_deployment(deployment_id, parameters=parameters)
                assert refused.value.response.status_code == 409 or refused.value.response.status_code == 422
    scanner = CanaryScanner([my_number], [name])
    prefect_engine = _prefect_engine()
    hits = scanner.scan_database(prefect_engine, label="prefect-db")
    generic = _generic_in_database(prefect_engine)
    prefect_engine.dispose()
    from store.db import engine_for

    hits += scanner.scan_database(engine_for(kodomo_env.resolved_database_url), label="project-db")
    captured = capfd.readouterr()
    hits += scanner.scan_text(captured.out + captured.err, "stdout/stderr")
    assert not hits, "typed personal data found:\n" + "\n".join(sorted({str(h) for h in hits}))
    assert generic == 0
