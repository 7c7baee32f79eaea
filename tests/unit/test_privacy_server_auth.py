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
