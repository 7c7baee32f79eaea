"""Every path a command or a flow parameter writes, wipes or opens stays inside its allowed directory.

Issue 14 §3: ``export wipe --file`` wiped the key ring and the database, ``export open --out kodomo.db``
truncated the database, ``notice-lists --month ../../x`` wrote outside the outbox. :func:`confine`
resolves a path (symlinks and ``..`` included) and refuses it unless it lies under one of the allowed
directories of the worker's own settings; each refusal is an access record (``outcome=refused``).

Allowed directories (all under ``KODOMO_HOME`` unless configured otherwise):

===============  =====================================================================
``outbox``       staff lists, 全銀 files, named print lists (``kodomo notice-lists``)
``exports``      SEC-10 exports, opened exports
``inbox``        input files read by flows
===============  =====================================================================

A flow parameter that names a path is also typed :data:`LocalPathParam`: printable ASCII path
characters and no run of 9 or more digits, so neither a name nor a My Number can be typed into it and
stored by Prefect (issue 14 §6).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

from pydantic import Field

from privacy.audit import record_refusal

#: a path parameter: ASCII path characters, digit runs of at most 8 (a My Number has 12), 1-255 characters
LOCAL_PATH_PATTERN = r"^[A-Za-z_./-]*(?:[0-9]{1,8}[A-Za-z_./-]+)*[0-9]{0,8}$"
LocalPathParam = Annotated[str, Field(pattern=LOCAL_PATH_PATTERN, min_length=1, max_length=255,
                                      description="A file or directory path (ASCII, no personal data)")]
#: a reference number typed into a form (受付番号, 届出番号, case or consent id): letters, digits and hyphens
#: with at most 11 digits in all, so a My Number (12 digits, hyphenated or not) never fits; and digits only
#: at most 8, so a 宛名番号 (10 digits) never fits either (issue 14); empty = none. Without look-ahead (it
#: is also the forms' JSON schema): either ≤ 8 digits, or k leading digits, a letter or hyphen, and at most
#: 11 - k digits after it.
REFERENCE_PATTERN = "^(?:[0-9]{0,8}|" + "|".join(
    f"[0-9]{{{k}}}[A-Za-z-]+(?:[0-9][A-Za-z-]*){{0,{11 - k}}}" for k in range(12)) + ")$"
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"


class PathNotAllowed(PermissionError):  # noqa: N818 - reads as the refusal it is
    """A path outside the directory the command may touch (the message names the area, not the path)."""

    safe_message = True

    def __init__(self, purpose: str, area: str) -> None:
        self.purpose = purpose
        self.area = area
        super().__init__(f"{purpose}: the path is outside the allowed {area} directory; refused and recorded")


def allowed_directory(area: str, settings=None) -> Path:
    """The directory of ``area`` (outbox, exports, inbox) from the worker's own settings."""
    if settings is None:
        from config.settings import get_settings

        settings = get_settings()
    directories = {
        "outbox": settings.resolved_outbox_dir,
        "exports": settings.resolved_exports_dir,
        "inbox": settings.resolved_inbox_dir,
    }
    if area not in directories:
        raise ValueError(f"unknown area {area!r}; expected one of {sorted(directories)}")
    return Path(directories[area])


def is_within(path: Path | str, directory: Path | str) -> bool:
    """Whether ``path`` resolves (symlinks followed) to ``directory`` or below it."""
    resolved = Path(os.path.realpath(path))
    root = Path(os.path.realpath(directory))
    return resolved == root or root in resolved.parents


def confine(path: Path | str, *areas: str, actor_id: str, purpose: str, settings=None,
            must_be_file: bool = False) -> Path:
    """Return the resolved ``path`` if it lies under one of ``areas``; else record and raise.

    Args:
        path: the path as given (relative paths are taken from the current directory).
        areas: allowed areas, e.g. ``"exports"`` or ``("exports", "outbox")``.
        actor_id: the operator, for the access record of a refusal.
        purpose: short code of the command (``cli:export wipe``), recorded with a refusal.
        settings: the settings in force (default: this process's).
        must_be_file: refuse anything but an existing regular file (wipe, open).

    Raises:
        PathNotAllowed: the path is outside every allowed area (or is not a regular file).
    """
    resolved = Path(os.path.realpath(path))
    inside = any(is_within(resolved, allowed_directory(area, settings)) for area in areas)
    if not inside or (must_be_file and not resolved.is_file()):
        area = "/".join(areas)
        database_url = settings.resolved_database_url if settings is not None else None
        record_refusal(actor_id, f"{purpose}:path-outside-{area}"[:128], database_url=database_url)
        raise PathNotAllowed(purpose, area)
    return resolved


def month_directory(month: str, area: str, *, actor_id: str, purpose: str, settings=None) -> Path:
    """``<area>/<month>`` for a well-formed month (YYYY-MM), else record and refuse."""
    base = allowed_directory(area, settings)
    if not isinstance(month, str) or not re.match(MONTH_PATTERN, month):
        database_url = settings.resolved_database_url if settings is not None else None
        record_refusal(actor_id, f"{purpose}:malformed-month"[:128], database_url=database_url)
        raise PathNotAllowed(purpose, area)
    return confine(base / month, area, actor_id=actor_id, purpose=purpose, settings=settings)
