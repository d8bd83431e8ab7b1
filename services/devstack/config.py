from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DevstackSettings(BaseSettings):
    """What `make run` reads from the environment. A database or NATS URL that is set is
    used as is; whatever is missing runs embedded under data_dir."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    data_dir: Path = Field(default=Path(".data"), validation_alias=AliasChoices("TESSERA_DATA_DIR"))
    gateway_port: int = Field(default=8000, validation_alias=AliasChoices("GATEWAY_PORT"))
    identity_database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("IDENTITY_DATABASE_URL")
    )
    schema_database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("SCHEMA_DATABASE_URL")
    )
    records_database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("RECORDS_DATABASE_URL")
    )
    workflows_database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("WORKFLOWS_DATABASE_URL")
    )
    nats_url: str | None = Field(default=None, validation_alias=AliasChoices("NATS_URL"))
    # Unset: the key kept under data_dir (made on first run).
    secret_key: str | None = Field(
        default=None, validation_alias=AliasChoices("TESSERA_SECRET_KEY")
    )
