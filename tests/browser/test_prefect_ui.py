"""The Prefect UI as staff see it, in headless Chromium: flow runs and the monthly summary artifact.

Starts a Prefect server **with authentication** (``PREFECT_SERVER_API_AUTH_STRING``), runs a small monthly
run against it, logs the browser in the way the UI's login page does (the password in ``localStorage``)
and reads the rendered pages through the Chrome DevTools Protocol. Checks: the month, the decision counts
and the output paths are on the summary page; no 12-digit number and no name from the inbox is on either
page. Runs where Chromium is installed (``.ci/run`` installs it); marker ``browser``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from devtools.canary import find_my_number_like, twelve_digit_runs

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")]

AUTH = "staff:demo-password"
MONTH = "2026-10"
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, *, auth: str | None = AUTH, timeout: float = 5.0):
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


def _post(url: str, body: dict):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": "Basic " + base64.b64encode(AUTH.encode()).decode()})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _wait(predicate, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if predicate():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


class DevTools:
    """A minimal Chrome DevTools Protocol client over the page's websocket."""

    def __init__(self, ws_url: str) -> None:
        from websockets.sync.client import connect

        self.ws = connect(ws_url, max_size=None, open_timeout=30)
        self.next_id = 0

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(message["error"])
                return message.get("result", {})

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def open(self, url: str, must_contain: str, timeout: float = 60.0) -> str:
        """Navigate and wait until the rendered text contains ``must_contain``; return the text."""
        self.call("Page.navigate", url=url)
        text = ""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            time.sleep(1.0)
            text = self.evaluate("document.body ? document.body.innerText : ''") or ""
            if must_contain in text:
                return text
        raise AssertionError(f"{url}: {must_contain!r} not rendered; page text starts {text[:300]!r}")


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_API_AUTH_STRING": AUTH, "PREFECT_LOGGING_LEVEL": "WARNING",
           "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api"}
    env.pop("PREFECT_API_URL", None)
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port",
                               str(port), "--analytics-off"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait(lambda: _get(f"http://127.0.0.1:{port}/api/health") is True, 180, "the Prefect server")
        with pytest.raises(urllib.error.HTTPError):  # authentication is on
            _get(f"http://127.0.0.1:{port}/api/flows/filter", auth=None)
        yield port, home
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def monthly(prefect_server, tmp_path_factory):
    """A monthly run of 150 generated children against the authenticated server."""
    port, home = prefect_server
    work = tmp_path_factory.mktemp("kodomo")
    inbox = work / "inbox" / MONTH
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFECT_HOME": str(home), "KODOMO_HOME": str(work / "home"),
           "PREFECT_API_URL": f"http://127.0.0.1:{port}/api", "PREFECT_API_AUTH_STRING": AUTH,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING",
           "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false", "PREFECT_TASKS_DEFAULT_NO_CACHE": "true"}
    env.pop("KODOMO_DATABASE_URL", None)
    subprocess.run([sys.executable, "-m", "devtools", "generate", "--out", str(inbox), "--children", "150",
                    "--seed", "7", "--as-of", "2026-10-31"], env=env, cwd=ROOT, check=True, capture_output=True)
    script = ("import json; from devtools.credentials import enrol_demo_operators; enrol_demo_operators(); "
              "from flows.monthly import monthly_run; "
              f"print(json.dumps(monthly_run(month='{MONTH}', inbox=r'{inbox}', operator_id='demo-operator', "
              "sync_pmh=False), ensure_ascii=False))")
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    residents = pd.read_csv(inbox / "residents.csv", dtype=str)
    return summary, residents


@pytest.fixture(scope="module")
def browser(prefect_server, tmp_path_factory):
    port, _ = prefect_server
    debug_port = _free_port()
    profile = tmp_path_factory.mktemp("chromium")
    chrome = subprocess.Popen([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                               "--disable-dev-shm-usage", f"--remote-debugging-port={debug_port}",
                               f"--user-data-dir={profile}", "--window-size=1400,2000", "about:blank"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait(lambda: _get(f"http://127.0.0.1:{debug_port}/json/version", auth=None), 60, "chromium")
        page = next(t for t in _get(f"http://127.0.0.1:{debug_port}/json", auth=None) if t["type"] == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        tools.call("Page.enable")
        tools.call("Runtime.enable")
        # Log in as the UI's login page does: the base64 credentials in localStorage (same origin).
        tools.call("Page.navigate", url=f"http://127.0.0.1:{port}/")
        time.sleep(2)
        encoded = base64.b64encode(AUTH.encode()).decode()
        tools.evaluate(f"localStorage.setItem('prefect-password', '{encoded}')")
        yield tools, port
        tools.ws.close()
    finally:
        chrome.terminate()
        try:
            chrome.wait(timeout=30)
        except subprocess.TimeoutExpired:
            chrome.kill()


def _no_personal_data(text: str, residents: pd.DataFrame) -> None:
    # any 12-digit number, except a run's UUID (CI once failed on one whose last group read 605623941929)
    assert not twelve_digit_runs(text), "a 12-digit number is on the page"
    assert find_my_number_like(text) == 0, "a My Number-like number (separators, full-width digits) is on the page"
    names = set(residents["name"].dropna()) | set(residents["name_kana"].dropna())
    shown = [n for n in names if n and n in text]
    assert not shown, f"{len(shown)} name(s) from the inbox are on the page"


def test_flow_runs_page_and_monthly_summary_artifact(browser, monthly):
    tools, port = browser
    summary, residents = monthly
    runs = tools.open(f"http://127.0.0.1:{port}/runs", "monthly-run")
    assert "print-run" in runs or "benefit-run" in runs or "monthly-run" in runs
    _no_personal_data(runs, residents)

    artifacts = _post(f"http://127.0.0.1:{port}/api/artifacts/filter",
                      {"artifacts": {"key": {"any_": ["monthly-summary"]}}, "sort": "CREATED_DESC", "limit": 1})
    assert artifacts, "no monthly-summary artifact"
    page = tools.open(f"http://127.0.0.1:{port}/artifacts/artifact/{artifacts[0]['id']}", f"月次処理 {MONTH}")
    assert MONTH in page
    new = summary["decisions"]["NEW"]
    assert new > 0 and re.search(rf"新規（受給者証交付）\s+{new}\s+{new}", page), "decision counts are missing"
    for path in summary["outputs"]:
        if "/pmh/" not in path:
            assert path in page, path
    assert f"受給者証交付一覧_{MONTH}.csv" in page and f"受給者証・交付通知書_{MONTH}.pdf" in page
    _no_personal_data(page, residents)
