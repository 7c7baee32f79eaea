"""HTTP connectors against the local simulator: retries (5xx, 429 + Retry-After, timeouts), error
mapping, and the consent refusal that sends nothing (the simulator's request log proves it)."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from connectors import inquiry as iq
from devtools import inquiry_sim as sim_mod
from devtools import movein_demo as demo

ON = dt.date(2026, 11, 2)
FAST = iq.HttpOptions(timeout=(1.0, 0.3), retries=2, backoff_factor=0.01, retry_after_max=2)


@pytest.fixture(scope="module")
def household():
    return demo.demo_household(1)


@pytest.fixture(scope="module")
def running(tmp_path_factory, household):
    directory = tmp_path_factory.mktemp("inquiry")
    demo.write_inquiry_dir(directory, [household, demo.demo_household(2, known_previous_city=False)],
                           city_tax_ids=[household.guardian_id])
    sim = sim_mod.InquirySimulator(sim_mod.InquiryData.from_directory(directory))
    with sim_mod.serve_in_thread(sim) as server:
        yield server


@pytest.fixture
def sim(running):
    running.sim.reset()
    return running.sim


@pytest.fixture
def conn(running, sim):
    return iq.http_connectors(running.base_url, options=FAST)


def script(sim, service, *faults, **knobs):
    sim.set_faults(sim_mod.FaultConfig(services={service: sim_mod.Faults(script=list(faults), **knobs)}))


def test_household_inquiry_round_trip(conn, sim, household):
    frame = conn.registry.fetch_household(person_id=household.child_ids[1], as_of=ON)
    assert sorted(frame["person_id"]) == sorted(household.person_ids)
    assert frame["previous_municipality_code"].unique().tolist() == [demo.HACHIOJI]
    log = sim.requests_for("registry")
    assert [r["status"] for r in log] == [200]
    assert household.child_ids[1] not in str(sim.log)  # the request log holds no identifiers


def test_5xx_is_retried_then_succeeds(conn, sim, household):
    script(sim, "tax", "503", "500")
    frame = conn.tax.fetch_tax(household.person_ids, 2026)
    assert frame["person_id"].tolist() == [household.guardian_id]
    assert [r["status"] for r in sim.requests_for("tax")] == [503, 500, 200]
    keys = {r["idempotency_key"] for r in sim.requests_for("tax")}
    assert len(keys) == 1  # every attempt carries the same idempotency key


def test_429_honours_retry_after(conn, sim, household):
    script(sim, "jukinet", "429", retry_after_s=1)
    started = time.monotonic()
    code = conn.jukinet.lookup_previous_municipality(household.guardian_id)
    assert code == demo.HACHIOJI
    assert time.monotonic() - started >= 0.9
    assert [r["status"] for r in sim.requests_for("jukinet")] == [429, 200]


def test_persistent_5xx_reports_unavailable_with_attempts(conn, sim, household):
    script(sim, "tax", "503", "503", "503", "503")
    with pytest.raises(iq.InquiryUnavailable) as info:
        conn.tax.fetch_tax(household.person_ids, 2026)
    assert info.value.attempts == 3
    assert "HTTP 503" in str(info.value)
    assert len(sim.requests_for("tax")) == 3


def test_timeouts_are_retried_then_reported(conn, sim, household):
    script(sim, "registry", "timeout", "timeout", "timeout", hang_s=1.0)
    with pytest.raises(iq.InquiryTimeout) as info:
        conn.registry.fetch_household(person_id=household.guardian_id, as_of=ON)
    assert info.value.attempts == 3
    assert len(sim.requests_for("registry")) == 3


def test_timeout_then_success(conn, sim, household):
    script(sim, "registry", "timeout", hang_s=1.0)
    frame = conn.registry.fetch_household(household_id=household.household_id, as_of=ON)
    assert len(frame) == len(household.person_ids)
    assert [r["fault"] for r in sim.requests_for("registry")] == ["timeout", "ok"]


def test_not_found_is_not_retried(conn, sim):
    with pytest.raises(iq.NotFound) as info:
        conn.jukinet.lookup_previous_municipality("9999999999")
    assert info.value.status == 404 and info.value.error_code == "NOT_FOUND"
    assert len(sim.requests_for("jukinet")) == 1


def test_intermediary_with_consent(conn, sim, household):
    consent = iq.Consent("CN-7", dt.date(2026, 10, 20), "income_inquiry", household.household_id)
    frame = conn.intermediary.fetch_income(
        [household.guardian_id, household.spouse_id], tax_year=2026, municipality_code=demo.HACHIOJI,
        consent=consent, household_id=household.household_id, on=ON)
    assert len(frame) == 2
    assert [r["consent_id"] for r in sim.requests_for("intermediary")] == ["CN-7"]


def test_intermediary_without_consent_sends_nothing(conn, sim, household):
    with pytest.raises(iq.ConsentMissing):
        conn.intermediary.fetch_income(
            [household.guardian_id], tax_year=2026, municipality_code=demo.HACHIOJI, consent=None,
            household_id=household.household_id, on=ON)
    assert sim.log == []


def test_server_side_consent_check_maps_to_rejected(running, sim):
    client = iq.HttpClient(running.base_url, options=FAST)
    with pytest.raises(iq.InquiryRejected) as info:
        client.post("intermediary", "/intermediary/v1/income-inquiry", {"person_ids": ["1"], "tax_year": 2026})
    assert info.value.status == 403 and info.value.error_code == "CONSENT_REQUIRED"


def test_unreachable_server_is_unavailable():
    conn = iq.http_connectors("http://127.0.0.1:9", options=iq.HttpOptions(timeout=(0.2, 0.2), retries=1,
                                                                           backoff_factor=0.01))
    with pytest.raises(iq.InquiryUnavailable):
        conn.tax.fetch_tax(["3000000011"], 2026)


def test_random_fault_shares_are_seeded(running, sim, household):
    sim.set_faults(sim_mod.FaultConfig(default=sim_mod.Faults(error_rate=0.5), seed=7))
    conn = iq.http_connectors(running.base_url, options=iq.HttpOptions(retries=6, backoff_factor=0.0))
    for _ in range(3):
        conn.tax.fetch_tax([household.guardian_id], 2026)
    statuses = [r["status"] for r in sim.requests_for("tax")]
    assert statuses.count(200) == 3 and statuses.count(503) >= 1
