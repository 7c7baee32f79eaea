"""Which fields of a Prefect form (a deployment's parameter JSON schema) would accept a given value."""

from __future__ import annotations

import datetime as dt
import re

#: A 宛名番号 (10 digits) and a My Number (12 digits), as someone might type them into a form by mistake.
PERSON_NUMBERS = ("3000000013", "0000000000", "123456789018")


def _accepts(prop: dict, value: str, definitions: dict) -> bool:
    if "$ref" in prop:
        return _object_accepts(definitions[prop["$ref"].rsplit("/", 1)[1]], value, definitions)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in prop:
            results = [_accepts(p, value, definitions) for p in prop[key]]
            return all(results) if key == "allOf" else any(results)
    kind = prop.get("type")
    if kind in ("boolean", "null"):
        return False
    if kind in ("integer", "number") or kind is None:
        return True  # a number (or anything) can be typed
    if kind == "object":
        return _object_accepts(prop, value, definitions)
    if "enum" in prop:
        return value in prop["enum"]
    if "pattern" in prop and not re.search(prop["pattern"], value):
        return False
    if prop.get("maxLength") is not None and len(value) > prop["maxLength"]:
        return False
    if prop.get("format") == "date":
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return False
    return True


def _object_accepts(schema: dict, value: str, definitions: dict) -> bool:
    return bool(fields_accepting(schema, value, definitions))


def fields_accepting(schema: dict, value: str, definitions: dict | None = None) -> list[str]:
    """The (nested) property names whose schema admits ``value`` typed as text."""
    definitions = definitions if definitions is not None else schema.get("definitions", {})
    return [name for name, prop in schema.get("properties", {}).items() if _accepts(prop, value, definitions)]
