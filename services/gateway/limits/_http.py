"""Rate limits on the request path: the client address is charged before the request
reaches a route; the credential and the workspace when the authenticator knows them.
Every limited response carries the RateLimit-Policy and RateLimit fields of
draft-ietf-httpapi-ratelimit-headers for the policies it was charged under."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.errors import error_response
from services.gateway.limits._counting import Allowance, Partition, RateLimiter
from services.kit.addresses import counted_address
from services.kit.errors import RateLimited

# Probes of load balancers and orchestrators are never refused.
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz"})
# Where a request's meter sits in its scope's state.
METER_KEY = "rate_limit_meter"
# The routes that check or hash a password, open to anyone: counted per address under the
# sign-in policy too. An app end user's are /api/apps/<app>/auth/login and .../signup.
SIGN_IN_PATHS = frozenset({"/auth/login/", "/api/user/token-auth/", "/api/user/"})
APP_SIGN_IN_SUFFIXES = ("/auth/login", "/auth/signup")
SSO_PREFIX = "/auth/sso/"

_WHOSE = {
    Partition.ADDRESS: "from this address",
    Partition.CREDENTIAL: "with this credential",
    Partition.WORKSPACE: "in this workspace",
    Partition.SIGN_IN: "to sign in from this address",
}


class Meter:
    """What one request was charged, each (policy, key) once however often it is asked."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter
        self._charged: dict[tuple[Partition, str], Allowance] = {}

    def charge(self, partition: Partition, key: str) -> None:
        policy = self.limiter.policies.get(partition)
        if policy is None or (partition, key) in self._charged:
            return
        allowance = self.limiter.take(policy, key)
        self._charged[partition, key] = allowance
        if not allowance.allowed:
            raise RateLimited(
                f"Too many requests {_WHOSE[partition]}; try again in {allowance.reset_seconds} s",
                retry_after=allowance.reset_seconds,
            )

    def fields(self) -> list[tuple[str, str]]:
        """RateLimit-Policy and RateLimit: one item per policy, the tightest key's."""
        tightest: dict[Partition, Allowance] = {}
        for (partition, _), allowance in self._charged.items():
            held = tightest.get(partition)
            if held is None or allowance.remaining < held.remaining:
                tightest[partition] = allowance
        if not tightest:
            return []
        allowances = tightest.values()
        return [
            ("RateLimit-Policy", ", ".join(a.policy.item for a in allowances)),
            (
                "RateLimit",
                ", ".join(
                    f'"{a.policy.partition}";r={a.remaining};t={a.reset_seconds}'
                    for a in allowances
                ),
            ),
        ]


def charge(request: Request, partition: Partition, key: str) -> None:
    """Counts the request under `partition`'s policy; raises RateLimited when its window is
    full. Nothing happens when limits are off or the route is not limited."""
    meter: Meter | None = request.scope.get("state", {}).get(METER_KEY)
    if meter is not None:
        meter.charge(partition, key)


def _signs_in(scope: Scope) -> bool:
    path: str = scope["path"]
    # Single sign-on logins start and end with GETs; each one costs the provider a call.
    # The provider's back-channel logouts come from its one address, many at once.
    if path.startswith(SSO_PREFIX):
        return not path.endswith("/backchannel-logout")
    return scope["method"] == "POST" and (
        path in SIGN_IN_PATHS
        or (path.startswith("/api/apps/") and path.rstrip("/").endswith(APP_SIGN_IN_SUFFIXES))
    )


class RateLimits:
    """Pure ASGI: a refused address never reaches routing or authentication."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        meter = Meter(self.limiter)
        scope.setdefault("state", {})[METER_KEY] = meter
        # Behind a trusted proxy, uvicorn has already put the forwarded client here.
        client = scope.get("client")
        address = counted_address(client[0] if client else "")
        try:
            meter.charge(Partition.ADDRESS, address)
            if scope["type"] == "http" and _signs_in(scope):
                meter.charge(Partition.SIGN_IN, address)
        except RateLimited as refused:
            if scope["type"] == "websocket":
                # A refused handshake: the client sees 403 before any socket opens. Its
                # credential and workspace are charged once it says who it is.
                await receive()
                await send({"type": "websocket.close", "code": 1013})
                return
            response = error_response(refused)
            for name, value in meter.fields():
                response.headers[name] = value
            await response(scope, receive, send)
            return

        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        async def send_with_fields(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in meter.fields():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_fields)
