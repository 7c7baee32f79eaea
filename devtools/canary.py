"""Canary scanner: finds synthetic My Numbers and names wherever they must not be (SEC-01 … SEC-06).

Given the canaries (synthetic My Numbers and marker names/addresses), :class:`CanaryScanner` searches
bytes, files, directory trees and whole databases (through SQLAlchemy: every table, every column, so
SQLite overflow pages and PostgreSQL TOAST are no hiding place) for every form a value can take:

* My Number: ASCII digits, hyphenated ``1234-5678-9018``, spaced, full-width digits, JSON unicode
  escapes of the full-width form, in UTF-8, CP932 and UTF-16-LE; SHA-256/SHA-1/MD5 hex of the digits
  (an unkeyed hash of a 12-digit number is reversible, SEC-06);
* names and addresses: UTF-8, CP932, UTF-16-LE, JSON unicode escapes and URL percent-encoding.

:func:`find_my_number_like` additionally reports *any* check-digit-valid 12-digit run (not inside a hex
token such as a UUID), the "unknown canary" detector. Hits never contain the value: only its label.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_GENERIC = re.compile(
    r"(?<![0-9A-Za-z０-９_-])([0-9０-９]{4})([- ]?)([0-9０-９]{4})\2([0-9０-９]{4})(?![0-9A-Za-z０-９_-])"
)


@dataclass(frozen=True)
class Hit:
    """One finding: where, which canary (label only) and in which form."""

    where: str
    label: str
    form: str

    def __str__(self) -> str:
        return f"{self.where}: {self.label} ({self.form})"


def _encodings(text: str) -> dict[str, bytes]:
    out = {"utf-8": text.encode("utf-8"), "utf-16-le": text.encode("utf-16-le")}
    with contextlib.suppress(UnicodeEncodeError):
        out["cp932"] = text.encode("cp932")
    escaped = json.dumps(text)[1:-1]
    if escaped != text:
        out["json-escaped"] = escaped.encode("ascii")
    return out


def my_number_forms(number: str) -> dict[str, bytes]:
    """Every searched byte form of one My Number."""
    digits = number
    forms: dict[str, bytes] = {"digits": digits.encode()}
    hyphen = f"{digits[:4]}-{digits[4:8]}-{digits[8:]}"
    forms["hyphenated"] = hyphen.encode()
    forms["spaced"] = f"{digits[:4]} {digits[4:8]} {digits[8:]}".encode()
    for enc, data in _encodings(digits.translate(_FULLWIDTH)).items():
        forms[f"full-width/{enc}"] = data
    forms["utf-16-le"] = digits.encode("utf-16-le")
    for algo in ("sha256", "sha1", "md5"):
        hexed = hashlib.new(algo, digits.encode()).hexdigest()
        forms[f"{algo}-hex"] = hexed.encode()
        forms[f"{algo}-HEX"] = hexed.upper().encode()
    return forms


def text_forms(text: str) -> dict[str, bytes]:
    """Every searched byte form of a name or address."""
    forms = _encodings(text)
    quoted = urllib.parse.quote(text)
    if quoted != text:
        forms["url-encoded"] = quoted.encode("ascii")
    return forms


class CanaryScanner:
    """Search bytes, files and databases for canary My Numbers and names."""

    def __init__(self, my_numbers: Iterable[str] = (), texts: Iterable[str] = ()) -> None:
        self.patterns: list[tuple[str, str, bytes]] = []
        for n, number in enumerate(sorted(set(my_numbers))):
            for form, data in my_number_forms(number).items():
                self.patterns.append((f"my_number#{n}", form, data))
        for n, text in enumerate(sorted(set(texts))):
            for form, data in text_forms(text).items():
                self.patterns.append((f"text#{n}", form, data))
        self._by_first: dict[int, list[tuple[str, str, bytes]]] = {}
        for pattern in self.patterns:
            self._by_first.setdefault(pattern[2][0], []).append(pattern)
        alternatives = sorted({re.escape(p[2]) for p in self.patterns}, key=len, reverse=True)
        self._regex = re.compile(b"|".join(alternatives)) if alternatives else None
        self._lookup = {p[2]: p for p in self.patterns}

    # -- bytes and files -------------------------------------------------------------------------
    def scan_bytes(self, data: bytes, where: str) -> list[Hit]:
        """Hits in ``data`` (one per distinct canary form)."""
        if self._regex is None or not data:
            return []
        found = {}
        for match in self._regex.finditer(data):
            label, form, _ = self._lookup[match.group(0)]
            found[(label, form)] = Hit(where, label, form)
        return list(found.values())

    def scan_text(self, text: str, where: str) -> list[Hit]:
        """Hits in a str (searched as UTF-8)."""
        return self.scan_bytes(text.encode("utf-8", "surrogatepass"), where)

    def scan_file(self, path: Path) -> list[Hit]:
        """Hits in one file's bytes."""
        try:
            data = Path(path).read_bytes()
        except OSError:
            return []
        return self.scan_bytes(data, str(path))

    def scan_tree(self, root: Path, *, exclude: Callable[[Path], bool] | None = None) -> list[Hit]:
        """Hits in every file below ``root`` (``exclude(path)`` true = skipped)."""
        hits: list[Hit] = []
        root = Path(root)
        if not root.exists():
            return hits
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if exclude is not None and exclude(path):
                continue
            hits.extend(self.scan_file(path))
        return hits

    # -- databases -------------------------------------------------------------------------------
    def scan_database(self, engine, *, exclude_columns: Iterable[str] = (), label: str = "") -> list[Hit]:
        """Hits in every value of every table (``exclude_columns`` as ``table.column`` are skipped)."""
        from sqlalchemy import MetaData, select

        skip = set(exclude_columns)
        meta = MetaData()
        meta.reflect(engine)
        hits: list[Hit] = []
        prefix = label or engine.url.render_as_string(hide_password=True)
        with engine.connect() as conn:
            for table in meta.tables.values():
                columns = [c for c in table.columns if f"{table.name}.{c.name}" not in skip]
                if not columns:
                    continue
                for row in conn.execute(select(*columns)):
                    for column, value in zip(columns, row, strict=True):
                        if value is None:
                            continue
                        data = bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) else (
                            value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
                        ).encode("utf-8")
                        hits.extend(self.scan_bytes(data, f"{prefix}:{table.name}.{column.name}"))
        return _dedupe(hits)


def _dedupe(hits: list[Hit]) -> list[Hit]:
    return list(dict.fromkeys(hits))


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TWELVE_DIGITS = re.compile(r"(?<!\d)\d{12}(?!\d)")


def twelve_digit_runs(text: str) -> list[str]:
    """Every run of exactly 12 digits in ``text``, except the last group of a UUID (Prefect's ids).

    A UUID's last group is 12 hex digits, all decimal for about one UUID in 280: a page listing runs
    would otherwise look as if it showed a My Number.
    """
    return _TWELVE_DIGITS.findall(_UUID.sub(" ", text))


def find_my_number_like(text: str) -> int:
    """How many check-digit-valid 12-digit runs ``text`` holds (outside hex/identifier tokens)."""
    from rules.checkdigits import is_valid_my_number

    count = 0
    for match in _GENERIC.finditer(text):
        digits = (match.group(1) + match.group(3) + match.group(4)).translate(
            str.maketrans("０１２３４５６７８９", "0123456789"))
        if is_valid_my_number(digits):
            count += 1
    return count
