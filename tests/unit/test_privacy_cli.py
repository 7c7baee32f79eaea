import json

import pytest

from cli.main import build_parser, main
from config.settings import get_settings
from devtools.credentials import enrol_demo_operators

PRIVACY_COMMANDS = {
    "keys": ["init", "status", "rotate", "reencrypt", "retire --version 1"],
    "audit": ["verify", "anchor", "report"],
    "purge": [""],
    "backup": ["create", "list", "verify"],
    "export": ["", "approve --approval-id A --purpose p --datasets recipients --valid-until 2099-01-01",
               "revoke --approval-id A", "approvals", "wipe --file x",
               "open --file x --passphrase-file p --out y"],
    "operators": ["list", "check --id demo-admin --action view"],
    "leak": ["affected --run-id r"],
}


@pytest.fixture
def cli_env(engine, db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("KODOMO_HOME", str(tmp_path))
    monkeypatch.setenv("KODOMO_DATABASE_URL", db_url)
    get_settings.cache_clear()
    enrol_demo_operators()
    yield tmp_path
    get_settings.cache_clear()


def _run(capsys, line: str) -> tuple[int, str]:
    code = main(line.split())
    out = capsys.readouterr()
    return code, out.out + out.err


def test_every_privacy_command_requires_an_operator():
    parser = build_parser()
    for command, subs in PRIVACY_COMMANDS.items():
        for sub in subs:
            argv = [command, *sub.split()]
            if argv == ["export"]:  # sub-commands share the name: checked by the handler instead
                assert main(argv) == 1
            else:
                with pytest.raises(SystemExit):
                    parser.parse_args(argv)  # --operator missing
            parser.parse_args([*argv, "--operator", "demo-admin"])


@pytest.mark.parametrize("operator", ["nobody", "demo-viewer"])
def test_unknown_or_unauthorised_operator_is_refused(cli_env, capsys, operator):
    code, out = _run(capsys, f"keys rotate --operator {operator}")
    assert code == 1 and "may not 'admin'" in out
    code, out = _run(capsys, f"export --operator {operator} --approval-id A --dataset recipients")
    assert code == 1 and "may not 'export'" in out
    code, out = _run(capsys, "audit report --operator demo-admin --all")
    assert code == 0 and "refused" in out  # the refusals are in the access records


def test_cli_end_to_end(cli_env, capsys):
    home = cli_env
    assert _run(capsys, "keys init --operator demo-admin")[0] == 0
    assert json.loads((home / "keys" / "keyring.json").read_text())["primary_version"] == 1
    code, out = _run(capsys, "keys rotate --operator demo-admin")
    assert code == 0 and "v2" in out
    code, out = _run(capsys, "keys status --operator demo-admin")
    assert code == 0 and "primary data key v2" in out
    assert _run(capsys, "keys retire --operator demo-admin --version 1")[0] == 0

    assert _run(capsys, "export approve --operator demo-operator --approval-id K1 --purpose p "
                        "--datasets recipients --valid-until 2099-01-01")[0] == 1  # operators cannot approve
    assert _run(capsys, "export approve --operator demo-admin --approval-id K1 --purpose p "
                        "--datasets recipients --valid-until 2099-01-01")[0] == 0
    out_file = home / "exports" / "r.csv"
    code, out = _run(capsys, f"export --operator demo-operator --approval-id K1 --dataset recipients --out {out_file}")
    assert code == 0 and out_file.exists()
    code, out = _run(capsys, "export --operator demo-operator --approval-id K2 --dataset recipients")
    assert code == 1 and "not registered" in out
    assert _run(capsys, f"export wipe --operator demo-operator --file {out_file}")[0] == 0
    assert not out_file.exists()
    secret = home / "pass.txt"
    secret.write_text("a long shared passphrase\n")
    sealed = home / "exports" / "r.csv.kenc"
    assert _run(capsys, f"export --operator demo-operator --approval-id K1 --dataset recipients --out {sealed} "
                        f"--passphrase-file {secret}")[0] == 0
    assert _run(capsys, f"export open --operator demo-viewer --file {sealed} --passphrase-file {secret} "
                        f"--out {home / 'exports' / 'opened.csv'}")[0] == 0
    assert (home / "exports" / "opened.csv").read_text(encoding="utf-8-sig").startswith("person_id,")

    code, out = _run(capsys, "backup --operator demo-admin --generations 2")
    assert code == 0 and "backup kodomo-" in out
    assert _run(capsys, "backup verify --operator demo-admin")[0] == 0
    code, out = _run(capsys, "purge --operator demo-admin --dry-run")
    assert code == 0 and "person:erase: 0 would be purged" in out
    assert _run(capsys, "purge --operator demo-admin")[0] == 0

    code, out = _run(capsys, "audit verify --operator demo-viewer")
    assert code == 0 and "access records OK" in out
    assert list((home / "audit-anchor").glob("*.json"))
    code, out = _run(capsys, "leak affected --operator demo-viewer --since 2000-01-01 --discovered 2026-12-01")
    assert code == 0 and "確報 due 2026-12-31" in out
    code, out = _run(capsys, "operators check --operator demo-viewer --id demo-viewer --action run")
    assert code == 3 and "refused" in out


def test_audit_verify_exit_code_on_tampering(cli_env, capsys, engine):
    from sqlalchemy import text

    from privacy.audit import record_access
    from store.db import session_scope

    for n in range(3):
        with session_scope(engine) as s:
            record_access(s, actor_id="demo-operator", action="read", purpose=f"p{n}", subject_ids=[], record_count=n)
    assert _run(capsys, "audit verify --operator demo-viewer")[0] == 0
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER access_record_no_change ON access_record"))
        else:
            conn.execute(text("DROP TRIGGER access_record_no_update"))
        conn.execute(text("UPDATE access_record SET purpose = 'edited' WHERE seq = 2"))
    code, out = _run(capsys, "audit verify --operator demo-viewer")
    assert code == 2 and "TAMPERED" in out and "seq 2: entry_hash" in out
