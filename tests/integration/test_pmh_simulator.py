"""The PMH simulator and the HTTP client over real loopback HTTP: schema, auth, idempotency, every knob."""

from __future__ import annotations

import time

import pandas as pd
import pytest
import requests

from connectors.pmh import PmhRejected, PmhUnavailable
from devtools.pmh_simulator import SimConfig, SimServer
from devtools.pmh_synthetic import PUBLIC_PAYER_NUMBER, synthetic_my_numbers
from devtools.pmh_testing import TOKEN, fast_client, sim_stats
from rules.checkdigits import with_modulus10_w21
from services.pmh.payload import ProgramConfig, build_records

CANARY_NAME = "カナリア 太郎"


@pytest.fixture(scope="module")
def server():
    with SimServer(SimConfig(token=TOKEN)) as srv:
        yield srv


@pytest.fixture
def sim(server):
    server.sim.reset()
    server.sim.reconfigure(**{k: v for k, v in SimConfig(token=TOKEN, task_delay_ms=0).__dict__.items()})
    return server


def records(n=3, start=1):
    frame = pd.DataFrame({
        "person_id": [f"{i:010d}" for i in range(start, start + n)],
        "change_type": "1", "reason": "NEW",
        "event_date": pd.Timestamp("2026-04-01"), "valid_from": pd.Timestamp("2026-04-01"),
        "valid_to": pd.Timestamp("2027-03-31"),
        "recipient_no": [with_modulus10_w21(f"{i:06d}") for i in range(start, start + n)],
        "my_number": synthetic_my_numbers(start, n), "name": CANARY_NAME, "name_kana": "カナリア タロウ",
        "address": "宮城県仙台市青葉区1-1", "birth_date": pd.Timestamp("2019-01-01"), "sex_code": "1",
        "dv_support_flag": False, "public_payer_number": PUBLIC_PAYER_NUMBER,
    })
    return build_records(frame, ProgramConfig())


