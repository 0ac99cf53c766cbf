"""Validated settings from the environment (one place lists every variable and its default)."""

from __future__ import annotations

import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDERS = {"", "changeme", "change-me", "secret", "test", "placeholder", "xxx"}


class Environment(StrEnum):
    LOCAL = "local"
    PRODUCTION = "production"


class InsecureSettingError(ValueError):
    """Production refuses missing or placeholder secrets."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    conectapro_env: Environment = Environment.LOCAL
    conectapro_data_dir: Path = Path(".conectapro")
    log_level: str = "INFO"
    log_format: Annotated[str, Field(pattern="^(json|console)$")] = "json"

    database_url: str | None = None
    nats_url: str | None = None

    ingress_host: str = "127.0.0.1"
    ingress_port: int = Field(default=8080, ge=1, le=65535)
    operator_api_port: int = Field(default=8081, ge=1, le=65535)
    operator_api_host: str = "127.0.0.1"
    #: Bearer token of the operator API; generated in the data folder in local mode, required in production.
    operator_api_token: SecretStr | None = None
    sandbox_port: int = Field(default=8082, ge=0, le=65535)

    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    whatsapp_access_token: SecretStr | None = None
    whatsapp_api_base_url: str = "https://graph.facebook.com/v21.0"
    whatsapp_phone_number_id: str | None = None

    #: Partitions of the inbound subject space: one customer always lands in the same one.
    inbound_partitions: int = Field(default=8, ge=1, le=1024)
    #: How long an inbound message handed to a consumer that died waits before redelivery.
    inbound_ack_wait_seconds: float = Field(default=30.0, gt=0.5, le=3600)
    #: How long the INBOUND stream keeps each update, and with it the record that its id was published
    #: (Meta retries for up to 7 days, so at least 8).
    inbound_retention_days: int = Field(default=14, ge=8)

    @property
    def is_production(self) -> bool:
        return self.conectapro_env is Environment.PRODUCTION

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> Settings:
        if not self.is_production:
            return self
        problems = []
        for name in ("whatsapp_app_secret", "whatsapp_verify_token", "operator_api_token"):
            value: SecretStr | None = getattr(self, name)
            if value is None or value.get_secret_value().strip().lower() in _PLACEHOLDERS:
                problems.append(name.upper())
        if self.database_url is None:
            problems.append("DATABASE_URL")
        if self.nats_url is None:
            problems.append("NATS_URL")
        if problems:
            raise InsecureSettingError("production mode needs real values for: " + ", ".join(problems))
        return self


def local_secret(data_dir: Path, name: str) -> str:
    """A development secret generated once and kept in the data folder, so restarts keep it."""
    secrets_dir = data_dir / "secrets"
    secrets_dir.mkdir(parents=True, exist_ok=True)
    path = secrets_dir / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()
