"""File defaults of the inquiry connectors, consent rules and the HTTP error mapping (no network)."""

from __future__ import annotations

import datetime as dt

import pytest

from connectors import inquiry as iq
from devtools import movein_demo as demo

ON = dt.date(2026, 11, 2)


@pytest.fixture
def household():
    return demo.demo_household(1)


@pytest.fixture
def connectors(tmp_path, household):
    unknown = demo.demo_household(2, known_previous_city=False)
    demo.write_inquiry_dir(tmp_path, [household, unknown], city_tax_ids=[household.guardian_id])
    return iq.file_connectors(tmp_path)


def consent_for(h, scope="income_inquiry", date=dt.date(2026, 10, 20), years=()):
    return iq.Consent("CN-1", date, scope, h.household_id, years)


def test_registry_returns_the_whole_household_by_person(connectors, household):
    frame = connectors.registry.fetch_household(person_id=household.child_ids[0], as_of=ON)
    assert sorted(frame["person_id"]) == sorted(household.person_ids)
    assert list(frame.columns) == [*iq.REGISTRY_COLUMNS, "source_row"]
    assert set(frame["previous_municipality_code"]) == {demo.HACHIOJI}
    assert (frame["residence_start_date"] == "2026-10-01").all()


def test_registry_unknown_person_is_not_found_and_masked(connectors):
    with pytest.raises(iq.NotFound) as info:
        connectors.registry.fetch_household(person_id="9999999999", as_of=ON)
    assert "9999999999" not in str(info.value)
    assert "******9999" in str(info.value)


def test_tax_system_returns_only_city_assessed_records(connectors, household):
    frame = connectors.tax.fetch_tax(household.person_ids, 2026)
    assert frame["person_id"].tolist() == [household.guardian_id]
    assert frame["total_income_amount"].tolist() == ["4200000"]
    assert connectors.tax.fetch_tax(household.person_ids, 2025).empty


def test_jukinet_finds_the_previous_city_or_not_found(connectors):
    unknown = demo.demo_household(2, known_previous_city=False)
    assert connectors.jukinet.lookup_previous_municipality(unknown.guardian_id) == demo.SAPPORO
    with pytest.raises(iq.NotFound):
        connectors.jukinet.lookup_previous_municipality("9999999999")


def test_intermediary_with_consent_returns_previous_city_income(connectors, household):
    frame = connectors.intermediary.fetch_income(
        [household.guardian_id, household.spouse_id], tax_year=2026, municipality_code=demo.HACHIOJI,
        consent=consent_for(household), household_id=household.household_id, on=ON)
    assert sorted(frame["person_id"]) == sorted([household.guardian_id, household.spouse_id])
    wrong_city = connectors.intermediary.fetch_income(
        [household.guardian_id], tax_year=2026, municipality_code=demo.SAPPORO,
        consent=consent_for(household), household_id=household.household_id, on=ON)
    assert wrong_city.empty


@pytest.mark.parametrize("consent, why", [
    (None, "no consent id was given"),
    ("scope", "does not cover"),
    ("future", "does not cover"),
    ("other_household", "does not cover"),
    ("other_year", "does not cover"),
])
def test_intermediary_without_covering_consent_is_refused(connectors, household, consent, why):
    variants = {
        None: None,
        "scope": consent_for(household, scope="registry_only"),
        "future": consent_for(household, date=ON + dt.timedelta(days=1)),
        "other_household": iq.Consent("CN-1", dt.date(2026, 10, 1), "income_inquiry", "4000000099"),
        "other_year": consent_for(household, years=(2025,)),
    }
    with pytest.raises(iq.ConsentMissing) as info:
        connectors.intermediary.fetch_income(
            [household.guardian_id], tax_year=2026, municipality_code=demo.HACHIOJI,
            consent=variants[consent], household_id=household.household_id, on=ON)
    message = str(info.value)
    assert why in message
    assert "Nothing was queried" in message
    assert household.household_id not in message


def test_consent_id_named_in_message_when_not_recorded(household):
    with pytest.raises(iq.ConsentMissing, match="consent 'CN-404' is not recorded"):
        iq.require_consent(None, household_id=household.household_id, tax_year=2026, on=ON, consent_id="CN-404")


def test_missing_file_is_unavailable(tmp_path):
    with pytest.raises(iq.InquiryUnavailable, match="registry.csv is missing"):
        iq.FileResidentRegistry(tmp_path).fetch_household(person_id="3000000011", as_of=ON)


def test_certificate_reads_tax_layout(tmp_path, household):
    path = demo.write_certificate(tmp_path / "cert.csv", household)
    frame = iq.read_income_certificate(path)
    assert sorted(frame["person_id"]) == sorted([household.guardian_id, household.spouse_id])


def test_idempotency_key_is_deterministic():
    a = iq.idempotency_key("tax", {"person_ids": ["1", "2"], "tax_year": 2026})
    b = iq.idempotency_key("tax", {"tax_year": 2026, "person_ids": ["1", "2"]})
    c = iq.idempotency_key("tax", {"person_ids": ["1", "2"], "tax_year": 2025})
    assert a == b != c


def test_session_retry_policy():
    session = iq.build_session(iq.HttpOptions(retries=4, backoff_factor=0.1, retry_after_max=7))
    retry = session.get_adapter("https://example.invalid/").max_retries
    assert retry.total == 4
    assert set(retry.status_forcelist) == {429, 500, 502, 503, 504}
    assert "POST" in retry.allowed_methods
    assert retry.respect_retry_after_header and retry.retry_after_max == 7


def test_settings_pick_file_or_http(tmp_path):
    from config.settings import Settings

    file_mode = iq.connectors_from_settings(Settings(home=tmp_path))
    assert isinstance(file_mode.registry, iq.FileResidentRegistry)
    assert file_mode.registry.directory == tmp_path / "inquiry"
    http_mode = iq.connectors_from_settings(Settings(home=tmp_path, connector="http", inquiry_url="http://x"))
    assert isinstance(http_mode.intermediary, iq.HttpIntermediaryServer)
    with pytest.raises(iq.InquiryUnavailable, match="INQUIRY_URL"):
        iq.connectors_from_settings(Settings(home=tmp_path, connector="http"))