def wait_completed(client, task_id, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.poll(task_id)
        if status.completed:
            return status
    raise AssertionError("task did not complete")


def test_happy_path_assigns_one_pmh_id_per_my_number(sim):
    client = fast_client(sim.url)
    receipt = client.submit(records(3), "key-1")
    status = wait_completed(client, receipt.task_id)
    assert [r.result for r in status.results] == ["REGISTERED"] * 3
    ids = [r.pmh_id for r in status.results]
    assert len(set(ids)) == 3 and all(len(i) == 16 and i.isdigit() for i in ids)
    again = client.submit(records(1), "key-2")  # same My Number → same PMH-ID
    assert wait_completed(client, again.task_id).results[0].pmh_id == ids[0]
    assert sim_stats(sim.url)["pmh_ids_assigned"] == 3


def test_idempotency_replay_and_conflict(sim):
    client = fast_client(sim.url)
    first = client.submit(records(2), "same-key")
    replay = client.submit(records(2), "same-key")
    assert replay.task_id == first.task_id and replay.replayed and not first.replayed
    with pytest.raises(PmhRejected) as info:
        client.submit(records(2, start=5), "same-key")
    assert info.value.status == 422 and info.value.code == "IDEMPOTENCY_KEY_REUSED"
    stats = sim_stats(sim.url)
    assert stats["tasks"] == 1 and stats["records_applied"] == 2 and stats["duplicates"] == 0


def test_bad_token_is_401(sim):
    client = type(fast_client(sim.url))(sim.url, "wrong")
    with pytest.raises(PmhRejected) as info:
        client.submit(records(1), "k")
    assert info.value.status == 401
    assert sim_stats(sim.url)["tasks"] == 0


def test_schema_errors_are_400_with_codes_and_no_values(sim):
    bad = records(2)
    bad[0]["myNumber"] = bad[0]["myNumber"][:11] + str((int(bad[0]["myNumber"][11]) + 1) % 10)
    bad[1]["basicFiveInfo"]["sex"] = "9"
    bad[1]["unexpected"] = CANARY_NAME
    response = requests.post(sim.url + "/registration-tasks", json=bad, timeout=5,
                             headers={"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": "k"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "SCHEMA_ERROR"
    assert {(e["index"], e["field"], e["code"]) for e in body["errors"]} == {
        (0, "myNumber", "my_number_check_digit"), (1, "basicFiveInfo.sex", "literal_error"),
        (1, "unexpected", "extra_forbidden")}
    assert CANARY_NAME not in response.text and bad[0]["myNumber"] not in response.text


def test_batch_size_limit_and_missing_key(sim):
    sim.sim.reconfigure(max_records=2)
    client = fast_client(sim.url)
    with pytest.raises(PmhRejected) as info:
        client.submit(records(3), "k")
    assert info.value.code == "BATCH_SIZE"
    response = requests.post(sim.url + "/registration-tasks", json=records(1), timeout=5,
                             headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 400 and response.json()["code"] == "IDEMPOTENCY_KEY_REQUIRED"


def test_task_is_processing_until_the_intermediary_step(sim):
    sim.sim.reconfigure(task_delay_ms=150)
    client = fast_client(sim.url)
    receipt = client.submit(records(1), "k")
    assert client.poll(receipt.task_id).status == "PROCESSING"
    assert wait_completed(client, receipt.task_id).completed
    with pytest.raises(PmhRejected) as info:
        client.poll("task-unknown")
    assert info.value.status == 404


def test_transient_5xx_are_retried_without_duplicates(sim):
    sim.sim.reconfigure(error_rate=0.5, seed=3)
    client = fast_client(sim.url, total=20)
    for i in range(6):
        client.submit(records(2, start=1 + 2 * i), f"k{i}")
    stats = sim_stats(sim.url)
    assert stats["responses_503"] > 0 and stats["tasks"] == 6 and stats["duplicates"] == 0


def test_rate_limit_gives_429_with_retry_after_and_the_client_waits(sim):
    sim.sim.reconfigure(rate_limit=5.0, burst=1, retry_after_decimal=True)
    client = fast_client(sim.url)
    start = time.monotonic()
    for i in range(3):
        client.submit(records(1, start=i + 1), f"k{i}")
    stats = sim_stats(sim.url)
    assert stats["responses_429"] > 0 and stats["tasks"] == 3
    assert time.monotonic() - start >= 0.35  # 2 more requests at 5/s
    sim.sim.reconfigure(rate_limit=0.5, burst=1, retry_after_decimal=True)  # a fresh, slow bucket
    headers = {"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": "x"}
    first = requests.post(sim.url + "/registration-tasks", json=records(1), timeout=5, headers=headers)
    response = requests.post(sim.url + "/registration-tasks", json=records(1), timeout=5, headers=headers)
    assert first.status_code == 202
    assert response.status_code == 429 and 0 < float(response.headers["Retry-After"]) <= 2


def test_rfc_retry_after_is_whole_seconds_and_polls_have_their_own_bucket(sim):
    sim.sim.reconfigure(rate_limit=1.0, burst=1, poll_rate_limit=1000.0)
    headers = {"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": "a"}
    first = requests.post(sim.url + "/registration-tasks", json=records(1), headers=headers, timeout=5)
    second = requests.post(sim.url + "/registration-tasks", json=records(1, 2),
                           headers={**headers, "Idempotency-Key": "b"}, timeout=5)
    assert first.status_code == 202 and second.status_code == 429 and second.headers["Retry-After"] == "1"
    poll = requests.get(f"{sim.url}/registration-tasks/{first.json()['taskId']}", headers=headers, timeout=5)
    assert poll.status_code == 200


def test_timeout_after_commit_is_reconciled_by_the_same_key(sim):
    sim.sim.reconfigure(timeout_rate=1.0, timeout_sleep_s=0.6)
    client = fast_client(sim.url, timeout=(1.0, 0.2), total=2)
    with pytest.raises(PmhUnavailable):
        client.submit(records(2), "slow")
    sim.sim.reconfigure(timeout_rate=0.0)
    receipt = client.submit(records(2), "slow")
    stats = sim_stats(sim.url)
    assert receipt.replayed and stats["tasks"] == 1 and stats["duplicates"] == 0 and stats["faults_timeout"] == 3


def test_dropped_response_after_commit_is_retried_to_the_original_task(sim):
    sim.sim.reconfigure(drop_after_commit_rate=0.5, seed=1)
    client = fast_client(sim.url, total=20)
    tasks = {client.submit(records(1, start=i + 1), f"d{i}").task_id for i in range(6)}
    stats = sim_stats(sim.url)
    assert stats["faults_dropped"] > 0 and stats["tasks"] == 6 == len(tasks) and stats["duplicates"] == 0


def test_exhausted_retries_raise_unavailable(sim):
    sim.sim.reconfigure(error_rate=1.0)
    with pytest.raises(PmhUnavailable) as info:
        fast_client(sim.url, total=2).submit(records(1), "k")
    assert info.value.reason == "HTTP_503"


def test_state_file_survives_a_restart(tmp_path):
    path = tmp_path / "sim.json"
    with SimServer(SimConfig(token=TOKEN, task_delay_ms=0, state_file=str(path))) as first:
        task = fast_client(first.url).submit(records(2), "persist").task_id
    with SimServer(SimConfig(token=TOKEN, task_delay_ms=0, state_file=str(path))) as second:
        client = fast_client(second.url)
        assert client.submit(records(2), "persist").task_id == task
        assert wait_completed(client, task).completed
        assert sim_stats(second.url)["duplicates"] == 0
