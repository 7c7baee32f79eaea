"""PMH registration connector: HTTP (requests) and the file-mode default.

Protocol: :class:`connectors.base.PmhClient`. Transport rules (style.md points 8, 13, 14):

* One ``requests.Session`` per thread (per client when single-threaded, or injected with ``session=``) with
  an ``HTTPAdapter(max_retries=Retry(...))``: 429 and 5xx are retried with exponential backoff, honouring
  ``Retry-After``; connect/read errors (a timeout after the request was sent, a dropped response) are
  retried too. POST is in ``allowed_methods`` only because every POST carries an ``Idempotency-Key``:
  PMH answers a repeated key + body with the original task, so a retry never registers twice
  (security.md REL-02). Retries live in this layer only; Prefect tasks use ``retries=0``.
* Connect and read timeouts on every request.
* Errors: :class:`PmhRejected` (4xx; carries PMH's error codes and field names, never values) and
  :class:`PmhUnavailable` (retries exhausted or transport failure: the outcome is unknown and the caller
  re-sends the same key later).
* Optional client-side pacing (``register_rate``/``poll_rate`` requests per second) keeps a known server
  rate limit from being hit at all; the 429 retry remains the safety net.

:class:`FilePmhClient` is the embedded default when ``settings.pmh_url`` is None: each batch becomes a
JSON file ``<outbox>/pmh/YYYY-MM-DD/batch-<key>.json`` for the daily manual upload, written to a temporary
file, fsynced and atomically renamed, so a file either exists complete or not at all.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import orjson
import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from connectors.base import PmhReceipt, PmhRecordResult, PmhTaskStatus
from privacy.files import write_private_file

RETRY_STATUSES = (429, 500, 502, 503, 504)


class PmhError(Exception):
    """Base class of PMH connector errors (messages carry codes only, never personal data)."""

    safe_message = True
    code = "PMH_ERROR"


_SAFE = re.compile(r"[^A-Za-z0-9_.:\-]")


def safe_code(value: object, limit: int = 64) -> str | None:
    """A server-supplied code or field name reduced to ``[A-Za-z0-9_.:-]`` (so no value can ride along)."""
    if value is None:
        return None
    return _SAFE.sub("", str(value))[:limit] or None


class PmhRejected(PmhError):  # noqa: N818 - name fixed by the issue
    """PMH refused the request (4xx). ``errors`` holds PMH's codes: ``{"index", "field", "code"}``."""

    def __init__(self, status: int, code: str, errors: Sequence[Mapping] = ()) -> None:
        self.status = status
        self.code = safe_code(code) or f"HTTP_{status}"
        self.errors = [
            {"index": e.get("index") if isinstance(e.get("index"), int) else None,
             "field": safe_code(e.get("field"), 128), "code": safe_code(e.get("code"))}
            for e in errors if isinstance(e, Mapping)
        ]
        super().__init__(f"PMH rejected the request: HTTP {status} {self.code} ({len(self.errors)} errors)")


class PmhUnavailable(PmhError):  # noqa: N818 - name fixed by the issue
    """PMH could not be reached or kept failing after the retries; the outcome is unknown."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.code = f"PMH_UNAVAILABLE:{reason}"
        super().__init__(f"PMH unavailable: {reason}")


class PmhRetry(Retry):
    """urllib3 ``Retry`` that also accepts a decimal ``Retry-After`` (seconds) besides the RFC forms."""

    def parse_retry_after(self, retry_after: str) -> float:  # noqa: D102
        try:
            return min(max(float(retry_after), 0.0), self.retry_after_max)
        except ValueError:
            return super().parse_retry_after(retry_after)


class RateLimiter:
    """Thread-safe pacing: at most ``rate`` acquisitions per second (evenly spaced, small burst)."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        self.interval = 1.0 / rate
        self.burst = burst
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(self._next, now - (self.burst - 1) * self.interval)
            self._next = slot + self.interval
        wait = slot - now
        if wait > 0:
            time.sleep(wait)


def make_retry(total: int = 6, backoff_factor: float = 0.1, backoff_max: float = 5.0) -> Retry:
    """The one retry policy of the PMH client (429/5xx/transport, Retry-After honoured)."""
    return PmhRetry(
        total=total,
        connect=total,
        read=total,
        status=total,
        other=0,
        backoff_factor=backoff_factor,
        backoff_max=backoff_max,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "POST"}),  # POST only because of the Idempotency-Key header
        respect_retry_after_header=True,
        raise_on_status=False,
    )


