"""The API connector (Bubble's): an app's providers of external APIs, each with a base URL,
shared headers and parameters, one authentication and its calls.

Private values (keys, passwords, client secrets, private keys, and every header or
parameter marked private) are write-only: they are taken out of the stored document into
one sealed object, and every read shows `"***"` where one is set. Sending `"***"` back in
an update keeps the stored value, so a client may send what it read.

A call must be initialized (run once with sample values) before it runs for anyone: the
answer's JSON Schema is stored and types the call's result for saved queries and the
app's OpenAPI document. Changing a call's definition asks for it again."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

import httpx
import jwt
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator
from sqlalchemy import delete, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from services.kit.clock import rfc3339
from services.kit.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from services.kit.expiring import ExpiringCache
from services.kit.ids import new_id
from services.kit.json import dumps_exact, encoded_holds_nul, holds_nul, loads_exact
from services.kit.secrets import SecretBox
from services.workflows import tables
from services.workflows.bodies import Strict, json_object, tame, validated
from services.workflows.sealing import reseal_column

c = tables.connectors

MASK: Final = "***"
MAX_CONNECTORS_PER_APP = 50
MAX_CALLS = 100
MAX_VALUES = 50
MAX_URL_LENGTH = 2000
MAX_VALUE_LENGTH = 8000
# PEM keys and certificates, chains included.
MAX_PEM_LENGTH = 20_000
NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
# An HTTP header's name (RFC 9110 token) and a parameter's: letters, digits and -_.
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}")
PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,99}")
PLACEHOLDER = re.compile(r"<([A-Za-z_][A-Za-z0-9_.\-]{0,99})>")

AuthType = Literal[
    "none",
    "key_in_url",
    "key_in_header",
    "basic",
    "oauth2_password",
    "oauth2_client_credentials",
    "oauth2_custom_token",
    "jwt",
    "client_certificate",
    "oauth2_user_agent",
]
# The auth fields that hold a secret, and which auth types need which fields.
SECRET_AUTH_FIELDS: Final = ("key", "password", "client_secret", "private_key")
NEEDS: Final[dict[str, tuple[str, ...]]] = {
    "none": (),
    "key_in_url": ("key",),
    "key_in_header": ("key",),
    "basic": ("username", "password"),
    "oauth2_password": ("token_url", "username", "password"),
    "oauth2_client_credentials": ("token_url", "client_id", "client_secret"),
    "oauth2_custom_token": ("token_url", "client_id", "client_secret"),
    "jwt": ("private_key", "algorithm"),
    "client_certificate": ("certificate", "private_key"),
    "oauth2_user_agent": ("authorize_url", "token_url", "client_id"),
}
JwtAlgorithm = Literal["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "HS256"]
# Numbers arrive as int or, exactly, Decimal (services.kit.json).
Scalar = str | int | Decimal | bool | None


def _scalar(value: Any) -> Scalar:
    if isinstance(value, Decimal) and not tame(value):
        raise ValueError("is a number too large or too small")
    if isinstance(value, str) and len(value) > MAX_VALUE_LENGTH:
        raise ValueError(f"is longer than {MAX_VALUE_LENGTH} characters")
    if value is None or isinstance(value, str | int | Decimal | bool):
        return value
    raise ValueError("is text, a number, true, false or null")


def http_url(value: str, field: str) -> str:
    """An http(s) URL with a host, as the outgoing client will read it."""
    try:
        parsed = httpx.URL(value)
    except (httpx.InvalidURL, TypeError):
        raise ValueError(f"'{field}' is not a URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"'{field}' is not an http or https URL with a host")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise ValueError(f"'{field}' names a port that does not exist")
    return value


# In a model: one check, so an error names the field and not a member of the union.
ScalarValue = Annotated[Any, AfterValidator(_scalar)]


class ConnectorNotFound(NotFound):
    default_message = "Connector not found"


class CallNotFound(NotFound):
    default_message = "Call not found"


def _plain_text(value: str | None, limit: int = MAX_VALUE_LENGTH) -> str | None:
    if value is None:
        return None
    if len(value) > limit:
        raise ValueError(f"is longer than {limit} characters")
    if "\x00" in value:
        raise ValueError("holds a NUL character")
    return value


# Headers the HTTP client writes from the request itself.
FRAMING_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "te", "upgrade", "trailer"}
)


def _header_value(value: str, what: str) -> str:
    if not value.isascii():
        raise ValueError(f"{what} is ASCII text")
    if value != value.strip(" \t"):
        raise ValueError(f"{what} neither starts nor ends with a space")
    return value


def _header_text(value: str | None) -> str | None:
    value = _plain_text(value)
    if value is not None and ("\r" in value or "\n" in value):
        raise ValueError("holds a line break, which cannot go in a header")
    return value


class NamedValue(Strict):
    """A shared or per-call header or parameter; a private one is never shown again."""

    name: str
    value: str | None = None
    private: bool = False

    @field_validator("value")
    @classmethod
    def _value(cls, value: str | None) -> str | None:
        return _header_text(value)


class Header(NamedValue):
    @field_validator("value")
    @classmethod
    def _ascii(cls, value: str | None) -> str | None:
        return None if value is None else _header_value(value, "a header's value")

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if HEADER_NAME.fullmatch(name) is None:
            raise ValueError(f"{name[:70]!r} is not a header name")
        if name.lower() in FRAMING_HEADERS:
            raise ValueError(f"{name!r} is set by Tessera for each request")
        return name


class SharedParameter(NamedValue):
    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if PARAMETER_NAME.fullmatch(name) is None:
            raise ValueError(f"{name[:70]!r} is not a parameter name")
        return name


class CallParameter(Strict):
    """A value a call's URL, headers or body name as `<name>`: its sample (the default when
    a caller gives none), or, when private, the one value it ever has."""

    name: str
    value: ScalarValue = None
    private: bool = False
    optional: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if PARAMETER_NAME.fullmatch(name) is None:
            raise ValueError(f"{name[:70]!r} is not a parameter name")
        return name

    @field_validator("value")
    @classmethod
    def _value(cls, value: Scalar) -> Scalar:
        if isinstance(value, str):
            return _plain_text(value)
        return value


class Auth(Strict):
    """One authentication for every call of the connector (Bubble's list, plus OAuth2
    client credentials). Only the fields its type reads may be set."""

    type: AuthType = "none"
    # key_in_url: the query parameter's name; key_in_header: the header's.
    key_name: str | None = None
    key: str | None = None
    username: str | None = None
    password: str | None = None
    token_url: str | None = Field(default=None, max_length=MAX_URL_LENGTH)
    # oauth2_user_agent: where each user is sent to let Tessera act for them.
    authorize_url: str | None = Field(default=None, max_length=MAX_URL_LENGTH)
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None
    audience: str | None = None
    # oauth2_custom_token: form fields of the token request, and where the token is.
    token_parameters: dict[str, str] | None = Field(default=None, max_length=MAX_VALUES)
    token_field: str | None = Field(default=None, max_length=100)
    # jwt: a PEM private key (or the shared secret for HS256), the claims to sign;
    # client_certificate: the certificate (PEM, its chain after it) and its private key.
    certificate: str | None = None
    private_key: str | None = None
    algorithm: JwtAlgorithm | None = None
    claims: dict[str, ScalarValue] | None = Field(default=None, max_length=MAX_VALUES)
    lifetime_seconds: int = Field(default=3600, ge=60, le=86_400)

    @field_validator("key", "username", "password", "client_id", "client_secret", "scope")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return _header_text(value)

    @field_validator("audience", "token_field")
    @classmethod
    def _short(cls, value: str | None) -> str | None:
        return _header_text(value)

    @field_validator("token_url", "authorize_url")
    @classmethod
    def _endpoint(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = _header_text(value)
        return None if value is None else http_url(value, info.field_name or "url")

    @field_validator("private_key", "certificate")
    @classmethod
    def _pem(cls, value: str | None) -> str | None:
        return _plain_text(value, MAX_PEM_LENGTH)

    @field_validator("key_name")
    @classmethod
    def _key_name(cls, value: str | None) -> str | None:
        if value is not None and HEADER_NAME.fullmatch(value) is None:
            raise ValueError(f"{value[:70]!r} is not a header or parameter name")
        return value

    @field_validator("token_parameters")
    @classmethod
    def _form(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for name, each in (value or {}).items():
            if PARAMETER_NAME.fullmatch(name) is None:
                raise ValueError(f"{name[:70]!r} is not a parameter name")
            _plain_text(each)
        return value

    @field_validator("claims")
    @classmethod
    def _claims(cls, value: dict[str, Scalar] | None) -> dict[str, Scalar] | None:
        if value is not None and holds_nul(value):
            raise ValueError("holds a NUL character")
        return value

    @model_validator(mode="after")
    def _complete(self) -> Auth:
        needed = NEEDS[self.type]
        for name in needed:
            if getattr(self, name) in (None, ""):
                raise ValueError(f"'{name}' is needed for {self.type} authentication")
        readable = set(needed) | _OPTIONAL[self.type] | {"type", "lifetime_seconds"}
        for name in type(self).model_fields:
            if name not in readable and getattr(self, name) is not None:
                raise ValueError(f"'{name}' is not read by {self.type} authentication")
        if self.type == "key_in_header" and self.key not in (None, MASK):
            _header_value(self.key or "", "'key'")
        if self.type == "jwt" and self.private_key != MASK:
            try:  # a key that cannot sign is refused now, not at the first call
                jwt.encode({}, self.private_key or "", algorithm=self.algorithm)
            except (ValueError, TypeError, AttributeError, jwt.PyJWTError, UnsupportedAlgorithm):
                # AttributeError: a public key, which PyJWT takes and cannot sign with.
                raise ValueError(
                    f"'private_key' is not a {self.algorithm} key (PEM, or the shared secret"
                    " for HS256)"
                ) from None
        if self.type == "client_certificate" and self.private_key != MASK:
            _key_pair(self.certificate or "", self.private_key or "")
        return self


def _certificates(pem: str, field: str) -> list[x509.Certificate]:
    try:
        found = x509.load_pem_x509_certificates(pem.encode("utf-8"))
    except ValueError:
        found = []
    if not found:
        raise ValueError(f"'{field}' holds no PEM certificate")
    return found


def _key_pair(certificate: str, private_key: str) -> None:
    """The certificate and the private key belong together (a TLS client presents both)."""
    leaf = _certificates(certificate, "certificate")[0]
    try:
        key = serialization.load_pem_private_key(private_key.encode("utf-8"), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError("'private_key' is not an unencrypted PEM private key") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if key.public_key().public_bytes(encoding, public) != leaf.public_key().public_bytes(
        encoding, public
    ):
        raise ValueError("'private_key' is not the key of 'certificate'")


_OPTIONAL: Final[dict[str, set[str]]] = {
    "none": set(),
    "key_in_url": {"key_name"},
    "key_in_header": {"key_name"},
    "basic": set(),
    "oauth2_password": {"client_id", "client_secret", "scope"},
    "oauth2_client_credentials": {"scope", "audience"},
    "oauth2_custom_token": {"token_parameters", "token_field"},
    "jwt": {"token_url", "claims", "scope", "client_id"},
    "client_certificate": set(),
    "oauth2_user_agent": {"client_secret", "scope"},
}


class Call(Strict):
    name: str
    use_as: Literal["data", "action"] = "data"
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    # Relative to the connector's base URL, or absolute; `<name>` takes a parameter.
    url: str = Field(default="", max_length=MAX_URL_LENGTH)
    headers: list[Header] = Field(default_factory=list, max_length=MAX_VALUES)
    parameters: list[CallParameter] = Field(default_factory=list, max_length=MAX_VALUES)
    body_type: Literal["none", "json", "form", "raw"] = "none"
    # json: any JSON, where a string "<name>" becomes the parameter's value as it is and
    # `<name>` inside a longer string its text; form: an object of field to text; raw: text.
    body: Any = None

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if NAME.fullmatch(name) is None:
            raise ValueError(f"{name[:70]!r} is not a name (lowercase letters, digits, _)")
        return name

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        url = _header_text(url) or ""
        _, separator, rest = url.partition("://")
        if separator:
            # Parameters fill in a path or a query, never where the request goes (with
            # the connector's credentials).
            origin = rest.split("/", 1)[0].split("?", 1)[0]
            if "<" in origin or ">" in origin:
                raise ValueError("a parameter cannot name the host of an absolute URL")
            http_url(PLACEHOLDER.sub("x", url), "url")
        return url

    @model_validator(mode="after")
    def _consistent(self) -> Call:
        _unique_names(self.headers, "headers", fold=True)
        _unique_names(self.parameters, "parameters")
        if self.body_type == "none" and self.body is not None:
            raise ValueError("a call whose body_type is none has no body")
        if self.body_type == "form" and not (
            isinstance(self.body, dict) and all(isinstance(v, str) for v in self.body.values())
        ):
            raise ValueError("a form body is an object of field name to text")
        if self.body_type == "raw" and not isinstance(self.body, str):
            raise ValueError("a raw body is text")
        try:
            written = dumps_exact(self.body)
        except TypeError:
            raise ValueError("the body is nested too deeply or holds invalid text") from None
        if encoded_holds_nul(written):
            raise ValueError("the body holds a NUL character")
        if len(written) > 100_000:
            raise ValueError("the body is longer than 100,000 characters")
        known = {each.name for each in self.parameters}
        for name in placeholders(self):
            if name not in known:
                raise ValueError(f"'<{name}>' names no parameter of the call")
        return self


class ConnectorInput(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    base_url: str = Field(default="", max_length=MAX_URL_LENGTH)
    headers: list[Header] = Field(default_factory=list, max_length=MAX_VALUES)
    parameters: list[SharedParameter] = Field(default_factory=list, max_length=MAX_VALUES)
    auth: Auth = Field(default_factory=Auth)
    calls: list[Call] = Field(default_factory=list, max_length=MAX_CALLS)
    # PEM certificates of the authorities the API's own certificate is checked against,
    # instead of the system's (an internal API with a private CA).
    ca_certificate: str = Field(default="", max_length=MAX_PEM_LENGTH)

    @field_validator("ca_certificate")
    @classmethod
    def _authorities(cls, value: str) -> str:
        if value:
            _certificates(value, "ca_certificate")
        return value

    @field_validator("name")
    @classmethod
    def _text(cls, value: str) -> str:
        return _header_text(value) or ""

    @field_validator("base_url")
    @classmethod
    def _base(cls, value: str) -> str:
        value = _header_text(value) or ""
        return http_url(value, "base_url") if value else value

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: list[Header]) -> list[Header]:
        _unique_names(headers, "headers", fold=True)
        return headers

    @field_validator("parameters")
    @classmethod
    def _parameters(cls, parameters: list[SharedParameter]) -> list[SharedParameter]:
        _unique_names(parameters, "parameters")
        return parameters

    @field_validator("calls")
    @classmethod
    def _calls(cls, calls: list[Call]) -> list[Call]:
        _unique_names(calls, "calls")
        return calls

    def call(self, name: str) -> Call:
        for each in self.calls:
            if each.name == name:
                return each
        raise CallNotFound()


def _unique_names(items: list[Any], what: str, *, fold: bool = False) -> None:
    seen: set[str] = set()
    for item in items:
        key = item.name.lower() if fold else item.name
        if key in seen:
            raise ValueError(f"two {what} are named {item.name[:70]!r}")
        seen.add(key)


def placeholders(call: Call) -> Iterator[str]:
    """Every `<name>` the call's URL, header values and body name."""
    texts = [call.url, *(h.value or "" for h in call.headers if not h.private)]
    for text in texts:
        yield from PLACEHOLDER.findall(text)
    yield from _body_placeholders(call.body)


