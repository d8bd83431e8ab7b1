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
    workflows_addr: str = "127.0.0.1:50054"
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
    # Cookie sessions are cached under their hash and dropped on identity events naming
    # their account (logout, password change, membership change).
    session_cache_seconds: float = Field(default=30.0, ge=0)
    # Requests per window (seconds) per credential (a token or key; the account behind a
    # JWT or a session), per workspace and per client address; a limit of 0 turns that
    # one off. Counts are shared by every replica through NATS (see services/gateway/limits).
    rate_limits_enabled: bool = True
    rate_limit_credential: int = Field(default=50_000, ge=0)
    rate_limit_credential_window_seconds: int = Field(default=10, ge=1)
    rate_limit_workspace: int = Field(default=100_000, ge=0)
    rate_limit_workspace_window_seconds: int = Field(default=10, ge=1)
    rate_limit_address: int = Field(default=50_000, ge=0)
    rate_limit_address_window_seconds: int = Field(default=10, ge=1)
    # Password sign-ins per address (token-auth, session and app end-user logins), on top
    # of the address's own limit: identity throttles each login anyway, this keeps a flood
    # of attempts from reaching it at all.
    rate_limit_sign_in: int = Field(default=60, ge=0)
    rate_limit_sign_in_window_seconds: int = Field(default=60, ge=1)
    # How often this replica tells the others its counts: what bounds the overshoot.
    rate_limit_sync_seconds: float = Field(default=0.1, gt=0)
    # Load balancers (addresses or networks) whose X-Forwarded-For names the client; from
    # anyone else the header is ignored and the peer's own address counts.
    trusted_proxies: list[str] = Field(default_factory=list)
    # The gateway's address as browsers reach it (https://api.example.com): single sign-on
    # redirect URIs are made from it. Unset, from each request's own scheme and Host.
    public_url: str = ""
    # Realtime (services/gateway/realtime.py): messages waiting for one client before it is
    # disconnected as too slow; how often each connection hears a heartbeat (with its
    # subscriptions' event ids); how long a WebSocket opened without a credential has to
    # send its `auth` message; how often every connection's credential is checked again
    # (revocations end connections at once, this catches expiries).
    realtime_queue_size: int = Field(default=1000, ge=1, le=1_000_000)
    realtime_heartbeat_seconds: float = Field(default=15.0, gt=0)
    realtime_auth_seconds: float = Field(default=5.0, gt=0)
    realtime_recheck_seconds: float = Field(default=60.0, gt=0)
    # Clock skew tolerated on an identity provider's ID and logout tokens.
    sso_leeway_seconds: int = Field(default=5, ge=0, le=60)
    # How long a provider's discovery document is kept; its keys are refetched whenever a
    # token names a key not seen yet (a rotation), at most every sso_keys_refresh_seconds.
    sso_metadata_cache_seconds: float = Field(default=300.0, ge=0)
    sso_keys_refresh_seconds: float = Field(default=5.0, ge=0)
    # How long a client is told to wait when the provider does not answer.
    sso_retry_after_seconds: int = Field(default=30, ge=1)
