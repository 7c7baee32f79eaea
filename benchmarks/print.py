"""Benchmark of printing a renewal month: ``python -m benchmarks.print --certificates N [--workers 2]``.

Builds N synthetic 更新 (RENEWAL) rows as :func:`services.documents.month.load_print_rows` returns them
(names, addresses and insurers from the synthetic generator's word lists; untimed), then times what the
print run does with them: build the documents (policy look-ups, co-pay band per child) and render them
into PDF volumes of 5 000 pages with the index, on ``--workers`` processes. The database read and the
decryption are not included (``benchmarks.monthly`` times those stages). The last printed line is one
JSON object (``certificates``, ``pages``, ``total_s``, ``build_s``, ``render_s``, ``pages_per_s``,
``bytes``, ``peak_rss_mb``). Target (issue 15): 150 000 certificates in ≤ 300 s on the project machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.host import probe_s
from devtools.generate import population
from devtools.generate.names import ADULT_FEMALE, SURNAMES
from policy import load_policy
from services.documents.batch import write_batch
from services.documents.month import build_documents, copay_text


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def synthetic_rows(count: int, seed: int, policy) -> pd.DataFrame:
    """``count`` renewal rows with synthetic names and addresses (as load_print_rows joins them)."""
    rng = np.random.default_rng(seed)
    surnames = np.array([s for s, _, _ in SURNAMES])
    kana = np.array([k for _, k, _ in SURNAMES])
    picks = rng.integers(0, len(surnames), count)
    given = np.array([g for g, _ in ADULT_FEMALE])
    birth = pd.to_datetime(np.datetime64("2009-04-02") + rng.integers(0, 17 * 365, count))
    valid_from = pd.Series(pd.Timestamp("2026-10-01"), index=range(count))
    frame = pd.DataFrame({
        "person_id": np.char.zfill(np.arange(1, count + 1).astype(str), 15).astype(object),
        "decision_type": "RENEWAL",
        "effective_date": valid_from, "valid_from": valid_from, "valid_to": pd.Timestamp("2027-09-30"),
        "birth_date": birth, "dv_support_flag": rng.random(count) < 0.002,
        "name": [f"{surnames[i]}\u3000{given[j]}" for i, j in zip(picks, rng.integers(0, len(given), count),
                                                                 strict=True)],
        "name_kana": [f"{kana[i]}\u3000ハナコ" for i in picks],
        "address": population._addresses(rng, count),
        "guardian_name": [f"{surnames[i]}\u3000{given[j]}" for i, j in
                          zip(picks, rng.integers(0, len(given), count), strict=True)],
        "recipient_no": np.char.zfill(np.arange(1, count + 1).astype(str), 7).astype(object),
        "public_payer_number": policy.at("2026-10-01").get("program.public_payer_number"),
        "insurer_number": population._insurers(rng, count),
    })
    frame["copay"] = copay_text(policy, frame["birth_date"], pd.to_datetime(frame["valid_from"]))
    return frame


def run(certificates: int, workers: int, seed: int = 7, workdir: Path | None = None) -> dict:
    """Time building and rendering ``certificates`` renewal cards; returns the figures."""
    policy = load_policy()
    rows = synthetic_rows(certificates, seed, policy)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        start = time.perf_counter()
        documents = build_documents(rows, policy, dt.date(2026, 9, 15))["issuance"]
        built = time.perf_counter()
        batch = write_batch(documents, Path(tmp) / "print", "受給者証_2026-10", workers=workers)
        done = time.perf_counter()
        size = sum(p.stat().st_size for p in batch.files)
    return {"certificates": certificates, "pages": batch.pages, "volumes": len(batch.files), "workers": workers,
            "total_s": round(done - start, 2), "build_s": round(built - start, 2), "render_s": round(done - built, 2),
            "pages_per_s": round(batch.pages / max(done - built, 1e-9), 1), "bytes": size,
            "peak_rss_mb": _peak_rss_mb()}


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run once and print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certificates", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2, help="rendering processes (the machine has 2 cores)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    probe_before = probe_s()
    result = run(args.certificates, args.workers, args.seed)
    result["host_probe_s"] = [probe_before, probe_s()]  # benchmarks.host: the machine's speed, before/after
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