def _body_placeholders(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield from PLACEHOLDER.findall(value)
    elif isinstance(value, dict):
        for key, each in value.items():
            yield from PLACEHOLDER.findall(key)
            yield from _body_placeholders(each)
    elif isinstance(value, list):
        for each in value:
            yield from _body_placeholders(each)


# --- private values ----------------------------------------------------------------------


def _secret_slots(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(slot, container, key) of every place a private value lives in a dumped connector."""
    auth = document["auth"]
    for name in SECRET_AUTH_FIELDS:
        yield f"auth.{name}", auth, name
    for kind in ("headers", "parameters"):
        for each in document[kind]:
            if each["private"]:
                yield f"{kind}.{_slot_name(kind, each['name'])}", each, "value"
    for call in document["calls"]:
        for kind in ("headers", "parameters"):
            for each in call[kind]:
                if each["private"]:
                    name = _slot_name(kind, each["name"])
                    yield f"calls.{call['name']}.{kind}.{name}", each, "value"


def origins(document: dict[str, Any]) -> set[tuple[str, str, int | None]]:
    """Where a dumped connector's requests go: its base URL's, its token endpoint's and its
    absolute calls' scheme, host and port."""
    urls = [document["base_url"], document["auth"].get("token_url") or ""]
    urls += [call["url"] for call in document["calls"] if "://" in call["url"]]
    found = set()
    for url in urls:
        try:
            parsed = httpx.URL(PLACEHOLDER.sub("x", url))
        except (httpx.InvalidURL, TypeError):
            parsed = httpx.URL("")  # saved before URLs were checked: reached nowhere
        if url and parsed.host:
            found.add((parsed.scheme, parsed.host, parsed.port))
    return found


def _slot_name(kind: str, name: str) -> str:
    # Header names are one whatever their case; parameter names are not.
    return name.lower() if kind == "headers" else name


def split_secrets(connector: ConnectorInput) -> tuple[dict[str, Any], dict[str, Any]]:
    """The document to store (private values null) and the private values by slot."""
    document = connector.model_dump()
    secrets: dict[str, Any] = {}
    for slot, container, key in _secret_slots(document):
        if container[key] is not None:
            secrets[slot] = container[key]
            container[key] = None
    return document, secrets


def masked(document: dict[str, Any], secrets: dict[str, Any]) -> dict[str, Any]:
    """The stored document as a client sees it: "***" wherever a private value is set."""
    shown = loads_exact(dumps_exact(document))
    for slot, container, key in _secret_slots(shown):
        if slot in secrets:
            container[key] = MASK
    return shown


def resolved(document: dict[str, Any], secrets: dict[str, Any]) -> ConnectorInput:
    """The connector with its private values, for calling it."""
    whole = loads_exact(dumps_exact(document))
    for slot, container, key in _secret_slots(whole):
        if slot in secrets:
            container[key] = secrets[slot]
    return ConnectorInput.model_validate(whole)


def _kept(given: ConnectorInput, earlier: dict[str, Any]) -> ConnectorInput:
    """`given` with each "***" replaced by the stored value of the same slot."""
    document = given.model_dump()
    for slot, container, key in _secret_slots(document):
        if container[key] == MASK:
            if slot not in earlier:
                raise ValidationFailed(
                    f"'***' keeps a stored private value, and '{slot}' has none",
                    field=slot,
                )
            container[key] = earlier[slot]
    for name in SECRET_AUTH_FIELDS:
        if document["auth"][name] == MASK:
            raise ValidationFailed(f"'***' keeps a stored value, and 'auth.{name}' has none")
    return validated(document, ConnectorInput)


def _seal(box: SecretBox, connector_id: str, secrets: dict[str, Any]) -> str:
    return box.seal(dumps_exact(secrets), context=secret_context(connector_id))


def secret_context(connector_id: str) -> str:
    return f"connector:{connector_id}"


def opened(box: SecretBox, connector_id: str, sealed: str) -> dict[str, Any]:
    secrets: dict[str, Any] = loads_exact(box.open(sealed, context=secret_context(connector_id)))
    return secrets


# --- storage -----------------------------------------------------------------------------


RESOLVED_SECONDS = 300
_RESOLVED: ExpiringCache[tuple[str, datetime], ConnectorInput] = ExpiringCache(256)


@dataclass(frozen=True, slots=True)
class StoredConnector:
    id: str
    app_id: str
    name: str
    document: dict[str, Any]
    sealed_secrets: str
    shapes: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    def shown(self, box: SecretBox) -> dict[str, Any]:
        """The connector as a client sees it: private values masked, each call with its
        initialization (shape and time) or null."""
        shown = masked(self.document, opened(box, self.id, self.sealed_secrets))
        for call in shown["calls"]:
            call["initialized"] = self.shapes.get(call["name"])
        return {
            "id": self.id,
            **shown,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
        }

    def whole(self, box: SecretBox) -> ConnectorInput:
        """The connector with its private values. Held a while per version: opening and
        checking it again (a JWT key's test signature, a certificate pair) on every call
        would cost more than the call."""
        key = (self.id, self.updated_at)
        held = _RESOLVED.get(key)
        if held is None:
            held = resolved(self.document, opened(box, self.id, self.sealed_secrets))
            _RESOLVED.put(key, held, seconds=RESOLVED_SECONDS)
        return held

    def stored_call(self, name: str) -> dict[str, Any]:
        for call in self.document["calls"]:
            if call["name"] == name:
                return dict(call)
        raise CallNotFound()

    def initialized(self, call: str) -> dict[str, Any]:
        """The call's last initialization ({"shape", "at"}); PreconditionFailed when it has
        none since its definition last changed."""
        self.stored_call(call)
        initialized = self.shapes.get(call)
        if initialized is None:
            raise PreconditionFailed(
                f"Call {call!r} has not been initialized since it was last changed:"
                " initialize it first",
                field="call",
            )
        return dict(initialized)


_COLUMNS = (
    c.c.id,
    c.c.app_id,
    c.c.name,
    c.c.document,
    c.c.sealed_secrets,
    c.c.shapes,
    c.c.created_at,
    c.c.updated_at,
)


async def find(
    session: AsyncSession, tenant: str, app_id: str, connector_id: str
) -> StoredConnector:
    row = (
        await session.execute(
            select(*_COLUMNS).where(
                c.c.tenant_id == tenant, c.c.app_id == app_id, c.c.id == connector_id
            )
        )
    ).first()
    if row is None:
        raise ConnectorNotFound()
    return StoredConnector(*tuple(row))


async def find_by_name(
    session: AsyncSession, tenant: str, app_id: str, name: str
) -> StoredConnector:
    row = (
        await session.execute(
            select(*_COLUMNS).where(c.c.tenant_id == tenant, c.c.app_id == app_id, c.c.name == name)
        )
    ).first()
    if row is None:
        raise ConnectorNotFound(f"The app has no connector named {name[:100]!r}")
    return StoredConnector(*tuple(row))


async def list_connectors(session: AsyncSession, tenant: str, app_id: str) -> list[StoredConnector]:
    rows = await session.execute(
        select(*_COLUMNS)
        .where(c.c.tenant_id == tenant, c.c.app_id == app_id)
        .order_by(c.c.name, c.c.id)
    )
    return [StoredConnector(*tuple(row)) for row in rows]


def _input(raw: bytes) -> ConnectorInput:
    return validated(json_object(raw, "A connector"), ConnectorInput)


async def create_connector(
    session: AsyncSession, tenant: str, app_id: str, created_by: str, raw: bytes, *, box: SecretBox
) -> StoredConnector:
    given = _kept(_input(raw), {})
    count = await session.scalar(
        select(func.count()).where(c.c.tenant_id == tenant, c.c.app_id == app_id)
    )
    if (count or 0) >= MAX_CONNECTORS_PER_APP:
        raise ValidationFailed(f"An app has at most {MAX_CONNECTORS_PER_APP} connectors")
    await _name_free(session, tenant, app_id, given.name)
    connector_id = new_id("con")
    document, secrets = split_secrets(given)
    await session.execute(
        insert(c).values(
            id=connector_id,
            tenant_id=tenant,
            app_id=app_id,
            name=given.name,
            document=document,
            sealed_secrets=_seal(box, connector_id, secrets),
            shapes={},
            created_by=created_by,
        )
    )
    return await find(session, tenant, app_id, connector_id)


async def _name_free(
    session: AsyncSession, tenant: str, app_id: str, name: str, *, but: str = ""
) -> None:
    taken = await session.scalar(
        select(c.c.id).where(
            c.c.tenant_id == tenant, c.c.app_id == app_id, c.c.name == name, c.c.id != but
        )
    )
    if taken is not None:
        raise Conflict(f"The app has a connector named {name[:100]!r}", field="name")


async def update_connector(
    session: AsyncSession,
    tenant: str,
    app_id: str,
    connector_id: str,
    raw: bytes,
    *,
    box: SecretBox,
) -> StoredConnector:
    """Replaces the fields given (a list given replaces the whole list); private values
    sent as "***" stay as they were. A call whose definition changed must be initialized
    again."""
    stored = await find(session, tenant, app_id, connector_id)
    earlier_secrets = opened(box, connector_id, stored.sealed_secrets)
    change = json_object(raw, "A connector")
    # What a read shows and no one writes: a client may send back what it read.
    for shown_only in ("id", "created_at", "updated_at"):
        change.pop(shown_only, None)
    calls = change.get("calls")
    for call in calls if isinstance(calls, list) else []:
        if isinstance(call, dict):
            call.pop("initialized", None)
    current = masked(stored.document, earlier_secrets)
    unknown = set(change) - set(ConnectorInput.model_fields)
    if unknown:
        field = sorted(unknown)[0]
        raise ValidationFailed(f"Unknown field '{field[:100]}'", field=field[:100])
    merged = {**current, **change}
    with_masks = validated(merged, ConnectorInput)
    reached_before = origins(stored.document)
    reached = origins(with_masks.model_dump())
    if reached - reached_before and any(
        container[key] == MASK for _, container, key in _secret_slots(with_masks.model_dump())
    ):
        # Otherwise whoever may edit the connector could send its write-only values to an
        # address of theirs.
        raise ValidationFailed(
            "The connector would reach a new address: give its private values again"
            " instead of '***'"
        )
    given = _kept(with_masks, earlier_secrets)
    if reached != reached_before:
        # Users' tokens were given for the API the connector reached.
        await session.execute(
            delete(tables.connector_user_tokens).where(
                tables.connector_user_tokens.c.connector_id == connector_id
            )
        )
    if given.name != stored.name:
        await _name_free(session, tenant, app_id, given.name, but=connector_id)
    document, secrets = split_secrets(given)
    before = {call["name"]: call for call in stored.document["calls"]}
    shapes = {
        name: shape
        for name, shape in stored.shapes.items()
        if any(call["name"] == name and call == before.get(name) for call in document["calls"])
    }
    await session.execute(
        update(c)
        .where(c.c.id == connector_id)
        .values(
            name=given.name,
            document=document,
            sealed_secrets=_seal(box, connector_id, secrets),
            shapes=shapes,
            updated_at=func.now(),
        )
    )
    return await find(session, tenant, app_id, connector_id)


async def delete_connector(
    session: AsyncSession, tenant: str, app_id: str, connector_id: str
) -> None:
    await find(session, tenant, app_id, connector_id)
    await session.execute(delete(c).where(c.c.id == connector_id))


async def store_shape(
    session: AsyncSession, stored: StoredConnector, call: str, initialized: dict[str, Any]
) -> None:
    """Keeps the call's initialization, unless the connector changed since it was read
    (the answer may be the old definition's): Conflict then."""
    done = await session.execute(
        update(c)
        .where(c.c.id == stored.id, c.c.updated_at == stored.updated_at)
        .values(shapes=c.c.shapes.op("||")(literal({call: initialized}, type_=JSONB)))
    )
    if done.rowcount == 0:  # type: ignore[attr-defined]
        raise Conflict("The connector changed while the call ran: initialize it again")


async def reseal_connector_secrets(session: AsyncSession, box: SecretBox) -> int:
    """Connectors' private values under the first key."""
    return await reseal_column(session, box, c, [c.c.id], ["sealed_secrets"], secret_context)


# --- shapes ------------------------------------------------------------------------------

SAMPLED_ITEMS = 50
MAX_SHAPE_DEPTH = 32
# The items of a list that was empty in every sample.
UNKNOWN: Final[dict[str, Any]] = {"$comment": "no sample"}


def shape_of(value: Any, depth: int = 0) -> dict[str, Any]:
    """The JSON Schema of a sample answer: objects with their properties, lists with the
    union of their items' shapes (the first fifty), numbers as integer or number; below
    MAX_SHAPE_DEPTH levels, anything (a schema twice as deep as its answer would be more
    than a JSON document may nest)."""
    if depth >= MAX_SHAPE_DEPTH:
        return {}
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, Decimal | float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    if isinstance(value, list):
        items: dict[str, Any] | None = None
        for each in value[:SAMPLED_ITEMS]:
            shape = shape_of(each, depth + 1)
            items = shape if items is None else merged_shape(items, shape)
        return {"type": "array", "items": UNKNOWN if items is None else items}
    # PostgreSQL's jsonb holds no NUL, in keys neither.
    return {
        "type": "object",
        "properties": {
            key.replace("\x00", "\ufffd"): shape_of(each, depth + 1) for key, each in value.items()
        },
    }


def _types(shape: dict[str, Any]) -> set[str] | None:
    kind = shape.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return set(kind)
    return None


def merged_shape(one: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """A schema both samples fit: objects with the union of their properties, lists with
    their items merged, integer and number as number, null as a type beside the other
    (OpenAPI 3.1's way); {} (anything) when they differ otherwise."""
    if one == other:
        return one
    # An empty list's items, of which the sample tells nothing, take the other's shape.
    if one == UNKNOWN or other == UNKNOWN:
        return other if one == UNKNOWN else one
    # {}: values of different kinds were seen, and it stays so.
    if not one or not other:
        return {}
    ours, theirs = _types(one), _types(other)
    if ours is None or theirs is None:
        return {}
    nullable = "null" in ours | theirs
    ours, theirs = ours - {"null"}, theirs - {"null"}
    merged: dict[str, Any]
    if not ours or not theirs:
        merged = dict(one if ours else other)
    elif ours == theirs == {"object"}:
        properties = dict(one["properties"])
        for key, shape in other["properties"].items():
            properties[key] = merged_shape(properties[key], shape) if key in properties else shape
        merged = {"type": "object", "properties": properties}
    elif ours == theirs == {"array"}:
        merged = {"type": "array", "items": merged_shape(one["items"], other["items"])}
    elif ours | theirs <= {"integer", "number"}:
        merged = {"type": "number"}
    else:
        return {}
    if nullable:
        kinds = sorted((_types(merged) or set()) - {"null"})
        merged["type"] = [*kinds, "null"] if kinds else "null"
    return merged


async def check_api_calls(
    session: AsyncSession, tenant: str, app_id: str, steps: list[tuple[str, Any]]
) -> None:
    """Each api_call step (its place, the step) names a connector of the app, one of its
    calls, and only that call's public parameters: a 400 naming the place otherwise, when
    the workflow is saved rather than when it runs."""
    for where, step in steps:
        try:
            stored = await find_by_name(session, tenant, app_id, step.connector)
        except ConnectorNotFound as missing:
            raise ValidationFailed(missing.message, field=f"{where}.connector") from None
        try:
            call = stored.stored_call(step.call)
        except CallNotFound:
            raise ValidationFailed(
                f"Connector {step.connector[:100]!r} has no call {step.call!r}",
                field=f"{where}.call",
            ) from None
        public = {each["name"] for each in call["parameters"] if not each["private"]}
        for name in step.parameters:
            if name not in public:
                raise ValidationFailed(
                    f"Call {step.call!r} has no public parameter {name[:100]!r}",
                    field=f"{where}.parameters.{name[:100]}",
                )
