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

import base64
import fcntl
import functools
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import Field

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


#: lower-case ASCII starting with a letter or digit, at most 8 digits in all (a My Number, hyphenated or
#: not, typed as an id never matches), ≤ 32 characters. No look-ahead: pydantic's regex engine has none.
OPERATOR_ID_PATTERN = (r"^(?:[a-z][a-z._-]*(?:[0-9][a-z._-]*){0,8}"
                       r"|[0-9][a-z._-]*(?:[0-9][a-z._-]*){0,7})$")
OPERATOR_ID_MAX_LENGTH = 32
_OPERATOR_ID = re.compile(OPERATOR_ID_PATTERN)


def shown_id(operator_id: object) -> str:
    """The id as it may appear in a message or record: a well-formed id, else a fixed placeholder.

    A claimed id is caller input: someone may type a My Number or a name into it (issue 14 §6), so only
    ids of the registry's shape (lower-case ASCII, at most 32 characters) are ever echoed.
    """
    text = str(operator_id) if operator_id is not None else ""
    return text if len(text) <= OPERATOR_ID_MAX_LENGTH and _OPERATOR_ID.match(text) else "<malformed-id>"


class OperatorNotAuthorised(PermissionError):  # noqa: N818 - name fixed by the architecture contract
    """The operator id is unknown, disabled, unproven, or its role does not allow the action."""

    safe_message = True  # a well-formed id (or a placeholder), the action and a fixed reason (privacy.errors)

    def __init__(self, operator_id: str, action: str, reason: str) -> None:
        self.operator_id = shown_id(operator_id)
        self.action = action
        self.reason = reason
        super().__init__(f"operator {self.operator_id!r} may not {action!r}: {reason}")


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
        if not _OPERATOR_ID.match(operator_id) or len(operator_id) > OPERATOR_ID_MAX_LENGTH:
            # the id names the public key file: "../x" would let a swapped registry pick the verifier's key
            raise ValueError(f"{source}: entry {number} has a malformed id")
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


# -- proof of identity (issue 14: "a proof the operator alone can produce") ------------------------------
#
# Each principal holds an Ed25519 private key; the verifier holds only the public keys, in the key
# directory of the worker's own settings (``<dir of KODOMO_KEY_FILE>/operators/<id>.pub``). A proof is a
# short-lived assertion signed with the private key: ``kp1.<payload>.<signature>`` (base64url), the payload
# ``{"v":1,"aud":"kodomo","sub":id,"iat":…,"exp":…,"jti":…}``. It is accepted once: its ``jti`` is consumed
# in ``<home>/auth/used-proofs.json`` until it expires. Why this and not TOTP or an HMAC token: nobody who
# can read the registry, the public keys or the server (not even an admin) can mint a proof for someone
# else; a proof typed into a Prefect form and stored in ``flow_run.parameters`` is spent by the time
# anybody can read it; and a script proves itself with its key file without a person typing codes, as
# often as it needs (TOTP allows one command per 30 s window). docs/operations-security.md has the rest.

PROOF_PREFIX = "kp1"
PROOF_PATTERN = r"^kp1\.[A-Za-z0-9_-]{16,400}\.[A-Za-z0-9_-]{86}$"
PROOF_AUDIENCE = "kodomo"
CLI_PROOF_TTL_S = 120  # a proof minted by the CLI for its own command
MAX_PROOF_TTL_S = 900  # ``kodomo login``: time to paste the proof into a run form
CLOCK_SKEW_S = 60

#: operator ids proven in *this process* (CLI command or one worker flow-run process); a subflow of an
#: authorised flow run in the same process inherits the proof instead of needing a second one.
_PROVEN_IN_PROCESS: set[str] = set()


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _settings(settings):
    if settings is None:
        from config.settings import get_settings

        settings = get_settings()
    return settings


def credentials_dir(settings=None) -> Path:
    """Public keys (and service principals' private keys): ``<key directory>/operators``."""
    return Path(_settings(settings).resolved_key_file).parent / "operators"


def public_key_path(operator_id: str, settings=None) -> Path:
    """Where the verifier finds ``operator_id``'s public key."""
    return credentials_dir(settings) / f"{operator_id}.pub"


def personal_key_path(operator_id: str, settings=None) -> Path:
    """The caller's private key: ``KODOMO_OPERATOR_KEY_FILE`` or ``<home>/credentials/<id>.key``."""
    settings = _settings(settings)
    if settings.operator_key_file:
        return Path(settings.operator_key_file)
    return Path(settings.home) / "credentials" / f"{operator_id}.key"


