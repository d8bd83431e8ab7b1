"""A real OpenID provider for the single sign-on tests (panva's oidc-provider under Node,
tests/support/oidc_provider/server.mjs, laid out like a Keycloak realm), and a headless
browser that signs in through it with httpx: the provider's login and consent pages are
plain HTML forms.

`make test` installs the provider's npm packages (tests/ensure-oidc-provider.sh)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import jwt

from services.devstack.infra import free_port

SERVER_DIR = Path(__file__).parent / "oidc_provider"
CLIENT_SECRET = "sso client secret: not to be shown"
START_SECONDS = 20.0


@dataclass
class OpenIdProvider:
    realm: str
    port: int
    key_file: Path
    log_file: Path
    process: subprocess.Popen[bytes] | None = None
    clients: list[dict[str, Any]] = field(default_factory=list)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def server_url(self) -> str:
        """What a Keycloak set-up names: the server, without the realm."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.server_url}/realms/{self.realm}"

    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, f"{self.server_url}/admin/{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def start(self) -> None:
        env = {
            **os.environ,
            "IDP_PORT": str(self.port),
            "IDP_REALM": self.realm,
            "IDP_KEYS": str(self.key_file),
        }
        log = self.log_file.open("ab")
        self.process = subprocess.Popen(
            ["node", "server.mjs"], cwd=SERVER_DIR, env=env, stdout=log, stderr=log
        )
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1)
                break
            except httpx.TransportError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the OpenID provider did not start: {self.log_file.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.05)
        # A restarted provider knows what the tests told the one before it.
        self._admin("PUT", "clients", self.clients)
        for login, claims in self.users.items():
            self._admin("PUT", f"users/{login}", claims)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def register(self, client: dict[str, Any]) -> None:
        """Adds or replaces a client (oidc-provider metadata) by its client_id."""
        self.clients = [c for c in self.clients if c["client_id"] != client["client_id"]]
        self.clients.append(client)
        self._admin("PUT", "clients", self.clients)

    def set_user(self, login: str, **claims: Any) -> None:
        self.users[login] = claims
        self._admin("PUT", f"users/{login}", claims)

    def rotate_keys(self) -> str:
        """A new signing key, first in the JWKS; answers its kid."""
        kid: str = self._admin("POST", "rotate")["kid"]
        return kid

    def spoil_next_id_token(self, kind: str) -> None:
        """The next token response carries an ID token altered as `kind` says (see
        MUTATIONS in server.mjs)."""
        self._admin("POST", "mutate", {"kind": kind})


@contextmanager
def openid_provider(realm: str) -> Iterator[OpenIdProvider]:
    if shutil.which("node") is None or not (SERVER_DIR / "node_modules").is_dir():
        raise RuntimeError(
            "the OpenID provider is not installed: run tests/ensure-oidc-provider.sh"
        )
    with tempfile.TemporaryDirectory(prefix=f"idp-{realm}-") as folder:
        provider = OpenIdProvider(
            realm=realm,
            port=free_port(),
            key_file=Path(folder) / "keys.json",
            log_file=Path(folder) / "provider.log",
        )
        provider.start()
        try:
            yield provider
        finally:
            provider.stop()


def client_metadata(gateway_url: str, client_id: str, **extra: Any) -> dict[str, Any]:
    """A confidential client of Tessera's gateway, as a Keycloak admin would register it."""
    return {
        "client_id": client_id,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [f"{gateway_url}/auth/sso/callback"],
        "post_logout_redirect_uris": [f"{gateway_url}/auth/sso/logged-out"],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_post",
        **extra,
    }


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "form":
            self.forms.append({"action": named.get("action") or "", "fields": {}})
        elif tag in ("input", "button") and self.forms and named.get("name"):
            self.forms[-1]["fields"][named["name"]] = named.get("value") or ""


def forms_of(html: str) -> list[dict[str, Any]]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def through_provider(
    browser: httpx.Client, url: str, *, login: str, until: str, max_steps: int = 12
) -> str:
    """Follows `url` and the provider's pages (signing in as `login`, consenting) to the
    first redirect to a URL starting with `until`; answers that URL, not followed."""
    response = browser.get(url)
    for _ in range(max_steps):
        if response.is_redirect:
            target = urljoin(str(response.url), response.headers["location"])
            if target.startswith(until):
                return target
            response = browser.get(target)
            continue
        forms = forms_of(response.text)
        if response.status_code != 200 or not forms:
            raise AssertionError(
                f"the provider answered {response.status_code}: {response.text[:500]}"
            )
        form = forms[0]
        fields = dict(form["fields"])
        if "login" in fields:
            fields.update(login=login, password="any password")
        response = browser.post(urljoin(str(response.url), form["action"]), data=fields)
    raise AssertionError(f"no redirect to {until} after {max_steps} steps")


def sign_in(
    browser: httpx.Client, gateway_url: str, workspace: str, *, login: str, **params: str
) -> httpx.Response:
    """The whole browser login: Tessera's login URL, the provider, and Tessera's callback,
    whose answer (a redirect with the session cookie, or the tokens) is returned."""
    query = "&".join(f"{key}={value}" for key, value in params.items())
    start = f"{gateway_url}/auth/sso/{workspace}/login" + (f"?{query}" if query else "")
    callback = through_provider(browser, start, login=login, until=f"{gateway_url}/auth/sso/")
    return browser.get(callback)


def logout_token(provider: OpenIdProvider, audience: str, **claims: Any) -> str:
    """A back-channel logout token signed with the provider's own current key."""
    key = json.loads(provider.key_file.read_text())[0]
    now = int(time.time())
    payload = {
        "iss": provider.issuer,
        "aud": audience,
        "iat": now,
        "exp": now + 120,
        "jti": secrets.token_hex(8),
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        **claims,
    }
    payload = {k: v for k, v in payload.items() if v is not None}
    signing_key = jwt.PyJWK.from_dict(key, algorithm="RS256")
    return jwt.encode(payload, signing_key, algorithm="RS256", headers={"kid": key["kid"]})
