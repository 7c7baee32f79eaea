"""connectors.files: encodings, headers, row numbers and the manifest."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from connectors.files import InputFileError, file_sha256, read_input_csv, read_manifest

COLUMNS = ["person_id", "name", "birth_date"]
ROWS = "0000000001,佐藤　花子,2015-04-02\n0000000002,髙橋　一郎,2012-01-31\n"  # 髙 is a CP932 (NEC/IBM) kanji


def _write(path, text: str, encoding: str = "utf-8", bom: bool = False):
    data = text.encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        pytest.param("utf-8", False, id="utf-8 without BOM"),
        pytest.param("utf-8", True, id="utf-8 with BOM"),
        pytest.param("cp932", False, id="cp932 detected"),
    ],
)
def test_every_allowed_encoding_reads_the_same_strings_with_row_numbers(tmp_path, encoding, bom):
    path = _write(tmp_path / "residents.csv", "person_id,name,birth_date\n" + ROWS, encoding, bom)

    frame = read_input_csv(path, COLUMNS)

    assert list(frame.columns) == [*COLUMNS, "source_row"]
    assert frame["name"].tolist() == ["佐藤　花子", "髙橋　一郎"]
    assert frame["person_id"].tolist() == ["0000000001", "0000000002"]  # leading zeros kept
    assert frame["source_row"].tolist() == [2, 3]
    assert str(frame["source_row"].dtype) == "int64"


def test_empty_cells_are_missing_and_blank_lines_keep_the_numbering(tmp_path):
    text = "person_id,name,birth_date\n0000000001,,2015-04-02\n\n0000000003,鈴木　葵,\n"
    frame = read_input_csv(_write(tmp_path / "residents.csv", text), COLUMNS)

    assert frame["source_row"].tolist() == [2, 4]
    assert pd.isna(frame.loc[0, "name"]) and pd.isna(frame.loc[1, "birth_date"])


def test_declared_utf8_with_an_undecodable_byte_names_file_and_line(tmp_path):
    data = "person_id,name,birth_date\n0000000001,佐藤,2015-04-02\n".encode() + b"0000000002,\xff\xfe,2012-01-31\n"
    path = tmp_path / "residents.csv"
    path.write_bytes(data)

    with pytest.raises(InputFileError) as error:
        read_input_csv(path, COLUMNS, encoding="utf-8")

    assert error.value.file == "residents.csv" and error.value.line == 3
    assert "residents.csv" in str(error.value) and "line 3" in str(error.value)


def test_manifest_declared_encoding_is_used_and_enforced(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"encoding": "utf-8"}))
    path = _write(tmp_path / "residents.csv", "person_id,name,birth_date\n" + ROWS, "cp932")

    with pytest.raises(InputFileError) as error:
        read_input_csv(path, COLUMNS)

    assert error.value.line == 2
    (tmp_path / "manifest.json").write_text(json.dumps({"encoding": "cp932"}))
    assert read_input_csv(path, COLUMNS)["name"].tolist() == ["佐藤　花子", "髙橋　一郎"]


def test_utf8_file_with_a_broken_byte_is_an_error_not_cp932_mojibake(tmp_path):
    # Valid UTF-8 Japanese on line 2 also decodes as CP932 (as mojibake); the broken byte on line 3
    # must not make the reader fall back to CP932.
    head = "person_id,name,birth_date\n0000000001,佐藤　花子,2015-04-02\n".encode()
    data = head + b"0000000002,\xe4\xbd,2012-01-31\n"
    path = tmp_path / "residents.csv"
    path.write_bytes(data)

    with pytest.raises(InputFileError) as error:
        read_input_csv(path, COLUMNS)

    assert error.value.line == 3


def test_bytes_valid_in_no_encoding_are_an_error_with_the_line(tmp_path):
    path = tmp_path / "tax.csv"
    path.write_bytes(b"person_id,name,birth_date\n0000000001,ab,2015-04-02\n0000000002,\x80\xff,2012-01-31\n")

    with pytest.raises(InputFileError) as error:
        read_input_csv(path, COLUMNS)

    assert (error.value.file, error.value.line) == ("tax.csv", 3)
    assert "neither" in error.value.problem


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("person_id,birth_date", "missing columns: name", id="a missing column is named"),
        pytest.param("person_id,name,birth_date,phone", "unexpected columns: phone", id="an extra column is named"),
        pytest.param("person_id,name,name,birth_date", "duplicated columns: name", id="a duplicated column is named"),
    ],
)
def test_the_header_must_hold_exactly_the_documented_columns(tmp_path, header, expected):
    width = len(header.split(","))
    path = _write(tmp_path / "residents.csv", header + "\n" + ",".join(["x"] * width) + "\n")

    with pytest.raises(InputFileError) as error:
        read_input_csv(path, COLUMNS)

    assert expected in error.value.problem and error.value.line == 1
    assert "x" not in error.value.problem.replace("unexpected", "")  # no cell values


def test_columns_in_another_order_are_accepted_and_returned_in_documented_order(tmp_path):
    path = _write(tmp_path / "residents.csv", "name,birth_date,person_id\n佐藤　花子,2015-04-02,0000000001\n")

    frame = read_input_csv(path, COLUMNS)

    assert list(frame.columns) == [*COLUMNS, "source_row"]
    assert frame.iloc[0].tolist() == ["0000000001", "佐藤　花子", "2015-04-02", 2]


@pytest.mark.parametrize("bad_line", [2, 3], ids=["first data row", "later row"])
def test_a_row_with_too_many_fields_rejects_the_file_naming_the_line(tmp_path, bad_line):
    rows = ["0000000001,a,2015-04-02", "0000000002,b,2012-01-31"]
    rows[bad_line - 2] += ",extra"
    path = _write(tmp_path / "residents.csv", "person_id,name,birth_date\n" + "\n".join(rows) + "\n")

    with pytest.raises(InputFileError) as error:
        read_input_csv(path, COLUMNS)

    assert error.value.line == bad_line and "4 fields" in error.value.problem


def test_a_short_row_gets_missing_values(tmp_path):
    path = _write(tmp_path / "residents.csv", "person_id,name,birth_date\n0000000001,a\n")

    frame = read_input_csv(path, COLUMNS)

    assert pd.isna(frame.loc[0, "birth_date"])


def test_manifest_is_optional_and_checked(tmp_path):
    assert read_manifest(tmp_path) == {}
    (tmp_path / "manifest.json").write_text('{"encoding": "Shift_JIS", "extract_date": "2026-10-31"}')
    assert read_manifest(tmp_path) == {"encoding": "cp932", "extract_date": "2026-10-31"}
    (tmp_path / "manifest.json").write_text('{"encoding": "latin-1"}')
    with pytest.raises(InputFileError):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"extract_date": "2026-02-30"}')
    with pytest.raises(InputFileError):
        read_manifest(tmp_path)


def test_file_sha256_is_the_hex_digest_of_the_bytes(tmp_path):
    path = _write(tmp_path / "tax.csv", "person_id\n0000000001\n")
    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_cp932_user_defined_characters_are_kept_exactly(tmp_path):
    # Issue 10: 外字 (F040-F9FC) are text in real 住記 extracts; kept as U+E000-U+E757 (services.intake.gaiji).
    path = tmp_path / "residents.csv"
    head = "person_id,name,birth_date\n0000000001,佐藤,2015-04-02\n".encode("cp932")
    path.write_bytes(head + b"0000000002,\xf0\x40\xf9\xfc,2012-01-31\n")

    frame = read_input_csv(path, COLUMNS, encoding="cp932")

    assert frame["name"].tolist() == ["佐藤", "\ue000\ue757"]


def test_cp932_bytes_that_are_no_character_are_rejected_not_passed_on(tmp_path):
    path = tmp_path / "residents.csv"
    head = "person_id,name,birth_date\n0000000001,佐藤,2015-04-02\n".encode("cp932")
    path.write_bytes(head + b"0000000002,\xa0\x80,2012-01-31\n")  # 0xA0, 0x80: undefined single bytes

    with pytest.raises(InputFileError) as error:
        read_input_csv(path, COLUMNS, encoding="cp932")

    assert error.value.line == 3


def test_a_file_without_header_row_is_rejected_without_showing_its_data(tmp_path):
    path = _write(tmp_path / "residents.csv", ROWS)

    with pytest.raises(InputFileError) as error:
        read_input_csv(path, COLUMNS)

    message = str(error.value)
    assert "missing columns: person_id, name, birth_date" in message and "header row missing" in message
    assert "0000000001" not in message and "佐藤" not in message and "2015" not in message
