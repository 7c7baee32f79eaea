"""Registry of encrypted columns: (table, ciphertext column, AAD column name, row-key column).

``kodomo keys rotate`` re-encrypts every column listed here; ``kodomo keys status`` counts ciphertexts
per key version. A feature that adds an ``*_enc`` column registers it here (or calls
:func:`register_encrypted_column` at import time); ``tests/unit/test_privacy_keys.py`` fails for any
``*_enc`` column of ``Base.metadata`` that is not registered, so no ciphertext is left behind by a rotation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EncryptedColumn:
    """A ciphertext column and how its associated data is formed (architecture.md, Encryption conventions)."""

    table: str
    column: str  # the *_enc column in the database
    aad_column: str  # the ``column=`` passed to KeyRing.encrypt (e.g. "my_number")
    row_key: str  # the column whose value is the ``row_key`` (e.g. "person_id")


ENCRYPTED_COLUMNS: list[EncryptedColumn] = [
    EncryptedColumn("person", "my_number_enc", "my_number", "person_id"),
    EncryptedColumn("person", "profile_enc", "profile", "person_id"),
    EncryptedColumn("pmh_subject", "pmh_id_enc", "pmh_id", "person_id"),
    EncryptedColumn("benefit_claim", "payee_enc", "payee", "claim_id"),
    EncryptedColumn("contact_address", "address_enc", "address", "action_id"),
    EncryptedColumn("payee_account", "account_enc", "account", "action_id"),
]


def register_encrypted_column(table: str, column: str, aad_column: str, row_key: str) -> EncryptedColumn:
    """Add a column to the registry (idempotent)."""
    entry = EncryptedColumn(table, column, aad_column, row_key)
    if entry not in ENCRYPTED_COLUMNS:
        ENCRYPTED_COLUMNS.append(entry)
    return entry


def encrypted_columns(metadata=None) -> list[EncryptedColumn]:
    """Registered columns whose table exists in ``metadata`` (default: the project's whole schema)."""
    if metadata is None:
        import store.models  # noqa: F401 - registers every table
        from store.db import Base

        metadata = Base.metadata
    return [c for c in ENCRYPTED_COLUMNS if c.table in metadata.tables
            and c.column in metadata.tables[c.table].c]


def unregistered_encrypted_columns(metadata=None) -> list[str]:
    """``table.column`` of every ``*_enc`` column in ``metadata`` that is not registered."""
    if metadata is None:
        import store.models  # noqa: F401
        from store.db import Base

        metadata = Base.metadata
    known = {(c.table, c.column) for c in ENCRYPTED_COLUMNS}
    return sorted(
        f"{table.name}.{col.name}"
        for table in metadata.tables.values()
        for col in table.columns
        if col.name.endswith("_enc") and (table.name, col.name) not in known
    )
