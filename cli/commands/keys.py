"""``kodomo keys init|status|rotate|reencrypt|retire``: the field-encryption key ring (SEC-05)."""

from __future__ import annotations

from cli.support import add_operator_argument, authorise


def register(subparsers) -> None:
    """Add the ``keys`` command."""
    parser = subparsers.add_parser("keys", help="encryption key ring (admin)")
    sub = parser.add_subparsers(dest="keys_command", required=True)
    init = sub.add_parser("init", help="create the key file (<home>/keys/keyring.json, mode 0600) if missing")
    add_operator_argument(init)
    init.set_defaults(func=_init)
    status = sub.add_parser("status", help="key versions and ciphertexts per version and column")
    add_operator_argument(status)
    status.set_defaults(func=_status)
    rotate = sub.add_parser("rotate", help="add a new primary data key and re-encrypt every encrypted column")
    add_operator_argument(rotate)
    rotate.add_argument("--batch-size", type=int, default=2000)
    rotate.set_defaults(func=_rotate)
    again = sub.add_parser("reencrypt", help="finish an interrupted rotation (re-encrypt old versions)")
    add_operator_argument(again)
    again.add_argument("--batch-size", type=int, default=2000)
    again.set_defaults(func=_reencrypt)
    retire = sub.add_parser("retire", help="drop an old data-key version no ciphertext uses any more")
    add_operator_argument(retire)
    retire.add_argument("--version", type=int, required=True)
    retire.add_argument("--shred-backups", action="store_true",
                        help="confirm that backups sealed under this version become unreadable")
    retire.set_defaults(func=_retire)


def _init(args) -> int:
    from config.settings import get_settings
    from privacy.keys import init_ring, ring_source

    authorise(args, "admin", command="keys init")
    settings = get_settings()
    ring, created = init_ring(settings)
    where = settings.resolved_key_file if ring_source(settings) == "file" else ring_source(settings)
    print(f"key ring {'created' if created else 'already present'} ({where}); primary data key v{ring.primary_version}")
    return 0


def _status(args) -> int:
    from cli.support import open_engine
    from config.settings import get_settings
    from privacy.crypto import load_key_ring
    from privacy.keys import column_status, ring_source

    authorise(args, "admin", command="keys status")
    settings = get_settings()
    ring = load_key_ring(settings, create=False)
    print(f"source: {ring_source(settings)}; primary data key v{ring.primary_version}; "
          f"versions in ring: {', '.join(f'v{v}' for v in sorted(ring.data_keys))}; index key: separate")
    engine = open_engine(settings)
    for status in column_status(engine):
        versions = ", ".join(f"v{v}: {n}" for v, n in status.versions.items()) or "no values"
        print(f"{status.table}.{status.column}: {versions}")
    engine.dispose()
    return 0


def _rotate(args) -> int:
    from cli.support import open_engine
    from config.settings import get_settings
    from privacy.keys import rotate

    operator = authorise(args, "admin", command="keys rotate")
    settings = get_settings()
    engine = open_engine(settings)
    ring, counts = rotate(settings, engine, actor_id=operator.operator_id, batch_size=args.batch_size)
    engine.dispose()
    print(f"new primary data key v{ring.primary_version}; re-encrypted: "
          + (", ".join(f"{k}={v}" for k, v in counts.items()) or "nothing"))
    return 0


def _reencrypt(args) -> int:
    from cli.support import open_engine
    from config.settings import get_settings
    from privacy.crypto import load_key_ring
    from privacy.keys import reencrypt

    operator = authorise(args, "admin", command="keys reencrypt")
    settings = get_settings()
    engine = open_engine(settings)
    counts = reencrypt(engine, load_key_ring(settings, create=False), actor_id=operator.operator_id,
                       batch_size=args.batch_size)
    engine.dispose()
    print("re-encrypted: " + (", ".join(f"{k}={v}" for k, v in counts.items()) or "nothing"))
    return 0


def _retire(args) -> int:
    from cli.support import open_engine
    from config.settings import get_settings
    from privacy.keys import retire

    authorise(args, "admin", command="keys retire")
    settings = get_settings()
    engine = open_engine(settings)
    ring = retire(settings, engine, args.version, shred_backups=args.shred_backups)
    engine.dispose()
    print(f"retired v{args.version}; versions in ring: {', '.join(f'v{v}' for v in sorted(ring.data_keys))}")
    return 0
