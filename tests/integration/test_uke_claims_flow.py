"""The UKE claims flow under the Prefect test harness (SQLite and PostgreSQL), with a hand-written UKE file.

The file (records as docs/formats/uke.md lays them out; same children and rules as test_uke_claims.py):

* A (中1, 3割) 初診 6/10, 500点: 1,500 self-pay − 500 初診 co-pay = 1,000 → approved;
* B (未就学, 2割) 入院 with 区エ: 50,000点 → 100,000 self-pay, 高額療養費 limit 57,600 → approved;
* A revisit billed 100 with a 500 co-pay: the city finds 600 → 過誤/再審査;
* an unknown 受給者番号 → 保留 (review list); a KO of another city → ignored; a malformed 生年月日 → quarantined.

Receipt 1's HO carries a 12-digit 被保険者証 番号 and every RE a name: neither may reach the artifact, the
flow's return value, the state messages or Prefect's database.
"""

from __future__ import annotations

import json
import re
import time

import pandas as pd
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
    TaskRunFilter,
    TaskRunFilterName,
)
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.utilities.callables import parameter_schema
from sqlalchemy import create_engine, select

from devtools.canary import CanaryScanner, twelve_digit_runs
from privacy import operators
from store import claims_models as cm
from store import models
from store.db import engine_for, session_scope
from tests.integration.test_uke_claims import CODE7, OTHER_CITY, REC_A, REC_B, REC_X, _seed, si

MONTH = "2025-07"
CARD_NUMBER = "731904285517"  # 12 digits in HO 被保険者証等の番号 (not read by the project; must not leak)
NAMES = ["テスト　タロウ", "テスト　ハナコ", "テスト　ジロウ", "テスト　サブロウ"]
APPROVED = 1_000 + 57_600


def uke_file() -> str:
    lines = [
        f"IR,2,04,1,{CODE7},,テスト医院,50707,00,",
        "RE,1,1122,50706,テスト　タロウ,1,4240901,70,,,,,,,,,,,,,",
        f"HO,06130488,,{CARD_NUMBER},1,500,,,,,,1500,,,",
        f"KO,88041009,{REC_A},,1,500,1000,500,,,,",
        si([10], "11"),
        "RE,2,1123,50706,テスト　ハナコ,2,5020415,80,5070602,,,29,,,,,,,,,",
        "HO,06130488,,,19,50000,,,,,,57600,,,",
        f"KO,88041009,{REC_B},,19,50000,57600,,0,,,",
        si(list(range(2, 21))),
        "RE,3,1122,50706,テスト　タロウ,1,4240901,70,,,,,,,,,,,,,",
        "HO,06130488,,,1,200,,,,,,600,,,",
        f"KO,88041009,{REC_A},,1,200,100,500,,,,",
        si([20]),
        "RE,4,1122,50706,テスト　ジロウ,1,4240901,70,,,,,,,,,,,,,",
        "HO,06130488,,,1,200,,,,,,600,,,",
        f"KO,{OTHER_CITY},0000018,,1,200,600,,,,,",
        si([11]),
        "RE,5,1122,50706,テスト　サブロウ,1,4240901,70,,,,,,,,,,,,,",
        "HO,06130488,,,1,200,,,,,,600,,,",
        f"KO,88041009,{REC_X},,1,200,600,,,,,",
        si([12]),
        "RE,6,1122,50706,テスト　タロウ,1,4249901,70,,,,,,,,,,,,,",
        "HO,06130488,,,1,200,,,,,,600,,,",
        f"KO,88041009,{REC_A},,1,200,600,,,,,",
        si([14]),
        "GO,6,51300,99",
    ]
    return "\r\n".join(lines) + "\r\n"


def _artifact_markdown(flow_run_id) -> str:
    with get_client(sync_client=True) as client:  # filtered on the server: an unfiltered read is paged
        artifacts = [a for a in client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["uke-claims-summary"]), flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))]
    assert len(artifacts) == 1
    return artifacts[0].data


def _read_task_run_counts(flow_run_id) -> list[int]:
    """How many times each read-uke-files task run of the flow run ran (1 = no retry).

    Task-run states reach the server as events: drain the client's event worker, then wait (bounded) until
    the task run is finished there.
    """
    EventsWorker.drain_all(timeout=10)
    filters = {"flow_run_filter": FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
               "task_run_filter": TaskRunFilter(name=TaskRunFilterName(like_="read-uke-files"))}
    deadline = time.monotonic() + 20
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(**filters)
            if (runs and all(r.state and r.state.is_final() for r in runs)) or time.monotonic() > deadline:
                return [r.run_count for r in runs]
            time.sleep(0.2)


