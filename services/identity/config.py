"""Identity settings, read once from the environment (IDENTITY_*, NATS_URL,
TESSERA_SECRET_KEY)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.identity.passwords import default_concurrency
from services.kit.config import DatabaseServiceSettings
from services.kit.nats.permissions import AUDIT_RECORDER
from services.kit.secrets import SECRET_KEY_ENV


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

    # The key-encryption key(s) the signing keys are sealed with (services.kit.secrets):
    # comma-separated, the first seals, all open. Without it identity does not start.
    secret_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices(SECRET_KEY_ENV)
    )

    # Argon2 takes 64 MiB per hash: this many run at once, this many more may wait, and
    # a password check beyond both is refused with 429.
    password_hashing_concurrency: int = Field(default_factory=default_concurrency, ge=1)
    password_hashing_waiting: int = Field(default=16, ge=0)

    # Login throttling (services/identity/throttling.py). Past its free failures, a scope
    # waits first_delay, then twice as long after every further failure, up to its cap.
    # Per account and address: strict, so guessing one account from one place stalls.
    login_free_failures_per_account_address: int = Field(default=5, ge=0)
    login_max_delay_per_account_address_seconds: float = Field(default=900.0, ge=0)
    # Per account from anywhere: lenient and short, so nobody can lock its owner out for
    # long; an address the account logged in from lately is not held by it at all.
    login_free_failures_per_account: int = Field(default=20, ge=0)
    login_max_delay_per_account_seconds: float = Field(default=60.0, ge=0)
    # Per address across accounts: against trying one password on many accounts.
    login_free_failures_per_address: int = Field(default=50, ge=0)
    login_max_delay_per_address_seconds: float = Field(default=900.0, ge=0)
    login_first_delay_seconds: float = Field(default=1.0, gt=0)
    # Failures older than this are forgotten.
    login_failure_memory_seconds: float = Field(default=3600.0, gt=0)
    # How long a successful login makes its address known to the account.
    login_known_address_seconds: float = Field(default=30 * 24 * 3600.0, ge=0)
    # How often forgotten failures and stale known addresses are deleted.
    login_throttle_prune_seconds: float = Field(default=600.0, gt=0)
