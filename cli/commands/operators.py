"""``kodomo operators list|check``: the staff registry (who may do what)."""

from __future__ import annotations

from cli.support import add_operator_argument, add_proof_argument, authorise


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
    enrol = sub.add_parser("enrol", help="create a principal's key pair: public key to the key directory, "
                                         "private key (0600) to <home>/credentials/<id>.key or --key-out (admin)")
    enrol.add_argument("--operator", metavar="ID", help="your admin id (not needed with --first-admin)")
    add_proof_argument(enrol)
    enrol.add_argument("--id", required=True, action="append", dest="subjects", help="principal to enrol (repeat)")
    enrol.add_argument("--key-out", help="where to write the private key (only with a single --id)")
    enrol.add_argument("--first-admin", action="store_true",
                       help="bootstrap: enrol the first admin while no credential is enrolled at all")
    enrol.add_argument("--if-missing", action="store_true", help="skip ids that already have a credential")
    enrol.set_defaults(func=_enrol)


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


def _enrol(args) -> int:
    from privacy.audit import record_refusal
    from privacy.operators import (
        OperatorNotAuthorised,
        credentials_dir,
        enrol,
        public_key_path,
        require_operator,
    )

    if args.key_out and len(args.subjects) != 1:
        print("--key-out needs exactly one --id")
        return 2
    if args.if_missing and all(public_key_path(subject).exists() for subject in args.subjects):
        print(f"{', '.join(args.subjects)}: already enrolled")
        return 0
    if args.first_admin:
        # bootstrap only: nobody can prove anything before the first credential exists
        if any(credentials_dir().glob("*.pub")) or len(args.subjects) != 1:
            record_refusal(args.subjects[0], "cli:operators enrol:first-admin-not-allowed")
            raise OperatorNotAuthorised(args.subjects[0], "admin", "credentials already enrolled; use --operator")
        require_operator(args.subjects[0], "admin")
    else:
        if not args.operator:
            print("--operator is required (or --first-admin to bootstrap)")
            return 2
        authorise(args, "admin", command="operators enrol")
    for subject in args.subjects:
        if args.if_missing and public_key_path(subject).exists():
            print(f"{subject}: already enrolled")
            continue
        key = enrol(subject, key_out=args.key_out)
        print(f"{subject}: enrolled; private key (0600) at {key}")
    return 0
