"""The changes month: only the lines that differ from what the previous monthly ingest stored are read (issue 13).

Every inbox file is a full extract again, but from one month to the next only a few percent of its lines differ.
Under the conditions of the whole-file skip (services.intake.unchanged, conditions 1–3: the previous ingest
belongs to a COMPLETED monthly run, nobody wrote personal data since, the same ingest context or only a later
extract date), a line whose bytes equal a line that run *accepted and stored* is stored already: its row is in
its table exactly as the upsert left it. Such a line is *skipped*: not parsed, validated or upserted. Only the
other lines (new, changed, previously quarantined, blank) are read, with their line numbers in the current file.

Lines are compared by keyed 8-byte digests: SipHash-2-4 (a keyed PRF, pandas' ``hash_array``) under a key derived
from the key ring's index key by HMAC — never an unkeyed hash of personal data. The previous ingest's digests
(sorted) and, per line, the digests of its key columns (``FACETS``) are stored in ``input_line_digests``.

Cross-row checks must answer as if the whole file were read. Where the changed lines plus the stored digests
cannot answer, the file (both person files together) is read whole instead — correctness first:

* a line repeated within the file is never skipped (its copies are duplicates of each other);
* duplicate keys: a read line whose key (``UNIQUE`` facets, compared as validated values) equals a skipped line's
  → the whole file (a full read quarantines both);
* a header that differs, a read that fails or needs the line-by-line reader, an undeclared encoding that is not
  UTF-8 → the whole file (its error or its reader decides);
* person files: a line that may hold a 外字 is never skipped (the list of unmapped 外字 is rebuilt from the
  rows read); a My Number of a validated read row that a skipped line of another person carries, or a My
  Number collision among the rows read or with a stored person (services.intake.collisions) →
  :class:`LineDiffRefusedError`, and the caller reads both files whole. Skipped lines collide with nothing:
  they were accepted together, against the stored persons, and nobody wrote since;
* persons known only from events (``persist.current_persons``: their latest event): every event line of a
  person with a read, added or removed residents or events line is read too, so the latest event is chosen
  among all of them; and an event line of a person on a skipped residents line never makes them events-only.

What the run records for a line-diffed file: ``run_input`` counts the whole file (skipped lines are accepted);
the tables count the skipped lines as unchanged (the person table as ``persist_persons`` counts a whole read);
the quarantine holds the read lines' bad cells (a skipped line was accepted). The access record names the
persons and counts the rows *read and stored* by this run: a skipped line is neither read nor written.

Only a monthly ingest with a run id stores digests (``kodomo monthly --full`` stores none, so the month after
it reads every line); each one replaces the previous one's, so the table holds one ingest's lines.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import Connection, delete, insert, select

from store import models

#: Key columns per file whose digests are kept per accepted line: the unique keys (``UNIQUE``) and, for the
#: person files, the person and My Number (collisions, events-only persons).
FACETS: dict[str, tuple[tuple[str, ...], ...]] = {
    "residents.csv": (("person_id",), ("my_number",)),
    "resident_events.csv": (("event_id",), ("person_id",), ("my_number",)),
    "tax.csv": (("person_id", "tax_year"),),
    "welfare.csv": (("case_id", "start_date"),),
    "insurance.csv": (("person_id", "insurer_number", "valid_from"),),
    "applications.csv": (("application_id",),),
    "placements.csv": (("placement_id",),),
}
#: The facets (positions in ``FACETS``) that a schema requires unique within the file (its uniqueness checks,
#: ``my_number_unique`` of residents.csv included).
UNIQUE: dict[str, tuple[int, ...]] = {"residents.csv": (0, 1), "resident_events.csv": (0,), "tax.csv": (0,),
                                      "welfare.csv": (0,), "insurance.csv": (0,), "applications.csv": (0,),
                                      "placements.csv": (0,)}
PERSON_FACET = {"residents.csv": 0, "resident_events.csv": 1}
NUMBER_FACET = {"residents.csv": 1, "resident_events.csv": 2}


class LineDiffRefusedError(RuntimeError):
    """The changed lines cannot answer a cross-row check: read the person files whole (never shown to staff)."""

    safe_message = True


def member(values: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Whether each of ``values`` is in ``pool`` (a hash table of the pool: cheaper than np.isin's sort)."""
    if not len(values) or not len(pool):
        return np.zeros(len(values), dtype=bool)
    return pd.Series(values).isin(pd.Series(pool)).to_numpy(dtype=bool)


