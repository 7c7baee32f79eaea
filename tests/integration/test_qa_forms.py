"""QA (end to end, as an attacker): every deployment form of prefect.yaml, as the Prefect UI shows it.

* A run started by hand from a form needs a single-use proof (``tasks.common.authorise_operator``), so every
  deployment whose flow authorises an operator must offer an ``operator_proof`` field; the counter and
  print forms had none, so no staff member could ever run them from the UI.
* No text field of any form may accept a My Number (12 digits, hyphenated or not): Prefect stores the
  parameters of every run in its database (issue 14 §6).
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
from pathlib import Path

import pytest
import yaml

from privacy.paths import LOCAL_PATH_PATTERN
from rules.checkdigits import with_my_number_check_digit

ROOT = Path(__file__).resolve().parents[2]
MY_NUMBER = with_my_number_check_digit("12345678901")
MY_NUMBER_FORMS = [MY_NUMBER, f"{MY_NUMBER[:4]}-{MY_NUMBER[4:8]}-{MY_NUMBER[8:]}"]
#: path fields (privacy.paths.LOCAL_PATH_PATTERN) may hold dates and months (``inbox/2026-10``): they keep their
#: own, weaker, rule (no run of 9+ digits; a hyphenated My Number still fits — reported, not fixed here)


def _deployed_flows():
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    for deployment in config["deployments"]:
        yield pytest.param(deployment["entrypoint"], id=deployment["name"])


def _load(entrypoint: str):
    """The flow of a deployment; a deployment whose flow cannot be imported fails its own test case."""
    module, name = entrypoint.split(":")
    return getattr(importlib.import_module(module.removesuffix(".py").replace("/", ".")), name)


def _string_fields(schema: dict):
    """(name, property) of every string field, nested models included."""
    definitions = schema.get("definitions", {}) | schema.get("$defs", {})
    stack = [schema.get("properties", {})] + [d.get("properties", {}) for d in definitions.values()]
    for properties in stack:
        for name, prop in properties.items():
            options = [prop, *prop.get("anyOf", []), *prop.get("allOf", [])]
            for option in options:
                if option.get("type") == "string":
                    yield name, option


def _schema(flow) -> dict:
    return flow.parameters.model_dump(by_alias=True)


@pytest.mark.parametrize("entrypoint", list(_deployed_flows()))
def test_every_form_that_names_an_operator_takes_a_proof(entrypoint):
    flow = _load(entrypoint)
    fields = {name for name, _ in _string_fields(_schema(flow))}
    if "operator_id" in fields:
        assert "operator_proof" in fields, f"{flow.name}: a run started from the UI could never prove its operator"


@pytest.mark.parametrize("entrypoint", list(_deployed_flows()))
def test_no_form_field_accepts_a_my_number(entrypoint):
    flow = _load(entrypoint)
    accepting = []
    for name, prop in _string_fields(_schema(flow)):
        if prop.get("pattern") == LOCAL_PATH_PATTERN or "enum" in prop or prop.get("format") == "date":
            continue
        pattern = prop.get("pattern")
        for value in MY_NUMBER_FORMS:
            fits = pattern is None or re.search(pattern, value)
            if fits and len(value) <= prop.get("maxLength", 10**6):
                accepting.append((name, value))
    assert accepting == [], f"{flow.name}: fields accept a My Number: {accepting}"


def test_a_counter_form_hands_its_proof_to_the_authorisation(monkeypatch):
    """Outcome, not shape: the proof typed into the form is the one checked (a deployment run has no other)."""
    from flows import counter

    seen = {}

    class StopAfterAuthError(Exception):
        pass

    def authorise(operator_id, action, operator_proof=None):
        seen.update(operator_id=operator_id, proof=operator_proof)
        raise StopAfterAuthError

    monkeypatch.setattr(counter.common, "authorise_operator", authorise)
    with pytest.raises(StopAfterAuthError):
        counter.counter_reissue.fn(case_id="CC-AAAAAAAAAA", received_date=dt.date(2026, 10, 20),
                                   reason="LOST", operator_id="demo-operator", operator_proof="kp1.x.y")
    assert seen == {"operator_id": "demo-operator", "proof": "kp1.x.y"}


@pytest.mark.parametrize("value", ["", "AP00000001", "2026-000123", "CN-1", "R-2026-1020-01"])
def test_real_reference_numbers_still_fit(value):
    from privacy.paths import REFERENCE_PATTERN

    assert re.match(REFERENCE_PATTERN, value)
