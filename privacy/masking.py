"""Masking of identifiers and a logging filter that scrubs My Numbers (security.md §3.4).

Defence in depth: the code never logs personal data on purpose; this filter catches accidents. Any run
of 12 digits (ASCII, full-width, or hyphenated 4-4-4) that passes the My Number check digit is replaced.
"""

from __future__ import annotations

import logging
import re

from rules.checkdigits import is_valid_my_number

_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
_CANDIDATE = re.compile(r"(?<![0-9０-９])([0-9０-９]{4})[- ]?([0-9０-９]{4})[- ]?([0-9０-９]{4})(?![0-9０-９])")
MASK = "[MYNUMBER]"


def mask_id(value: object, visible: int = 4) -> str:
    """Show only the last ``visible`` characters of an identifier (e.g. a 宛名番号 in artifacts)."""
    text = "" if value is None else str(value)
    if len(text) <= visible:
        return "*" * len(text)
    return "*" * (len(text) - visible) + text[-visible:]


def mask_value(value: object) -> str:
    """Mask a cell for the quarantine table: at most the last 2 characters stay visible."""
    text = "" if value is None else str(value)
    return mask_id(text, visible=2 if len(text) > 6 else 0)


def scrub_my_numbers(text: str) -> str:
    """Replace every check-digit-valid My Number in ``text``."""

    def _replace(match: re.Match[str]) -> str:
        digits = "".join(match.groups()).translate(_FULLWIDTH)
        return MASK if is_valid_my_number(digits) else match.group(0)

    return _CANDIDATE.sub(_replace, text)


def scrub_record(record: logging.LogRecord) -> None:
    """Scrub My Numbers from a record's message and exception text in place."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a broken format string must not break logging
        return
    scrubbed = scrub_my_numbers(message)
    if scrubbed != message:
        record.msg, record.args = scrubbed, None
    if record.exc_info and not record.exc_text:
        import traceback

        record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
    if record.exc_text:
        record.exc_text = scrub_my_numbers(record.exc_text)
    if record.stack_info:
        record.stack_info = scrub_my_numbers(record.stack_info)


class MyNumberMaskingFilter(logging.Filter):
    """Logging filter: scrubs My Numbers from the formatted message (and traceback) of every record."""

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: D102
        scrub_record(record)
        return True


def install_record_factory() -> None:
    """Wrap the LogRecord factory so every record is scrubbed at creation, whatever handler emits it."""
    current = logging.getLogRecordFactory()
    if getattr(current, "__kodomo_masking__", False):
        return

    def factory(*args, **kwargs):
        record = current(*args, **kwargs)
        scrub_record(record)
        return record

    factory.__kodomo_masking__ = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def install_masking_filter(*logger_names: str) -> None:
    """Mask My Numbers in every log record of this process.

    * the LogRecord factory scrubs each record when it is created (covers loggers and handlers added later,
      e.g. Prefect's API log handler that ships records to the server's ``log`` table);
    * the filter is attached to the named loggers (default: root, prefect, kodomo, sqlalchemy) and to every
      handler that exists now (root's and every other logger's), as a second line of defence.

    Idempotent; call it at process start (the CLI does) and at the start of each flow.
    """
    install_record_factory()
    flt = MyNumberMaskingFilter()
    for name in logger_names or ("", "prefect", "kodomo", "sqlalchemy"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, MyNumberMaskingFilter) for f in logger.filters):
            logger.addFilter(flt)
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, MyNumberMaskingFilter) for f in handler.filters):
                handler.addFilter(flt)