def enrol(operator_id: str, settings=None, *, key_out: Path | str | None = None) -> Path:
    """Create a key pair for a registered principal (admin): the public key goes to the key directory.

    The private key goes to ``key_out`` (default: the service key slot for a service principal, else
    ``<home>/credentials/<id>.key``).

    Re-enrolling replaces the public key, which revokes every earlier private key of that id.
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from privacy.files import private_directory, write_private_file

    settings = _settings(settings)
    operator = load_registry(registry_path(settings)).get(operator_id)
    if operator is None:
        raise OperatorNotAuthorised(operator_id, "enrol", "unknown operator")
    private = Ed25519PrivateKey.generate()
    raw_private = private.private_bytes_raw()
    raw_public = private.public_key().public_bytes_raw()
    if key_out is None:
        key_out = (credentials_dir(settings) / f"{operator_id}.key" if operator.kind == "service"
                   else Path(settings.home) / "credentials" / f"{operator_id}.key")
    private_directory(credentials_dir(settings))
    write_private_file(key_out, base64.b64encode(raw_private).decode("ascii") + "\n")
    write_private_file(public_key_path(operator_id, settings), base64.b64encode(raw_public).decode("ascii") + "\n")
    return Path(key_out)


def _read_private_key(text: str):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(text.strip()))


def mint_proof(private_key_text: str, operator_id: str, *, ttl_s: int = CLI_PROOF_TTL_S,
               now: float | None = None) -> str:
    """A single-use proof for ``operator_id`` signed with the base64 Ed25519 private key."""
    issued = int(now if now is not None else time.time())
    payload = {"v": 1, "aud": PROOF_AUDIENCE, "sub": operator_id, "iat": issued, "exp": issued + int(ttl_s),
               "jti": secrets.token_hex(16)}
    body = _b64e(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    signature = _read_private_key(private_key_text).sign(f"{PROOF_PREFIX}.{body}".encode("ascii"))
    return f"{PROOF_PREFIX}.{body}.{_b64e(signature)}"


def _consume(jti: str, expires: int, settings) -> bool:
    """Record ``jti`` as spent; False when it was spent already (a replay)."""
    from privacy.files import private_directory, write_private_file

    folder = private_directory(Path(settings.home) / "auth")
    lock_path = folder / ".used-proofs.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        store = folder / "used-proofs.json"
        used: dict[str, int] = json.loads(store.read_text()) if store.exists() else {}
        now = int(time.time())
        used = {key: exp for key, exp in used.items() if exp + CLOCK_SKEW_S >= now}
        if jti in used:
            return False
        used[jti] = expires
        write_private_file(store, json.dumps(used))
        return True
    finally:
        os.close(fd)


def verify_proof(proof: str, operator_id: str, action: str, *, settings=None,
                 registry: Registry | None = None) -> Operator:
    """Accept ``proof`` once, for ``operator_id`` doing ``action``, or raise :class:`OperatorNotAuthorised`.

    Checks, in order: the registry (known, enabled, role allows the action); the proof's shape; the
    signature under the operator's enrolled public key; subject, audience, lifetime and expiry; and that
    it has not been used before.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    settings = _settings(settings)
    operator = require_operator(operator_id, action, registry=registry or load_registry(registry_path(settings)))
    if not isinstance(proof, str) or not re.match(PROOF_PATTERN, proof):
        raise OperatorNotAuthorised(operator_id, action, "malformed proof")
    key_file = public_key_path(operator_id, settings)
    if not key_file.exists():
        raise OperatorNotAuthorised(operator_id, action, "no credential enrolled")
    _, body, signature = proof.split(".")
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key_file.read_text().strip()))
        public.verify(_b64d(signature), f"{PROOF_PREFIX}.{body}".encode("ascii"))
        claims = json.loads(_b64d(body))
    except (InvalidSignature, ValueError):
        raise OperatorNotAuthorised(operator_id, action, "bad proof signature") from None
    now = int(time.time())
    if claims.get("sub") != operator_id or claims.get("aud") != PROOF_AUDIENCE or claims.get("v") != 1:
        raise OperatorNotAuthorised(operator_id, action, "proof is for another principal")
    issued, expires = int(claims.get("iat", 0)), int(claims.get("exp", 0))
    if expires - issued > MAX_PROOF_TTL_S or issued > now + CLOCK_SKEW_S:
        raise OperatorNotAuthorised(operator_id, action, "proof lifetime not allowed")
    if expires < now:
        raise OperatorNotAuthorised(operator_id, action, "expired proof")
    if not _consume(str(claims.get("jti", "")), expires, settings):
        raise OperatorNotAuthorised(operator_id, action, "replayed proof")
    _PROVEN_IN_PROCESS.add(operator_id)
    return operator


def local_proof(operator_id: str, settings=None) -> str | None:
    """A proof the *calling* process can produce, or None.

    ``KODOMO_OPERATOR_PROOF_FILE`` (one proof from ``kodomo login --token-file``), else a fresh proof signed
    with the caller's key file.
    """
    settings = _settings(settings)
    if settings.operator_proof_file:
        path = Path(settings.operator_proof_file)
        return path.read_text(encoding="ascii").strip() if path.exists() else None
    key = personal_key_path(operator_id, settings)
    try:
        return mint_proof(key.read_text(encoding="ascii"), operator_id)
    except (OSError, ValueError):
        return None


def service_proof(operator_id: str, settings=None) -> str | None:
    """A proof for a *service* principal from the worker's own settings, or None (staff, no key).

    The key is the Prefect Secret block ``KODOMO_SERVICE_KEY_BLOCK`` or ``<key directory>/operators/<id>.key``.
    """
    settings = _settings(settings)
    operator = lookup_operator(operator_id, load_registry(registry_path(settings)))
    if operator is None or operator.kind != "service":
        return None
    if settings.service_key_block:
        from prefect.blocks.system import Secret  # only this source needs Prefect

        return mint_proof(str(Secret.load(settings.service_key_block).get()), operator_id)
    key = credentials_dir(settings) / f"{operator_id}.key"
    try:
        return mint_proof(key.read_text(encoding="ascii"), operator_id)
    except (OSError, ValueError):
        return None


def proven_in_process(operator_id: str) -> bool:
    """Whether this process already accepted a proof for ``operator_id`` (used for subflows only)."""
    return operator_id in _PROVEN_IN_PROCESS


#: Flow parameter types (a pattern on every parameter: issue 14 §6).
OperatorIdParam = Annotated[str, Field(pattern=OPERATOR_ID_PATTERN, max_length=OPERATOR_ID_MAX_LENGTH,
                                       description="Staff or service id")]
OperatorProofParam = Annotated[str, Field(
    pattern=PROOF_PATTERN, description="Single-use proof of identity from 'kodomo login' (empty for a scheduled "
                                       "run of the service principal)")]
