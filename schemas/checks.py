"""Shared building blocks of the input schemas: code lists, formats and vectorised checks.

Code values come from docs/architecture.md ("Input files"); formats from docs/formats/*.md.
Every custom check is vectorised (a boolean Series per column or per row, never per element) so
that a 400k-row file validates in seconds.

Custom checks are registered in :data:`CHECKS` with the column they blame and a reason text; the
quarantine table (:mod:`schemas.validate`) reports those, never the failing values.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.extensions as extensions
import pandera.pandas as pa

#: 続柄: 01 世帯主, 02 配偶者, 03 子, 04 父母, 05 その他親族, 09 その他.
RELATIONSHIP_CODES = ["01", "02", "03", "04", "05", "09"]
#: 性別 (PMH basicFiveInfo.sex): 1 男, 2 女.
SEX_CODES = ["1", "2"]
#: 住民基本台帳 支援措置 (DV等支援対象者): 0 no, 1 yes.
FLAG_CODES = ["0", "1"]
#: 異動事由 classes (住民記録システム標準仕様書 1.2.2).
EVENT_CODES = ["A1", "A2", "A3", "A9", "D1", "D2", "D3", "D9", "M1", "M2", "M3", "M9"]
#: 本人/家族 区分 of the insured child: 1 本人, 2 家族.
INSURED_TYPE_CODES = ["1", "2"]

#: 宛名番号 (person_id) and 世帯番号 (household_id): 10 ASCII digits.
ID10 = r"[0-9]{10}"
#: Record ids (event_id, case_id, application_id): 1-20 ASCII letters, digits or hyphens.
RECORD_ID = r"[0-9A-Za-z-]{1,20}"
#: フリガナ: full-width katakana, prolonged sound mark, middle dot and spaces (full or half width).
KANA = r"[ァ-ヶー・　 ]+"
#: 個人番号: 12 ASCII digits (the check digit is a separate check).
MY_NUMBER = r"[0-9]{12}"
#: 保険者番号: 8 digits, or 6 digits for 市町村国保.
INSURER_NUMBER = r"[0-9]{6}|[0-9]{8}"

#: Field metadata key of a date column where 9999-12-31 is the sender's "no end": it is read as missing
#: (= open-ended). Elsewhere 9999-12-31 is an impossible date and quarantined (schemas.validate).
OPEN_END = "open_end"
#: The conventional "no end date" of Japanese municipal and insurance systems.
OPEN_END_DATE = "9999-12-31"

#: The earliest plausible date in any file.
MIN_DATE = pd.Timestamp("1900-01-01")

#: Control characters: C0 (NUL, BEL, TAB, LF, CR, ESC, ...), DEL, C1 (U+0080-U+009F, e.g. NEL U+0085) and
#: the Unicode line/paragraph separators. Names and addresses never hold them, whatever the file's encoding.
CONTROL_CHARACTERS = r"[\x00-\x1f\x7f-\x9f\u2028\u2029]"


def free_of_control_characters(values: pd.Series) -> pd.Series:
    """True where the text holds no control character (missing values pass)."""
    return ~values.astype("string").str.contains(CONTROL_CHARACTERS, regex=True).fillna(False).astype(bool)


def flag_to_bool(values: pd.Series) -> pd.Series:
    """Parse a validated 0/1 flag column (``FLAG_CODES``) into booleans: ``"1"`` → True, ``"0"`` → False.

    The one place a text flag becomes a boolean. ``.astype(bool)`` on text is never right: ``bool("0")``
    is True, which once marked every person as 支援措置 (issue 10). Already-boolean columns pass
    unchanged; any other value (a missing flag, "2", "yes") raises ``ValueError`` because the schema
    should have quarantined it before this point.
    """
    if pd.api.types.is_bool_dtype(values):
        return values.astype(bool)
    text = values.astype("string")
    known = text.isin(FLAG_CODES).fillna(False)
    if not bool(known.all()):
        raise ValueError(f"{int((~known).sum())} flag value(s) are not one of {FLAG_CODES}")
    return text.eq("1").astype(bool)


def nonmatching(values: np.ndarray, pattern: str) -> np.ndarray:
    """True for each non-empty string that does not fully match ``pattern`` (no anchors needed).

    One C-level regex scan over the values joined by newlines instead of one Python call per value
    (about ten times faster on a million rows). Values holding a newline fall back to per-value
    matching. ``""`` means missing and never fails.
    """
    joined = "\n".join(values)
    bad = np.zeros(len(values), dtype=bool)
    if joined.count("\n") != max(len(values) - 1, 0):
        compiled = re.compile(pattern)
        return np.array([v != "" and compiled.fullmatch(v) is None for v in values], dtype=bool)
    scanner = re.compile(rf"(?m)^(?!(?:{pattern})$)[^\n]+")
    line, position = 0, 0
    for match in scanner.finditer(joined):
        line += joined.count("\n", position, match.start())
        position = match.start()
        bad[line] = True
    return bad


@extensions.register_check_method(statistics=["pattern"], supported_types=[pd.Series])
def matches_format(values: pd.Series, *, pattern: str) -> pd.Series:
    """Vectorised full match of every (non-missing) value against ``pattern``."""
    text = values.to_numpy(dtype=object, na_value="")
    text = np.array([v if isinstance(v, str) else str(v) for v in text], dtype=object) if (
        values.dtype == object) else text
    return pd.Series(~nonmatching(text, pattern), index=values.index)


_reference_date: contextvars.ContextVar[pd.Timestamp | None] = contextvars.ContextVar(
    "schemas_reference_date", default=None
)


def reference_date() -> pd.Timestamp:
    """The date the files describe (manifest ``extract_date``); today when none is set."""
    value = _reference_date.get()
    return value if value is not None else pd.Timestamp(dt.date.today())


@contextlib.contextmanager
def using_reference_date(value: str | dt.date | pd.Timestamp | None) -> Iterator[None]:
    """Within the block, "in the future" means after ``value`` (``None`` = today)."""
    token = _reference_date.set(None if value is None else pd.Timestamp(value).normalize())
    try:
        yield
    finally:
        _reference_date.reset(token)


@dataclass(frozen=True)
class CheckInfo:
    """What a custom check means in the quarantine table."""

    columns: tuple[str, ...]
    reason: str


#: Custom check name → blamed column(s) and reason. Filled by :func:`row_check` / :func:`column_check`.
CHECKS: dict[str, CheckInfo] = {}


def row_check(name: str, columns: tuple[str, ...], reason: str):
    """Declare a vectorised cross-column check (``@pa.dataframe_check``) blaming ``columns``.

    The decorated classmethod returns a boolean Series, True for good rows. A row where a compared
    value is missing passes (a missing required value is reported by ``not_nullable``).
    """
    CHECKS[name] = CheckInfo(columns, reason)
    return pa.dataframe_check(name=name)


def column_check(column: str, name: str, reason: str):
    """Declare a vectorised single-column check (``@pa.check``); missing values are not checked."""
    CHECKS[name] = CheckInfo((column,), reason)
    return pa.check(column, name=name)


def not_after_reference(values: pd.Series) -> pd.Series:
    """True where the date is not after the file's reference date (missing values pass)."""
    return ~(values > reference_date())


def not_before(later: pd.Series, earlier: pd.Series) -> pd.Series:
    """True where ``later`` is not before ``earlier``; a row with a missing side passes."""
    return ~(later < earlier).fillna(False).astype(bool)
