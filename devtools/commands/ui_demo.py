"""``python -m devtools ui-demo --home var``: what the Prefect UI's forms need in the demo home.

Writes, under ``--home`` (synthetic data only):

* ``inquiry/`` — the inquiry files of the file defaults (registry, tax, 住基ネット, 中間サーバ) for the demo
  move-in households 1 and 2 (``devtools.movein_demo``): the README's worked move-in example (宛名番号
  3000000013) finds its household there;
* ``counter/cert.csv`` — the transcribed 所得証明書 of household 1 named in that example;
* ``inbox/events/`` — the directory the ``resident-changes`` deployment watches (empty: the schedule then
  finds nothing to do instead of failing on a missing directory).

Prints the paths written as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

from devtools import movein_demo
from privacy.files import private_directory

EXAMPLE_PERSON_ID = "3000000013"
EXAMPLE_INSURER_NUMBER = "01040013"


def register(subparsers) -> None:
    """Add the ``ui-demo`` command."""
    parser = subparsers.add_parser("ui-demo", help="write the demo's inquiry files, certificate and events dir")
    parser.add_argument("--home", required=True, help="KODOMO_HOME of the demo (e.g. var)")
    parser.set_defaults(func=run)


def prepare(home: str | Path) -> dict[str, str]:
    """Write the files (idempotent) and return their paths."""
    home = Path(home)
    households = [movein_demo.demo_household(1), movein_demo.demo_household(2, known_previous_city=False)]
    inquiry = movein_demo.write_inquiry_dir(private_directory(home / "inquiry"), households)
    certificate = movein_demo.write_certificate(private_directory(home / "counter") / "cert.csv", households[0])
    certificate.chmod(0o600)
    events = private_directory(home / "inbox" / "events")
    return {"inquiry": str(inquiry), "certificate": str(certificate), "events": str(events)}


def run(args) -> int:
    """Prepare and print the paths."""
    print(json.dumps(prepare(args.home), ensure_ascii=False))
    return 0
