"""The ``kodomo`` command line.

Each command lives in ``kodomo/commands/<name>.py`` and exposes ``register(subparsers)``; this module
discovers them, so features add commands without editing a central list.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

import kodomo.commands


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every discovered command."""
    parser = argparse.ArgumentParser(prog="kodomo", description="こども医療費助成 data operations")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(kodomo.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"kodomo.commands.{module_info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    from kodomo.privacy.masking import install_masking_filter

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "urllib3"):  # one line per HTTP request to the local Prefect API
        logging.getLogger(noisy).setLevel(logging.WARNING)
    install_masking_filter()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI prints a sanitised one-line error
        from kodomo.privacy.masking import scrub_my_numbers

        print(f"kodomo {args.command}: error: {scrub_my_numbers(str(exc))}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
