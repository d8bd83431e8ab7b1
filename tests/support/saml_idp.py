"""A real SAML 2.0 identity provider for the single sign-on tests: pysaml2's Server behind a
small HTTP server on 127.0.0.1. It takes an AuthnRequest by HTTP-Redirect, shows a login
form (any login the test set up), and answers with a signed assertion by HTTP-POST to the
service provider's assertion consumer service, as an auto-submitting form does in a
browser. A test may spoil the next response (see SPOILS)."""

from __future__ import annotations

import base64
import html
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAME_FORMAT_BASIC, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server

from tests.support.openid import forms_of

PASSWORD_CLASS = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
# How the next response is spoiled.
SPOILS = ("unsigned", "audience", "recipient", "foreign_key", "tamper", "replay")


def _key_and_certificate(folder: Path, name: str) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = folder / f"{name}.key", folder / f"{name}.crt"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


class SamlIdentityProvider:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.entity_id = f"{self.base_url}/idp/metadata"
        self.server = self._server("idp")
        # The same provider's name with another key: what a forger would sign with.
        self.forger = self._server("forger")
        self.users: dict[str, dict[str, Any]] = {}
        self.spoil: str | None = None
        self.previous_response = ""
        self._lock = threading.Lock()

    def _server(self, name: str) -> Server:
        key_file, cert_file = _key_and_certificate(self.folder, name)
        config = IdPConfig()
        config.load(
            {
                "entityid": self.entity_id,
                "service": {
                    "idp": {
                        "endpoints": {
                            "single_sign_on_service": [
                                (f"{self.base_url}/idp/sso", BINDING_HTTP_REDIRECT)
                            ]
                        },
                        "policy": {
                            "default": {
                                "lifetime": {"minutes": 5},
                                "attribute_restrictions": None,
                                "name_form": NAME_FORMAT_BASIC,
                            }
                        },
                        "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                    }
                },
                "key_file": str(key_file),
                "cert_file": str(cert_file),
                "xmlsec_binary": shutil.which("xmlsec1"),
                "metadata": {},
            }
        )
        return Server(config=config)

    @property
    def metadata_xml(self) -> str:
        return str(create_metadata_string(None, self.server.config, valid=24).decode())

    def trust(self, service_provider_metadata_url: str) -> None:
        """Loads a service provider's metadata, as an admin registers it at the provider."""
        xml = httpx.get(service_provider_metadata_url, timeout=10).text
        for server in (self.server, self.forger):
            server.config.metadata.load("inline", xml)

    def set_user(self, login: str, **attributes: Any) -> None:
        """`email`, `name`, `groups` (a list), and optionally `subject`."""
        self.users[login] = attributes

    def spoil_next_response(self, kind: str) -> None:
        assert kind in SPOILS, kind
        self.spoil = kind

    # The HTTP side

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _page(self, body: str, status: int = 200) -> None:
                encoded = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(encoded)))
                self.end_headers()
                self.wfile.write(encoded)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/idp/metadata":
                    self._page(provider.metadata_xml)
                    return
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path != "/idp/sso" or "SAMLRequest" not in query:
                    self._page("not found", 404)
                    return
                self._page(_form("/idp/sso", {**query, "login": ""}))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                fields = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                try:
                    destination, response = provider.respond(fields)
                except Exception as error:
                    self._page(f"refused: {html.escape(repr(error))}", 400)
                    return
                relay = fields.get("RelayState", "")
                self._page(_form(destination, {"SAMLResponse": response, "RelayState": relay}))

        return Handler

    def respond(self, fields: dict[str, str]) -> tuple[str, str]:
        """(where to post, the base64 SAMLResponse) for a login form's fields."""
        with self._lock:
            spoil, self.spoil = self.spoil, None
        request = self.server.parse_authn_request(fields["SAMLRequest"], BINDING_HTTP_REDIRECT)
        args = self.server.response_args(request.message)
        destination = args["destination"]
        if spoil == "replay":
            return destination, self.previous_response
        user = self.users[fields["login"]]
        if spoil == "audience":
            args["sp_entity_id"] = "http://other.example/sp"
        if spoil == "recipient":
            args["destination"] = "http://other.example/acs"
        signer = self.forger if spoil == "foreign_key" else self.server
        identity = {"email": [user["email"]], "name": [user.get("name", "Sam Doe")]}
        if user.get("groups"):
            identity["groups"] = list(user["groups"])
        response = str(
            signer.create_authn_response(
                identity,
                userid=fields["login"],
                name_id=NameID(
                    format=NAMEID_FORMAT_PERSISTENT,
                    text=user.get("subject", f"subject-{fields['login']}"),
                ),
                sign_assertion=spoil != "unsigned",
                sign_response=False,
                authn={"class_ref": PASSWORD_CLASS},
                **args,
            )
        )
        if spoil == "tamper":
            response = response.replace(user["email"], f"mallory-{secrets.token_hex(3)}@x.test")
        encoded = base64.b64encode(response.encode()).decode()
        if spoil is None:
            self.previous_response = encoded
        return destination, encoded


def _form(action: str, fields: dict[str, str]) -> str:
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        if k != "login"
        else '<input name="login" value="">'
        for k, v in fields.items()
    )
    form = f'<form method="post" action="{html.escape(action)}">{inputs}</form>'
    return f"<html><body>{form}</body></html>"


@contextmanager
def saml_identity_provider() -> Iterator[SamlIdentityProvider]:
    with tempfile.TemporaryDirectory(prefix="saml-idp-") as folder:
        provider = SamlIdentityProvider(Path(folder))
        thread = threading.Thread(target=provider.httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield provider
        finally:
            provider.httpd.shutdown()
            provider.httpd.server_close()


def saml_sign_in(
    browser: httpx.Client, gateway_url: str, workspace: str, *, login: str, **params: str
) -> httpx.Response:
    """Tessera's login URL, the provider's login form, and the form it posts back to
    Tessera's assertion consumer service, whose answer is returned."""
    query = "&".join(f"{key}={value}" for key, value in params.items())
    start = f"{gateway_url}/auth/sso/{workspace}/login" + (f"?{query}" if query else "")
    response = browser.get(start, follow_redirects=True)
    for _ in range(2):
        forms = forms_of(response.text)
        if response.status_code != 200 or not forms:
            return response
        form = forms[0]
        fields = dict(form["fields"])
        if "login" in fields:
            fields["login"] = login
        response = browser.post(urljoin(str(response.url), form["action"]), data=fields)
    return response
