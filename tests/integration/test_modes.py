"""Issue 14 §5: after a full run every file the project wrote under KODOMO_HOME is 0600, every directory 0700.

The commands run as a person runs them (``python -m cli.main``), from a shell whose umask is the usual
0o022: the database and its journal, Prefect's database, the lists, the named print lists, the 全銀 file,
the PMH files, exports, backups, the key ring, credentials, proofs and the audit anchor are all checked.
"""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cli(env, *argv, module="cli.main"):
    result = subprocess.run([sys.executable, "-m", module, *argv], env=env, cwd=ROOT, capture_output=True,
                            text=True, timeout=600, preexec_fn=lambda: os.umask(0o022))
    assert result.returncode == 0, (argv, result.stdout[-2000:], result.stderr[-2000:])
    return result.stdout


@pytest.mark.slow
def test_every_file_under_home_is_owner_only_after_a_full_run(tmp_path):
    home = tmp_path / "home"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("KODOMO_", "PREFECT_API"))}
    env.update({"PYTHONPATH": str(ROOT), "KODOMO_HOME": str(home), "PREFECT_HOME": str(home / "prefect"),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING",
                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"})
    inbox = home / "inbox" / "2026-10"
    _cli(env, "operators", "enrol", "--first-admin", "--id", "demo-admin")
    _cli(env, "operators", "enrol", "--operator", "demo-admin", "--id", "demo-operator", "--id", "demo-viewer",
         "--id", "system-scheduler")
    _cli(env, "db", "upgrade", "--operator", "demo-admin")
    _cli(env, "generate", "--out", str(inbox), "--children", "300", "--seed", "3", module="devtools")
    _cli(env, "generate-claims", "--inbox", str(inbox), "--seed", "3", module="devtools")
    _cli(env, "monthly", "--month", "2026-10", "--inbox", str(inbox), "--operator", "demo-operator")
    _cli(env, "notice-lists", "--month", "2026-10", "--operator", "demo-operator", "--with-names")
    _cli(env, "export", "approve", "--operator", "demo-admin", "--approval-id", "K1", "--purpose", "test",
         "--datasets", "recipients", "--valid-until", "2099-01-01")
    _cli(env, "export", "--operator", "demo-operator", "--approval-id", "K1", "--dataset", "recipients")
    _cli(env, "backup", "create", "--operator", "demo-admin")
    _cli(env, "audit", "verify", "--operator", "demo-viewer")
    _cli(env, "login", "--operator", "demo-viewer", "--token-file", str(home / "proof.txt"))

    expected = {"kodomo.db", "outbox", "exports", "backups", "keys", "credentials", "audit-anchor", "prefect"}
    assert expected <= {p.name for p in home.iterdir()}
    assert any((home / "outbox").rglob("*print*")), "the named print lists were written"
    loose = []
    for folder, directories, files in os.walk(home):
        for name in directories:
            mode = stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode)
            if mode & 0o077:
                loose.append((os.path.join(folder, name), oct(mode)))
        for name in files:
            mode = stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode)
            if mode & 0o077:
                loose.append((os.path.join(folder, name), oct(mode)))
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert loose == []