def _pattern(schema: dict, spec: dict) -> str | None:
    """The pattern of a parameter (through ``anyOf``/``$ref``/``allOf`` of optional and annotated types)."""
    if "pattern" in spec:
        return spec["pattern"]
    if "$ref" in spec:
        return _pattern(schema, schema["definitions"][spec["$ref"].rsplit("/", 1)[1]])
    for option in spec.get("anyOf", []) + spec.get("allOf", []):
        if found := _pattern(schema, option):
            return found
    return None


def _prefect_engine():
    import prefect.settings

    url = str(prefect.settings.PREFECT_SERVER_DATABASE_CONNECTION_URL.value())
    return create_engine(url.replace("sqlite+aiosqlite", "sqlite").replace("postgresql+asyncpg", "postgresql+psycopg"))


@pytest.mark.integration
def test_uke_claims_flow_books_pays_and_publishes_a_summary_without_personal_data(prefect_harness, kodomo_env,
                                                                                    monkeypatch):
    from flows.claims import uke_claims
    from store.migrate import upgrade
    from tasks import claims as claim_tasks

    upgrade(kodomo_env.resolved_database_url)
    engine = engine_for(kodomo_env.resolved_database_url)
    with session_scope(engine) as session:
        _seed(session.connection())
    directory = kodomo_env.resolved_inbox_dir / MONTH / "uke"
    directory.mkdir(parents=True)
    (directory / f"041{CODE7}_202507.UKE").write_bytes(uke_file().encode("cp932"))
    bad = uke_file().replace("GO,6,", "GO,7,")  # GO 総件数 ≠ RE records: refused whole, not retried
    (directory / "0000000000_bad.uke").write_bytes(bad.encode("cp932"))

    # 1. the good file is booked; the bad one is named (file, problem), the bill is not paid, the run ends Failed
    state = uke_claims(month=MONTH, operator_id="demo-operator", paid_on="2025-07-31", return_state=True)
    assert state.is_failed()
    assert "0000000000_bad.uke" in state.message and "GO" in state.message
    first_run = state.state_details.flow_run_id
    assert _read_task_run_counts(first_run) == [1]  # a bad file is not transient: no retry
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(first_run).name == f"uke-claims {MONTH}"
    with engine.connect() as conn:
        receipts = pd.read_sql(select(cm.UkeReceipt.__table__), conn).set_index("receipt_no")
        run = conn.execute(select(models.Run.__table__).where(models.Run.__table__.c.run_id == str(first_run))
                           ).mappings().one()
        quarantined = conn.execute(select(models.QuarantinedRow.__table__.c.column_name).where(
            models.QuarantinedRow.__table__.c.run_id == str(first_run))).scalars().all()
    assert receipts.loc["1", ["status", "city_subsidy_amount"]].tolist() == ["APPROVED", 1_000]
    assert receipts.loc["2", ["status", "city_subsidy_amount"]].tolist() == ["APPROVED", 57_600]
    assert receipts.loc["3", ["status", "billed_subsidy_amount", "city_subsidy_amount"]].tolist() == [
        "DISPUTED", 100, 600]
    assert receipts.loc["5", ["status", "review_reason"]].tolist() == ["REVIEW", "UNMATCHED_RECIPIENT"]
    assert sorted(receipts.index) == ["1", "2", "3", "5"]
    assert run["status"] == "FAILED" and json.loads(run["counts_json"])["ingest"]["refused"]
    assert quarantined == ["RE 生年月日"]

    markdown = _artifact_markdown(first_run)
    assert "| 承認 | 2 |" in markdown and "| 過誤・再審査 | 1 |" in markdown and "| 保留（要確認） | 1 |" in markdown
    assert "| 隔離（不正レコード） | 1 |" in markdown and "| 他公費・他市のKO（無視） | 1 |" in markdown
    assert f"| 国民健康保険団体連合会 | 4 | 22 | 50900 | {APPROVED + 100 + 600} | 2 | {APPROVED} |" in markdown
    assert "0000000000_bad.uke" in markdown and "未払" in markdown and "支払は行っていません" in markdown
    assert not (kodomo_env.resolved_outbox_dir / MONTH / f"uke_bill_KOKUHO_{MONTH}.csv").exists()
    assert f"| 041{CODE7}_202507.UKE | 22 | RE | 生年月日 |" in markdown  # the quarantined line, no value
    assert f"| 過誤・再審査請求リスト | 1 | `{kodomo_env.resolved_outbox_dir / MONTH}/uke_saishinsa_{MONTH}.csv` |" \
        in markdown
    saishinsa = pd.read_csv(kodomo_env.resolved_outbox_dir / MONTH / f"uke_saishinsa_{MONTH}.csv",
                            encoding="cp932", dtype=str)
    assert saishinsa[["請求額", "市の査定額"]].values.tolist() == [["100", "600"]]

    # 2. the bad file removed, a re-run with a payment date: nothing booked twice, the bill paid once
    (directory / "0000000000_bad.uke").unlink()
    proof = operators.local_proof("demo-operator")  # what `kodomo login` gives the operator for the UI form
    paid = uke_claims(month=MONTH, directory=f"{MONTH}/uke", operator_id="demo-operator", paid_on="2025-07-31",
                      operator_proof=proof, return_state=True)
    assert paid.is_completed()
    summary = paid.result()
    paid_markdown = _artifact_markdown(paid.state_details.flow_run_id)
    assert "| 読込済みのため変更なし（同じファイル） | 1 |" in paid_markdown
    assert f"| 2 | {APPROVED} | 0 | 1 | 100 | 1 | {APPROVED} | 2025-07-31 |" in paid_markdown
    assert "| 請求内訳（国民健康保険団体連合会） | 4 |" in paid_markdown
    assert summary["approved"] == 0 and summary["refused_files"] == []
    [kokuho] = summary["bills"]
    assert kokuho["approved_amount"] == APPROVED and kokuho["payment_amount"] == APPROVED
    breakdown = pd.read_csv(kodomo_env.resolved_outbox_dir / MONTH / f"uke_bill_KOKUHO_{MONTH}.csv",
                            encoding="cp932", dtype=str)
    assert breakdown["支払額"].astype(int).sum() == APPROVED
    with engine.connect() as conn:
        entries = pd.read_sql(select(cm.UkeBillEntry.__table__), conn)
    assert entries["amount"].sum() == APPROVED and len(entries) == 2

    # I/O trouble while reading is transient: the read is retried (and the booked file changes nothing)
    real_read, failures = claim_tasks.read_uke, []

    def flaky_read(path, city):
        if not failures:
            failures.append(path.name)
            raise PermissionError("the file is still being copied")
        return real_read(path, city)

    monkeypatch.setattr(claim_tasks, "read_uke", flaky_read)
    monkeypatch.setattr(claim_tasks, "read_files", claim_tasks.read_files.with_options(retry_delay_seconds=0))
    retried = uke_claims(month=MONTH, operator_id="demo-operator", return_state=True)
    assert retried.is_completed() and failures and retried.result()["files"] == 1 and retried.result()["approved"] == 0
    assert _read_task_run_counts(retried.state_details.flow_run_id) == [2]
    monkeypatch.undo()

    # 3. a directory outside the inbox is refused (and recorded); a number-like path never reaches Prefect
    outside = uke_claims(month=MONTH, directory=str(kodomo_env.home / "outbox"), operator_id="demo-operator",
                         return_state=True)
    assert outside.is_failed() and "outside the allowed inbox" in outside.message
    stranger = uke_claims(month=MONTH, operator_id="nobody-here", return_state=True)
    assert stranger.is_failed() and "nobody-here" in stranger.message
    missing = uke_claims(month="2025-08", operator_id="demo-operator", return_state=True)
    assert missing.is_failed() and "2025-08/uke: no such directory under the inbox" in missing.message
    # (the deployment enforces the schema: every parameter has a pattern, and a 12-digit path fails it;
    #  a direct call with a bad parameter would still store it in flow_run.parameters, so it is not made)
    schema = parameter_schema(uke_claims).model_dump()
    properties = schema["properties"]
    assert set(properties) == {"month", "directory", "operator_id", "paid_on", "operator_proof"}
    patterns = {name: _pattern(schema, spec) for name, spec in properties.items()}
    assert all(patterns.values()), patterns
    assert not re.match(patterns["directory"], f"{MONTH}/{CARD_NUMBER}")

    # 4. no name and no 12-digit number of the file in the artifacts, the return value or Prefect's DB
    with get_client(sync_client=True) as client:
        artifacts = [json.dumps(a.data, ensure_ascii=False) for a in client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["uke-claims-summary"])), limit=200)]
    text = "\n".join(artifacts + [json.dumps(summary, ensure_ascii=False), state.message, outside.message])
    assert not twelve_digit_runs(text)  # a UUID's last group may be all digits: not a number of the file
    assert not any(secret in text for secret in NAMES + [REC_A, REC_B, "06130488"])
    APILogWorker.drain_all(timeout=10)  # logs and events reach the server asynchronously
    EventsWorker.drain_all(timeout=10)
    scanner = CanaryScanner(texts=NAMES + [CARD_NUMBER])
    prefect_engine = _prefect_engine()
    assert scanner.scan_database(prefect_engine, label="prefect-db") == []
    prefect_engine.dispose()
