"""Field encryption (AES-256-GCM) and keyed blind indexes (HMAC-SHA-256).

My Number and the 基本4情報 (name, kana, address) are 特定個人情報 under 番号法 §12; they are stored
only encrypted (security.md SEC-05, SEC-06):

* AES-256-GCM (CRYPTREC 電子政府推奨暗号リスト) with a fresh 96-bit nonce per value. The associated data
  binds ``table|column|row key|key version``, so a ciphertext moved to another row or column fails to
  decrypt. Stored layout: ``version (2 bytes, big-endian) || nonce (12) || ciphertext+tag``.
* Equality lookups use HMAC-SHA-256 under a *separate* index key; no unkeyed hash of a My Number is kept
  anywhere (a 12-digit number with a check digit is brute-forceable).
* Keys live outside the database and the repository: environment (``KODOMO_DATA_KEY`` /
  ``KODOMO_INDEX_KEY``), a Prefect Secret block, or a key-ring file under ``<home>/keys`` that the
  embedded default creates with mode 0600 on first use. The ring keeps old data-key versions so that
  ``kodomo keys rotate`` can re-encrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privacy.files import private_directory, write_private_file

_NONCE_BYTES = 12
_VERSION_BYTES = 2


class KeyRingError(Exception):
    """A key is missing or malformed (the message never contains key material)."""


@dataclass(frozen=True)
class KeyRing:
    """Data keys by version (one primary) and the blind-index key."""

    data_keys: dict[int, bytes]
    primary_version: int
    index_key: bytes
    _ciphers: dict[int, AESGCM] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.primary_version not in self.data_keys:
            raise KeyRingError("the primary data-key version is not in the key ring")
        for version, key in self.data_keys.items():
            if len(key) != 32:
                raise KeyRingError(f"data key v{version} is not 256 bits")
            self._ciphers[version] = AESGCM(key)
        if len(self.index_key) < 32:
            raise KeyRingError("the index key must have at least 256 bits")
        if any(hmac.compare_digest(self.index_key, k) for k in self.data_keys.values()):
            raise KeyRingError("the index key must differ from every data key")

    # -- serialisation ---------------------------------------------------------------------------
    @classmethod
    def generate(cls) -> KeyRing:
        """A new ring with one random data key (v1) and a random index key."""
        return cls({1: AESGCM.generate_key(bit_length=256)}, 1, secrets.token_bytes(32))

    def to_json(self) -> str:
        return json.dumps({
            "primary_version": self.primary_version,
            "data_keys": {str(v): base64.b64encode(k).decode() for v, k in sorted(self.data_keys.items())},
            "index_key": base64.b64encode(self.index_key).decode(),
        })

    @classmethod
    def from_json(cls, text: str) -> KeyRing:
        try:
            raw = json.loads(text)
            keys = {int(v): base64.b64decode(k) for v, k in raw["data_keys"].items()}
            return cls(keys, int(raw["primary_version"]), base64.b64decode(raw["index_key"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyRingError("the key ring is malformed") from exc

    def with_new_primary(self) -> KeyRing:
        """A ring with a fresh data key as the new primary; old versions stay for decryption."""
        version = max(self.data_keys) + 1
        keys = dict(self.data_keys)
        keys[version] = AESGCM.generate_key(bit_length=256)
        return KeyRing(keys, version, self.index_key)

    def without_versions(self, versions: Iterable[int]) -> KeyRing:
        keys = {v: k for v, k in self.data_keys.items() if v not in set(versions)}
        return KeyRing(keys, self.primary_version, self.index_key)

    # -- encryption --------------------------------------------------------------------------------
    @staticmethod
    def associated_data(table: str, column: str, row_key: str, version: int) -> bytes:
        return f"{table}|{column}|{row_key}|v{version}".encode()

    def encrypt(self, plaintext: str, *, table: str, column: str, row_key: str) -> bytes:
        """Encrypt one value bound to (table, column, row_key) under the primary key."""
        version = self.primary_version
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[version].encrypt(
            nonce, plaintext.encode("utf-8"), self.associated_data(table, column, row_key, version)
        )
        return version.to_bytes(_VERSION_BYTES, "big") + nonce + sealed

    def decrypt(self, blob: bytes, *, table: str, column: str, row_key: str) -> str:
        """Decrypt one value; raises ``cryptography.exceptions.InvalidTag`` if it was moved or altered."""
        version = int.from_bytes(blob[:_VERSION_BYTES], "big")
        cipher = self._ciphers.get(version)
        if cipher is None:
            raise KeyRingError(f"data key v{version} is not in the key ring")
        nonce = blob[_VERSION_BYTES:_VERSION_BYTES + _NONCE_BYTES]
        plain = cipher.decrypt(
            nonce, blob[_VERSION_BYTES + _NONCE_BYTES:], self.associated_data(table, column, row_key, version)
        )
        return plain.decode("utf-8")

    @staticmethod
    def key_version_of(blob: bytes) -> int:
        return int.from_bytes(blob[:_VERSION_BYTES], "big")

    def encrypt_many(
        self, plaintexts: Sequence[str | None], *, table: str, column: str, row_keys: Sequence[str]
    ) -> list[bytes | None]:
        """Encrypt a column (None stays None). One C call per value; no Python crypto.

        The fresh 96-bit nonces come from one ``os.urandom`` call for the whole column (the same CSPRNG,
        one system call instead of one per value).
        """
        version = self.primary_version
        encrypt = self._ciphers[version].encrypt
        prefix = version.to_bytes(_VERSION_BYTES, "big")
        head = f"{table}|{column}|".encode()
        tail = f"|v{version}".encode()
        pool = os.urandom(_NONCE_BYTES * len(plaintexts))
        out: list[bytes | None] = [None] * len(plaintexts)
        for position, (text, key) in enumerate(zip(plaintexts, row_keys, strict=True)):
            if text is None:
                continue
            nonce = pool[position * _NONCE_BYTES:(position + 1) * _NONCE_BYTES]
            out[position] = prefix + nonce + encrypt(nonce, text.encode("utf-8"), head + key.encode() + tail)
        return out

    def decrypt_many(
        self, blobs: Sequence[bytes | None], *, table: str, column: str, row_keys: Sequence[str]
    ) -> list[str | None]:
        """Decrypt a column (None stays None); same checks as :meth:`decrypt`, one C call per value.

        The associated-data prefix/suffix and the cipher of each key version are looked up once per
        version, not once per value.
        """
        head = f"{table}|{column}|".encode()
        ciphers: dict[bytes, tuple] = {}
        out: list[str | None] = []
        append = out.append
        start = _VERSION_BYTES + _NONCE_BYTES
        for blob, key in zip(blobs, row_keys, strict=True):
            if blob is None:
                append(None)
                continue
            if type(blob) is not bytes:
                blob = bytes(blob)
            prefix = blob[:_VERSION_BYTES]
            entry = ciphers.get(prefix)
            if entry is None:
                version = int.from_bytes(prefix, "big")
                cipher = self._ciphers.get(version)
                if cipher is None:
                    raise KeyRingError(f"data key v{version} is not in the key ring")
                entry = ciphers[prefix] = (cipher.decrypt, f"|v{version}".encode())
            decrypt, tail = entry
            append(decrypt(blob[_VERSION_BYTES:start], blob[start:], head + key.encode() + tail).decode("utf-8"))
        return out

    # -- blind index -------------------------------------------------------------------------------
    def blind_index(self, value: str, *, purpose: str = "my_number") -> str:
        """HMAC-SHA-256 of ``value`` under the index key, domain-separated by ``purpose`` (hex)."""
        return hmac.new(self.index_key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()

    def blind_index_many(self, values: Sequence[str | None], *, purpose: str = "my_number") -> list[str | None]:
        """Vectorised :meth:`blind_index` (the same HMAC-SHA-256, RFC 2104).

        The keyed inner and outer SHA-256 states are computed once instead of once per value.
        """
        key = self.index_key if len(self.index_key) <= 64 else hashlib.sha256(self.index_key).digest()
        key = key.ljust(64, b"\x00")
        inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        inner.update(f"{purpose}\x00".encode())
        inner_copy, outer_copy = inner.copy, outer.copy  # bound once: this loop runs once per row
        out: list[str | None] = []
        append = out.append
        for value in values:
            if value is None:
                append(None)
                continue
            h = inner_copy()
            h.update(value.encode())
            o = outer_copy()
            o.update(h.digest())
            append(o.hexdigest())
        return out


def load_key_ring(settings, *, create: bool = True) -> KeyRing:
    """Load the key ring: env keys, then a Prefect Secret block, then the key file (created if allowed)."""
    if settings.data_key is not None and settings.index_key is not None:
        data = base64.b64decode(settings.data_key.get_secret_value())
        index = base64.b64decode(settings.index_key.get_secret_value())
        return KeyRing({1: data}, 1, index)
    if settings.key_secret_block:
        from prefect.blocks.system import Secret  # imported lazily: only this source needs Prefect

        return KeyRing.from_json(Secret.load(settings.key_secret_block).get())
    path: Path = settings.resolved_key_file
    if path.exists():
        return KeyRing.from_json(path.read_text())
    if not create:
        raise KeyRingError(f"no key ring at {path}; run 'kodomo keys init' or set KODOMO_DATA_KEY/KODOMO_INDEX_KEY")
    ring = KeyRing.generate()
    save_key_ring(ring, path)
    return ring


def save_key_ring(ring: KeyRing, path: Path) -> None:
    """Write the ring atomically with owner-only permissions, in a folder only the owner can enter."""
    private_directory(path.parent)
    write_private_file(path, ring.to_json())
