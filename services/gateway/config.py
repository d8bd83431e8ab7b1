from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from services.kit.config import BaseServiceSettings


class GatewaySettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, validation_alias=AliasChoices("GATEWAY_PORT"))
    identity_addr: str = "127.0.0.1:50051"
    schema_addr: str = "127.0.0.1:50052"
    records_addr: str = "127.0.0.1:50053"
    # Bodies above this are refused with 413 before they are read in full.
    max_body_bytes: int = 1024 * 1024
    # Deadline of every call to a backing service.
    call_timeout_seconds: float = 10.0
    # Deadline of a streamed import or export, which lasts as long as the file takes.
    transfer_timeout_seconds: float = 3600.0
    # Origins besides the gateway's own that may send cookie-authenticated JSON writes.
    allowed_origins: list[str] = Field(default_factory=list)
    # Set when served over HTTPS, so session cookies never travel in clear text.
    cookie_secure: bool = False
    session_cookie_max_age_seconds: int = 14 * 24 * 3600
    # Memberships are cached per account and dropped on identity member events.
    membership_cache_seconds: float = 30.0
