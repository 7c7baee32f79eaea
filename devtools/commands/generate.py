"""``python -m devtools generate``: write a synthetic inbox (the six input files and manifest.json)."""

from __future__ import annotations

import argparse
import time


def _as_of(value: str) -> str:
    import pandas as pd

    try:
        parsed = pd.Timestamp(value)
    except ValueError:
        raise argparse.ArgumentTypeError("--as-of must be a date YYYY-MM-DD") from None
    if pd.isna(parsed) or len(value) != 10:
        raise argparse.ArgumentTypeError("--as-of must be a date YYYY-MM-DD")
    return str(parsed.date())


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def register(subparsers) -> None:
    """Add the ``generate`` command."""
    parser = subparsers.add_parser(
        "generate", help="write a synthetic inbox (residents, events, tax, welfare, insurance, applications)"
    )
    parser.add_argument("--out", required=True, help="inbox directory to write (created if needed)")
    parser.add_argument("--children", type=_positive, required=True, help="number of children (160000 ≈ Sendai)")
    parser.add_argument("--seed", type=int, required=True, help="random seed (same seed → identical files)")
    parser.add_argument("--encoding", choices=["utf-8", "cp932"], default="utf-8", help="file encoding")
    parser.add_argument("--as-of", type=_as_of, default="2026-10-31", help="extract date YYYY-MM-DD")
    parser.add_argument(
        "--bad-row-share", type=float, default=0.002, help="share of deliberately bad rows per file (default 0.002)"
    )
    parser.set_defaults(func=run)


def run(args) -> int:
    """Generate the inbox and print a one-line summary of counts."""
    from devtools.generate import generate_dataset

    started = time.perf_counter()
    summary = generate_dataset(
        args.out,
        children=args.children,
        seed=args.seed,
        encoding=args.encoding,
        as_of=args.as_of,
        bad_row_share=args.bad_row_share,
    )
    rows = ", ".join(f"{name.removesuffix('.csv')} {count}" for name, count in summary["rows"].items())
    print(
        f"generated {summary['children']} children, {summary['persons']} persons in {summary['households']} "
        f"households ({summary['encoding']}, as of {summary['as_of']}): rows {rows}; "
        f"bad rows {sum(summary['bad_rows'].values())}; {time.perf_counter() - started:.1f} s → {summary['out_dir']}"
    )
    return 0