def line_key(index_key: bytes) -> str:
    """The SipHash key of the line digests: 16 characters (96 bits) derived from the key ring's index key."""
    derived = hmac.new(index_key, b"kodomo-input-line-digest", hashlib.sha256).digest()
    return base64.b64encode(derived).decode("ascii")[:16]


def digest_values(values, key: str) -> np.ndarray:
    """Keyed 64-bit digest (uint64) of each value (bytes or str; None has its own digest)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    if not len(array):
        return np.empty(0, dtype=np.uint64)
    return pd.util.hash_array(array, encoding="utf8", hash_key=key, categorize=False)


def _text(series: pd.Series) -> np.ndarray:
    """The canonical text of validated values (dates as YYYY-MM-DD, missing → None)."""
    dated = pd.api.types.is_datetime64_any_dtype(series)
    text = series.dt.strftime("%Y-%m-%d") if dated else series.astype("string")
    return text.astype(object).where(text.notna(), None).to_numpy(dtype=object)


def facet_digests(frame: pd.DataFrame, file_name: str, key: str) -> np.ndarray:
    """Per row, the digest of each facet of ``file_name`` (shape rows × facets, uint64)."""
    facets = FACETS[file_name]
    out = np.empty((len(frame), len(facets)), dtype=np.uint64)
    for position, columns in enumerate(facets):
        if not len(frame):
            continue
        if len(columns) == 1:
            out[:, position] = digest_values(_text(frame[columns[0]]), key)
        else:
            parts = pd.DataFrame({c: _text(frame[c]) for c in columns})
            out[:, position] = pd.util.hash_pandas_object(parts, index=False, encoding="utf8", hash_key=key,
                                                          categorize=False).to_numpy(dtype=np.uint64)
    return out


@dataclass
class PreviousLines:
    """The accepted lines of one file as the previous monthly ingest stored them."""

    sha256: str
    header: np.uint64
    digests: np.ndarray  # sorted uint64, unique (a line is accepted once: a repeated line is quarantined)
    facets: np.ndarray  # rows × facets, aligned with ``digests``
    _index: pd.Index | None = None

    def lookup(self, digests: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(found mask, positions in ``self.digests``) of ``digests``."""
        if not len(self.digests):
            return np.zeros(len(digests), dtype=bool), np.zeros(len(digests), dtype=np.int64)
        if self._index is None:
            self._index = pd.Index(self.digests)
        if self._index.is_unique:  # a hash table: a binary search of a million random keys misses the caches
            positions = self._index.get_indexer(digests)
            found = positions >= 0
            return found, np.where(found, positions, 0)
        positions = np.minimum(np.searchsorted(self.digests, digests), len(self.digests) - 1)
        return self.digests[positions] == digests, positions


@dataclass
class FileLines:
    """One file of this inbox, line by line: which lines were skipped, and what to store for the next month."""

    file_name: str
    header: np.uint64
    #: The digest of every data line (position = line number - 2).
    digests: np.ndarray
    #: Which data lines were skipped (all False when the whole file was read).
    skipped: np.ndarray
    #: The stored facets of the skipped lines (in line order), and their positions among the stored lines.
    skipped_facets: np.ndarray = field(default_factory=lambda: np.empty((0, 0), dtype=np.uint64))
    skipped_positions: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def skip_only(self, skipped: np.ndarray, previous: PreviousLines) -> None:
        """Skip exactly the lines of ``skipped`` (all of them stored lines)."""
        found, positions = previous.lookup(self.digests[skipped])
        self.skipped = skipped
        self.skipped_positions = positions
        self.skipped_facets = previous.facets[positions]

    @property
    def skipped_count(self) -> int:
        return int(self.skipped.sum())


