"""``python -m devtools generate-claims``: synthetic claims.csv and reimbursement_applications.csv, or UKE files."""

from __future__ import annotations

import argparse
import json
import re


def _month(value: str) -> str:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
        raise argparse.ArgumentTypeError("--month must be YYYY-MM")
    return value


def register(subparsers) -> None:
    """Add the ``generate-claims`` command."""
    parser = subparsers.add_parser(
        "generate-claims", help="write synthetic receipts and 償還払い applications for a generated inbox"
    )
    parser.add_argument("--inbox", required=True, help="inbox directory holding residents.csv (written into)")
    parser.add_argument("--seed", type=int, required=True, help="random seed (same seed → identical files)")
    parser.add_argument("--month", type=_month, help="診療年月 YYYY-MM (default: the month before extract_date)")
    parser.add_argument("--encoding", choices=["utf-8", "cp932"], help="default: the inbox manifest's encoding")
    parser.add_argument("--bad-row-share", type=float, default=0.002, help="share of deliberately bad rows")
    parser.add_argument("--format", choices=["csv", "uke"], default="csv",
                        help="csv: claims.csv + reimbursement_applications.csv; uke: .UKE facility files in "
                        "<inbox>/uke/ (docs/formats/uke.md)")
    parser.set_defaults(func=run)


def run(args) -> int:
    """Generate and print the summary (counts only)."""
    from devtools.generate.claims import generate_claims

    if args.format == "uke":
        from devtools.generate.uke import generate_uke

        print(json.dumps(generate_uke(args.inbox, args.inbox, args.seed, month=args.month,
                                      bad_record_share=args.bad_row_share), ensure_ascii=False))
        return 0
    summary = generate_claims(args.inbox, args.inbox, args.seed, encoding=args.encoding, month=args.month,
                              bad_row_share=args.bad_row_share)
    print(json.dumps({k: v for k, v in summary.items() if k != "bad_source_rows"}, ensure_ascii=False))
    return 0
