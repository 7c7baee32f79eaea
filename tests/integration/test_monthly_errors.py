"""Issue 10: a file the operator must fix reaches the CLI and the Prefect state whole, without retries."""

from __future__ import annotations

import pickle

import pytest

from connectors.files import InputFileError, read_input_csv, read_manifest
from privacy.errors import sanitise_exception
from schemas import INPUT_COLUMNS
from services.intake import ingest


def test_input_file_error_passes_the_sanitiser_and_pickles_whole():
    error = InputFileError("residents.csv", "missing columns: birth_date", 1)
    assert sanitise_exception(error, stage="load_inbox") is error
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.file, copy.problem, copy.line, str(copy)) == (
        "residents.csv", "missing columns: birth_date", 1, "residents.csv (line 1): missing columns: birth_date")


def _write(path, text: str, encoding: str = "utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


COLUMNS = INPUT_COLUMNS["welfare.csv"]
GOOD = "case_id,household_id,start_date,end_date\nC1,0000000001,2024-01-01,\nC2,0000000002,2024-02-01,\n"


def test_cr_only_line_ends_are_a_file_error(tmp_path):
    path = _write(tmp_path / "welfare.csv", GOOD.replace("\n", "\r"))
    with pytest.raises(InputFileError, match="CR only") as caught:
        read_input_csv(path, COLUMNS)
    assert caught.value.line == 1


def test_an_inbox_entry_that_is_a_directory_is_a_file_error(tmp_path):
    (tmp_path / "inbox").mkdir()
    _write(tmp_path / "inbox" / "residents.csv", "x")  # never read: welfare.csv comes first here
    (tmp_path / "inbox" / "welfare.csv").mkdir()
    with pytest.raises(InputFileError, match="not a regular file") as caught:
        ingest.read_inbox(tmp_path / "inbox", names=["welfare"])
    assert caught.value.file == "welfare.csv"


def test_a_deeply_nested_manifest_is_a_file_error(tmp_path):
    _write(tmp_path / "manifest.json", "[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputFileError, match="nested too deeply"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").unlink()
    (tmp_path / "manifest.json").mkdir()
    with pytest.raises(InputFileError, match="not a regular file"):
        read_manifest(tmp_path)


def test_missing_events_directory_is_a_file_error(tmp_path):
    from services.movein import steps

    with pytest.raises(InputFileError, match="no events file"):
        steps.pending_event_files(str(tmp_path / "absent"))


@pytest.fixture
def inbox(tmp_path):
    from devtools.generate import generate_dataset

    directory = tmp_path / "inbox"
    generate_dataset(directory, children=30, seed=3, as_of="2026-10-31", bad_row_share=0.0)
    return directory


def _drop_column(directory, file_name: str, column: str) -> None:
    lines = (directory / file_name).read_text(encoding="utf-8").splitlines()
    position = lines[0].split(",").index(column)
    rows = [",".join(c for i, c in enumerate(line.split(",")) if i != position) for line in lines]
    (directory / file_name).write_text("\n".join(rows) + "\n", encoding="utf-8")


def _add_field(directory, file_name: str, line: int) -> None:
    lines = (directory / file_name).read_text(encoding="utf-8").splitlines()
    lines[line - 1] += ",extra,extra"
    (directory / file_name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _bad_encoding(directory, file_name: str) -> None:
    data = (directory / file_name).read_bytes()
    (directory / file_name).write_bytes(data.replace(b"\n", b"\n\xff", 1))


@pytest.mark.integration
@pytest.mark.parametrize(("breakage", "expected"), [
    (lambda d: _drop_column(d, "residents.csv", "birth_date"), "residents.csv (line 1): missing columns: birth_date"),
    (lambda d: _add_field(d, "tax.csv", 4), "tax.csv (line 4): row has"),
    (lambda d: _bad_encoding(d, "insurance.csv"), "insurance.csv (line 2): bytes that are not valid utf-8"),
], ids=["missing-column", "too-many-fields", "bad-encoding"])
def test_a_file_error_reaches_the_flow_state_and_the_cli_whole_without_retry(
        prefect_harness, kodomo_env, inbox, breakage, expected, capsys, monkeypatch):
    from cli.main import main
    from flows.monthly import monthly_run

    breakage(inbox)
    calls = []
    real_load = ingest.load_inbox
    monkeypatch.setattr(ingest, "load_inbox", lambda *args: calls.append(args) or real_load(*args))

    state = monthly_run(month="2026-10", inbox=str(inbox), operator_id="demo-operator", sync_pmh=False,
                        return_state=True)
    assert state.is_failed()
    assert expected in (state.message or "") and "INTERNAL" not in state.message
    with pytest.raises(InputFileError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        state.result()
    assert len(calls) == 1  # a file error is not transient: no retry

    code = main(["monthly", "--month", "2026-10", "--inbox", str(inbox), "--operator", "demo-operator"])
    err = capsys.readouterr().err
    assert code == 1 and expected in err and "INTERNAL" not in err
