"""Settings of the records service, read once from RECORDS_* (and NATS_URL)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.kit.config import DatabaseServiceSettings


class RecordsSettings(DatabaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RECORDS_", extra="ignore", frozen=True)

    # host:port of the schema service, asked for definitions on a cache miss. Required to
    # serve; `migrate` does not need it.
    schema_addr: str = ""
    schema_cache_ttl_seconds: float = 60.0
