"""``kodomo person show``: one child's whole history on the terminal, for the counter.

    kodomo person show --person-id 0100001034 --purpose "窓口照会 受付12" --operator demo-viewer
    kodomo person show --recipient-no 0000018 --purpose ... --operator ...
    kodomo person show --my-number --purpose ... --operator ...     (the number is read without echo)

A My Number is never taken on the command line (it would stay in the shell history and the process
list): ``--my-number`` reads it from the terminal without echo, or from standard input when piped. It is
looked up through the keyed index and never printed. Viewer role; every look-up is recorded with the
purpose typed.
"""

from __future__ import annotations

import getpass
import sys

from cli.support import add_operator_argument, authorise, open_engine
from config.settings import get_settings
from privacy.crypto import load_key_ring
from services.counter import history as person_history
from store.db import session_scope


def register(subparsers) -> None:
    """Add ``person show``."""
    parser = subparsers.add_parser("person", help="look up one child's history (窓口照会)")
    commands = parser.add_subparsers(dest="person_command", required=True, metavar="SUBCOMMAND")
    show = commands.add_parser("show", help="show persons/household, eligibility, decisions, money, PMH")
    key = show.add_mutually_exclusive_group(required=True)
    key.add_argument("--person-id", metavar="宛名番号")
    key.add_argument("--recipient-no", metavar="受給者番号")
    key.add_argument("--my-number", action="store_true",
                     help="read a My Number without echo (or from stdin) and look it up by the keyed index")
    show.add_argument("--purpose", required=True, help="why you look (recorded in the access log)")
    add_operator_argument(show)
    show.set_defaults(func=run_show)


def _read_my_number() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("個人番号（表示されません）: ")
    return sys.stdin.readline()


def format_history(history: person_history.PersonHistory) -> str:
    """The sections as aligned text blocks (Japanese headings, one line per row)."""
    lines = [f"■ 宛名番号 {history.person_id} の履歴"]
    for title, rows in history.sections.items():
        lines.append("")
        lines.append(f"【{title}】" + ("" if rows else "（なし）"))
        for row in rows:
            lines.append("  " + "　".join(f"{k}: {v}" for k, v in row.items() if v not in ("", None)))
    return "\n".join(lines)


def run_show(args) -> int:
    """Authorise (view), look up, record, print."""
    operator = authorise(args, "view", command="person-show")
    my_number = _read_my_number().strip() if args.my_number else None
    if args.my_number and not my_number:
        raise ValueError("no My Number was entered")
    settings = get_settings()
    ring = load_key_ring(settings, create=False)
    with session_scope(open_engine(settings)) as session:
        try:
            found = person_history.show_person(session, ring, operator_id=operator.operator_id, purpose=args.purpose,
                                               person_id=args.person_id, recipient_no=args.recipient_no,
                                               my_number=my_number)
        except person_history.PersonNotFoundError as exc:
            print(f"該当する方が見つかりません（{exc}）", file=sys.stderr)
            return 2
    print(format_history(found))
    return 0
