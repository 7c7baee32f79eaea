"""The self-hosted Prefect server with PREFECT_SERVER_API_AUTH_STRING refuses unauthenticated API calls.

Starts ``prefect server start`` on a free loopback port with a throw-away PREFECT_HOME (startup takes
~20 s on the CI machine kind, hence the ``slow`` marker; CI runs slow tests too). The wait is bounded.
"""

import base64
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

AUTH = "kodomo-ops:" + "x" * 8 + "-test-only"
DEADLINE_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_server_requires_the_auth_string(tmp_path):
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path), "PREFECT_SERVER_API_AUTH_STRING": AUTH,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false",
           "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{tmp_path / 'prefect.db'}"}
    env.pop("PREFECT_API_URL", None)
    prefect = Path(sys.executable).with_name("prefect")
    proc = subprocess.Popen([str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}/api"
    waiter = threading.Event()
    try:
        started = time.monotonic()
        while True:
            assert proc.poll() is None, "prefect server exited during startup"
            try:
                if requests.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() - started < DEADLINE_S, "prefect server did not start in time"
            waiter.wait(0.25)
        assert requests.post(f"{base}/flows/filter", json={}, timeout=10).status_code == 401
        wrong = base64.b64encode(b"kodomo-ops:wrong").decode()
        assert requests.post(f"{base}/flows/filter", json={}, timeout=10,
                             headers={"Authorization": f"Basic {wrong}"}).status_code == 401
        good = base64.b64encode(AUTH.encode()).decode()
        assert requests.post(f"{base}/flows/filter", json={}, timeout=10,
                             headers={"Authorization": f"Basic {good}"}).status_code == 200
        assert requests.get(f"{base}/flow_runs/00000000-0000-0000-0000-000000000000", timeout=10).status_code == 401
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def _wait_healthy(proc, base):
    waiter = threading.Event()
    started = time.monotonic()
    while True:
        assert proc.poll() is None, "scripts/ui exited during startup"
        try:
            if requests.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        assert time.monotonic() - started < DEADLINE_S, "scripts/ui did not start in time"
        waiter.wait(0.25)


@pytest.mark.slow
def test_scripts_ui_generates_credentials_and_never_serves_the_api_without_them(tmp_path):
    """Issue 14 §1: ``scripts/ui`` as documented, with nothing set, refuses anonymous API calls."""
    root = Path(__file__).resolve().parents[2]
    port = _free_port()
    home = tmp_path / "home"
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PREFECT_API", "PREFECT_SERVER_API_AUTH"))}
    env.update({"KODOMO_HOME": str(home), "PREFECT_HOME": str(home / "prefect"), "PORT": str(port),
                "PREFECT_UI_ENABLED": "false", "PREFECT_SERVER_ANALYTICS_ENABLED": "true"})  # the script forces it off
    proc = subprocess.Popen([str(root / "scripts" / "ui")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, start_new_session=True, text=True)
    base = f"http://127.0.0.1:{port}/api"
    try:
        _wait_healthy(proc, base)
        auth_file = home / "prefect-api-auth"
        assert auth_file.stat().st_mode & 0o777 == 0o600
        assert home.stat().st_mode & 0o777 == 0o700
        user_password = auth_file.read_text().strip()
        assert user_password.startswith("kodomo-ops:") and len(user_password) > 30
        assert requests.post(f"{base}/flows/filter", json={}, timeout=10).status_code == 401
        assert requests.post(f"{base}/block_documents/filter", json={"include_secrets": True},
                             timeout=10).status_code == 401
        good = base64.b64encode(user_password.encode()).decode()
        assert requests.post(f"{base}/flows/filter", json={}, timeout=10,
                             headers={"Authorization": f"Basic {good}"}).status_code == 200
        # telemetry: the server process runs with analytics off although the caller asked for it
        server_env = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
        assert b"PREFECT_SERVER_ANALYTICS_ENABLED=false" in server_env
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    out = proc.stdout.read()
    assert str(home / "prefect-api-auth") in out and user_password not in out  # where, never what
