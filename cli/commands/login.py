"""``kodomo login``: a single-use proof of identity for a Prefect run form or another command.

``kodomo login --operator ID`` signs a proof with the operator's private key (``--key-file``,
``KODOMO_OPERATOR_KEY_FILE`` or ``<home>/credentials/<id>.key``) and prints it; paste it into the run
form's ``operator_proof`` field (or ``--param operator_proof=…``). ``--token-file F`` writes it to a 0600
file instead, for a script: ``KODOMO_OPERATOR_PROOF_FILE=F kodomo …``. A proof is accepted once and
expires after ``--ttl`` seconds (at most 900). See privacy.operators for why.
"""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    """Add the ``login`` command."""
    parser = subparsers.add_parser("login", help="print (or write) a single-use proof of identity")
    parser.add_argument("--operator", required=True, metavar="ID", help="your staff user id")
    parser.add_argument("--key-file", help="your private key (default: KODOMO_OPERATOR_KEY_FILE or "
                                           "<home>/credentials/<id>.key)")
    parser.add_argument("--ttl", type=int, default=600, help="seconds until the proof expires (max 900)")
    parser.add_argument("--token-file", help="write the proof to this file (0600) instead of printing it")
    parser.set_defaults(func=run)


def run(args) -> int:
    """Mint the proof; nothing is recorded until a command or flow accepts it."""
    from privacy.files import write_private_file
    from privacy.operators import MAX_PROOF_TTL_S, mint_proof, personal_key_path, shown_id

    if not 1 <= args.ttl <= MAX_PROOF_TTL_S:
        print(f"--ttl must be between 1 and {MAX_PROOF_TTL_S} seconds")
        return 2
    key_file = Path(args.key_file) if args.key_file else personal_key_path(args.operator)
    try:
        key_text = key_file.read_text(encoding="ascii")
    except OSError:
        print(f"no private key for {shown_id(args.operator)} at {key_file}; ask an admin to run "
              "'kodomo operators enrol'")
        return 1
    proof = mint_proof(key_text, args.operator, ttl_s=args.ttl)
    if args.token_file:
        write_private_file(args.token_file, proof + "\n")
        print(f"proof for {shown_id(args.operator)} written to {args.token_file} (valid {args.ttl} s, single use)")
    else:
        print(proof)
    return 0
