"""Sanitised exceptions: nothing but codes, names and counts leaves a task (security.md SEC-03/SEC-04).

Prefect writes an exception's text into the state message, the ``log`` and ``events`` tables and, on
failure, possibly the result store; pandera's messages carry failing *values* (a My Number, a name),
SQLAlchemy/DBAPI messages can carry ``DETAIL: Key (...)=(...)`` and requests errors carry URLs and
bodies. :func:`sanitised` turns every ``Exception`` into a :class:`SanitisedError` raised ``from None``:

* pandera ``SchemaErrors`` → failure counts per (column, check), no failure cases, no index values;
* pandera ``SchemaError`` → the column, the check and the count;
* SQLAlchemy errors → the exception class, the DBAPI class, SQLSTATE and the constraint name;
* requests errors → the HTTP status code (or the exception class for connection errors/timeouts);
* anything else → the exception class and the file:line where it was raised (code, not data).

Exceptions whose class sets ``safe_message = True`` (e.g. ``OperatorNotAuthorised``, and
``connectors.files.InputFileError``: file name, problem and line, never a cell value, which the operator
needs whole in the CLI and the Prefect state message) and :class:`SanitisedError` itself pass through
unchanged. ``BaseException``s that are not ``Exception``
(KeyboardInterrupt, Prefect's cancellation signals) are never touched.

Use as a decorator (``@sanitised`` / ``@sanitised(stage="intake")``) or a context manager
(``with sanitised(stage="intake"): ...``). The decorator raises outside the ``except`` block, so the
original exception is not even kept as ``__context__``.
"""

from __future__ import annotations

import functools
import os
import re
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from privacy.masking import scrub_my_numbers

F = TypeVar("F", bound=Callable[..., Any])
# SQLite messages that name only schema objects (never values); anything else is dropped
_SAFE_SQLITE = re.compile(
    r"^(no such (table|column|index): [\w.]+|table [\w.]+ already exists|index [\w.]+ already exists"
    r"|database is locked|database table is locked|disk I/O error|database disk image is malformed"
    r"|attempt to write a readonly database|unable to open database file"
    r"|[\w.]+ may not be NULL|table [\w.]+ has no column named [\w.]+)$"
)
_IDENT = re.compile(r"constraint failed: ((?:[A-Za-z_][\w.]*)(?:, [A-Za-z_][\w.]*)*)")


class SanitisedError(Exception):
    """An error safe to show anywhere: a code and a detail without personal values."""

    safe_message = True

    def __init__(self, code: str, detail: str = "", *, stage: str | None = None,
                 counts: dict[str, int] | None = None) -> None:
        self.code = code
        self.detail = scrub_my_numbers(detail)
        self.stage = stage
        self.counts = dict(counts or {})
        super().__init__(code, self.detail)

    def __str__(self) -> str:
        prefix = f"[{self.stage}] " if self.stage else ""
        return f"{prefix}{self.code}: {self.detail}" if self.detail else f"{prefix}{self.code}"

    def __reduce__(self):
        return (_rebuild, (self.code, self.detail, self.stage, self.counts))


def _rebuild(code, detail, stage, counts) -> SanitisedError:
    return SanitisedError(code, detail, stage=stage, counts=counts)


# -- converters --------------------------------------------------------------------------------------
def _pandera(exc: BaseException) -> tuple[str, str, dict[str, int]] | None:
    try:
        from pandera.errors import SchemaError, SchemaErrors
    except ImportError:  # pragma: no cover
        return None
    if isinstance(exc, SchemaErrors):
        cases = exc.failure_cases
        counts: dict[str, int] = {}
        if cases is not None and len(cases):
            grouped = cases.groupby(["column", "check"], dropna=False).size()
            counts = {f"{col}:{check}": int(n) for (col, check), n in grouped.items()}
        total = sum(counts.values())
        listing = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
        return "SCHEMA_ERRORS", f"{total} failure(s): {listing}", counts
    if isinstance(exc, SchemaError):
        column = getattr(getattr(exc, "schema", None), "name", None)
        check = getattr(exc, "check", None)
        check_name = getattr(check, "name", None) or (type(check).__name__ if check is not None else "schema")
        reason = getattr(getattr(exc, "reason_code", None), "name", "UNKNOWN")
        cases = getattr(exc, "failure_cases", None)
        count = int(len(cases)) if cases is not None and hasattr(cases, "__len__") else 0
        key = f"{column}:{check_name}"
        return "SCHEMA_ERROR", f"{key} ({reason}) {count} failure(s)", {key: count}
    return None


