"""Run-time settings: one pydantic model, read from ``KODOMO_*`` environment variables.

Named profiles differ only in values (style.md point 9). Secrets (encryption keys, the PMH token) come
from the environment, a key file outside the repository, or a Prefect Secret block — never from code or
the database.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a run needs besides its parameters."""

    model_config = SettingsConfigDict(env_prefix="KODOMO_", extra="ignore", frozen=True)

    home: Path = Field(default=Path("var"), description="Working directory for the embedded default")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file var/kodomo.db under home"
    )
    inbox_dir: Path | None = Field(default=None, description="Default inbox; default: <home>/inbox")
    outbox_dir: Path | None = Field(default=None, description="Staff outputs; default: <home>/outbox")
    key_file: Path | None = Field(
        default=None, description="JSON key ring for field encryption; default: <home>/keys/keyring.json"
    )
    data_key: SecretStr | None = Field(default=None, description="Base64 AES-256 data key (overrides key file)")
    index_key: SecretStr | None = Field(default=None, description="Base64 HMAC key for blind indexes")
    key_secret_block: str | None = Field(
        default=None, description="Name of a Prefect Secret block holding the key ring JSON"
    )
    pmh_url: str | None = Field(default=None, description="PMH API base URL; none = file mode (daily JSON)")
    pmh_token: SecretStr | None = Field(default=None, description="PMH bearer token")
    pmh_token_block: str | None = Field(default=None, description="Prefect Secret block with the PMH token")
    connector: Literal["file", "http"] = Field(default="file", description="Inquiry connectors")
    inquiry_url: str | None = Field(default=None, description="Base URL of the inquiry services (http mode)")
    operators_file: Path | None = Field(default=None, description="Staff registry (YAML)")
    # The city's paying account (振込依頼人) of the 全銀 file: not personal data; demo values by default.
    zengin_remitter_code: str = Field(default="0000000001", description="委託者コード (10 digits)")
    zengin_remitter_name: str = Field(default="ｾﾝﾀﾞｲｼ", description="委託者名 (half-width kana)")
    zengin_bank_code: str = Field(default="0000", description="仕向銀行番号")
    zengin_branch_code: str = Field(default="000", description="仕向支店番号")
    zengin_account_type: str = Field(default="1", description="預金種目 (1 普通, 2 当座)")
    zengin_account_number: str = Field(default="0000000", description="口座番号")
    # -- proof of identity (privacy.operators). The verifier side (registry, public keys under the key
    # directory, the service key) is the worker's own setting: the work pool refuses ``env`` job variables
    # and no flow parameter names a path to it. The two caller-side settings below are read by the process
    # that *proves* (a person's shell, a script), never by a deployment run on the worker.
    operator_key_file: Path | None = Field(
        default=None, description="The caller's private key; default: <home>/credentials/<operator>.key")
    operator_proof_file: Path | None = Field(
        default=None, description="A single-use proof written by 'kodomo login --token-file'")
    service_key_block: str | None = Field(
        default=None, description="Prefect Secret block with the service principal's private key")
    sqlite_cache_mib: int = Field(
        default=128, ge=2,
        description="SQLite page cache per connection (MiB); sized so a month's random-key indexes stay in memory",
    )

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file under ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'kodomo.db').resolve()}"

    @property
    def resolved_inbox_dir(self) -> Path:
        return self.inbox_dir or self.home / "inbox"

    @property
    def resolved_outbox_dir(self) -> Path:
        return self.outbox_dir or self.home / "outbox"

    @property
    def resolved_exports_dir(self) -> Path:
        return self.home / "exports"

    @property
    def resolved_key_file(self) -> Path:
        return self.key_file or self.home / "keys" / "keyring.json"


@functools.cache
def get_settings() -> Settings:
    """Settings of this process (read once)."""
    return Settings()
