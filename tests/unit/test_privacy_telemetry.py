"""Issue 14 §8: no outside call nobody asked for — Prefect telemetry is off wherever the project starts it."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _analytics_after(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFECT_SERVER_ANALYTICS_ENABLED": "true"}
    probe = (f"{code}\nimport os\nfrom prefect.settings import Settings\n"
             "print(os.environ['PREFECT_SERVER_ANALYTICS_ENABLED'], Settings().server.analytics_enabled)")
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split()[-2:]


def test_the_cli_turns_telemetry_off_even_when_the_shell_turned_it_on():
    assert _analytics_after("from cli.main import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass") \
        == ["false", "False"]


def test_any_pipeline_process_turns_it_off_before_a_temporary_server_can_start():
    assert _analytics_after("import flows.monthly") == ["false", "False"]  # what a worker or benchmark imports


def test_every_script_that_starts_prefect_sets_it_off():
    for script in ("scripts/ui", "scripts/demo", "scripts/test"):
        assert "export PREFECT_SERVER_ANALYTICS_ENABLED=false" in (ROOT / script).read_text(), script
    assert "--analytics-off" in (ROOT / "scripts/ui").read_text()
