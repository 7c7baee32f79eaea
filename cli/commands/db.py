"""``kodomo db upgrade|revision``: schema migrations."""

from __future__ import annotations

from config.settings import get_settings


def register(subparsers) -> None:
    """Add the ``db`` command."""
    parser = subparsers.add_parser("db", help="database migrations")
    sub = parser.add_subparsers(dest="db_command", required=True)
    up = sub.add_parser("upgrade", help="apply every migration")
    up.add_argument("--operator", required=True, help="registered admin id")
    up.add_argument("--url", help="database URL (default: settings)")
    up.set_defaults(func=_upgrade)
    rev = sub.add_parser("revision", help="autogenerate a migration from the models (developers)")
    rev.add_argument("-m", "--message", required=True)
    rev.add_argument("--operator", required=True, help="registered admin id")
    rev.add_argument("--url", help="database URL of an up-to-date scratch database")
    rev.set_defaults(func=_revision)


def _upgrade(args) -> int:
    from cli.support import authorise
    from store.migrate import upgrade

    authorise(args, "admin", command="db upgrade")
    url = args.url or get_settings().resolved_database_url
    upgrade(url)
    print("database is at the latest revision")
    return 0


def _revision(args) -> int:
    from cli.support import authorise
    from store.migrate import revision

    authorise(args, "admin", command="db revision")
    revision(args.url or get_settings().resolved_database_url, args.message)
    return 0
