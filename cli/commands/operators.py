"""``kodomo operators list|check``: the staff registry (who may do what)."""

from __future__ import annotations

from cli.support import add_operator_argument, authorise


def register(subparsers) -> None:
    """Add the ``operators`` command."""
    parser = subparsers.add_parser("operators", help="staff registry (roles viewer/operator/admin)")
    sub = parser.add_subparsers(dest="operators_command", required=True)
    listing = sub.add_parser("list", help="registered operators and their roles")
    add_operator_argument(listing)
    listing.set_defaults(func=_list)
    check = sub.add_parser("check", help="may operator ID perform ACTION? (exit 0 yes, 3 no)")
    add_operator_argument(check)
    check.add_argument("--id", required=True, dest="subject")
    check.add_argument("--action", required=True, choices=["view", "run", "export", "admin"])
    check.set_defaults(func=_check)


def _list(args) -> int:
    from privacy.operators import load_registry

    authorise(args, "view", command="operators list")
    registry = load_registry()
    print(f"registry: {registry.source}")
    for op in sorted(registry.operators.values(), key=lambda o: o.operator_id):
        print(f"{op.operator_id}\t{op.role}\t{op.kind}\t{'enabled' if op.enabled else 'DISABLED'}")
    return 0


def _check(args) -> int:
    from privacy.operators import OperatorNotAuthorised, require_operator

    authorise(args, "view", command="operators check")
    try:
        op = require_operator(args.subject, args.action)
    except OperatorNotAuthorised as exc:
        print(f"refused: {exc.reason}")
        return 3
    print(f"allowed: {op.operator_id} ({op.role}) may {args.action}")
    return 0
