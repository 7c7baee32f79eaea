"""``kodomo backup [create|list|verify]``: encrypted backups with generation retention (SEC-09)."""

from __future__ import annotations

from cli.support import add_operator_argument, authorise


def register(subparsers) -> None:
    """Add the ``backup`` command."""
    parser = subparsers.add_parser("backup", help="encrypted database backups (admin)")
    parser.add_argument("action", nargs="?", default="create", choices=["create", "list", "verify"])
    add_operator_argument(parser)
    parser.add_argument("--generations", type=int,
                        help="backups to keep (default: backup_generations of the retention rules)")
    parser.add_argument("--file", help="backup file for 'verify' (default: the newest)")
    parser.set_defaults(func=_backup)


def _backup(args) -> int:
    from pathlib import Path

    from cli.support import open_engine
    from config.settings import get_settings
    from privacy.backup import create_backup, list_backups, open_backup, read_header
    from privacy.crypto import load_key_ring
    from privacy.retention import load_retention

    operator = authorise(args, "admin", command=f"backup {args.action}")
    settings = get_settings()
    if args.action == "list":
        for path in list_backups(settings):
            header = read_header(path)
            print(f"{path.name}\tv{header['key_version']}\t{sum(header['tables'].values())} rows")
        return 0
    ring = load_key_ring(settings, create=False)
    if args.action == "verify":
        backups = list_backups(settings)
        path = Path(args.file) if args.file else (backups[-1] if backups else None)
        if path is None:
            print("no backups")
            return 1
        tables = open_backup(path, ring)
        print(f"{path.name}: decrypts and authenticates; {sum(len(v) for v in tables.values())} rows")
        return 0
    generations = args.generations or load_retention().backup_generations
    engine = open_engine(settings)
    result = create_backup(settings, engine, ring, actor_id=operator.operator_id, generations=generations)
    engine.dispose()
    print(f"backup {result.path.name}: {sum(result.counts.values())} rows in {len(result.counts)} tables; "
          f"removed {len(result.removed)} old generation(s)")
    return 0
