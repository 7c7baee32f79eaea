"""外字: the user-defined characters of 住記 extracts, kept exactly and mapped where the city knows them.

CP932 reserves F040–F9FC for user-defined characters (外字); they decode to Unicode's private use area
U+E000–U+E757, and a UTF-8 file carries the same code points. A name written with 外字 is the person's legal
name: the pipeline never drops or replaces such a character silently. It maps each one through the city's
外字 table (a CSV file, docs/formats/gaiji.md) to the standard character (or base character + IVS) registered
for it; a 外字 the table does not know stays exactly as it is, and the run summary lists the persons whose
name or address still holds one (by masked 宛名番号 and count) so that staff can register it.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from connectors.files import InputFileError
from schemas.validate import mask_value

#: The table shipped with the code (synthetic examples); a city's own table replaces it.
DEFAULT_TABLE = Path(__file__).with_name("gaiji.csv")
#: The private-use code points that CP932 外字 (F040–F9FC) decode to.
GAIJI = "[\ue000-\ue757]"
_GAIJI = re.compile(GAIJI)
#: Columns of a person that may hold 外字.
TEXT_COLUMNS = ("name", "name_kana", "address")
#: Frames whose rows are persons.
PERSON_FRAMES = ("residents", "resident_events")


@dataclass(frozen=True)
class GaijiTable:
    """外字 code point → the standard character(s) registered for it."""

    mapping: dict[str, str]
    source: str

    def translate(self, series: pd.Series) -> pd.Series:
        """Replace every registered 外字; unregistered ones stay exactly as they are."""
        if not self.mapping:
            return series
        table = str.maketrans(self.mapping)
        has = series.astype("string").str.contains(GAIJI, regex=True).fillna(False).to_numpy(dtype=bool)
        if not has.any():
            return series
        out = series.copy()
        out[has] = [value.translate(table) for value in series[has]]
        return out


def load_table(path: str | Path | None = None) -> GaijiTable:
    """Read a 外字 table (``unicode,cp932,standard,description``); the shipped one when ``path`` is absent.

    Raises:
        InputFileError: a row whose ``unicode`` is not a 外字 code point (U+E000–U+E757), whose ``cp932``
            does not encode it, or whose ``standard`` is empty or itself holds 外字.
    """
    path = Path(path) if path is not None and Path(path).is_file() else DEFAULT_TABLE
    mapping: dict[str, str] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            try:
                character = chr(int(row["unicode"].strip().upper().removeprefix("U+"), 16))
                if not _GAIJI.fullmatch(character):
                    raise ValueError
                if row.get("cp932") and character.encode("cp932").hex().upper() != row["cp932"].strip().upper():
                    raise ValueError
            except (ValueError, KeyError, AttributeError, UnicodeEncodeError):
                raise InputFileError(path.name, "unicode must be U+E000..U+E757 and match cp932 F040..F9FC",
                                     line) from None
            standard = (row.get("standard") or "").strip()
            if not standard or _GAIJI.search(standard):
                raise InputFileError(path.name, "standard must be the registered standard character(s)", line)
            mapping[character] = standard
    return GaijiTable(mapping, path.name)


def _holds_gaiji(values: pd.Series) -> bool:
    return _GAIJI.search("\x1f".join(values.dropna().astype(str).tolist())) is not None


def map_gaiji(frames: dict[str, pd.DataFrame], table: GaijiTable) -> tuple[dict[str, pd.DataFrame], list[dict]]:
    """Map registered 外字 in the person frames; list persons whose text still holds 外字.

    Returns the frames (changed copies where something was mapped) and one entry per person with unmapped
    外字: ``{"person": masked 宛名番号, "characters": count}`` (no character, no name: safe for the summary).
    """
    out = dict(frames)
    per_row: list[pd.Series] = []
    for name in PERSON_FRAMES:
        frame = frames.get(name)
        if frame is None or frame.empty:
            continue
        # One C-level scan per column first: most extracts hold no 外字 at all, and then nothing is copied.
        columns = [c for c in TEXT_COLUMNS if c in frame.columns and _holds_gaiji(frame[c])]
        if not columns:
            continue
        changed = frame.copy()
        total = pd.Series(0, index=frame.index, dtype="int64")
        for column in columns:
            changed[column] = table.translate(frame[column])
            total += changed[column].astype("string").str.count(GAIJI).fillna(0).astype("int64")
        out[name] = changed
        per_row.append(pd.Series(total.to_numpy(), index=frame["person_id"].to_numpy()))
    if not per_row:
        return out, []
    # A person's count: the most unmapped 外字 on any one of their rows (the extract row, or an event row).
    counts = pd.concat(per_row).groupby(level=0).max()
    counts = counts[counts > 0].sort_index()
    return out, [{"person": mask_value(person_id), "characters": int(n)} for person_id, n in counts.items()]
