"""A real HTTP server on 127.0.0.1 playing an external API and its authorization server, for
the API connector: it issues OAuth2 tokens (password, client credentials, a custom token
request, the JWT bearer grant, whose assertions it verifies with the public key) and
refuses, with 401, any request to /v1/ that does not carry a credential it accepts. It
records every request, so tests see what Tessera sent. And an HTTPS API of a private
certificate authority that admits only clients with one of its certificates."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import secrets
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

import httpx
import jwt
import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

API_KEY = "key-7f3a9c"
USERNAME = "ada@example.com"
PASSWORD = "correct horse: battery staple"
CLIENT_ID = "tessera-client"
CLIENT_SECRET = "client secret/with+symbols"
CUSTOM_KEY = "custom-key"
CUSTOM_SECRET = "custom-secret"
JWT_ISSUER = "svc@example.iam"
JWT_AUDIENCE = "https://api.example.test/token"
ITEMS = [
    {"id": 1, "name": "Anvil", "price": 12.5, "tags": ["iron"], "stock": None},
    {"id": 2, "name": "Rope", "price": 3, "tags": [], "stock": 40},
]


def _rsa_key() -> tuple[str, rsa.RSAPublicKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return pem, key.public_key()


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("ascii"), keep_blank_values=True)


@dataclass
class ExternalApi:
    port: int = 0
    private_key_pem: str = ""
    public_key: Any = None
    seen: list[Seen] = field(default_factory=list)
    # Tokens issued and still accepted; grant type of each one issued, in order.
    tokens: set[str] = field(default_factory=set)
    grants: list[str] = field(default_factory=list)
    token_seconds: int = 3600
    # When set, tokens are issued but never accepted (a provider that went wrong).
    refuse_tokens: bool = False
    # The authorization code flow: code -> (user, challenge, redirect URI); access and
    # refresh tokens -> the user they act for.
    codes: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    user_tokens: dict[str, str] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def to(self, path: str) -> list[Seen]:
        return [each for each in self.seen if each.path == path]

    def revoke_tokens(self) -> None:
        self.tokens.clear()
        self.user_tokens.clear()


def _basic(headers: dict[str, str], *, form_encoded: bool) -> tuple[str, str] | None:
    value = headers.get("authorization", "")
    if not value.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(value[6:]).decode().partition(":")
    if form_encoded:
        user, password = unquote_plus(user), unquote_plus(password)
    return user, password


def _token_answer(state: ExternalApi, seen: Seen) -> tuple[int, Any]:
    form = {name: values[0] for name, values in seen.form().items()}
    grant = form.get("grant_type", "")
    if seen.path == "/custom-token":
        if _basic(seen.headers, form_encoded=False) != (CUSTOM_KEY, CUSTOM_SECRET):
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "client_credentials" or form.get("realm") != "inventory":
            return 400, {"error": "invalid_request"}
        grant = "custom"
    elif grant == "password":
        if (form.get("username"), form.get("password")) != (USERNAME, PASSWORD):
            return 400, {"error": "invalid_grant"}
        if _basic(seen.headers, form_encoded=True) != (CLIENT_ID, CLIENT_SECRET):
            return 401, {"error": "invalid_client"}
    elif grant == "client_credentials":
        if _basic(seen.headers, form_encoded=True) != (CLIENT_ID, CLIENT_SECRET):
            return 401, {"error": "invalid_client"}
    elif grant == "authorization_code":
        if _basic(seen.headers, form_encoded=True) != (CLIENT_ID, CLIENT_SECRET):
            return 401, {"error": "invalid_client"}
        found = state.codes.pop(form.get("code", ""), None)
        if found is None:
            return 400, {"error": "invalid_grant"}
        user, challenge, redirect_uri = found
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE"}
        if form.get("redirect_uri") != redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri"}
        return 200, _user_tokens(state, user, grant)
    elif grant == "refresh_token":
        if _basic(seen.headers, form_encoded=True) != (CLIENT_ID, CLIENT_SECRET):
            return 401, {"error": "invalid_client"}
        user = state.refresh_tokens.pop(form.get("refresh_token", ""), "")
        if not user:
            return 400, {"error": "invalid_grant"}
        return 200, _user_tokens(state, user, grant)
    elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                state.public_key,
                algorithms=["RS256"],
                audience=JWT_AUDIENCE,
                issuer=JWT_ISSUER,
            )
        except jwt.PyJWTError:
            return 400, {"error": "invalid_grant"}
        if claims.get("scope") != "inventory.read":
            return 400, {"error": "invalid_scope"}
    else:
        return 400, {"error": "unsupported_grant_type"}
    token = secrets.token_urlsafe(16)
    state.grants.append(grant)
    if not state.refuse_tokens:
        state.tokens.add(token)
    answer = {"access_token": token, "token_type": "Bearer", "expires_in": state.token_seconds}
    if seen.path == "/custom-token":
        return 200, {"result": {"bearer": token}}
    return 200, answer


def _user_tokens(state: ExternalApi, user: str, grant: str) -> dict[str, Any]:
    access, refresh = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    state.grants.append(grant)
    state.user_tokens[access] = user
    state.refresh_tokens[refresh] = user  # rotated: the one used is spent
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": state.token_seconds,
    }


def _authorize(state: ExternalApi, seen: Seen) -> tuple[int, dict[str, str]]:
    """The user (named by `user`, as if they had signed in) approves at once: back to the
    redirect URI with a code, or with an error when asked to deny."""
    query = {name: values[0] for name, values in seen.query.items()}
    if query.get("client_id") != CLIENT_ID or query.get("code_challenge_method") != "S256":
        return 400, {}
    target = httpx.URL(query["redirect_uri"])
    if query.get("user") == "denied":
        back = {"error": "access_denied", "state": query["state"]}
    else:
        code = secrets.token_urlsafe(16)
        state.codes[code] = (query["user"], query["code_challenge"], query["redirect_uri"])
        back = {"code": code, "state": query["state"]}
    return 302, {"Location": str(target.copy_merge_params(back))}


def _admitted(state: ExternalApi, seen: Seen) -> bool:
    headers = seen.headers
    authorization = headers.get("authorization", "")
    if authorization.startswith("Bearer "):
        token = authorization[7:]
        if token in state.tokens or token in state.user_tokens:
            return True
        try:  # a JWT signed with the connector's key, sent as it is
            jwt.decode(token, state.public_key, algorithms=["RS256"], audience=JWT_AUDIENCE)
        except jwt.PyJWTError:
            return False
        return True
    if seen.query.get("api_key") == [API_KEY] or headers.get("x-api-key") == API_KEY:
        return True
    return _basic(headers, form_encoded=False) == (USERNAME, PASSWORD)


@contextmanager
def external_api() -> Iterator[ExternalApi]:
    pem, public = _rsa_key()
    state = ExternalApi(private_key_pem=pem, public_key=public)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            split = urlsplit(self.path)
            seen = Seen(
                self.command,
                split.path,
                parse_qs(split.query, keep_blank_values=True),
                {name.lower(): value for name, value in self.headers.items()},
                body,
            )
            with lock:
                state.seen.append(seen)
                headers: dict[str, str] = {}
                if split.path in ("/token", "/custom-token"):
                    status, answer = _token_answer(state, seen)
                elif split.path == "/deep-token":
                    # Deeper than a JSON writer goes: written by hand.
                    status, answer = 200, b'{"access_token":' * 900 + b"{}" + b"}" * 900
                elif split.path == "/authorize":
                    status, headers = _authorize(state, seen)
                    answer = {}
                elif not split.path.startswith("/v1/"):
                    status, answer = 404, {"error": "not found"}
                elif not _admitted(state, seen):
                    status, answer = 401, {"error": "unauthorized"}
                elif split.path == "/v1/items":
                    status, answer = 200, {"items": ITEMS, "total": len(ITEMS)}
                elif split.path == "/v1/deep":
                    answer = {}
                    for _ in range(int(seen.query.get("n", ["130"])[0])):
                        answer = {"a": answer}
                    status = 200
                elif split.path == "/v1/nulkey":
                    status, answer = 200, {"a\x00b": 1, "c": "d\x00e"}
                elif split.path == "/v1/redirect":
                    status, answer = 302, {}
                    headers = {"Location": state.url("/v1/items")}
                elif split.path == "/v1/me":
                    token = seen.headers["authorization"].removeprefix("Bearer ")
                    status, answer = 200, {"user": state.user_tokens.get(token)}
                elif split.path == "/v1/text":
                    status, answer = 200, "plain words"
                else:
                    status, answer = 200, {"echo": seen.path}
            if isinstance(answer, bytes):
                encoded = answer
            else:
                encoded = answer.encode() if isinstance(answer, str) else orjson.dumps(answer)
            self.send_response(status)
            kind = "text/plain" if isinstance(answer, str) else "application/json"
            self.send_header("Content-Type", kind)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


# --- mutual TLS ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """A private certificate authority, a server certificate for 127.0.0.1 and a client
    certificate, each PEM."""

    ca_certificate: str
    server_certificate: str
    server_key: str
    client_certificate: str
    client_key: str
    # Another client, of an authority the server does not trust.
    stranger_certificate: str
    stranger_key: str


def _pem_key(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def _issue(
    subject: str,
    key: rsa.RSAPrivateKey,
    issuer: tuple[x509.Certificate, rsa.RSAPrivateKey] | None,
    *,
    ca: bool = False,
    ip: str | None = None,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
            critical=False,
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def make_pki() -> Pki:
    def key() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def pem(certificate: x509.Certificate) -> str:
        return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    ca_key, other_ca_key = key(), key()
    ca = _issue("Test CA", ca_key, None, ca=True)
    other_ca = _issue("Other CA", other_ca_key, None, ca=True)
    server_key, client_key, stranger_key = key(), key(), key()
    return Pki(
        ca_certificate=pem(ca),
        server_certificate=pem(_issue("127.0.0.1", server_key, (ca, ca_key), ip="127.0.0.1")),
        server_key=_pem_key(server_key),
        client_certificate=pem(_issue("tessera-client", client_key, (ca, ca_key))),
        client_key=_pem_key(client_key),
        stranger_certificate=pem(_issue("stranger", stranger_key, (other_ca, other_ca_key))),
        stranger_key=_pem_key(stranger_key),
    )


@dataclass
class TlsApi:
    pki: Pki
    port: int = 0
    # The common names of the client certificates each request came with.
    clients: list[str] = field(default_factory=list)

    def url(self, path: str = "") -> str:
        return f"https://127.0.0.1:{self.port}{path}"


@contextmanager
def tls_api() -> Iterator[TlsApi]:
    """An HTTPS API that admits only clients with a certificate of its authority."""
    state = TlsApi(make_pki())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            peer = self.connection.getpeercert() or {}
            subject = dict(item[0] for item in peer.get("subject", ()))
            state.clients.append(subject.get("commonName", ""))
            answer = orjson.dumps({"client": subject.get("commonName")})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            return

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=state.pki.ca_certificate)
    with tempfile.TemporaryDirectory() as folder:
        certificate, key = Path(folder, "server.pem"), Path(folder, "server.key")
        certificate.write_text(state.pki.server_certificate)
        key.write_text(state.pki.server_key)
        context.load_cert_chain(certificate, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
