"""Running a connector's call: its parameters bound (a caller's values for the public ones,
the builder's for the private ones), its URL, headers and body filled in, the connector's
authentication added, and the request sent through the SSRF-safe client.

Tokens that OAuth2 and JWT authentication obtain are kept in this process until shortly
before they expire, per connector and version (an edited connector asks anew), and asked
for again, once, when the API answers 401. Private values reach only the request: errors
name the host, never the URL's query or a header."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import re
import ssl
import tempfile
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, quote_plus, urlencode

import httpx
import jwt

from services.kit.errors import PreconditionFailed, UpstreamFailed, ValidationFailed
from services.kit.json import dumps_exact, loads_exact
from services.kit.outbound import AnswerTooLarge, OutboundClient
from services.workflows.bodies import tame
from services.workflows.connectors import (
    MAX_VALUE_LENGTH,
    PLACEHOLDER,
    Auth,
    Call,
    ConnectorInput,
    Scalar,
)

TOKEN_AUTH: Final = frozenset(
    {"oauth2_password", "oauth2_client_credentials", "oauth2_custom_token", "jwt"}
)
DEFAULT_KEY_PARAMETER = "api_key"
DEFAULT_KEY_HEADER = "Authorization"
DEFAULT_TOKEN_SECONDS = 3600
MAX_CACHED_TOKENS = 1000
MAX_TLS_CLIENTS = 100
# Of an answer's body, what an error shows.
ERROR_BODY_CHARS = 1000
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# The caller's access token for a connector of the OAuth2 user-agent flow; True: a new one.
TokenSource = Callable[[bool], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class CallAnswer:
    status: int
    content_type: str
    # The parsed JSON, or the text when the answer is not JSON.
    body: Any


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    url: str
    headers: dict[str, str]
    content: bytes | None


class TokenCache:
    """Access tokens by (connector id, version), each until shortly before it expires."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tokens: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def get(
        self, key: tuple[str, str], fetch: Callable[[], Awaitable[tuple[str, float]]]
    ) -> str:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # one request for a token at a time per connector
            held = self._tokens.get(key)
            if held is not None and held[1] > self.clock():
                return held[0]
            token, seconds = await fetch()
            # A little early, so a token does not expire on its way.
            margin = min(30.0, seconds / 10)
            self._tokens[key] = (token, self.clock() + seconds - margin)
            self._tokens.move_to_end(key)
            while len(self._tokens) > MAX_CACHED_TOKENS:
                dropped, _ = self._tokens.popitem(last=False)
                self._locks.pop(dropped, None)
            return token

    def drop(self, key: tuple[str, str]) -> None:
        self._tokens.pop(key, None)


def _as_text(value: Scalar) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


