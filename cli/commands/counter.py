r"""``kodomo counter <action>``: 届出 and corrections at the counter (operator role).

    kodomo counter change-insurance --person-id P --received 2026-10-20 --effective 2026-10-15 \\
        --insurer-number 06041234 --insured-type 2 --operator demo-operator
    kodomo counter change-guardian  --person-id P --received D --guardian-person-id G --operator ...
    kodomo counter change-address   --person-id P --received D --operator ...   (address typed at the prompt)
    kodomo counter change-account   --person-id P --received D --operator ...   (account typed at the prompts)
    kodomo counter loss-report      --person-id P --received D --reason INSURANCE_LOSS --effective D --operator ...
    kodomo counter reissue          --person-id P --received D --reason LOST --operator ...
    kodomo counter cancel|correct   --person-id P --received D --decision-month M --decision-type NEW \\
        --reason INPUT_ERROR [--application-id A [--application-date D]] [--insurer-number N --effective D]
    kodomo counter retroactive      --person-id P --received D --application-date D --guardian-person-id G \\
        --reason APPEAL_GRANTED --operator ...

Addresses and accounts are never taken as arguments (they would stay in the shell history): they are
read from the terminal, or from standard input when piped, one value per line. The result is printed
as JSON (codes, counts and file paths only).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import uuid

from cli.support import add_operator_argument, authorise, open_engine
from config.settings import get_settings
from policy import load_policy
from privacy.crypto import load_key_ring
from services.counter import actions
from store.db import session_scope

COMMANDS = {
    "change-insurance": ("CHANGE_INSURANCE", "変更届（保険）"),
    "change-guardian": ("CHANGE_GUARDIAN", "変更届（保護者）"),
    "change-address": ("CHANGE_ADDRESS", "変更届（住所・送付先、住民記録の外）"),
    "change-account": ("CHANGE_ACCOUNT", "変更届（償還払いの振込口座）"),
    "loss-report": ("LOSS_REPORT", "喪失届"),
    "reissue": ("REISSUE", "再交付（紛失・破損・記載事項変更）"),
    "cancel": ("CANCEL", "決定の取消"),
    "correct": ("CORRECT", "決定の訂正"),
    "retroactive": ("RETROACTIVE", "遡及登録（審査請求の認容等）"),
}
ACCOUNT_FIELDS = (("bank_code", "金融機関コード（4桁）"), ("branch_code", "支店コード（3桁）"),
                  ("account_type", "預金種目（1 普通 / 2 当座）"), ("account_number", "口座番号（7桁）"),
                  ("holder_kana", "口座名義（カナ）"))


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def register(subparsers) -> None:
    """Add ``counter <action>`` for every action."""
    parser = subparsers.add_parser("counter", help="窓口: 変更届, 喪失届, 再交付, 取消/訂正, 遡及登録")
    commands = parser.add_subparsers(dest="counter_command", required=True, metavar="ACTION")
    for name, (_, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--person-id", required=True, metavar="宛名番号", help="the child's 宛名番号")
        sub.add_argument("--received", required=True, type=_date, metavar="YYYY-MM-DD", help="受付日")
        sub.add_argument("--receipt-no", metavar="受付番号", help="default: derived from the form")
        sub.add_argument("--reason", help="reason code (see docs/counter.md)")
        sub.add_argument("--effective", type=_date, metavar="YYYY-MM-DD", help="変更日 / 喪失日 / 保険の資格取得日")
        sub.add_argument("--insurer-number")
        sub.add_argument("--insured-type", choices=["1", "2"])
        sub.add_argument("--guardian-person-id", metavar="宛名番号")
        sub.add_argument("--decision-month", metavar="YYYY-MM")
        sub.add_argument("--decision-type")
        sub.add_argument("--application-id")
        sub.add_argument("--application-date", type=_date, metavar="YYYY-MM-DD")
        sub.add_argument("--issue-date", type=_date, metavar="YYYY-MM-DD", help="交付日 printed; default today")
        add_operator_argument(sub)
        sub.set_defaults(func=run, action_type=COMMANDS[name][0])


def _ask(prompt: str) -> str:
    if sys.stdin.isatty():
        return input(prompt).strip()
    return sys.stdin.readline().strip()


def private_details(action_type: str) -> dict | None:
    """The new address or account, read from the terminal (never from the arguments)."""
    if action_type == "CHANGE_ADDRESS":
        return {"address": _ask("新しい送付先住所: ")}
    if action_type == "CHANGE_ACCOUNT":
        return {"account": {key: _ask(label + ": ") for key, label in ACCOUNT_FIELDS}}
    return None


def run(args) -> int:
    """Authorise (run), carry out the action in one transaction, print the result."""
    operator = authorise(args, "run", command=f"counter-{args.counter_command}")
    form = actions.CounterForm(
        args.action_type, args.person_id, args.received, receipt_no=args.receipt_no, reason_code=args.reason,
        effective_date=args.effective, insurer_number=args.insurer_number, insured_type_code=args.insured_type,
        guardian_person_id=args.guardian_person_id, decision_month=args.decision_month,
        decision_type=args.decision_type, application_id=args.application_id, application_date=args.application_date)
    private = private_details(args.action_type)
    settings = get_settings()
    with session_scope(open_engine(settings)) as session:
        result = actions.apply_action(session, form, ring=load_key_ring(settings, create=False), policy=load_policy(),
                                      operator_id=operator.operator_id, run_id=f"cli-counter-{uuid.uuid4()}",
                                      home=settings.home, issue_date=args.issue_date or actions.today_tokyo(),
                                      private=private)
    print(json.dumps(result, ensure_ascii=False, indent=1))
    return 0
