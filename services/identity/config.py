"""Identity settings, read once from the environment (IDENTITY_*, NATS_URL)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.kit.config import DatabaseServiceSettings


class IdentitySettings(DatabaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore", frozen=True)

    access_token_ttl_seconds: int = 3600
    refresh_token_ttl_seconds: int = 7 * 24 * 3600
    session_ttl_seconds: int = 14 * 24 * 3600
    jwt_issuer: str = "tessera"
    jwt_audience: str = "tessera-api"
