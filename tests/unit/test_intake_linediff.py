"""services.intake.linediff: keyed line digests, and the facets that stand for each schema's uniqueness checks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from privacy.crypto import KeyRing
from services.intake import linediff
from services.intake.ingest import INPUT_FILES


def test_line_digests_are_keyed_by_the_key_ring():
    line = b"0100000001,2000000001,01,123456789012,\xe5\xb1\xb1\xe7\x94\xb0\xe3\x80\x80\xe5\xa4\xaa\xe9\x83\x8e"
    first, second = KeyRing.generate(), KeyRing.generate()
    key = linediff.line_key(first.index_key)
    assert len(key) == 16 and key == linediff.line_key(first.index_key)
    same = linediff.digest_values([line, line], key)
    assert same.dtype == np.uint64 and same[0] == same[1]
    assert linediff.digest_values([line], linediff.line_key(second.index_key))[0] != same[0]
    # Not pandas' default (unkeyed) hash of the same bytes.
    assert pd.util.hash_array(np.array([line], dtype=object), categorize=False)[0] != same[0]


def test_the_unique_facets_are_the_schemas_uniqueness_checks():
    for name, (file_name, schema, _) in INPUT_FILES.items():
        model = schema.to_schema()
        expected = set()
        if model.unique:
            expected.add(tuple(model.unique))
        expected |= {(column,) for column, spec in model.columns.items() if spec.unique}
        if name == "residents":
            expected.add(("my_number",))  # ResidentSchema.my_number_unique: a custom duplicate check
        facets = {linediff.FACETS[file_name][i] for i in linediff.UNIQUE[file_name]}
        assert facets == expected, file_name


def test_a_plan_skips_stored_lines_but_never_a_repeated_or_a_gaiji_line():
    key = linediff.line_key(KeyRing.generate().index_key)
    header = b"person_id,name"
    stored = [b"0000000001,a", b"0000000002,b", b"0000000003,\xee\x80\x80"]
    previous = linediff.file_lines("residents.csv", b"\n".join([header, *stored]) + b"\n", key)
    order = np.argsort(previous.digests)
    before = linediff.PreviousLines("sha", previous.header, previous.digests[order],
                                    np.arange(6, dtype=np.uint64).reshape(3, 2)[order])
    data = b"\n".join([header, b"0000000004,d", stored[0], stored[1], stored[1], stored[2]]) + b"\n"
    lines, body = linediff.plan("residents.csv", data, key, before, person_file=True)
    assert lines.skipped.tolist() == [False, True, False, False, False]
    assert lines.skipped_facets.tolist() == [[0, 1]]
    subset, numbers = linediff.subset_bytes(header, body, ~lines.skipped)
    assert subset.split(b"\n")[1:-1] == [b"0000000004,d", stored[1], stored[1], stored[2]]
    assert numbers.tolist() == [2, 4, 5, 6]
    # Another header (columns swapped): nothing is skipped.
    assert linediff.plan("residents.csv", b"name,person_id\n" + data.split(b"\n", 1)[1], key, before,
                         person_file=True) is None
