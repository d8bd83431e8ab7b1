"""Identity settings, read once from the environment (IDENTITY_*, NATS_URL)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.kit.config import DatabaseServiceSettings
from services.kit.nats.permissions import AUDIT_RECORDER


class IdentitySettings(DatabaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore", frozen=True)

    access_token_ttl_seconds: int = 3600
    refresh_token_ttl_seconds: int = 7 * 24 * 3600
    # A spent refresh token presented again this soon is a racing client, not a thief.
    refresh_reuse_grace_seconds: float = 10.0
    session_ttl_seconds: int = 14 * 24 * 3600
    jwt_issuer: str = "tessera"
    jwt_audience: str = "tessera-api"
    # How long a key signs new access tokens before the next one takes over.
    signing_key_rotation_seconds: int = 30 * 24 * 3600
    # How often the rotation and retirement of signing keys is checked.
    signing_key_check_seconds: float = 3600.0
    app_session_ttl_seconds: int = 24 * 3600
    # "keep_logged_in": twelve months.
    app_session_long_ttl_seconds: int = 365 * 24 * 3600
    # Audit entries older than this are pruned (checked every audit_prune_check_seconds).
    audit_retention_days: int = 365
    audit_prune_check_seconds: float = 3600.0
    # The durable consumer of the schema service's audit events, shared by the replicas of
    # one deployment; another deployment on the same NATS needs a name of its own.
    audit_consumer: str = AUDIT_RECORDER.name