def bound(call: Call, given: dict[str, Any]) -> dict[str, Scalar]:
    """The call's parameter values: the caller's for public ones, else the stored ones."""
    declared = {each.name: each for each in call.parameters}
    for name, value in given.items():
        field = f"parameters.{name[:100]}"
        if name not in declared:
            raise ValidationFailed(f"The call takes no parameter {name[:100]!r}", field=field)
        if declared[name].private:
            raise ValidationFailed(
                f"Parameter {name!r} is private: its value is the builder's", field=field
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationFailed(f"Parameter {name!r} is not a finite number", field=field)
        if value is not None and not isinstance(value, str | int | float | Decimal | bool):
            raise ValidationFailed(
                f"Parameter {name!r} is text, a number, true, false or null", field=field
            )
        if isinstance(value, str) and ("\x00" in value or len(value) > MAX_VALUE_LENGTH):
            raise ValidationFailed(
                f"Parameter {name!r} holds a NUL character or is longer than"
                f" {MAX_VALUE_LENGTH} characters",
                field=field,
            )
        if isinstance(value, str) and not _encodable(value):
            raise ValidationFailed(f"Parameter {name!r} is not valid Unicode text", field=field)
        if isinstance(value, Decimal) and not tame(value):
            raise ValidationFailed(
                f"Parameter {name!r} is a number too large or too small to send", field=field
            )
    values: dict[str, Scalar] = {}
    for each in call.parameters:
        value = each.value if each.private else given.get(each.name, each.value)
        if value is None and not each.optional:
            raise ValidationFailed(
                f"Parameter {each.name!r} is required", field=f"parameters.{each.name}"
            )
        values[each.name] = value
    return values


def _encodable(text: str) -> bool:
    """False for text holding a lone surrogate, which no request can carry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _url_segment(text: str) -> str:
    # "." and ".." would be read as the path's dot segments and move the request outside
    # the connector's base path: a parameter is a value, never a step up.
    if text in (".", ".."):
        raise ValidationFailed(f"{text!r} is not a value a URL can take")
    return quote(text, safe="")


def _filled(template: str, values: dict[str, Scalar], encode: Callable[[str], str] = str) -> str:
    """The template with each `<name>` of a parameter replaced; other text, `<b>` say in a
    shared header, stays as written."""

    def value_of(match: re.Match[str]) -> str:
        name = match.group(1)
        return encode(_as_text(values[name])) if name in values else match.group(0)

    return PLACEHOLDER.sub(value_of, template)


def _filled_json(template: Any, values: dict[str, Scalar]) -> Any:
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template)
        if whole is not None and whole.group(1) in values:
            return values[whole.group(1)]
        return _filled(template, values)
    if isinstance(template, dict):
        return {_filled(k, values): _filled_json(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [_filled_json(each, values) for each in template]
    return template


def _header_value(name: str, value: str) -> str:
    if "\r" in value or "\n" in value or "\x00" in value:
        raise ValidationFailed(f"The value of header {name!r} would hold a line break")
    if not value.isascii():
        raise ValidationFailed(f"The value of header {name!r} would not be ASCII text")
    return value


def _basic(user: str, password: str, *, form_encoded: bool = False) -> str:
    if form_encoded:  # OAuth2 client authentication (RFC 6749, 2.3.1)
        user, password = quote_plus(user), quote_plus(password)
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def request_of(connector: ConnectorInput, call: Call, values: dict[str, Scalar]) -> Request:
    """The request the call makes, before authentication."""
    url = _filled(call.url, values, _url_segment)
    if not call.url.lower().startswith(("http://", "https://")):
        if not connector.base_url:
            raise ValidationFailed(
                f"Call {call.name!r} has a relative URL and the connector no base URL",
                field="base_url",
            )
        url = connector.base_url.rstrip("/") + ("/" + url.lstrip("/") if url else "")
        _within(url, connector.base_url)
    headers: dict[str, str] = {}
    for each in (*connector.headers, *call.headers):
        for name in [key for key in headers if key.lower() == each.name.lower()]:
            del headers[name]
        headers[each.name] = _header_value(each.name, _filled(each.value or "", values))
    shared = {each.name: each.value or "" for each in connector.parameters}
    query: dict[str, str] = {}
    content: bytes | None = None
    body_type = call.body_type
    if body_type == "json":
        body = _filled_json(call.body, values)
        if isinstance(body, dict):
            body = {**shared, **body}
        else:
            query.update(shared)
        content = dumps_exact(body)
        _default_type(headers, "application/json")
    elif body_type == "form":
        form = {**shared, **{_filled(k, values): _filled(v, values) for k, v in call.body.items()}}
        content = urlencode(form).encode("ascii")
        _default_type(headers, "application/x-www-form-urlencoded")
    else:
        query.update(shared)
        if body_type == "raw":
            content = _filled(call.body, values).encode("utf-8")
            _default_type(headers, "text/plain; charset=utf-8")
    if query:
        url = str(_url(url).copy_merge_params(query))
    return Request(call.method, url, headers, content)


def _within(url: str, base: str) -> None:
    """A relative call's URL, its values filled in, stays on the base URL's origin and
    under its path."""
    reached, root = _url(url), _url(base)
    prefix = root.path.rstrip("/")
    if (reached.scheme, reached.host, reached.port) != (root.scheme, root.host, root.port) or (
        reached.path != prefix and not reached.path.startswith(prefix + "/")
    ):
        raise ValidationFailed("The call's values would take it outside the connector's base URL")


def _url(text: str) -> httpx.URL:
    try:
        return httpx.URL(text)
    except (httpx.InvalidURL, TypeError):
        raise ValidationFailed("The call's URL is not a URL", field="url") from None


def _default_type(headers: dict[str, str], content_type: str) -> None:
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = content_type


def _host(url: str) -> str:
    try:
        return httpx.URL(url).host[:200] or "the API"
    except (httpx.InvalidURL, TypeError):
        return "the API"


def answer_of(response: httpx.Response) -> CallAnswer:
    content_type = response.headers.get("content-type", "")
    text = response.content.decode("utf-8", errors="replace")
    try:
        body = loads_exact(text) if text.strip() else None
    except ValueError:
        body = text
    except RecursionError:
        raise UpstreamFailed("The API answered JSON nested too deeply to read") from None
    if not tame(body):
        raise UpstreamFailed("The API answered a number too large or too small to keep")
    try:
        dumps_exact(body)  # what cannot be written out again cannot be answered
    except TypeError:
        raise UpstreamFailed(
            "The API answered JSON nested too deeply or holding invalid text"
        ) from None
    return CallAnswer(response.status_code, content_type.split(";")[0].strip(), body)


def signed_jwt(auth: Auth, now: int) -> str:
    """The assertion JWT authentication signs with the connector's private key."""
    claims: dict[str, Any] = {"iat": now, "exp": now + auth.lifetime_seconds}
    if auth.client_id:
        claims["iss"] = auth.client_id
    if auth.scope:
        claims["scope"] = auth.scope
    # Exact numbers to plain JSON ones, which PyJWT's encoder takes.
    claims.update(json.loads(dumps_exact(auth.claims or {})))
    return jwt.encode(claims, auth.private_key or "", algorithm=auth.algorithm or "")


def tls_context(connector: ConnectorInput) -> ssl.SSLContext:
    """What the connector's TLS connections trust (its authorities, else the system's) and
    present (its client certificate)."""
    context = ssl.create_default_context(cadata=connector.ca_certificate or None)
    auth = connector.auth
    if auth.type == "client_certificate":
        # The ssl module loads a certificate chain from files only: a private directory,
        # gone once loaded.
        with tempfile.TemporaryDirectory(prefix="tessera-tls-") as folder:
            certificate, key = Path(folder, "certificate.pem"), Path(folder, "key.pem")
            for path, text in ((certificate, auth.certificate), (key, auth.private_key)):
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                    file.write(text or "")
            context.load_cert_chain(certificate, key)
    return context


class ConnectorClient:
    """Sends connectors' calls, adding their authentication."""

    def __init__(self, client: OutboundClient, tokens: TokenCache | None = None) -> None:
        self.client = client
        self.tokens = tokens or TokenCache()
        # Connectors with a client certificate or authorities of their own have a client
        # of their own, by (connector id, version).
        self._tls_clients: OrderedDict[tuple[str, str], OutboundClient] = OrderedDict()

    async def aclose(self) -> None:
        for client in self._tls_clients.values():
            await client.aclose()
        self._tls_clients.clear()

    async def _client_for(self, key: tuple[str, str], connector: ConnectorInput) -> OutboundClient:
        if connector.auth.type != "client_certificate" and not connector.ca_certificate:
            return self.client
        held = self._tls_clients.get(key)
        if held is None:
            held = OutboundClient(
                self.client.allowlist,
                resolver=self.client.resolver,
                max_redirects=self.client.max_redirects,
                max_response_bytes=self.client.max_response_bytes,
                total_seconds=self.client.total_seconds,
                verify=tls_context(connector),
            )
            self._tls_clients[key] = held
            while len(self._tls_clients) > MAX_TLS_CLIENTS:
                _, evicted = self._tls_clients.popitem(last=False)
                await evicted.aclose()
        self._tls_clients.move_to_end(key)
        return held

    async def run(
        self,
        connector_id: str,
        version: str,
        connector: ConnectorInput,
        call: Call,
        given: dict[str, Any],
        *,
        user_tokens: TokenSource | None = None,
    ) -> CallAnswer:
        """The call's answer, when it is a success (2xx); UpstreamFailed otherwise.
        `user_tokens`: the caller's own access token, for the OAuth2 user-agent flow."""
        request = request_of(connector, call, bound(call, given))
        auth = connector.auth
        key = (connector_id, version)
        client = await self._client_for(key, connector)
        token = await self._token(client, key, auth, user_tokens, renew=False)
        response = await self._send(client, self._authenticated(request, auth, token))
        if response.status_code == 401 and (auth.type in TOKEN_AUTH or user_tokens is not None):
            # The token may have been revoked or expired early: one more, once.
            self.tokens.drop(key)
            token = await self._token(client, key, auth, user_tokens, renew=True)
            response = await self._send(client, self._authenticated(request, auth, token))
        answer = answer_of(response)
        if not 200 <= response.status_code < 300:
            shown = (
                answer.body if isinstance(answer.body, str) else dumps_exact(answer.body).decode()
            )
            raise UpstreamFailed(
                f"{_host(request.url)} answered {response.status_code}",
                details=[{"status": response.status_code, "body": shown[:ERROR_BODY_CHARS]}],
            )
        return answer

    async def _token(
        self,
        client: OutboundClient,
        key: tuple[str, str],
        auth: Auth,
        user_tokens: TokenSource | None,
        *,
        renew: bool,
    ) -> str:
        if auth.type == "oauth2_user_agent":
            if user_tokens is None:
                raise PreconditionFailed(
                    "This connector acts for each user with their own account: it runs for"
                    " a signed-in user who connected theirs"
                )
            return await user_tokens(renew)
        if auth.type not in TOKEN_AUTH:
            return ""
        return await self.tokens.get(key, lambda: self._fetch_token(client, auth))

    def _authenticated(self, request: Request, auth: Auth, token: str) -> Request:
        headers = dict(request.headers)
        url = request.url
        if auth.type == "key_in_url":
            url = str(
                _url(url).copy_merge_params(
                    {auth.key_name or DEFAULT_KEY_PARAMETER: auth.key or ""}
                )
            )
        elif auth.type == "key_in_header":
            headers[auth.key_name or DEFAULT_KEY_HEADER] = auth.key or ""
        elif auth.type == "basic":
            headers["Authorization"] = _basic(auth.username or "", auth.password or "")
        elif token:
            headers["Authorization"] = f"Bearer {token}"
        return Request(request.method, url, headers, request.content)

    async def _send(self, client: OutboundClient, request: Request) -> httpx.Response:
        host = _host(request.url)
        try:
            # No redirect is followed: one would carry the connector's private headers and
            # values to wherever it points. A 3xx is the API's answer, reported.
            return await client.request(
                request.method,
                request.url,
                headers=request.headers,
                content=request.content,
                follow_redirects=False,
            )
        except httpx.TimeoutException:
            raise UpstreamFailed(f"{host} did not answer in time") from None
        except AnswerTooLarge as large:
            raise UpstreamFailed(f"{host}: {large.message}") from None
        except httpx.TransportError as error:
            raise UpstreamFailed(f"{host} could not be reached ({type(error).__name__})") from None

    async def _fetch_token(self, client: OutboundClient, auth: Auth) -> tuple[str, float]:
        """(access token, seconds it lasts) from the token endpoint, or the signed JWT
        itself when JWT authentication names no token endpoint."""
        form: dict[str, str] = {}
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        if auth.type == "jwt":
            assertion = signed_jwt(auth, int(time.time()))
            if not auth.token_url:
                return assertion, float(auth.lifetime_seconds)
            form = {"grant_type": JWT_BEARER_GRANT, "assertion": assertion}
        elif auth.type == "oauth2_password":
            form = {
                "grant_type": "password",
                "username": auth.username or "",
                "password": auth.password or "",
            }
            if auth.client_id and auth.client_secret:
                headers["Authorization"] = _basic(
                    auth.client_id, auth.client_secret, form_encoded=True
                )
            elif auth.client_id:
                form["client_id"] = auth.client_id
        elif auth.type == "oauth2_client_credentials":
            form = {"grant_type": "client_credentials"}
            headers["Authorization"] = _basic(
                auth.client_id or "", auth.client_secret or "", form_encoded=True
            )
            if auth.audience:
                form["audience"] = auth.audience
        else:  # oauth2_custom_token: the builder's form, the key and secret as Basic
            form = dict(auth.token_parameters or {"grant_type": "client_credentials"})
            headers["Authorization"] = _basic(auth.client_id or "", auth.client_secret or "")
        if auth.scope and auth.type != "jwt":
            form["scope"] = auth.scope
        response = await _post_form(client, auth.token_url or "", headers, form)
        return _token_of(response, auth.token_field or "access_token", _host(auth.token_url or ""))

    async def user_agent_tokens(
        self, connector_id: str, version: str, connector: ConnectorInput, form: dict[str, str]
    ) -> UserTokens:
        """The OAuth2 user-agent flow's token endpoint asked with `form` (an authorization
        code with its PKCE verifier, or a refresh token), the client authenticated with
        HTTP Basic when it has a secret."""
        auth = connector.auth
        client = await self._client_for((connector_id, version), connector)
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        if auth.client_secret:
            headers["Authorization"] = _basic(
                auth.client_id or "", auth.client_secret, form_encoded=True
            )
        else:
            form = {**form, "client_id": auth.client_id or ""}
        token_url = auth.token_url or ""
        response = await _post_form(client, token_url, headers, form)
        access, _ = _token_of(response, "access_token", _host(token_url))
        data = loads_exact(response.content)  # read once already by _token_of
        refresh = data.get("refresh_token") if isinstance(data, dict) else None
        if not (isinstance(refresh, str) and refresh.isascii() and len(refresh) <= 8000):
            refresh = None
        return UserTokens(access, refresh, expires_in(data))


@dataclass(frozen=True, slots=True)
class UserTokens:
    access_token: str
    refresh_token: str | None
    # None: the server did not say, and the token lasts until the API refuses it.
    seconds: float | None


async def _post_form(
    client: OutboundClient, url: str, headers: dict[str, str], form: dict[str, str]
) -> httpx.Response:
    host = _host(url)
    try:
        response = await client.request(
            "POST",
            url,
            headers=headers,
            content=urlencode(form).encode("ascii"),
            follow_redirects=False,
        )
    except httpx.TimeoutException:
        raise UpstreamFailed(f"The token endpoint {host} did not answer in time") from None
    except httpx.TransportError as error:
        raise UpstreamFailed(
            f"The token endpoint {host} could not be reached ({type(error).__name__})"
        ) from None
    if not 200 <= response.status_code < 300:
        raise UpstreamFailed(
            f"The token endpoint {host} answered {response.status_code}",
            details=[{"status": response.status_code}],
        )
    return response


def _token_of(response: httpx.Response, field: str, host: str) -> tuple[str, float]:
    try:
        data = loads_exact(response.content)
    except (ValueError, RecursionError):
        data = None
    found: Any = data
    for part in field.split("."):
        found = found.get(part) if isinstance(found, dict) else None
    if not isinstance(found, str) or not found or len(found) > MAX_VALUE_LENGTH:
        raise UpstreamFailed(f"The token endpoint {host} answered no '{field}'")
    if any(char in found for char in "\r\n\x00") or not found.isascii():
        raise UpstreamFailed(f"The token endpoint {host} answered a token no header can carry")
    seconds = expires_in(data)
    return found, DEFAULT_TOKEN_SECONDS if seconds is None else seconds


def expires_in(data: Any) -> float | None:
    """The seconds a token endpoint's answer says its token lasts, if it says."""
    lasts = data.get("expires_in") if isinstance(data, dict) else None
    if isinstance(lasts, Decimal):
        lasts = int(lasts) if lasts.is_finite() and 0 <= lasts.adjusted() < 9 else None
    if isinstance(lasts, int) and not isinstance(lasts, bool) and 0 < lasts <= 10**8:
        return float(lasts)
    return None
