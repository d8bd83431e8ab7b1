"""The OAuth2 user-agent flow of API connectors (Bubble's; the authorization code grant with
PKCE, RFC 7636): each user connects their own account at the API's authorization server,
and the connector's calls then act as that user.

`start` remembers a fresh PKCE verifier and state (only the state's hash, ten minutes) and
answers the URL to send the user to; the authorization server sends them back to the
gateway's callback, and `complete` trades the code for the user's tokens, sealed per
connector and user. A call then uses the caller's access token, renewed with its refresh
token when it has expired or the API answers 401."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import Select, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from tessera.common.v1 import common_pb2

from services.kit.access import MEMBER_KINDS, Kind, Principal
from services.kit.clock import rfc3339, utcnow
from services.kit.db import ALL_TENANTS, SessionMaker, transaction
from services.kit.errors import PreconditionFailed, Unauthenticated, ValidationFailed
from services.kit.json import dumps_exact, loads_exact
from services.kit.secrets import SecretBox
from services.workflows import connectors, tables
from services.workflows.connector_calls import ConnectorClient, TokenSource, UserTokens
from services.workflows.connectors import StoredConnector
from services.workflows.sealing import reseal_column

pending = tables.connector_authorizations
held = tables.connector_user_tokens
AUTHORIZATION_SECONDS = 600
# Renewed a little before it expires, so a token does not expire on its way.
EXPIRY_MARGIN = timedelta(seconds=30)


def holder_of(ctx: common_pb2.RequestContext) -> str:
    """Whose tokens a caller's are: an app end user's own, or a member's account's (the
    same person through any of their credentials)."""
    caller = Principal.of(ctx)
    if caller.kind == Kind.APP_USER and caller.id:
        return f"app_user:{caller.id}"
    if caller.kind in MEMBER_KINDS and caller.account_id:
        return f"account:{caller.account_id}"
    raise Unauthenticated("A connector that acts for each user needs a signed-in user")


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _context(connector_id: str, holder: str) -> str:
    return f"connector-user:{connector_id}:{holder}"


@dataclass(frozen=True, slots=True)
class Connected:
    connector_id: str
    connector_name: str
    holder: str


class UserAuthorizations:
    def __init__(self, sessionmaker: SessionMaker, box: SecretBox, client: ConnectorClient) -> None:
        self.sessionmaker = sessionmaker
        self.box = box
        self.client = client

    async def start(
        self,
        session: AsyncSession,
        tenant: str,
        stored: StoredConnector,
        holder: str,
        redirect_uri: str,
        browser: str,
    ) -> dict[str, Any]:
        """Where to send the user: the authorization URL with a fresh state and challenge."""
        auth = stored.whole(self.box).auth
        if auth.type != "oauth2_user_agent":
            raise ValidationFailed("Only an oauth2_user_agent connector connects users' accounts")
        if not redirect_uri.lower().startswith(("http://", "https://")):
            raise ValidationFailed("The redirect URI is not an http(s) URL", field="redirect_uri")
        state, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(48)
        expires = utcnow() + timedelta(seconds=AUTHORIZATION_SECONDS)
        await session.execute(
            delete(pending).where(pending.c.expires_at < utcnow())
        )  # the abandoned ones
        await session.execute(
            pg_insert(pending).values(
                state_hash=_hash(state),
                tenant_id=tenant,
                connector_id=stored.id,
                holder=holder,
                sealed_verifier=self.box.seal(verifier, context=_hash(state)),
                redirect_uri=redirect_uri,
                browser_hash=_hash(browser),
                expires_at=expires,
            )
        )
        query = {
            "response_type": "code",
            "client_id": auth.client_id or "",
            "redirect_uri": redirect_uri,
            "state": state,
            "code_challenge": _challenge(verifier),
            "code_challenge_method": "S256",
        }
        if auth.scope:
            query["scope"] = auth.scope
        url = str(httpx.URL(auth.authorize_url or "").copy_merge_params(query))
        return {"authorize_url": url, "expires_at": rfc3339(expires)}

    async def complete(self, state: str, code: str, error: str, browser: str) -> Connected:
        """The user is back with a code (or an error), in the browser that started: their
        tokens, stored."""
        if not state:
            raise ValidationFailed("The authorization server sent no state", field="state")
        async with transaction(self.sessionmaker, tenant=ALL_TENANTS) as session:
            row = (
                await session.execute(
                    delete(pending)
                    .where(pending.c.state_hash == _hash(state))
                    .returning(
                        pending.c.tenant_id,
                        pending.c.connector_id,
                        pending.c.holder,
                        pending.c.sealed_verifier,
                        pending.c.redirect_uri,
                        pending.c.browser_hash,
                        pending.c.expires_at,
                    )
                )
            ).first()
        if row is None or row.expires_at < utcnow():
            raise ValidationFailed(
                "This authorization is unknown or more than ten minutes old: start again",
                field="state",
            )
        if not secrets.compare_digest(row.browser_hash, _hash(browser)):
            # A link to the authorization server sent to someone else: their account
            # would become the starter's. Only the starting browser holds the cookie.
            raise ValidationFailed(
                "This authorization was started in another browser: start it again here",
                field="state",
            )
        if error or not code:
            raise ValidationFailed(
                f"The authorization server did not authorize: {error[:200] or 'no code'}",
                field="code",
            )
        async with transaction(self.sessionmaker, tenant=row.tenant_id) as session:
            stored = await _connector(session, row.tenant_id, row.connector_id)
        verifier = self.box.open(row.sealed_verifier, context=_hash(state)).decode("utf-8")
        tokens = await self.client.user_agent_tokens(
            stored.id,
            rfc3339(stored.updated_at),
            stored.whole(self.box),
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": row.redirect_uri,
                "code_verifier": verifier,
            },
        )
        async with transaction(self.sessionmaker, tenant=row.tenant_id) as session:
            await self._keep(session, row.tenant_id, stored.id, row.holder, tokens)
        return Connected(stored.id, stored.name, row.holder)

    async def _keep(
        self,
        session: AsyncSession,
        tenant: str,
        connector_id: str,
        holder: str,
        tokens: UserTokens,
        earlier_refresh: str | None = None,
    ) -> None:
        sealed = self.box.seal(
            dumps_exact(
                {
                    "access_token": tokens.access_token,
                    # A server that does not rotate refresh tokens sends none back.
                    "refresh_token": tokens.refresh_token or earlier_refresh,
                }
            ),
            context=_context(connector_id, holder),
        )
        values = {
            "sealed_tokens": sealed,
            "expires_at": (
                None if tokens.seconds is None else utcnow() + timedelta(seconds=tokens.seconds)
            ),
            "updated_at": utcnow(),
        }
        await session.execute(
            pg_insert(held)
            .values(connector_id=connector_id, holder=holder, tenant_id=tenant, **values)
            .on_conflict_do_update(constraint="pk_connector_user_tokens", set_=values)
        )

    def source(self, tenant: str, stored: StoredConnector, holder: str) -> TokenSource:
        """The holder's access token for calls of `stored`, renewed when asked (the API
        refused it) or when it has expired by its server's word."""
        context = _context(stored.id, holder)

        async def token(renew: bool) -> str:
            async with transaction(self.sessionmaker, tenant=tenant) as session:
                row = (await session.execute(_tokens_of(stored.id, holder))).first()
            if row is None:
                raise PreconditionFailed(
                    f"Connect your account to {stored.name[:100]!r} first"
                    " (POST …/connectors/{id}/authorize)"
                )
            kept = loads_exact(self.box.open(row.sealed_tokens, context=context))
            fresh = row.expires_at is None or row.expires_at - EXPIRY_MARGIN > utcnow()
            if fresh and not renew:
                return str(kept["access_token"])
            if not kept.get("refresh_token"):
                if renew:
                    raise PreconditionFailed(
                        f"Your access to {stored.name[:100]!r} has ended:"
                        " connect your account again"
                    )
                # Expired by its word, and nothing to renew it with: the API decides.
                return str(kept["access_token"])
            # One renewal at a time per user and connector (a rotated refresh token works
            # once): the row locked and read again; renewed unless another call did.
            async with transaction(self.sessionmaker, tenant=tenant) as session:
                locked = (
                    await session.execute(_tokens_of(stored.id, holder).with_for_update())
                ).first()
                if locked is None:
                    raise PreconditionFailed(f"Connect your account to {stored.name[:100]!r} first")
                now = loads_exact(self.box.open(locked.sealed_tokens, context=context))
                if now["access_token"] != kept["access_token"]:
                    return str(now["access_token"])
                renewed = await self.client.user_agent_tokens(
                    stored.id,
                    rfc3339(stored.updated_at),
                    stored.whole(self.box),
                    {"grant_type": "refresh_token", "refresh_token": now["refresh_token"]},
                )
                await self._keep(session, tenant, stored.id, holder, renewed, now["refresh_token"])
            return renewed.access_token

        return token

    async def disconnect(
        self, session: AsyncSession, tenant: str, connector_id: str, holder: str
    ) -> None:
        await session.execute(
            delete(held).where(
                held.c.tenant_id == tenant,
                held.c.connector_id == connector_id,
                held.c.holder == holder,
            )
        )


async def _connector(session: AsyncSession, tenant: str, connector_id: str) -> StoredConnector:
    row = (
        await session.execute(
            select(tables.connectors.c.app_id).where(tables.connectors.c.id == connector_id)
        )
    ).first()
    if row is None:
        raise connectors.ConnectorNotFound()
    return await connectors.find(session, tenant, row.app_id, connector_id)


def _tokens_of(connector_id: str, holder: str) -> Select[Any]:
    return select(held.c.sealed_tokens, held.c.expires_at).where(
        held.c.connector_id == connector_id, held.c.holder == holder
    )


async def reseal_user_secrets(session: AsyncSession, box: SecretBox) -> int:
    """Users' connector tokens and pending PKCE verifiers under the first key."""
    tokens = await reseal_column(
        session, box, held, [held.c.connector_id, held.c.holder], ["sealed_tokens"], _context
    )
    verifiers = await reseal_column(
        session, box, pending, [pending.c.state_hash], ["sealed_verifier"], lambda state: state
    )
    return tokens + verifiers