def split_lines(data: bytes) -> tuple[bytes, list[bytes]]:
    """The header line and the data lines (a final line end opens no new line), bytes as they are."""
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    return (lines[0] if lines else b""), lines[1:]


def file_lines(file_name: str, data: bytes, key: str) -> FileLines:
    """The line digests of a file read whole (nothing skipped)."""
    header, body = split_lines(data)
    digests = digest_values(body, key)
    return FileLines(file_name, digest_values([header], key)[0], digests, np.zeros(len(digests), dtype=bool))


def plan(file_name: str, data: bytes, key: str, previous: PreviousLines | None, *,
         person_file: bool) -> tuple[FileLines, list[bytes]] | None:
    """Which lines of ``data`` to skip; ``None``: read the whole file (no previous lines, another header)."""
    header, body = split_lines(data)
    lines = FileLines(file_name, digest_values([header], key)[0], digest_values(body, key),
                      np.zeros(len(body), dtype=bool))
    if previous is None or lines.header != previous.header:
        return None
    found, positions = previous.lookup(lines.digests)
    if found.any():
        # A line repeated within the file duplicates itself: a full read quarantines every copy.
        found &= ~pd.Series(lines.digests).duplicated(keep=False).to_numpy()
    if person_file and found.any():
        found[_gaiji_lines(data, header, body)] = False
    lines.skipped = found
    lines.skipped_positions = positions[found]
    lines.skipped_facets = previous.facets[lines.skipped_positions]
    return lines, body


def _gaiji_lines(data: bytes, header: bytes, body: list[bytes]) -> np.ndarray:
    """Positions (in the data lines) of the lines whose bytes might hold a 外字 (unchanged._GAIJI_BYTES)."""
    if data.isascii():
        return np.empty(0, dtype=np.int64)
    from services.intake.unchanged import GAIJI_BYTE_MARKS  # here: services.intake.unchanged imports this module

    marks = np.flatnonzero(np.frombuffer(data.translate(GAIJI_BYTE_MARKS), dtype=np.uint8))
    if not len(marks):
        return np.empty(0, dtype=np.int64)
    # Where each data line starts: after the header and every earlier line with its line end.
    lengths = np.fromiter(map(len, body), dtype=np.int64, count=len(body)) + 1
    starts = len(header) + 1 + np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(body) else np.empty(0)
    line = np.searchsorted(starts, marks, side="right") - 1  # -1 = the header
    return np.unique(line[line >= 0])


def subset_bytes(header: bytes, body: list[bytes], read: np.ndarray) -> tuple[bytes, np.ndarray]:
    """The header and the lines to read, as a file of their own; and their line numbers in the real file."""
    positions = np.flatnonzero(read)
    chosen = [body[i] for i in positions.tolist()]
    return b"\n".join([header, *chosen]) + b"\n", positions + 2


def removed_facets(previous: PreviousLines, lines: FileLines) -> np.ndarray:
    """The stored facets of the previously accepted lines that are no longer in the file."""
    return previous.facets[~member(previous.digests, lines.digests)]


def load_previous(conn: Connection, run_id: str) -> dict[str, PreviousLines]:
    """The line digests the monthly ingest ``run_id`` stored, by file name."""
    table = models.InputLineDigests.__table__
    out = {}
    for row in conn.execute(select(table).where(table.c.run_id == run_id)).all():
        facets = len(FACETS.get(row.file_name, ()))
        if not facets:
            continue
        digests = np.frombuffer(bytes(row.line_digests), dtype="<u8").astype(np.uint64)
        out[row.file_name] = PreviousLines(
            row.sha256, np.int64(row.header_digest).view(np.uint64),
            digests, np.frombuffer(bytes(row.facet_digests), dtype="<u8").astype(np.uint64).reshape(-1, facets))
    return out


