"""Who is calling, and in which workspace: any credential becomes one RequestContext.

Credentials, in order:
- `X-Api-Key: <key>`, or `Authorization: Token <secret>` / `Bearer <secret>` with an
  opaque secret (API tokens, per-user keys, admin tokens, app end-user sessions): identity
  resolves it into a principal, which is cached briefly and dropped at once when identity
  reports the credential or its creator's membership changed.
- `Authorization: JWT <token>` or `Bearer <token>` with an access JWT, verified locally
  with identity's public keys, and refused if issued before the account's cutoff (set by
  a password change), which comes with the account's cached memberships.
- the `sessionid` cookie (a server-side session looked up in identity, cached under its
  hash like opaque secrets and dropped when identity reports a logout or an account-wide
  revocation). Cookie-authenticated writes must pass the CSRF check.
A member's workspace is their first, or the one named by `X-Workspace` (id or slug); a
token's is the one it was made in; an app end user's is their app's. Each request counts
against its credential's and its workspace's rate limits once they are known.

A request without any credential is refused, except on an app's record routes addressed
by the app's public id: there it is the app's anonymous caller (app role "public"), whom
the records service lets see only what privacy rules open to them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import Request, Response
from tessera.common.v1 import common_pb2
from tessera.identity.v1 import identity_pb2
from tessera.schema.v1 import schema_pb2

from services.gateway.clients import Backends
from services.gateway.config import GatewaySettings
from services.gateway.limits import Partition, charge
from services.gateway.session_cache import SessionCache
from services.kit.access import CREDENTIAL_PREFIX, MAX_SECRET_LENGTH, Kind
from services.kit.audit import MAX_USER_AGENT
from services.kit.errors import NotFound, PermissionDenied, Unauthenticated
from services.kit.expiring import ExpiringCache
from services.kit.idempotency import check_key

SESSION_COOKIE = "sessionid"
CSRF_COOKIE = "csrftoken"
CSRF_HEADER = "x-csrftoken"
IDEMPOTENCY_HEADER = "idempotency-key"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WORKSPACE_HEADER = "x-workspace"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Browsers send these cross-site only after a CORS preflight, which the gateway grants
# to the allowed origins alone; so for them a foreign Origin is the only thing to refuse.
PREFLIGHTED_METHODS = frozenset({"PUT", "PATCH", "DELETE"})
AUTH_SCHEMES = frozenset({"jwt", "bearer", "token"})
API_KEY_HEADER = "x-api-key"
CREDENTIAL_CACHE_SECONDS = 30.0
CREDENTIAL_CACHE_SIZE = 10_000
KEY_REFRESH_INTERVAL_SECONDS = 5.0
VERIFIED_TOKEN_CACHE_SIZE = 10_000
MEMBERSHIP_CACHE_SIZE = 10_000
# Public app ids read "app_..."; app slugs cannot contain "_".
PUBLIC_APP_PREFIX = "app_"
PUBLIC_APP_CACHE_SECONDS = 10.0
PUBLIC_APP_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Caller:
    account_id: str
    via: str  # "jwt", "session" or "credential"
    # Set for opaque credentials: the principal identity resolved, workspace included.
    resolved: common_pb2.RequestContext | None = None
    # A single sign-on login's workspace: the only one it opens. "": every workspace of
    # the account.
    workspace_scope: str = ""

    @property
    def acts_as_account(self) -> bool:
        """A signed-in member or their per-user key: what may manage the account's own
        credentials and workspaces. API tokens and admin tokens stand for less, and so does
        a single sign-on login, which a workspace's provider vouches for in that workspace
        alone."""
        if self.workspace_scope:
            return False
        return self.resolved is None or self.resolved.principal_kind == Kind.USER_KEY

    @property
    def rate_limit_key(self) -> str:
        """Whose limit a request counts against: the token or key itself, or the account
        behind a JWT or a session (all its sign-ins share one)."""
        if self.resolved is not None and self.resolved.credential_id:
            return self.resolved.credential_id
        return self.account_id

    def require_account(self) -> None:
        if self.workspace_scope:
            raise PermissionDenied(
                "A single sign-on login acts in its workspace only; sign in with your"
                " password to manage your account"
            )
        if not self.acts_as_account:
            raise PermissionDenied(
                "Only a workspace member's own sign-in or API key can do this, not an API"
                " token, an admin token or an app end user's session"
            )

    def account_context(self, request: Request) -> common_pb2.RequestContext:
        """The account itself, in no workspace, for identity's ACCOUNT calls (its key, its
        password): the member, or their per-user key with the account beside it."""
        ctx = common_pb2.RequestContext(
            principal_id=self.account_id, principal_kind=Kind.USER, account_id=self.account_id
        )
        if self.resolved is not None:
            ctx.principal_id = self.resolved.principal_id
            ctx.principal_kind = self.resolved.principal_kind
            ctx.credential_id = self.resolved.credential_id
        return _with_origin(request, ctx)


@dataclass(frozen=True)
class VerifiedToken:
    account_id: str
    # The iat claim, in whole seconds since the epoch.
    issued_at: int
    expires_at: float
    # The ws claim of a single sign-on login's token.
    workspace_scope: str = ""


class AccessTokenVerifier:
    """Verifies access JWTs with the public keys identity publishes; refetches the keys
    when a token names a key id it has not seen (a rotation). Whether the account has
    revoked its tokens since is not its question: see Authenticator.caller."""

    def __init__(self, backends: Backends) -> None:
        self.backends = backends
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._issuer = ""
        self._audience = ""
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        # A verified token need not be verified again (until it expires).
        self._verified: ExpiringCache[str, VerifiedToken] = ExpiringCache(VERIFIED_TOKEN_CACHE_SIZE)

    async def verify(self, token: str) -> VerifiedToken:
        cached = self._verified.get(token)
        if cached is not None:
            return cached
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("Access token is malformed") from None
        key = await self._key(str(header.get("kid", "")))
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=["EdDSA"],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("Access token has expired") from None
        except jwt.PyJWTError:
            raise Unauthenticated("Access token is invalid") from None
        verified = VerifiedToken(
            account_id=str(claims["sub"]),
            issued_at=int(claims["iat"]),
            expires_at=float(claims["exp"]),
            workspace_scope=str(claims.get("ws") or ""),
        )
        self._verified.put(token, verified, seconds=verified.expires_at - time.time())
        return verified

    async def _key(self, kid: str) -> Ed25519PublicKey:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            if (
                kid not in self._keys
                and time.monotonic() - self._fetched_at > KEY_REFRESH_INTERVAL_SECONDS
            ):
                await self._fetch()
        key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated("Access token is signed with an unknown key")
        return key

    async def _fetch(self) -> None:
        reply = await self.backends.call(
            self.backends.identity.GetSigningKeys, identity_pb2.GetSigningKeysRequest()
        )
        self._fetched_at = time.monotonic()
        self._issuer, self._audience = reply.issuer, reply.audience
        keys = {k.kid: load_pem_public_key(k.public_key_pem.encode()) for k in reply.keys}
        # Only Ed25519 keys are trusted, whatever else the response might carry.
        self._keys = {kid: key for kid, key in keys.items() if isinstance(key, Ed25519PublicKey)}


class MembershipCache:
    """Memberships per account, with the account's token cutoff, held briefly and dropped
    when identity reports a membership change or an account-wide revocation."""

    def __init__(self, backends: Backends, ttl_seconds: float) -> None:
        self.backends = backends
        self.ttl_seconds = ttl_seconds
        self._entries: ExpiringCache[str, identity_pb2.ListMembershipsResponse] = ExpiringCache(
            MEMBERSHIP_CACHE_SIZE
        )

    async def of(self, account_id: str) -> list[identity_pb2.Membership]:
        return list((await self._fetch(account_id)).memberships)

    async def tokens_valid_after(self, account_id: str) -> int:
        """Seconds since the epoch; access JWTs with an earlier iat are revoked. 0: none."""
        return (await self._fetch(account_id)).tokens_valid_after

    async def _fetch(self, account_id: str) -> identity_pb2.ListMembershipsResponse:
        held = self._entries.get(account_id)
        if held is not None:
            return held
        ctx = common_pb2.RequestContext(principal_id=account_id, principal_kind=Kind.USER)
        generation = self._entries.generation
        reply: identity_pb2.ListMembershipsResponse = await self.backends.call(
            self.backends.identity.ListMemberships,
            identity_pb2.ListMembershipsRequest(ctx=ctx, account_id=account_id),
        )
        self._entries.put(account_id, reply, seconds=self.ttl_seconds, fetched_at=generation)
        return reply

    def forget(self, account_id: str | None = None) -> None:
        if account_id is None:
            self._entries.clear()
        else:
            self._entries.drop(account_id)

    def forget_workspace(self, workspace_id: str) -> None:
        """Drops the memberships of the accounts that are members of the workspace."""
        self._entries.drop_where(
            lambda held: any(m.workspace.id == workspace_id for m in held.memberships)
        )


class CredentialCache:
    """Principals behind opaque secrets, keyed by the secret's hash, held at most
    CREDENTIAL_CACHE_SECONDS and dropped as soon as identity reports a revocation or a
    membership change of the account behind them."""

    def __init__(self, backends: Backends) -> None:
        self.backends = backends
        # sha256(secret) -> the principal identity resolved
        self._entries: ExpiringCache[str, common_pb2.RequestContext] = ExpiringCache(
            CREDENTIAL_CACHE_SIZE
        )

    async def resolve(self, secret: str) -> common_pb2.RequestContext:
        key = hashlib.sha256(secret.encode()).hexdigest()
        held = self._entries.get(key)
        if held is not None:
            return held
        generation = self._entries.generation
        reply = await self.backends.call(
            self.backends.identity.ResolveCredential,
            identity_pb2.ResolveCredentialRequest(secret=secret),
        )
        seconds = CREDENTIAL_CACHE_SECONDS
        if reply.expires_at:
            seconds = min(seconds, reply.expires_at - time.time())
        self._entries.put(key, reply.ctx, seconds=seconds, fetched_at=generation)
        return reply.ctx

    def forget(self, *, credential_id: str | None = None, account_id: str | None = None) -> None:
        """Drops what a revocation or membership change touches; neither given: all."""
        if credential_id is None and account_id is None:
            self._entries.clear()
            return
        self._entries.drop_where(
            lambda ctx: (
                ctx.credential_id == credential_id
                or (account_id is not None and ctx.account_id == account_id)
            )
        )


def is_public_app_id(app: str) -> bool:
    return app.startswith(PUBLIC_APP_PREFIX)


class PublicAppCache:
    """Apps by public id, held briefly: anonymous callers of one app need its workspace on
    every request. Unknown ids are not held, so a new app is reachable at once; a deleted
    one answers from here at most PUBLIC_APP_CACHE_SECONDS, and then the services refuse."""

    def __init__(self, backends: Backends) -> None:
        self.backends = backends
        self._entries: ExpiringCache[str, schema_pb2.PublicApp] = ExpiringCache(
            PUBLIC_APP_CACHE_SIZE
        )

    async def resolve(self, public_id: str, *, fresh: bool = False) -> schema_pb2.PublicApp:
        if not is_public_app_id(public_id) or len(public_id) > MAX_SECRET_LENGTH:
            raise NotFound("App not found")
        held = None if fresh else self._entries.get(public_id)
        if held is not None:
            return held
        found: schema_pb2.PublicApp = await self.backends.call(
            self.backends.schema.ResolvePublicApp,
            schema_pb2.ResolvePublicAppRequest(public_id=public_id),
        )
        self._entries.put(public_id, found, seconds=PUBLIC_APP_CACHE_SECONDS)
        return found


class Authenticator:
    def __init__(self, settings: GatewaySettings, backends: Backends) -> None:
        self.settings = settings
        self.backends = backends
        self.tokens = AccessTokenVerifier(backends)
        self.memberships = MembershipCache(backends, settings.membership_cache_seconds)
        self.credentials = CredentialCache(backends)
        self.sessions = SessionCache(backends, settings.session_cache_seconds)
        self.public_apps = PublicAppCache(backends)

    def presents_credentials(self, request: Request) -> bool:
        """Whether the request carries any credential at all (valid or not)."""
        return (
            API_KEY_HEADER in request.headers
            or "authorization" in request.headers
            or bool(request.cookies.get(SESSION_COOKIE))
        )

    async def caller(self, request: Request) -> Caller:
        caller = await self._identify(request)
        charge(request, Partition.CREDENTIAL, caller.rate_limit_key)
        return caller

    async def _identify(self, request: Request) -> Caller:
        api_key = request.headers.get(API_KEY_HEADER)
        if api_key is not None:
            return await self._opaque(api_key.strip())
        authorization = request.headers.get("authorization")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            scheme, token = scheme.lower(), token.strip()
            if scheme not in AUTH_SCHEMES or not token:
                raise Unauthenticated(
                    "Use 'Authorization: JWT <token>', 'Token <token>' or 'Bearer <token>'"
                )
            if scheme == "token" or token.startswith(CREDENTIAL_PREFIX):
                return await self._opaque(token)
            return await self._jwt(token)
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            session = await self.sessions.resolve(session_id)
            if request.method not in SAFE_METHODS:
                self._check_csrf(request, session.csrf_token)
            return Caller(session.account_id, via="session", workspace_scope=session.workspace_id)
        raise Unauthenticated("Authentication credentials were not provided")

    async def _jwt(self, token: str) -> Caller:
        verified = await self.tokens.verify(token)
        # Checked on every request, after the verified-token cache: a revocation must
        # not wait for the token to fall out of it.
        if verified.issued_at < await self.memberships.tokens_valid_after(verified.account_id):
            raise Unauthenticated("Access token has been revoked")
        return Caller(verified.account_id, via="jwt", workspace_scope=verified.workspace_scope)

    async def _opaque(self, secret: str) -> Caller:
        if not secret.startswith(CREDENTIAL_PREFIX) or len(secret) > MAX_SECRET_LENGTH:
            raise Unauthenticated("The token is not valid")
        ctx = await self.credentials.resolve(secret)
        return Caller(ctx.account_id, via="credential", resolved=ctx)

    async def app_context(self, request: Request, app: str) -> common_pb2.RequestContext:
        """For an app's record routes: the caller's context, or, with no credential at all
        and the app addressed by its public id, the app's anonymous caller."""
        if self.presents_credentials(request) or not is_public_app_id(app):
            return await self.context(request)
        found = await self.public_apps.resolve(app)
        anonymous = common_pb2.RequestContext(
            tenant_id=found.tenant_id,
            principal_kind=Kind.ANONYMOUS,
            app_id=found.app_id,
            app_role="public",
        )
        return _with_origin(request, anonymous)

    def visitor_context(
        self, request: Request, app: schema_pb2.PublicApp
    ) -> common_pb2.RequestContext:
        """Someone about to sign up or log in to an app: its anonymous caller, whatever
        credential the request may carry."""
        visitor = request_origin(request)
        visitor.MergeFrom(
            common_pb2.RequestContext(
                tenant_id=app.tenant_id,
                principal_kind=Kind.ANONYMOUS,
                app_id=app.app_id,
                app_role="public",
            )
        )
        return visitor

    async def context(
        self, request: Request, *, workspace: str | None = None, caller: Caller | None = None
    ) -> common_pb2.RequestContext:
        """The caller in a workspace: the one `workspace` names (a path's), else the
        X-Workspace header's, else the member's first; a token's is always its own."""
        if caller is None:
            caller = await self.caller(request)
        resolved = caller.resolved
        if resolved is not None and resolved.tenant_id:
            if workspace and workspace != resolved.tenant_id:
                raise NotFound("Workspace not found")
            ctx = common_pb2.RequestContext()
            ctx.CopyFrom(resolved)
            if ctx.principal_kind != Kind.APP_USER:
                # Anyone may sign up to a public app: its end users, like its anonymous
                # visitors, must not be able to use up the workspace's limit for its
                # members. They count per credential and per address.
                charge(request, Partition.WORKSPACE, ctx.tenant_id)
            return _with_origin(request, ctx)
        memberships = await self.memberships_of(caller)
        selector = workspace or request.headers.get(WORKSPACE_HEADER)
        if selector and not caller.workspace_scope:
            _refuse_if_sso_required(await self.memberships.of(caller.account_id), selector)
        membership = _select_workspace(memberships, selector)
        ctx = common_pb2.RequestContext(
            tenant_id=membership.workspace.id,
            principal_id=caller.account_id,
            principal_kind=Kind.USER,
            account_id=caller.account_id,
            role=membership.role,
        )
        if resolved is not None and resolved.principal_kind == Kind.USER_KEY:
            # A per-user key acts as its account, in the workspace it picks like a JWT does.
            ctx.principal_id = resolved.principal_id
            ctx.principal_kind = Kind.USER_KEY
            ctx.credential_id = resolved.credential_id
        charge(request, Partition.WORKSPACE, ctx.tenant_id)
        return _with_origin(request, ctx)

    async def memberships_of(self, caller: Caller) -> list[identity_pb2.Membership]:
        """The workspaces the caller's sign-in opens: for a single sign-on login, its one
        workspace (if the account is still a member); for any other, the account's
        workspaces but those that enforce single sign-on on it."""
        memberships = await self.memberships.of(caller.account_id)
        if caller.workspace_scope:
            return [m for m in memberships if m.workspace.id == caller.workspace_scope]
        return [m for m in memberships if not m.sso_required]

    async def end_session(self, request: Request, session_id: str) -> None:
        """Ends a cookie session at identity, and drops it from this replica at once (the
        others when identity's revocation reaches them)."""
        await self.backends.call(
            self.backends.identity.EndSession,
            identity_pb2.EndSessionRequest(session_id=session_id, ctx=request_origin(request)),
        )
        self.sessions.forget_session(session_id)

    def _check_csrf(self, request: Request, session_csrf: str) -> None:
        """Double submit: the X-CSRFToken header matches the session's token (the value of
        the csrftoken cookie). Without it, a write passes only if a cross-site page could
        not have sent it: a JSON POST, or a preflighted method, from no or an allowed Origin."""
        header = request.headers.get(CSRF_HEADER)
        if header:
            if hmac.compare_digest(header, session_csrf):
                return
            raise PermissionDenied("CSRF token is missing or incorrect")
        if not self.origin_allowed(request):
            raise PermissionDenied("CSRF check failed: request comes from a foreign origin")
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if request.method in PREFLIGHTED_METHODS or media_type == "application/json":
            return
        raise PermissionDenied(
            "CSRF check failed: send X-CSRFToken or a Content-Type: application/json body"
        )

    def refuse_cross_site(self, request: Request) -> None:
        """Logging in or out by cookie from another site's page (login CSRF plants the
        attacker's session; logout CSRF ends the user's): refused when the browser says
        the request is cross-site, by its Origin or by Sec-Fetch-Site."""
        if not self.origin_allowed(request):
            raise PermissionDenied("Cross-site request refused: foreign origin")
        if (
            request.headers.get("sec-fetch-site") == "cross-site"
            and "origin" not in request.headers
        ):
            raise PermissionDenied("Cross-site request refused")

    def origin_allowed(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        if origin is None:
            return True
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        return origin == own or origin in self.settings.allowed_origins


def public_base_url(request: Request, settings: GatewaySettings) -> str:
    """The gateway's address as browsers reach it, for the redirect URIs registered at
    identity providers and OAuth servers: GATEWAY_PUBLIC_URL, else the request's own."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return str(request.base_url).rstrip("/")


def set_session_cookies(
    response: Response, settings: GatewaySettings, session_id: str, csrf_token: str
) -> None:
    """The HttpOnly session cookie and the CSRF token's cookie, which the page's script
    reads to echo it in X-CSRFToken."""
    for name, value, http_only in (
        (SESSION_COOKIE, session_id, True),
        (CSRF_COOKIE, csrf_token, False),
    ):
        response.set_cookie(
            name,
            value,
            max_age=settings.session_cookie_max_age_seconds,
            httponly=http_only,
            samesite="lax",
            secure=settings.cookie_secure,
            path="/",
        )


def clear_session_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


def request_origin(request: Request) -> common_pb2.RequestContext:
    """A context that says only where the request came from (address, user agent, request
    id), for the calls made before anyone is signed in, like logging in."""
    client = request.client
    return common_pb2.RequestContext(
        request_id=request.headers.get("x-request-id") or uuid.uuid4().hex,
        client_ip=client.host if client is not None else "",
        user_agent=request.headers.get("user-agent", "")[:MAX_USER_AGENT],
    )


def _with_origin(request: Request, ctx: common_pb2.RequestContext) -> common_pb2.RequestContext:
    """`ctx` stamped with the request's origin and, on writes, its idempotency key."""
    ctx.MergeFrom(request_origin(request))
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is not None and request.method in WRITE_METHODS:
        ctx.idempotency_key = check_key(key)
    return ctx


def _refuse_if_sso_required(memberships: list[identity_pb2.Membership], selector: str) -> None:
    for membership in memberships:
        if membership.sso_required and selector in (
            membership.workspace.id,
            membership.workspace.slug,
        ):
            raise PermissionDenied(
                f"Workspace {membership.workspace.name!r} signs its members in with single"
                f" sign-on: /auth/sso/{membership.workspace.id}/login"
            )


def _select_workspace(
    memberships: list[identity_pb2.Membership], selector: str | None
) -> identity_pb2.Membership:
    if not memberships:
        raise PermissionDenied("You are not a member of any workspace")
    if not selector:
        return memberships[0]
    for membership in memberships:
        if selector in (membership.workspace.id, membership.workspace.slug):
            return membership
    raise NotFound("Workspace not found")
