"""Issue 14 §6: every flow parameter has a pattern or a closed type, and refusals leave no value behind.

Walks the parameter schema Prefect publishes for each flow (what the UI form and the server's
``enforce_parameter_schema`` use): every string must carry a ``pattern``, an ``enum`` or a date format;
free text is not a parameter type here.
"""

import pytest
from prefect.utilities.callables import parameter_schema

from privacy.errors import sanitise_exception
from privacy.operators import OperatorNotAuthorised
from privacy.paths import PathNotAllowed
from tests.unit.test_privacy_prefect import ALL_FLOWS

CLOSED_FORMATS = {"date", "date-time"}


def _open_strings(node, path, definitions):
    """Paths of string schemas without a pattern, an enum or a date format."""
    if not isinstance(node, dict):
        return []
    if "$ref" in node:
        return _open_strings(definitions[node["$ref"].split("/")[-1]], path, definitions)
    found = []
    for key in ("anyOf", "allOf", "oneOf"):
        for option in node.get(key, []):
            found += _open_strings(option, path, definitions)
    if node.get("type") == "string" and not ({"pattern", "enum", "const"} & set(node)) \
            and node.get("format") not in CLOSED_FORMATS:
        found.append(path)
    for name, child in (node.get("properties") or {}).items():
        found += _open_strings(child, f"{path}.{name}", definitions)
    return found


@pytest.mark.parametrize("name", sorted(ALL_FLOWS))
def test_every_string_parameter_has_a_pattern_or_a_closed_type(name):
    schema = parameter_schema(ALL_FLOWS[name]).model_dump_for_openapi()
    definitions = schema.get("definitions", {}) | schema.get("$defs", {})
    assert _open_strings(schema, name, definitions) == []


def test_the_walk_finds_an_open_string():
    assert _open_strings({"properties": {"a": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                                         "b": {"type": "string", "pattern": "^x$"}}}, "f", {}) == ["f.a"]


@pytest.mark.parametrize("typed", ["123456789018", "山田花子", "1234-5678-9018"])
def test_refusals_never_echo_what_was_typed(typed):
    refusal = OperatorNotAuthorised(typed, "run", "unknown operator")
    assert typed not in str(refusal) and "<malformed-id>" in str(refusal)
    assert sanitise_exception(refusal) is refusal  # passes the sanitiser unchanged *because* it is safe
    path_refusal = PathNotAllowed("cli:export wipe", "exports")
    assert "export" in str(path_refusal) and "/" not in str(path_refusal).split("directory")[0][-30:]
