"""The relying party's side of OpenID Connect: discovery, the authorization URL, the code
exchange, and the verification of ID tokens and back-channel logout tokens.

Every call to a provider goes through the SSRF-safe outgoing client (services.kit.outbound):
an issuer is what a workspace admin typed, and must not reach the network Tessera runs in
unless the operator's allow-list opens it. Endpoints come from the issuer's discovery
document, so a Keycloak realm and any other OpenID provider take the same path (python-
keycloak's own HTTP calls assume Keycloak's paths and its own client). Tokens are verified
with python-keycloak's `KeycloakOpenID.a_decode_token` against the provider's JWKS, with the
claims to check spelled out: issuer, audience, expiry, issued-at and nonce, and a leeway of a
few seconds rather than its default minute. A token signed with a key not in the cached set
makes the set be fetched again (the provider rotated its keys), at most every few seconds.

A provider that does not answer, or answers nonsense, is the provider's outage: 503 with
Retry-After, never a 500. Sessions and tokens already issued do not depend on it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import json
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
from jwcrypto import jwk
from jwcrypto.common import JWException
from jwcrypto.jwt import JWTMissingKey
from tessera.identity.v1 import identity_pb2

from services.kit.errors import ServiceUnavailable, Unauthenticated, UpstreamFailed
from services.kit.expiring import ExpiringCache
from services.kit.outbound import OutboundClient, OutboundRefused

if TYPE_CHECKING:
    from keycloak import KeycloakOpenID

# Asymmetric signatures only: an HS256 token would be checked against the client secret,
# and "none" is no signature at all.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
SCOPES = "openid email profile"
# A logout token is sent as the logout happens; one older than this is not acted on.
LOGOUT_TOKEN_MAX_AGE_SECONDS = 600
MAX_DOCUMENT_BYTES = 512 * 1024
CACHE_SIZE = 1_000
# KeycloakOpenID objects kept for verification, one per provider and client.
VERIFIER_CACHE_SIZE = 1_000


class ProviderUnavailable(ServiceUnavailable):
    default_message = "The workspace's identity provider is not answering; try again shortly"


class TokenRejected(Unauthenticated):
    default_message = "The identity provider's token is not valid"


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str


@dataclass
class _Keys:
    keys: jwk.JWKSet
    fetched_at: float


def code_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OpenIdProviders:
    """Every workspace's provider, seen from one gateway replica."""

    def __init__(
        self,
        client: OutboundClient,
        *,
        leeway_seconds: int,
        metadata_seconds: float,
        keys_refresh_seconds: float,
        retry_after_seconds: int,
    ) -> None:
        self.client = client
        self.leeway_seconds = leeway_seconds
        self.metadata_seconds = metadata_seconds
        self.keys_refresh_seconds = keys_refresh_seconds
        self.retry_after_seconds = retry_after_seconds
        self._metadata: ExpiringCache[str, ProviderMetadata] = ExpiringCache(CACHE_SIZE)
        self._keys: dict[str, _Keys] = {}
        self._key_locks: dict[str, asyncio.Lock] = {}
        # (jwks_uri, kid) of the key ids lately looked for and fetched again.
        self._missed: ExpiringCache[tuple[str, str], bool] = ExpiringCache(CACHE_SIZE)
        self._verifiers: dict[tuple[str, str], KeycloakOpenID] = {}

    async def aclose(self) -> None:
        await self.client.aclose()

    # Discovery

    async def metadata(self, issuer: str) -> ProviderMetadata:
        held = self._metadata.get(issuer)
        if held is not None:
            return held
        self._require_tls(issuer)
        document = await self._get_json(f"{issuer}/.well-known/openid-configuration")
        # The document must speak for the issuer it was fetched for (mix-up defence).
        if document.get("issuer") != issuer:
            raise UpstreamFailed(
                "The identity provider's discovery document names another issuer"
                f" ({str(document.get('issuer'))[:200]!r})"
            )
        endpoints = {}
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            value = document.get(name)
            if not isinstance(value, str) or not value.startswith(("https://", "http://")):
                raise UpstreamFailed(f"The identity provider's discovery document has no {name}")
            self._require_tls(value)
            endpoints[name] = value
        end_session = document.get("end_session_endpoint")
        if not isinstance(end_session, str) or not end_session.startswith(("https://", "http://")):
            # Sent to browsers: nothing but a web address.
            end_session = ""
        found = ProviderMetadata(issuer=issuer, end_session_endpoint=end_session, **endpoints)
        self._metadata.put(issuer, found, seconds=self.metadata_seconds)
        return found

    async def authorization_url(
        self, started: identity_pb2.StartedSsoLogin, redirect_uri: str
    ) -> str:
        metadata = await self.metadata(started.issuer)
        query = urlencode(
            {
                "client_id": started.client_id,
                "response_type": "code",
                "scope": SCOPES,
                "redirect_uri": redirect_uri,
                "state": started.state,
                "nonce": started.nonce,
                "code_challenge": code_challenge(started.code_verifier),
                "code_challenge_method": "S256",
            }
        )
        separator = "&" if "?" in metadata.authorization_endpoint else "?"
        return f"{metadata.authorization_endpoint}{separator}{query}"

    async def logout_url(
        self, provider: identity_pb2.SsoProvider, post_logout_redirect_uri: str
    ) -> str:
        """RP-initiated logout at the provider; "" when it offers none."""
        metadata = await self.metadata(provider.issuer)
        if not metadata.end_session_endpoint:
            return ""
        query = urlencode(
            {"client_id": provider.client_id, "post_logout_redirect_uri": post_logout_redirect_uri}
        )
        separator = "&" if "?" in metadata.end_session_endpoint else "?"
        return f"{metadata.end_session_endpoint}{separator}{query}"

    # The code exchange

    async def exchange_code(
        self,
        provider: identity_pb2.SsoProvider,
        *,
        code: str,
        code_verifier: str,
        redirect_uri: str,
    ) -> dict[str, Any]:
        """The token response, client authenticated by client_secret_post."""
        metadata = await self.metadata(provider.issuer)
        form = urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
                "client_id": provider.client_id,
                "client_secret": provider.client_secret,
            }
        ).encode("ascii")
        response = await self._call(
            "POST",
            metadata.token_endpoint,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            content=form,
        )
        if response.status_code in (400, 401):
            error = _json_or_empty(response).get("error", "")
            raise Unauthenticated(
                f"The identity provider refused the sign-in ({str(error)[:100] or 'no reason'})"
            )
        answer = self._document(response)
        if not isinstance(answer.get("id_token"), str):
            raise UpstreamFailed("The identity provider answered no ID token")
        return answer

    # Tokens

    async def verify_id_token(
        self, provider: identity_pb2.SsoProvider, id_token: str, *, nonce: str
    ) -> dict[str, Any]:
        claims = await self._decode(
            provider,
            id_token,
            {
                "iss": provider.issuer,
                "aud": provider.client_id,
                "exp": None,
                "iat": None,
                "sub": None,
                "nonce": nonce,
            },
        )
        self._check_issued_at(claims)
        audience = claims["aud"]
        audiences = audience if isinstance(audience, list) else [audience]
        azp = claims.get("azp")
        # Several audiences: the token must say it was issued to us; one: azp, if present,
        # must still be us.
        if (len(audiences) > 1 or azp is not None) and azp != provider.client_id:
            raise TokenRejected("The ID token was issued to another client (azp)")
        return claims

    async def verify_logout_token(
        self, provider: identity_pb2.SsoProvider, logout_token: str
    ) -> dict[str, Any]:
        """OpenID Connect Back-Channel Logout 1.0, section 2.6."""
        claims = await self._decode(
            provider,
            logout_token,
            {"iss": provider.issuer, "aud": provider.client_id, "iat": None, "jti": None},
        )
        self._check_issued_at(claims)
        if claims["iat"] < time.time() - LOGOUT_TOKEN_MAX_AGE_SECONDS:
            raise TokenRejected("The logout token is too old (iat)")
        if not isinstance(claims.get("jti"), str) or not claims["jti"] or len(claims["jti"]) > 255:
            raise TokenRejected("A logout token carries its id (jti)")
        events = claims.get("events")
        if not isinstance(events, dict) or BACKCHANNEL_LOGOUT_EVENT not in events:
            raise TokenRejected("Not a back-channel logout token")
        if "nonce" in claims:
            raise TokenRejected("A logout token carries no nonce")
        if not (isinstance(claims.get("sub"), str) or isinstance(claims.get("sid"), str)):
            raise TokenRejected("A logout token names a subject or a session")
        return claims

    def _require_tls(self, url: str) -> None:
        """Client secrets and tokens travel over TLS, but to hosts the operator opened on
        purpose (TESSERA_OUTBOUND_ALLOWLIST): a local provider in development."""
        try:
            parsed = httpx.URL(url)
            host = parsed.host
        except (httpx.InvalidURL, ValueError):
            raise UpstreamFailed(
                f"The identity provider's address {url[:200]!r} is not usable"
            ) from None
        if parsed.scheme == "https":
            return
        allowlist = self.client.allowlist
        try:
            allowed = allowlist.allows_address(ipaddress.ip_address(host))
        except ValueError:
            allowed = allowlist.allows_host(host)
        if not allowed:
            raise UpstreamFailed(
                f"The identity provider is reached over plain HTTP ({url[:200]}); it must use"
                " HTTPS, unless the operator allows its host (TESSERA_OUTBOUND_ALLOWLIST)"
            )

    def _check_issued_at(self, claims: dict[str, Any]) -> None:
        """iat is not in the future; exp and nbf, where present, hold. (jwcrypto checks
        only the times listed among the claims to check, and a logout token may carry no
        exp.)"""
        now = time.time()
        for name in ("iat", "exp", "nbf"):
            value = claims.get(name)
            if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
                raise TokenRejected(f"The token's {name} is not a time")
        issued_at = claims.get("iat")
        if not isinstance(issued_at, int | float) or issued_at > now + self.leeway_seconds:
            raise TokenRejected("The token was issued in the future (iat)")
        expires = claims.get("exp")
        if expires is not None and (
            not isinstance(expires, int | float) or expires < now - self.leeway_seconds
        ):
            raise TokenRejected("The token has expired")
        not_before = claims.get("nbf")
        if not_before is not None and (
            not isinstance(not_before, int | float) or not_before > now + self.leeway_seconds
        ):
            raise TokenRejected("The token is not valid yet (nbf)")

    async def _decode(
        self, provider: identity_pb2.SsoProvider, token: str, check_claims: dict[str, Any]
    ) -> dict[str, Any]:
        metadata = await self.metadata(provider.issuer)
        verifier = self._verifier(provider)
        for attempt in range(2):
            keys = await self._keyset(
                metadata.jwks_uri, unknown_kid=_kid_of(token) if attempt else None
            )
            try:
                claims: dict[str, Any] = await verifier.a_decode_token(
                    token,
                    key=keys,
                    check_claims=check_claims,
                    leeway=self.leeway_seconds,
                    algs=ALGORITHMS,
                )
                return claims
            except JWTMissingKey:
                # Signed with a key we have not seen: the provider may have rotated.
                continue
            except JWException as error:
                reason = str(error)[:200] or type(error).__name__
                raise TokenRejected(
                    f"The identity provider's token is not valid: {reason}"
                ) from None
            except (ValueError, TypeError, KeyError, OverflowError):
                raise TokenRejected("The identity provider's token is malformed") from None
        raise TokenRejected("The token is signed with a key the identity provider does not publish")

    def _verifier(self, provider: identity_pb2.SsoProvider) -> KeycloakOpenID:
        key = (provider.issuer, provider.client_id)
        held = self._verifiers.get(key)
        if held is None:
            if len(self._verifiers) >= VERIFIER_CACHE_SIZE:
                self._verifiers.clear()
            # Verification only: a_decode_token with a key given makes no request of its own.
            server, _, realm = provider.issuer.rpartition("/realms/")
            # Loaded with the first login: python-keycloak costs a gateway ~20 MB.
            from keycloak import KeycloakOpenID

            held = KeycloakOpenID(
                server_url=server or provider.issuer,
                realm_name=realm,
                client_id=provider.client_id,
            )
            self._verifiers[key] = held
        return held

    async def _keyset(self, jwks_uri: str, *, unknown_kid: str | None) -> jwk.JWKSet:
        """The provider's keys; fetched again for a key id not in them (a rotation), at
        most once per keys_refresh_seconds: tokens naming made-up key ids, which anyone
        can post to the back-channel logout, cost the provider nothing more."""
        held = self._fresh_keys(jwks_uri)
        if held is not None and unknown_kid is None:
            return held.keys
        lock = self._key_locks.setdefault(jwks_uri, asyncio.Lock())
        async with lock:
            held = self._fresh_keys(jwks_uri)
            if held is not None and unknown_kid is None:
                return held.keys
            if held is not None and unknown_kid is not None:
                if self._missed.get((jwks_uri, unknown_kid)) or self._missed.get((jwks_uri, "")):
                    return held.keys
                # Once per key id, and once per keys_refresh_seconds whatever the key id.
                self._missed.put((jwks_uri, unknown_kid), True, seconds=self.keys_refresh_seconds)
                self._missed.put((jwks_uri, ""), True, seconds=self.keys_refresh_seconds)
            document = await self._get_json(jwks_uri)
            keys = jwk.JWKSet()
            for item in document.get("keys", []) if isinstance(document, dict) else []:
                # Public keys only, and none we cannot read: one odd key spoils no others.
                try:
                    key = jwk.JWK(**item)
                except (JWException, ValueError, TypeError):
                    continue
                if not key.has_private:
                    keys.add(key)
            self._keys[jwks_uri] = _Keys(keys=keys, fetched_at=time.monotonic())
            return keys

    def _fresh_keys(self, jwks_uri: str) -> _Keys | None:
        """The keys held, unless held longer than the discovery document is: a key the
        provider withdrew stops being trusted then."""
        held = self._keys.get(jwks_uri)
        if held is None or time.monotonic() - held.fetched_at > self.metadata_seconds:
            return None
        return held

    # HTTP

    async def _get_json(self, url: str) -> dict[str, Any]:
        response = await self._call("GET", url, headers={"Accept": "application/json"})
        return self._document(response)

    def _document(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 500 or response.status_code in (404, 408, 429):
            raise self._unavailable(f"it answered {response.status_code}")
        if response.status_code >= 300:
            raise UpstreamFailed(
                f"The identity provider answered {response.status_code}",
                details=[{"status": response.status_code}],
            )
        if len(response.content) > MAX_DOCUMENT_BYTES:
            raise UpstreamFailed("The identity provider's answer is too large")
        document = _json_or_empty(response)
        if not document:
            raise UpstreamFailed("The identity provider did not answer a JSON object")
        return document

    async def _call(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        content: bytes | None = None,
    ) -> httpx.Response:
        try:
            return await self.client.request(
                method, url, headers=headers, content=content, follow_redirects=False
            )
        except OutboundRefused as refused:
            raise UpstreamFailed(
                f"The identity provider cannot be reached from here: {refused.message}"
            ) from None
        except httpx.HTTPError as error:
            raise self._unavailable(type(error).__name__) from None

    def _unavailable(self, why: str) -> ProviderUnavailable:
        return ProviderUnavailable(
            f"The workspace's identity provider is not answering ({why}); try again shortly",
            retry_after=self.retry_after_seconds,
        )


def _kid_of(token: str) -> str:
    """The key id a compact JWS names in its header, unverified; "" when none."""
    try:
        encoded = token.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, UnicodeDecodeError):
        return ""
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else ""


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        parsed = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}
