"""The ``kodomo`` command line.

Each command lives in ``cli/commands/<name>.py`` and exposes ``register(subparsers)``; this module
discovers them, so features add commands without editing a central list. The development commands
(generators, simulators) live in ``devtools/commands/`` and run as ``python -m devtools``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from types import ModuleType

import cli.commands


def build_parser(package: ModuleType = cli.commands, prog: str = "kodomo") -> argparse.ArgumentParser:
    """The argument parser with every command discovered in ``package``."""
    parser = argparse.ArgumentParser(prog=prog, description="こども医療費助成 data operations")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def disable_prefect_telemetry() -> None:
    """No outside call nobody asked for: the temporary Prefect server of a CLI run sends no analytics.

    Forced, not defaulted: a city system makes no such call even if a profile or shell turned it on.
    """
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"


def _safe_text(exc: Exception) -> str:
    """The error text, except that a validation error names its fields and rules, never the input.

    pydantic quotes the rejected value (``input_value='…'``): a My Number or a name typed into the wrong
    option would be echoed to a terminal or a scheduler's log (issue 14 §6).
    """
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        fields = ", ".join(f"{'.'.join(str(p) for p in e['loc']) or '-'} ({e['type']})" for e in exc.errors())
        return f"invalid {exc.title}: {fields}"
    return str(exc)


def main(argv: list[str] | None = None, package: ModuleType = cli.commands, prog: str = "kodomo") -> int:
    """Entry point of the console script (and of ``python -m devtools`` with its own package)."""
    from privacy.files import restrict_umask
    from privacy.masking import install_masking_filter

    restrict_umask()  # every file and directory this command creates is owner-only (issue 14 §5)
    disable_prefect_telemetry()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "urllib3"):  # one line per HTTP request to the local Prefect API
        logging.getLogger(noisy).setLevel(logging.WARNING)
    install_masking_filter()
    args = build_parser(package, prog).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI prints a sanitised one-line error
        from privacy.masking import scrub_my_numbers

        print(f"{prog} {args.command}: error: {scrub_my_numbers(_safe_text(exc))}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