def store_lines(conn: Connection, run_id: str, files: dict[str, tuple[str, FileLines | None]],
                frames: dict[str, tuple[str, pd.DataFrame]], previous: dict[str, PreviousLines], key: str) -> int:
    """Store this ingest's accepted lines per file, replacing older ingests' (only the latest is ever used).

    ``files``: file name → (SHA-256, its lines, or None when the whole file was skipped); ``frames``: file
    name → (frame name, the rows stored from the lines read). Returns the number of line digests stored.
    """
    table = models.InputLineDigests.__table__
    conn.execute(delete(table))
    rows, total = [], 0
    for file_name, (sha256, lines) in files.items():
        if file_name not in FACETS:
            continue
        if lines is None:  # skipped whole: the previous ingest's lines hold (same bytes)
            before = previous.get(file_name)
            if before is None:
                continue
            digests, facets, header = before.digests, before.facets, before.header
        else:
            frame = frames.get(file_name, ("", pd.DataFrame()))[1]
            numbers = frame["source_row"].to_numpy(dtype=np.int64) if len(frame) else np.empty(0, dtype=np.int64)
            order = np.argsort(lines.digests[numbers - 2], kind="stable")
            digests = lines.digests[numbers - 2][order]
            facets = (facet_digests(frame, file_name, key)[order] if len(frame)
                      else np.empty((0, len(FACETS[file_name])), dtype=np.uint64))
            header = lines.header
            if lines.skipped_count:
                # The skipped lines are stored lines, sorted there already: merge the few lines read into them.
                before = previous[file_name]
                keep = np.zeros(len(before.digests), dtype=bool)
                keep[lines.skipped_positions] = True
                kept = before.digests[keep]
                at = np.searchsorted(kept, digests)
                digests = np.insert(kept, at, digests)
                facets = np.insert(before.facets[keep], at, facets, axis=0)
        rows.append({"run_id": run_id, "file_name": file_name, "sha256": sha256,
                     "header_digest": int(np.uint64(header).view(np.int64)), "line_count": len(digests),
                     "line_digests": digests.astype("<u8").tobytes(),
                     "facet_digests": np.ascontiguousarray(facets).astype("<u8").tobytes()})
        total += len(digests)
    if rows:
        conn.execute(insert(table), rows)
    return total


def person_total(frames: dict[str, pd.DataFrame], current: dict, key: str) -> int:
    """How many persons a read of both whole person files stores: the extract's plus the events-only ones."""
    digests = []
    for name, file_name in (("residents", "residents.csv"), ("resident_events", "resident_events.csv")):
        frame = frames.get(name)
        if frame is not None and len(frame):
            digests.append(digest_values(_text(frame["person_id"]), key))
        lines = current.get(file_name, (None, None))[1]
        if lines is not None and lines.skipped_count:
            digests.append(lines.skipped_facets[:, PERSON_FACET[file_name]])
    return int(len(pd.unique(np.concatenate(digests)))) if digests else 0


def carried_by_skipped(rows: pd.DataFrame, current: dict, key: str) -> bool:
    """Whether a My Number of the person ``rows`` read is carried by a skipped line of another person.

    ``rows``: the validated person rows read (person_id, my_number). A read of the whole files would quarantine
    both persons' rows.
    """
    skipped = [pd.DataFrame({"person": lines.skipped_facets[:, PERSON_FACET[name]],
                             "number": lines.skipped_facets[:, NUMBER_FACET[name]]})
               for name, (_, lines) in current.items() if name in PERSON_FACET and lines is not None]
    rows = rows[rows["my_number"].notna()]
    if not skipped or rows.empty:
        return False
    read = pd.DataFrame({"read": digest_values(rows["person_id"].tolist(), key),
                         "number": digest_values(rows["my_number"].tolist(), key)})
    pairs = read.merge(pd.concat(skipped, ignore_index=True).drop_duplicates(), on="number")
    return bool((pairs["read"] != pairs["person"]).any())