class HttpPmhClient:
    """The registration API over HTTPS (``POST /registration-tasks``, ``GET /registration-tasks/{id}``)."""

    polls_results = True

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (3.05, 10.0),
        retry: Retry | None = None,
        register_rate: float | None = None,
        poll_rate: float | None = None,
        pool_maxsize: int = 16,
    ) -> None:
        if not token:
            raise PmhError("no PMH token configured (settings pmh_token or pmh_token_block)")
        self.base_url = base_url.rstrip("/")
        self._prefix = urllib3.util.parse_url(self.base_url).path or ""
        self._timeout = urllib3.Timeout(connect=timeout[0], read=timeout[1])
        self.timeout = timeout
        self._token = token
        self._retry = retry or make_retry()
        self._pool_maxsize = pool_maxsize
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        if session is not None:
            self._configure(session)
            self._local.session = session
            self._shared = session
        else:
            self._shared = None
        self._register_limiter = RateLimiter(register_rate) if register_rate else None
        self._poll_limiter = RateLimiter(poll_rate) if poll_rate else None

    # -- sessions ------------------------------------------------------------------------------------
    def _configure(self, session: requests.Session) -> None:
        adapter = HTTPAdapter(max_retries=self._retry, pool_connections=1, pool_maxsize=self._pool_maxsize)
        session.mount(self.base_url + "/", adapter)
        if session.trust_env:
            # Resolve the environment (proxies, CA bundle) once instead of on every request: requests
            # otherwise re-reads os.environ, ~/.netrc and the proxy settings per call (≈ 1 ms of CPU).
            session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            if bundle and session.verify is True:
                session.verify = bundle
            session.trust_env = False
        session.headers["Authorization"] = f"Bearer {self._token}"
        session.headers["Accept"] = "application/json"
        with self._sessions_lock:
            self._sessions.append(session)

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._configure(session)
            self._local.session = session
        return session

    def _pool(self, session: requests.Session):
        """The urllib3 connection pool behind this thread's session adapter (None when a proxy is used).

        Requests are sent through it directly: same adapter, same ``Retry``, same timeouts and TLS settings,
        without requests' per-call request preparation and settings merge (≈ 0.5 ms of CPU per call).
        """
        if getattr(self._local, "pool_of", None) is not session:
            pool = None
            if not session.proxies:
                prepared = requests.Request("GET", self.base_url + "/").prepare()
                pool = session.get_adapter(prepared.url).get_connection_with_tls_context(
                    prepared, session.verify, cert=session.cert)
            self._local.pool, self._local.pool_of = pool, session
        return self._local.pool

    def close(self) -> None:
        """Close every session this client opened."""
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    # -- API -------------------------------------------------------------------------------------------
    def submit(self, records: Sequence[Mapping], idempotency_key: str) -> PmhReceipt:
        """POST one batch; returns the task (the original one when the key was seen before)."""
        body = orjson.dumps(list(records))
        if self._register_limiter:
            self._register_limiter.acquire()
        response = self._request(
            "POST", "/registration-tasks", data=body,
            headers={"Content-Type": "application/json", "Idempotency-Key": idempotency_key},
        )
        payload = self._json(response)
        return PmhReceipt(
            task_id=str(payload["taskId"]),
            record_count=int(payload.get("recordCount", len(records))),
            replayed=response.headers.get("Idempotent-Replayed") == "true",
        )

    def poll(self, task_id: str) -> PmhTaskStatus:
        """GET a task: PROCESSING, or COMPLETED with per-record results."""
        if self._poll_limiter:
            self._poll_limiter.acquire()
        payload = self._json(self._request("GET", f"/registration-tasks/{task_id}"))
        results = tuple(
            PmhRecordResult(int(r["index"]), str(r["result"]), r.get("pmhId"), r.get("errorCode"))
            for r in payload.get("results") or ()
        )
        return PmhTaskStatus(str(payload["taskId"]), str(payload["status"]), results)

    # -- plumbing --------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, data: bytes | None = None,
                 headers: Mapping[str, str] | None = None) -> requests.Response | _Answer:
        session = self._session()
        pool = self._pool(session)
        if pool is None:  # through a proxy: the plain requests path
            try:
                response = session.request(method, self.base_url + path, timeout=self.timeout, data=data,
                                            headers=headers)
            except requests.RequestException as exc:  # retries exhausted, timeout, dropped connection
                raise PmhUnavailable(type(exc).__name__) from None
        else:
            try:
                raw = pool.urlopen(method, self._prefix + path, body=data,
                                   headers={**session.headers, **(headers or {})}, redirect=False,
                                   assert_same_host=False, retries=self._retry, timeout=self._timeout)
            except urllib3.exceptions.HTTPError as exc:  # retries exhausted, timeout, dropped connection
                reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
                raise PmhUnavailable(_transport_reason(reason)) from None
            response = _Answer(raw.status, raw.headers, raw.data)
        if response.status_code in RETRY_STATUSES:
            raise PmhUnavailable(f"HTTP_{response.status_code}")
        if 400 <= response.status_code < 500:
            code, errors = f"HTTP_{response.status_code}", []
            try:
                body = response.json()
                code = str(body.get("code") or code)
                errors = list(body.get("errors") or [])
            except ValueError:
                pass
            raise PmhRejected(response.status_code, code, errors)
        if response.status_code >= 300:
            raise PmhUnavailable(f"HTTP_{response.status_code}")
        return response

    @staticmethod
    def _json(response: requests.Response | _Answer) -> dict:
        try:
            return orjson.loads(response.content)
        except (orjson.JSONDecodeError, requests.RequestException):
            raise PmhUnavailable("BAD_RESPONSE") from None


