"""Write a print batch: the PDF file(s) and an index, in a 0700 print directory.

One batch = one print job (the month's 受給者証, the month's notices, one counter action). A batch is one
PDF file, split into volumes of at most ``volume_size`` pages so that a renewal month of 150 000 cards
neither holds every page in memory nor makes one file a printer cannot spool. The index (CP932 CSV, for
the envelope stuffers) lists file, page, document, 受給者番号 and 宛名番号 — no name or address, so the
index can be handled like any staff list. Files are written atomically with mode 0600
(:mod:`privacy.files`).
"""

from __future__ import annotations

import concurrent.futures
import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from privacy.files import atomic_writer, private_directory
from services.documents.model import Addressee, Document
from services.documents.render import render_pdf

DEFAULT_VOLUME_SIZE = 5000
INDEX_HEADER = ("ファイル", "ページ", "書類", "受給者番号", "宛名番号", "送付先注意")


@dataclass(frozen=True)
class PrintBatch:
    """What was written: the PDF volumes, the index and the pages per document kind."""

    name: str
    files: tuple[Path, ...]
    index: Path | None
    pages: int
    kinds: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """Counts and paths only (safe for Prefect results and artifacts)."""
        return {"name": self.name, "files": [str(p) for p in self.files], "index": str(self.index or ""),
                "pages": self.pages, "kinds": dict(self.kinds)}


def print_directory(home: Path, month: str) -> Path:
    """``<KODOMO_HOME>/print/<month>/`` created with mode 0700."""
    return private_directory(Path(home) / "print" / month)


def _write_volume(path: Path, documents: Sequence[Document], title: str, font_file: str | None) -> int:
    with atomic_writer(path) as handle:
        return render_pdf(documents, handle, title=title, font_file=font_file)


def _care_note(document: Document) -> str:
    addressee = getattr(document, "addressee", None)
    return addressee.care_note if isinstance(addressee, Addressee) else ""


def write_batch(documents: Sequence[Document], directory: Path, name: str, *, volume_size: int = DEFAULT_VOLUME_SIZE,
                workers: int = 1, font_file: str | None = None) -> PrintBatch:
    """Render ``documents`` (in the given order) into ``<directory>/<name>.pdf`` and ``<name>_index.csv``.

    More than ``volume_size`` documents are split into ``<name>_001.pdf``, ``<name>_002.pdf``, …;
    ``workers`` > 1 renders volumes in parallel processes. Nothing is written for an empty batch.
    """
    if not documents:
        return PrintBatch(name, (), None, 0, {})
    directory = private_directory(directory)
    chunks = [documents[i:i + volume_size] for i in range(0, len(documents), volume_size)]
    paths = ([directory / f"{name}.pdf"] if len(chunks) == 1
             else [directory / f"{name}_{n:03d}.pdf" for n in range(1, len(chunks) + 1)])
    if workers > 1 and len(chunks) > 1:
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
            pages = sum(pool.map(_write_volume, paths, chunks, [name] * len(chunks), [font_file] * len(chunks)))
    else:
        pages = sum(_write_volume(path, chunk, name, font_file) for path, chunk in zip(paths, chunks, strict=True))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(INDEX_HEADER)
    for path, chunk in zip(paths, chunks, strict=True):
        for page, document in enumerate(chunk, start=1):
            writer.writerow((path.name, page, document.title, document.recipient_no, document.person_id,
                             _care_note(document)))
    index = directory / f"{name}_index.csv"
    with atomic_writer(index) as handle:
        handle.write(buffer.getvalue().encode("cp932", errors="replace"))
    return PrintBatch(name, tuple(paths), index, pages, dict(Counter(d.kind for d in documents)))
