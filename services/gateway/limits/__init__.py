"""Rate limits per credential, per workspace and per client address, enforced as one
limit by every gateway replica (counts shared through NATS JetStream KV)."""

from __future__ import annotations

from services.gateway.config import GatewaySettings
from services.gateway.limits._counting import Allowance, Partition, Policy, RateLimiter
from services.gateway.limits._http import UNLIMITED_PATHS, Meter, RateLimits, charge
from services.gateway.limits._sharing import SharedCounts

__all__ = [
    "UNLIMITED_PATHS",
    "Allowance",
    "Meter",
    "Partition",
    "Policy",
    "RateLimiter",
    "RateLimits",
    "SharedCounts",
    "charge",
    "limiter_from",
]


def limiter_from(settings: GatewaySettings) -> RateLimiter | None:
    """The configured policies; None when rate limits are off."""
    if not settings.rate_limits_enabled:
        return None
    configured = [
        Policy(
            Partition.ADDRESS,
            settings.rate_limit_address,
            settings.rate_limit_address_window_seconds,
        ),
        Policy(
            Partition.CREDENTIAL,
            settings.rate_limit_credential,
            settings.rate_limit_credential_window_seconds,
        ),
        Policy(
            Partition.WORKSPACE,
            settings.rate_limit_workspace,
            settings.rate_limit_workspace_window_seconds,
        ),
        Policy(
            Partition.SIGN_IN,
            settings.rate_limit_sign_in,
            settings.rate_limit_sign_in_window_seconds,
        ),
    ]
    return RateLimiter(policy for policy in configured if policy.limit > 0)
