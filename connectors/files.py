"""File connector: read the inbox CSV files (docs/formats/*.md) and the run manifest.

Every input file is a comma-separated CSV with a header row, encoded as UTF-8 (with or without a
BOM) or CP932. The encoding is either declared (an argument, or ``{"encoding": ...}`` in the
``manifest.json`` next to the file) or detected: strict UTF-8 first, then strict CP932. A file
that decodes in neither (or not in its declared encoding) is rejected with :class:`InputFileError`
naming the file and the line of the first undecodable byte, so a wrongly encoded file can never
turn into mojibake downstream.

Errors carry only the file name, a problem description with column names and a line number,
never cell values (names, My Numbers and addresses must not reach logs or Prefect state).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from schemas.codes import SOURCE_ROW

MANIFEST_NAME = "manifest.json"
#: Manifest key of the sender's control totals: ``{"residents.csv": {"rows": 123, "sha256": "..."}, ...}``.
CONTROL_TOTALS = "files"

#: Canonical encoding names accepted in ``manifest.json`` or as an argument, by alias.
_ENCODING_ALIASES = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "utf-8-sig": "utf-8",
    "utf_8": "utf-8",
    "cp932": "cp932",
    "ms932": "cp932",
    "windows-31j": "cp932",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
}
_BOM = b"\xef\xbb\xbf"
_COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")


class InputFileError(Exception):
    """An input file that cannot be read as documented (encoding, header, structure).

    Attributes:
        file: the file name (no directory), e.g. ``residents.csv``.
        problem: what is wrong, with column names where relevant; never cell values.
        line: 1-based line number in the file (header = line 1), or ``None`` for whole-file problems.
    """

    #: The message holds a file name, column names and a line number only: privacy.errors lets it through
    #: whole to the CLI and the Prefect state message (an operator must be able to act on it).
    safe_message = True
    #: Not transient: the file must be fixed by its sender, so retrying the task cannot help.
    transient = False

    def __init__(self, file: str, problem: str, line: int | None = None) -> None:
        self.file = file
        self.problem = problem
        self.line = line
        where = f" (line {line})" if line is not None else ""
        super().__init__(f"{file}{where}: {problem}")

    def __reduce__(self):
        # Prefect pickles exceptions into task states: rebuild from the three fields, not from args.
        return (type(self), (self.file, self.problem, self.line))


def normalise_encoding(encoding: str) -> str:
    """Return ``"utf-8"`` or ``"cp932"`` for a declared encoding name, else raise ``ValueError``."""
    key = encoding.strip().lower().replace(" ", "")
    if key not in _ENCODING_ALIASES:
        raise ValueError(f"unsupported encoding {encoding!r}: use utf-8 or cp932")
    return _ENCODING_ALIASES[key]


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """Read ``manifest.json`` of an inbox directory; ``{}`` when there is none.

    The manifest may declare ``encoding`` (``utf-8`` or ``cp932``), ``extract_date`` (``YYYY-MM-DD``,
    the date of the 住民票 extract) and, for synthetic data, ``generator_seed``.

    Raises:
        InputFileError: the manifest is not a JSON object, or declares an unknown encoding or a
            malformed extract date.
    """
    path = Path(directory) / MANIFEST_NAME
    if not path.exists():
        return {}
    if not path.is_file():
        raise InputFileError(MANIFEST_NAME, "is not a regular file (a directory?)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(MANIFEST_NAME, f"not valid UTF-8 JSON ({type(exc).__name__})") from None
    except RecursionError:
        raise InputFileError(MANIFEST_NAME, "JSON nested too deeply (expected one flat object)") from None
    if not isinstance(manifest, dict):
        raise InputFileError(MANIFEST_NAME, "must be a JSON object")
    if "encoding" in manifest:
        try:
            manifest["encoding"] = normalise_encoding(str(manifest["encoding"]))
        except ValueError:
            raise InputFileError(MANIFEST_NAME, "unsupported encoding: use utf-8 or cp932") from None
    if "extract_date" in manifest:
        text = str(manifest["extract_date"])
        if (not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) or not "1900" <= text[:4] <= "2261"
                or pd.isna(pd.to_datetime(text, errors="coerce"))):
            raise InputFileError(MANIFEST_NAME, "extract_date must be a date YYYY-MM-DD between 1900 and 2261")
    if CONTROL_TOTALS in manifest:
        _check_control_totals(manifest[CONTROL_TOTALS])
    return manifest


def _check_control_totals(totals: object) -> None:
    problem = f"{CONTROL_TOTALS} must map file names to {{\"rows\": integer >= 0, \"sha256\": 64 hex digits}}"
    if not isinstance(totals, dict):
        raise InputFileError(MANIFEST_NAME, problem)
    for stated in totals.values():
        if not isinstance(stated, dict):
            raise InputFileError(MANIFEST_NAME, problem)
        rows, sha256 = stated.get("rows", 0), stated.get("sha256", "0" * 64)
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
            raise InputFileError(MANIFEST_NAME, problem)
        if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
            raise InputFileError(MANIFEST_NAME, problem)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (recorded per run as the input checksum)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _line_of(raw: bytes, position: int) -> int:
    return raw.count(b"\n", 0, position) + 1


#: What Python's cp932 codec yields for bytes that are no text: single bytes 0x80 (C1 control) and 0xA0,
#: 0xFD-0xFF (private use U+F8F0-U+F8F3). 外字 — the user-defined area F040-F9FC, decoded to U+E000-U+E757 —
#: is text: real 住記 extracts hold it, and it is kept exactly (services.intake.gaiji maps known ones).
_UNMAPPED = re.compile("[\x80-\x9f\ue758-\uf8ff]")


def _reject_unmapped(text: str, name: str, problem: str) -> bytes:
    """Raise on unmapped characters; return ``text`` as UTF-8 (for the C parser)."""
    data = text.encode("utf-8")
    # Those characters encode with a lead byte C2, EE or EF: a fast byte search rules out most files.
    if data.find(b"\xc2") >= 0 or data.find(b"\xee") >= 0 or data.find(b"\xef") >= 0:
        found = _UNMAPPED.search(text)
        if found:
            raise InputFileError(name, problem, text.count("\n", 0, found.start()) + 1)
    return data


def _utf8_bytes(raw: bytes) -> bytes | memoryview:
    return memoryview(raw)[len(_BOM) :] if raw.startswith(_BOM) else raw


def _decode(raw: bytes, name: str, encoding: str | None) -> tuple[str, bytes | memoryview]:
    """Decode strictly in the declared encoding, or detect UTF-8 (BOM optional) then CP932.

    Returns the text and its UTF-8 bytes (the file's own bytes, BOM dropped, when it is UTF-8).
    """
    if encoding is not None:
        try:
            declared = normalise_encoding(encoding)
        except ValueError:
            raise InputFileError(name, "unsupported declared encoding: use utf-8 or cp932") from None
        codec = "utf-8-sig" if declared == "utf-8" else "cp932"
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError as exc:
            raise InputFileError(
                name, f"bytes that are not valid {declared} (declared encoding)", _line_of(raw, exc.start)
            ) from None
        if declared == "cp932":
            return text, _reject_unmapped(text, name, "bytes that are not valid cp932 text (declared encoding)")
        return text, _utf8_bytes(raw)
    try:
        return raw.decode("utf-8-sig"), _utf8_bytes(raw)
    except UnicodeDecodeError as utf8_error:
        utf8_start = utf8_error.start
    # Multi-byte UTF-8 before the first bad byte (or a BOM) means this is a UTF-8 file with a
    # broken byte; CP932 would "succeed" on it and produce mojibake, so report the UTF-8 error.
    if raw.startswith(_BOM) or not raw[:utf8_start].isascii():
        raise InputFileError(name, "bytes that are not valid utf-8", _line_of(raw, utf8_start))
    try:
        text = raw.decode("cp932")
    except UnicodeDecodeError as cp932_error:
        position = max(utf8_start, cp932_error.start)
        raise InputFileError(
            name, "bytes that are valid neither in utf-8 nor in cp932", _line_of(raw, position)
        ) from None
    return text, _reject_unmapped(text, name, "bytes that are valid neither in utf-8 nor in cp932")


def _check_header(header: list[str], columns: list[str], name: str) -> None:
    duplicated = sorted({c for c in header if header.count(c) > 1 and c in columns})
    missing = [c for c in columns if c not in header]
    unexpected = [c for c in header if c not in columns]
    # Only name header cells that look like column names: a file without a header row would
    # otherwise put personal data (its first record) into the error message.
    named = [c for c in unexpected if _COLUMN_NAME.fullmatch(c)]
    problems = []
    if missing:
        problems.append("missing columns: " + ", ".join(missing))
    if named:
        problems.append("unexpected columns: " + ", ".join(named))
    if len(named) < len(unexpected):
        problems.append(
            f"{len(unexpected) - len(named)} header cells that are not column names (is the header row missing?)"
        )
    if duplicated:
        problems.append("duplicated columns: " + ", ".join(duplicated))
    if problems:
        raise InputFileError(name, "; ".join(problems), 1)


def read_input_csv(path: str | Path, columns: list[str], encoding: str | None = None) -> pd.DataFrame:
    """Read one inbox CSV as strings, with ``source_row`` = its row number in the file.

    Args:
        path: the CSV file.
        columns: the documented columns (docs/formats/<file>.md). The header must hold exactly
            these names (any order; the frame comes back in this order). Reading only what the
            format documents is the data-minimisation rule: an extra column is an error, not ignored.
        encoding: ``utf-8`` or ``cp932``; default: the manifest's ``encoding``, else detected.

    Returns:
        A frame of ``str`` columns (empty cell → missing) plus ``source_row`` (int64; the header is
        row 1, so the first data row is 2). Blank lines and rows whose every cell is empty are
        skipped; their numbers are not reused. A row with fewer fields than the header gets
        missing values (caught by the schemas); a row with more fields rejects the file.

    Raises:
        InputFileError: undecodable bytes, a header that differs from ``columns``, or a row with
            too many fields. The message names the file, the columns and the line, never values.
    """
    path = Path(path)
    if encoding is None:
        encoding = read_manifest(path.parent).get("encoding")
    return read_csv_bytes(_read_bytes(path), path.name, columns, encoding)


def read_csv_bytes(raw: bytes, name: str, columns: list[str], encoding: str | None) -> pd.DataFrame:
    """:func:`read_input_csv` of a file's bytes (``name`` for messages); ``encoding`` None: detected."""
    text, data = _decode(raw, name, encoding)
    if not text.strip():
        raise InputFileError(name, "the file is empty (no header row)", 1)

    end = text.find("\n")
    first_line = (text if end < 0 else text[:end]).removesuffix("\r")
    if "\r" in first_line:
        raise InputFileError(name, "line ends are CR only (old Mac format): use LF or CRLF line ends", 1)
    try:
        header = next(csv.reader([first_line], strict=True))
    except csv.Error:
        raise InputFileError(name, "the header row is not readable CSV (unbalanced quote)", 1) from None
    _check_header(header, columns, name)

    extra = "\x00extra"
    frame: pd.DataFrame | None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            # The C parser reads UTF-8 natively, much faster than from a str: hand it UTF-8 bytes.
            frame = pd.read_csv(
                io.BytesIO(data),
                engine="c",
                encoding="utf-8",
                header=None,
                skiprows=1,
                names=[*header, extra],
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                skip_blank_lines=False,
                index_col=False,
            )
    except (pd.errors.ParserError, pd.errors.ParserWarning):
        frame = None
    unreadable = _no_lines()
    if frame is None or frame[extra].notna().any() or len(frame) != _physical_data_lines(text):
        # Slow path, only for a malformed file. A record spanning several physical lines (a stray quote
        # opened a field that a later line closed) or a bare CR: names and addresses never hold line
        # breaks, so each physical line is read on its own. A row with too many fields rejects the file.
        frame, unreadable = _read_line_by_line(text, header, name)
    else:
        frame[SOURCE_ROW] = pd.RangeIndex(2, len(frame) + 2, dtype="int64")
    blank = frame[header].isna().all(axis=1)
    if blank.any():
        frame = frame.loc[~blank]
    frame = frame[[*columns, SOURCE_ROW]].reset_index(drop=True)
    frame.attrs[UNREADABLE_LINES] = unreadable
    return frame


#: ``frame.attrs`` key of :func:`read_input_csv`: the physical lines that are no CSV record, as a tuple of
#: ``(line, problem)`` pairs (a tuple, so that pandas can compare and carry it through concat/merge).
UNREADABLE_LINES = "unreadable_lines"


def _no_lines() -> tuple[tuple[int, str], ...]:
    return ()


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise InputFileError(path.name, "the file is missing")
    if not path.is_file():
        raise InputFileError(path.name, "is not a regular file (a directory?)")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputFileError(path.name, f"cannot be read ({type(exc).__name__})") from None


def _physical_data_lines(text: str) -> int:
    """Lines after the header, as the C parser counts them (a final line end opens no new line)."""
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    return lines - 1


def _read_line_by_line(text: str, header: list[str], name: str) -> tuple[pd.DataFrame, tuple[tuple[int, str], ...]]:
    """Slow path: parse each physical line on its own; a line that is no complete record is unreadable.

    Returns the records (strings, ``source_row`` = the physical line) and the unreadable lines with their
    problem. A quote that is not closed on its line, or a bare CR inside a line, makes only that line
    unreadable: the lines after it are read as the records they are, so nobody vanishes into an address.
    """
    width = len(header)
    records: list[list[str | None]] = []
    numbers: list[int] = []
    unreadable: list[tuple[int, str]] = []
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    for number, line in enumerate(lines[1:], start=2):
        line = line.removesuffix("\r")
        if "\r" in line:
            unreadable.append((number, "a CR (line break) inside the line"))
            continue
        try:
            fields = next(csv.reader([line], strict=True), [])
        except csv.Error:
            unreadable.append((number, 'unbalanced or misplaced quote (") in the line'))
            continue
        if len(fields) == width + 1 and fields[-1] == "":
            fields = fields[:-1]
        if len(fields) > width:
            raise InputFileError(name, f"row has {len(fields)} fields, expected {width}", number)
        records.append([f if f != "" else None for f in fields] + [None] * (width - len(fields)))
        numbers.append(number)
    frame = pd.DataFrame(records, columns=header, dtype=object).astype("str") if records else pd.DataFrame(
        {c: pd.Series(dtype="str") for c in header})
    frame[SOURCE_ROW] = pd.Series(numbers, dtype="int64")
    return frame, tuple(unreadable)
