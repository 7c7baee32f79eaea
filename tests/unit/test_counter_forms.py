"""The UI forms of the counter and print flows: plain inputs, date pickers, ids and codes only."""

from __future__ import annotations

import re

import pytest
from prefect.utilities.callables import parameter_schema

from flows import counter
from flows import print as print_flow
from flows.movein import move_in

FLOWS = [counter.counter_change, counter.counter_loss_report, counter.counter_reissue, counter.counter_correction,
         counter.counter_retroactive, print_flow.print_run]
PERSONAL = re.compile(r"name|address|my_number|kana|account|phone", re.IGNORECASE)


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_forms_have_no_toggles_no_personal_fields_and_date_pickers(flow):
    properties = parameter_schema(flow).model_dump()["properties"]
    assert not [k for k, v in properties.items() if "anyOf" in v], "optional fields must be plain inputs"
    assert not [k for k in properties if PERSONAL.search(k)]
    for key, value in properties.items():
        if key.endswith("date"):
            assert value.get("format") == "date", key


@pytest.mark.parametrize("flow", FLOWS[:5], ids=lambda f: f.name)
def test_the_case_field_refuses_person_numbers(flow):
    """Issue 14: the child is named by a counter case id, never a 宛名番号 or a My Number."""
    properties = parameter_schema(flow).model_dump()["properties"]
    assert "person_id" not in properties and "guardian_person_id" not in properties
    pattern = re.compile(properties["case_id"]["pattern"])
    assert pattern.match("CC-7QK2M4XZ5A")
    assert not pattern.match("0100001034") and not pattern.match("123456789012")


def test_move_in_form_has_plain_optional_fields_and_date_pickers():
    schema = parameter_schema(move_in).model_dump()
    (case,) = (schema.get("definitions") or schema.get("$defs")).values()
    properties = case["properties"]
    assert not [k for k, v in properties.items() if "anyOf" in v]
    assert {k for k, v in properties.items() if v.get("format") == "date"} == {
        "insurance_valid_from", "application_date", "as_of"}
    assert "person_id" not in properties
    assert re.compile(properties["case_id"]["pattern"]).match("MI-2026-0001") and not re.compile(
        properties["case_id"]["pattern"]).match("0100001034")
