"""Issue 14 §3: a command may write, wipe or open only inside its own directory; each refusal is recorded.

The three attacks of the issue: ``export wipe --file <key ring / database>``, ``export open --out
kodomo.db`` and ``notice-lists --month ../../x``; plus a symlink planted in the exports directory.
"""

import os

import pytest
from sqlalchemy import select

from cli.main import main
from config.settings import get_settings
from devtools.credentials import enrol_demo_operators
from privacy.paths import LOCAL_PATH_PATTERN, PathNotAllowed, confine
from store.db import session_scope
from store.privacy_models import AccessRecord


@pytest.fixture
def home(engine, db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("KODOMO_HOME", str(tmp_path))
    monkeypatch.setenv("KODOMO_DATABASE_URL", db_url)
    get_settings.cache_clear()
    enrol_demo_operators()
    assert main(["keys", "init", "--operator", "demo-admin"]) == 0
    yield tmp_path
    get_settings.cache_clear()


def _refused_purposes(engine) -> list[str]:
    with session_scope(engine) as s:
        return list(s.scalars(select(AccessRecord.purpose).where(AccessRecord.outcome == "refused")))


def _snapshot(path):
    return path.read_bytes(), path.stat().st_size


def test_export_wipe_refuses_the_key_ring_the_database_and_the_anchors(home, engine, db_url, capsys):
    keyring = home / "keys" / "keyring.json"
    before = _snapshot(keyring)
    targets = [keyring, home / "keys" / "operators" / "demo-admin.pub"]
    if db_url.startswith("sqlite"):
        targets.append(home / "kodomo.db")
    for target in targets:
        assert main(["export", "wipe", "--operator", "demo-operator", "--file", str(target)]) == 1
        assert target.exists()
    assert _snapshot(keyring) == before
    assert "outside the allowed exports/outbox directory" in capsys.readouterr().err
    assert _refused_purposes(engine).count("cli:export wipe:path-outside-exports/outbox") == len(targets)


def test_a_symlink_in_the_exports_directory_does_not_lead_out(home, engine):
    exports = home / "exports"
    exports.mkdir(mode=0o700)
    os.symlink(home / "keys" / "keyring.json", exports / "innocent.csv")
    assert main(["export", "wipe", "--operator", "demo-operator", "--file", str(exports / "innocent.csv")]) == 1
    assert (home / "keys" / "keyring.json").stat().st_size > 0


def test_export_open_cannot_overwrite_the_database(home, engine, db_url):
    secret = home / "pass.txt"
    secret.write_text("a long shared passphrase\n")
    sealed = home / "exports" / "x.csv.kenc"
    sealed.parent.mkdir(mode=0o700)
    sealed.write_bytes(b"not really sealed")
    victim = home / "kodomo.db" if db_url.startswith("sqlite") else home / "keys" / "keyring.json"
    before = _snapshot(victim)
    assert main(["export", "open", "--operator", "demo-viewer", "--file", str(sealed), "--passphrase-file",
                 str(secret), "--out", str(victim)]) == 1
    assert _snapshot(victim) == before
    # the sealed file must come from the exchange areas too
    assert main(["export", "open", "--operator", "demo-viewer", "--file", str(home / "keys" / "keyring.json"),
                 "--passphrase-file", str(secret), "--out", str(home / "exports" / "y.csv")]) == 1
    assert _refused_purposes(engine).count("cli:export open:path-outside-exports") == 1
    assert _refused_purposes(engine).count("cli:export open:path-outside-exports/inbox") == 1


@pytest.mark.parametrize("month", ["../../x", "2026-10/../../../x", "../outbox-evil", "2026-13"])
def test_notice_lists_month_cannot_leave_the_outbox(home, engine, month):
    assert main(["notice-lists", "--operator", "demo-operator", "--month", month]) == 1
    assert not (home.parent / "x").exists() and not (home / "x").exists()
    assert any(p.startswith("cli:notice-lists:") for p in _refused_purposes(engine))


def test_export_out_must_stay_in_exports(home, engine):
    assert main(["export", "--operator", "demo-operator", "--approval-id", "A", "--dataset", "recipients",
                 "--out", str(home / "kodomo.db")]) == 1
    assert "cli:export:path-outside-exports" in _refused_purposes(engine)


def test_confine_resolves_dot_dot(home):
    settings = get_settings()
    (home / "exports").mkdir(mode=0o700)
    assert confine(home / "exports" / "a.csv", "exports", actor_id="demo-operator", purpose="t",
                   settings=settings) == (home / "exports" / "a.csv").resolve()
    with pytest.raises(PathNotAllowed):
        confine(home / "exports" / ".." / "kodomo.db", "exports", actor_id="demo-operator", purpose="t",
                settings=settings)


@pytest.mark.parametrize(("value", "ok"), [
    ("var/inbox/2026-10", True), ("/srv/kodomo/inbox/events", True), ("123456789018", False),
    ("inbox/山田太郎", False), ("a/123456789/b", False),
])
def test_path_parameters_cannot_carry_a_my_number_or_a_name(value, ok):
    import re

    assert bool(re.match(LOCAL_PATH_PATTERN, value)) is ok
