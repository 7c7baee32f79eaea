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


class MyNumberMaskingFilter(logging.Filter):
    """Logging filter: scrubs My Numbers from the formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: D102
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not break logging
            return True
        scrubbed = scrub_my_numbers(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


def install_masking_filter(*logger_names: str) -> None:
    """Attach the filter to the named loggers and to every handler of the root logger."""
    flt = MyNumberMaskingFilter()
    for name in logger_names or ("", "prefect", "kodomo", "sqlalchemy"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, MyNumberMaskingFilter) for f in logger.filters):
            logger.addFilter(flt)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, MyNumberMaskingFilter) for f in handler.filters):
            handler.addFilter(flt)
