"""Registry of staff user ids (事務取扱担当者) and their roles; every command and flow names its operator.

PIA §3 (1)② ウ: only staff who need the system get a user id, and input/update of 特定個人情報 is tied to
that id. The registry is *data* (YAML), not code (security.md §1.3, SEC-11): the city's file is named by
``KODOMO_OPERATORS_FILE`` (settings ``operators_file``); without it the packaged demo registry
``operators_default.yaml`` is used (synthetic principals ``demo-operator``, ``demo-admin``,
``demo-viewer`` and the service principal ``system-scheduler``).

Roles are nested: viewer ⊂ operator ⊂ admin.

=========  ===========================================================================
action     least role
=========  ===========================================================================
view       viewer   (reports, audit report, leak listing, key status)
run        operator (monthly, move-in, resident changes, PMH sync, generate)
export     operator (still needs a registered approval, see privacy.transfer)
admin      admin    (keys, purge, backup, export approvals, audit anchoring)
=========  ===========================================================================

Registry format::

    operators:
      - id: demo-operator
        role: operator        # viewer | operator | admin
        kind: staff           # staff | service
        enabled: true         # false = refused (leavers)
        description: free text (no personal data)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

ROLES: tuple[str, ...] = ("viewer", "operator", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}

ACTION_MIN_ROLE: dict[str, str] = {"view": "viewer", "run": "operator", "export": "operator", "admin": "admin"}

#: Access-record actions (privacy.audit) each role may perform; anything else is "out of role".
RECORD_ACTIONS_BY_ROLE: dict[str, frozenset[str]] = {
    "viewer": frozenset({"read"}),
    "operator": frozenset({"read", "create", "update", "export", "print"}),
    "admin": frozenset({"read", "create", "update", "export", "print", "delete"}),
}

DEFAULT_REGISTRY = Path(__file__).with_name("operators_default.yaml")


class OperatorNotAuthorised(PermissionError):  # noqa: N818 - name fixed by the architecture contract
    """The operator id is unknown, disabled, or its role does not allow the action."""

    safe_message = True  # operator ids and action names only (privacy.errors)

    def __init__(self, operator_id: str, action: str, reason: str) -> None:
        self.operator_id = operator_id
        self.action = action
        self.reason = reason
        super().__init__(f"operator {operator_id!r} may not {action!r}: {reason}")


@dataclass(frozen=True)
class Operator:
    """One registered principal (a member of staff or a service principal)."""

    operator_id: str
    role: str
    kind: str = "staff"
    enabled: bool = True
    description: str = ""

    @property
    def id(self) -> str:  # noqa: D102 - alias
        return self.operator_id

    def may(self, action: str) -> bool:
        """Whether this operator's role allows ``action`` (ignores ``enabled``)."""
        return role_allows(self.role, action)


def role_allows(role: str, action: str) -> bool:
    """Whether ``role`` allows the command ``action`` (view/run/export/admin)."""
    if action not in ACTION_MIN_ROLE:
        raise ValueError(f"unknown action {action!r}; expected one of {sorted(ACTION_MIN_ROLE)}")
    return role in _RANK and _RANK[role] >= _RANK[ACTION_MIN_ROLE[action]]


@dataclass(frozen=True)
class Registry:
    """The operators by id."""

    operators: dict[str, Operator]
    source: str

    def get(self, operator_id: str) -> Operator | None:  # noqa: D102
        return self.operators.get(operator_id)


def parse_registry(text: str, source: str = "<text>") -> Registry:
    """Parse registry YAML; raises ValueError on a malformed file (duplicate id, unknown role)."""
    raw = yaml.safe_load(text) or {}
    entries = raw.get("operators") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{source}: expected a mapping with an 'operators' list")
    operators: dict[str, Operator] = {}
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not entry.get("id"):
            raise ValueError(f"{source}: entry {number} has no id")
        operator_id = str(entry["id"])
        role = str(entry.get("role", ""))
        if role not in _RANK:
            raise ValueError(f"{source}: entry {number} has unknown role {role!r}")
        kind = str(entry.get("kind", "staff"))
        if kind not in ("staff", "service"):
            raise ValueError(f"{source}: entry {number} has unknown kind {kind!r}")
        if operator_id in operators:
            raise ValueError(f"{source}: duplicate operator id {operator_id!r}")
        operators[operator_id] = Operator(
            operator_id, role, kind, bool(entry.get("enabled", True)), str(entry.get("description", ""))
        )
    return Registry(operators, source)


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int, size: int) -> Registry:
    return parse_registry(Path(path).read_text(encoding="utf-8"), path)


def registry_path(settings=None) -> Path:
    """The registry file in force: settings ``operators_file`` or the packaged demo registry."""
    if settings is None:
        from config.settings import get_settings

        settings = get_settings()
    return Path(settings.operators_file) if settings.operators_file else DEFAULT_REGISTRY


def load_registry(path: Path | str | None = None) -> Registry:
    """Load (and cache until the file changes) the registry at ``path`` or the one in force."""
    target = Path(path) if path is not None else registry_path()
    stat = target.stat()
    return _load_cached(str(target.resolve()), stat.st_mtime_ns, stat.st_size)


def lookup_operator(operator_id: str, registry: Registry | None = None) -> Operator | None:
    """The registered operator or None (never raises for an unknown id)."""
    try:
        registry = registry or load_registry()
    except OSError:
        return None
    return registry.get(operator_id)


def require_operator(operator_id: str, action: str, *, registry: Registry | None = None) -> Operator:
    """Return the operator if it is registered, enabled and its role allows ``action``.

    Raises:
        OperatorNotAuthorised: for an unknown, disabled or unauthorised id.
        ValueError: for an unknown action (a programming error).
    """
    if action not in ACTION_MIN_ROLE:
        raise ValueError(f"unknown action {action!r}; expected one of {sorted(ACTION_MIN_ROLE)}")
    if not operator_id or not isinstance(operator_id, str):
        raise OperatorNotAuthorised(str(operator_id), action, "no operator id given")
    registry = registry or load_registry()
    operator = registry.get(operator_id)
    if operator is None:
        raise OperatorNotAuthorised(operator_id, action, "unknown operator")
    if not operator.enabled:
        raise OperatorNotAuthorised(operator_id, action, "operator is disabled")
    if not operator.may(action):
        raise OperatorNotAuthorised(operator_id, action, f"role {operator.role!r} does not allow it")
    return operator