def _sqlalchemy(exc: BaseException) -> tuple[str, str, dict[str, int]] | None:
    try:
        from sqlalchemy import exc as sa_exc
    except ImportError:  # pragma: no cover
        return None
    if not isinstance(exc, sa_exc.SQLAlchemyError):
        if _is_dbapi_error(exc):  # raised by the driver directly (e.g. psycopg COPY)
            parts = [type(exc).__name__]
            _describe_dbapi(exc, parts)
            return "DB_ERROR", " ".join(parts), {}
        return None
    parts = [type(exc).__name__]
    orig = getattr(exc, "orig", None)
    if orig is not None:
        parts.append(f"dbapi={type(orig).__name__}")
        _describe_dbapi(orig, parts)
    code = "DB_INTEGRITY" if isinstance(exc, sa_exc.IntegrityError) else "DB_ERROR"
    return code, " ".join(parts), {}


def _is_dbapi_error(exc: BaseException) -> bool:
    import sqlite3

    if isinstance(exc, sqlite3.Error):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, psycopg.Error)


def _describe_dbapi(orig: BaseException, parts: list[str]) -> None:
    """Append SQLSTATE, table, column and constraint names (identifiers only) of a DBAPI error."""
    diag = getattr(orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None) if diag is not None else None
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate:
        parts.append(f"sqlstate={sqlstate}")
    for attribute in ("table_name", "column_name"):
        value = getattr(diag, attribute, None) if diag is not None else None
        if value:
            parts.append(f"{attribute.split('_')[0]}={value}")
    first = str(orig.args[0]).splitlines()[0] if orig.args else ""
    if constraint is None and first:
        match = _IDENT.search(first)
        constraint = match.group(1) if match else None
    if constraint:
        parts.append(f"constraint={constraint}")
    elif diag is None and _SAFE_SQLITE.match(first):
        parts.append(f"message={first!r}")


def _requests(exc: BaseException) -> tuple[str, str, dict[str, int]] | None:
    try:
        import requests
    except ImportError:  # pragma: no cover
        return None
    if not isinstance(exc, requests.RequestException):
        return None
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if status is not None:
        return "HTTP_STATUS", f"HTTP {int(status)}", {}
    return "HTTP_ERROR", type(exc).__name__, {}


def _origin(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f" at {os.path.basename(last.filename)}:{last.lineno}"


def sanitise_exception(exc: BaseException, *, stage: str | None = None) -> BaseException:
    """The value-free replacement of ``exc`` (``exc`` itself if it is already safe or not an Exception)."""
    if not isinstance(exc, Exception) or getattr(type(exc), "safe_message", False):
        if isinstance(exc, SanitisedError) and stage and not exc.stage:
            exc.stage = stage
        return exc
    for converter in (_pandera, _sqlalchemy, _requests):
        converted = converter(exc)
        if converted is not None:
            code, detail, counts = converted
            return SanitisedError(code, detail, stage=stage, counts=counts)
    return SanitisedError("INTERNAL", f"{type(exc).__name__}{_origin(exc)}", stage=stage)


class _Sanitiser:
    """Context manager and decorator (see the module docstring)."""

    def __init__(self, stage: str | None = None) -> None:
        self.stage = stage

    def __enter__(self) -> _Sanitiser:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None:
            return False
        replacement = sanitise_exception(exc, stage=self.stage)
        if replacement is exc:
            return False
        raise replacement from None

    def __call__(self, func: F) -> F:
        stage = self.stage

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - every exception is replaced below
                replacement = sanitise_exception(exc, stage=stage)
                if replacement is exc:
                    raise
            # raised outside the except block: the original is not kept as __context__
            raise replacement from None

        wrapper.__sanitised__ = True  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]


def sanitised(func: Callable | None = None, *, stage: str | None = None):
    """Return a sanitising decorator or context manager (see the module docstring)."""
    if func is not None and callable(func):
        return _Sanitiser(stage)(func)
    return _Sanitiser(stage)
