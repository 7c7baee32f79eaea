"""``python -m devtools generate-changes``: the next month's inbox with a share of persons changed."""

from __future__ import annotations

from devtools.commands.generate import _as_of


def register(subparsers) -> None:
    """Add the ``generate-changes`` command."""
    parser = subparsers.add_parser(
        "generate-changes", help="write the next month's inbox: 異動, new applications and tax updates for a share"
    )
    parser.add_argument("--inbox", required=True, help="the previous month's generated inbox (read only)")
    parser.add_argument("--out", required=True, help="inbox directory to write (created if needed)")
    parser.add_argument("--share", type=float, default=0.02, help="share of persons that change (default 0.02)")
    parser.add_argument("--seed", type=int, required=True, help="random seed (same seed → identical files)")
    parser.add_argument("--as-of", type=_as_of, required=True, help="the new extract date YYYY-MM-DD")
    parser.set_defaults(func=run)


def run(args) -> int:
    """Generate the inbox and print a one-line summary of counts."""
    from devtools.generate.changes import generate_changes

    summary = generate_changes(args.inbox, args.out, share=args.share, seed=args.seed, as_of=args.as_of)
    print(f"changed {summary['changed_persons']} persons (move-outs {summary['move_outs']}, address changes "
          f"{summary['address_changes']}, new applications {summary['new_applications']}, tax updates "
          f"{summary['tax_updates']}), as of {summary['as_of']} → {summary['out_dir']}")
    return 0
