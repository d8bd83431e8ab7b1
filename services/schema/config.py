"""Settings of the schema service, read from SCHEMA_* variables (and NATS_URL)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.kit.config import DatabaseServiceSettings


class SchemaSettings(DatabaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SCHEMA_", extra="ignore", frozen=True)
