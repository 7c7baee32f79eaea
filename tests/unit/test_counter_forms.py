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
def test_the_person_field_refuses_a_twelve_digit_number(flow):
    properties = parameter_schema(flow).model_dump()["properties"]
    pattern = re.compile(properties["person_id"]["pattern"])
    assert pattern.match("0100001034") and not pattern.match("123456789012")


def test_move_in_form_has_plain_optional_fields_and_date_pickers():
    schema = parameter_schema(move_in).model_dump()
    (case,) = (schema.get("definitions") or schema.get("$defs")).values()
    properties = case["properties"]
    assert not [k for k, v in properties.items() if "anyOf" in v]
    assert {k for k, v in properties.items() if v.get("format") == "date"} == {
        "insurance_valid_from", "application_date", "as_of"}
    assert re.compile(properties["person_id"]["pattern"]).match("") and not re.compile(
        properties["person_id"]["pattern"]).match("123456789012")