class _Answer:
    """The parts of a response the client reads (status, headers, body, ``json()``)."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status: int, headers: Mapping[str, str], content: bytes) -> None:
        self.status_code, self.headers, self.content = status, headers, content

    def json(self) -> object:
        return orjson.loads(self.content)


def _transport_reason(exc: BaseException | None) -> str:
    """A requests-style name for a urllib3 transport failure (no values, no addresses)."""
    if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
        return "ConnectTimeout"
    if isinstance(exc, (urllib3.exceptions.ReadTimeoutError, TimeoutError)):
        return "ReadTimeout"
    if isinstance(exc, urllib3.exceptions.ResponseError):
        return "RetryError"
    return "ConnectionError"


class FilePmhClient:
    """File mode: each batch is written as ``<outbox>/pmh/YYYY-MM-DD/batch-<key>.json`` (atomic)."""

    polls_results = False

    def __init__(self, outbox_dir: Path, *, today: Callable[[], dt.date] = dt.date.today) -> None:
        self.root = Path(outbox_dir) / "pmh"
        self._today = today

    def submit(self, records: Sequence[Mapping], idempotency_key: str) -> PmhReceipt:
        """Write the batch file (temp file + fsync + rename); re-writing the same key is harmless."""
        target = self.root / self._today().isoformat() / f"batch-{idempotency_key}.json"
        body = orjson.dumps(
            {"idempotencyKey": idempotency_key, "recordCount": len(records), "records": list(records)},
            option=orjson.OPT_INDENT_2,
        )
        write_private_file(target, body)
        return PmhReceipt(None, len(records), location=str(target.relative_to(self.root.parent)))

    def poll(self, task_id: str) -> PmhTaskStatus:  # pragma: no cover - file mode never polls
        raise PmhError("file mode has no registration tasks to poll")

    def close(self) -> None:
        """Nothing to release."""


def resolve_token(settings) -> str | None:
    """The bearer token: ``settings.pmh_token``, else the Prefect Secret block ``pmh_token_block``."""
    if settings.pmh_token is not None:
        return settings.pmh_token.get_secret_value()
    if settings.pmh_token_block:
        from prefect.blocks.system import Secret  # lazily: only this source needs Prefect

        return Secret.load(settings.pmh_token_block).get()
    return None


def make_pmh_client(settings, **options):
    """HTTP client when ``settings.pmh_url`` is set, else the file-mode default."""
    if settings.pmh_url:
        return HttpPmhClient(settings.pmh_url, resolve_token(settings) or "", **options)
    return FilePmhClient(settings.resolved_outbox_dir)
