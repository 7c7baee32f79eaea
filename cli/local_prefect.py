"""The temporary Prefect server of a flow started from the shell (``kodomo monthly``, ``benefits``, …).

Without ``PREFECT_API_URL`` Prefect would start its own temporary server as a plain child process: a
``kill -9`` of the command left that server running for good (issue 14), and its telemetry was on unless
the operator switched it off. :func:`prefect_api` starts the server itself instead:

* the child asks the kernel to be sent SIGTERM when its parent dies (``PR_SET_PDEATHSIG``, Linux), and exits
  at once if the parent is already gone, so no kill of the command can orphan it;
* telemetry is off (``PREFECT_SERVER_ANALYTICS_ENABLED=false``): a city system makes no outside call that
  nobody asked for;
* it is stopped when the flow returns or raises, after the run's logs and events still queued in this
  process have been sent (otherwise they are sent at exit to a server that is gone: "Error logging to API").

With ``PREFECT_API_URL`` set (a real server, a worker) nothing is started.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import prefect
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    get_current_settings,
    temporary_settings,
)

#: Environment of the temporary server on top of the process's own (``PREFECT_UI_ENABLED``: no UI).
SERVER_ENVIRONMENT = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_UI_ENABLED": "0",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
}
_PR_SET_PDEATHSIG = 1
#: Seconds the server may take to start (its first start migrates Prefect's database; slow on a busy host).
MIN_STARTUP_TIMEOUT_S = 120


def _die_with_parent(parent_pid: int) -> None:
    """``preexec_fn`` of the server: SIGTERM when the parent dies; exit now if it already has."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:
        os._exit(1)


class TiedServer(SubprocessASGIServer):
    """Prefect's temporary API server, started as a child that cannot outlive this process."""

    def _run_uvicorn_command(self) -> subprocess.Popen:
        parent = os.getpid()
        return subprocess.Popen(
            args=[sys.executable, "-m", "uvicorn", "--app-dir", str(prefect.__module_path__.parent),
                  "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1",
                  "--port", str(self.port), "--log-level", "error", "--lifespan", "on"],
            env={**os.environ, **get_current_settings().to_environment_variables(exclude_unset=True),
                 **SERVER_ENVIRONMENT},
            preexec_fn=lambda: _die_with_parent(parent),  # noqa: PLW1509 - only prctl/getppid, no locks taken
        )


@contextlib.contextmanager
def prefect_api() -> Iterator[str | None]:
    """Run the block against the configured Prefect API, or a temporary server tied to this process.

    Yields the API URL of the temporary server (``None`` when a configured API is used).
    """
    if PREFECT_API_URL.value():
        yield None
        return
    server = TiedServer()
    try:
        server.start(timeout=max(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value(), MIN_STARTUP_TIMEOUT_S))
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield server.api_url
    finally:
        _send_queued_logs_and_events()
        server.stop()


def _send_queued_logs_and_events(timeout_s: float = 5.0) -> None:
    """Drain Prefect's background log and event senders while the temporary server still runs."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        with contextlib.suppress(Exception):  # a sender that cannot drain must not hide the flow's own outcome
            worker.drain_all(timeout=timeout_s)
