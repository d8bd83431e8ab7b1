"""Single sign-on against a real OpenID provider (oidc-provider, laid out like a Keycloak
realm): the workspace's settings, the browser login with PKCE, state and nonce, accounts
made just in time and roles from the provider's groups, the ID token checks, enforced
single sign-on, two workspaces with two providers, a provider that is down or rotates its
keys, and logout at both ends."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest

from services.devstack.infra import free_port
from services.devstack.stack import Stack
from tests.e2e.conftest import accounts_with, database_url
from tests.factories.accounts import Tenant, sign_up, unique_domain
from tests.factories.credentials import create_token, join, token_auth
from tests.factories.tables import error_of
from tests.support.openid import (
    CLIENT_SECRET,
    OpenIdProvider,
    client_metadata,
    logout_token,
    openid_provider,
    sign_in,
    through_provider,
)
from tests.support.wait import eventually

CLIENT_ID = "tessera-acme"


@pytest.fixture(scope="module")
def acme(stack: Stack) -> Iterator[OpenIdProvider]:
    with openid_provider("acme") as provider:
        provider.register(client_metadata(stack.gateway_url, CLIENT_ID))
        yield provider


def sso_path(workspace_id: str) -> str:
    return f"/api/workspaces/{workspace_id}/sso"


def configure(
    owner: Tenant, provider: OpenIdProvider, domains: list[str], **overrides: Any
) -> dict[str, Any]:
    body = {
        "keycloak_server_url": provider.server_url,
        "keycloak_realm": provider.realm,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "allowed_domains": domains,
        "group_roles": {"engineering": "builder", "admins": "admin", "staff": "viewer"},
        **overrides,
    }
    response = owner.put(sso_path(owner.workspace_id), json=body)
    assert response.status_code == 200, response.text
    settings: dict[str, Any] = response.json()
    return settings


def person(provider: OpenIdProvider, at: str, *groups: str, **claims: Any) -> tuple[str, str]:
    """A user at the provider: (login, email)."""
    login = f"user-{secrets.token_hex(4)}"
    email = f"{login}@{at}"
    provider.set_user(
        login,
        **{"email": email, "email_verified": True, "name": "Sam Doe", "groups": list(groups)}
        | claims,
    )
    return login, email


@pytest.fixture
def browser(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30.0) as http:
        yield http


def link(
    browser: httpx.Client,
    stack: Stack,
    workspace_id: str,
    holder: Tenant,
    login: str,
    **body: str,
) -> httpx.Response:
    """The holder, proving their password, links the provider's user `login` to their
    account; the callback's answer."""
    started = browser.post(
        f"{stack.gateway_url}/auth/sso/{workspace_id}/link",
        json={"email": holder.email, "password": holder.password, **body},
    )
    assert started.status_code == 200, started.text
    callback = through_provider(
        browser,
        started.json()["authorization_url"],
        login=login,
        until=f"{stack.gateway_url}/auth/sso/",
    )
    return browser.get(callback)


def members_status(client: httpx.Client, workspace_id: str, headers: dict[str, str]) -> int:
    return client.get(f"/api/workspaces/{workspace_id}/members/", headers=headers).status_code


def closed_to(client: httpx.Client, workspace_id: str, headers: dict[str, str]) -> bool:
    return members_status(client, workspace_id, headers) == 403


def workspaces_of(client: httpx.Client, stack: Stack) -> list[dict[str, Any]]:
    response = client.get(f"{stack.gateway_url}/api/workspaces/")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


# The settings


def test_settings_are_kept_with_the_secret_write_only(
    client: httpx.Client, acme: OpenIdProvider, stack: Stack
) -> None:
    owner = sign_up(client)
    at = unique_domain("acme")
    settings = configure(owner, acme, [at.upper(), at])
    assert settings["issuer"] == acme.issuer
    assert settings["allowed_domains"] == [at]
    assert settings["client_secret_set"] is True
    assert "client_secret" not in settings
    assert CLIENT_SECRET not in owner.get(sso_path(owner.workspace_id)).text
    assert settings["provider_check"]["ok"] is True, settings["provider_check"]
    assert settings["redirect_uri"] == f"{stack.gateway_url}/auth/sso/callback"
    # Left out, the secret stays; the row holds it sealed.
    again = owner.put(
        sso_path(owner.workspace_id),
        json={"issuer": acme.issuer, "client_id": CLIENT_ID, "allowed_domains": [at]},
    )
    assert again.status_code == 200, again.text
    assert again.json()["client_secret_set"] is True
    with psycopg.connect(database_url(stack, "identity")) as db:
        sealed = db.execute(
            "SELECT sealed_client_secret FROM sso_configs WHERE tenant_id = %s",
            (owner.workspace_id,),
        ).fetchone()
    assert sealed is not None
    assert CLIENT_SECRET not in sealed[0]
    assert owner.delete(sso_path(owner.workspace_id)).status_code == 204
    error_of(owner.get(sso_path(owner.workspace_id)), 404)


# The login


def test_first_login_makes_the_account_and_later_logins_follow_the_groups(
    client: httpx.Client, acme: OpenIdProvider, stack: Stack, browser: httpx.Client
) -> None:
    owner = sign_up(client)
    at = unique_domain("acme")
    configure(owner, acme, [at])
    login, email = person(acme, at, "engineering")

    answer = sign_in(browser, stack.gateway_url, owner.workspace_id, login=login, next="/apps")
    assert answer.status_code == 302, answer.text
    assert answer.headers["location"] == "/apps"
    assert browser.cookies.get("sessionid")
    [workspace] = workspaces_of(browser, stack)
    assert (workspace["id"], workspace["role"]) == (owner.workspace_id, "builder")
    members = owner.get(f"/api/workspaces/{owner.workspace_id}/members/").json()
    assert {m["email"]: m["role"] for m in members}[email] == "builder"

    # Promoted at the provider: admin at the next login.
    acme.set_user(login, email=email, email_verified=True, groups=["engineering", "admins"])
    with httpx.Client(timeout=30.0) as second:
        assert (
            sign_in(second, stack.gateway_url, owner.workspace_id, login=login).status_code == 302
        )
        [workspace] = workspaces_of(second, stack)
        assert workspace["role"] == "admin"

    # Out of every mapped group, with no default role: refused, and the membership goes.
    acme.set_user(login, email=email, email_verified=True, groups=["contractors"])
    with httpx.Client(timeout=30.0) as third:
        refused = sign_in(third, stack.gateway_url, owner.workspace_id, login=login)
        error_of(refused, 403)
    members = owner.get(f"/api/workspaces/{owner.workspace_id}/members/").json()
    assert email not in {m["email"] for m in members}


def test_token_response_gives_tokens_for_that_workspace_only(
    client: httpx.Client, acme: OpenIdProvider, stack: Stack, browser: httpx.Client
) -> None:
    owner = sign_up(client)
    at = unique_domain("acme")
    configure(owner, acme, [at], default_role="editor")
    login, email = person(acme, at)
    answer = sign_in(browser, stack.gateway_url, owner.workspace_id, login=login, response="token")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["user"]["email"] == email
    assert body["workspace"]["id"] == owner.workspace_id
    assert body["workspace"]["role"] == "editor"
    assert body["provisioned"] is True
    bearer = {"Authorization": f"JWT {body['access_token']}"}
    listed = client.get("/api/workspaces/", headers=bearer)
    assert [w["id"] for w in listed.json()] == [owner.workspace_id]
    refreshed = client.post(
        "/api/user/token-refresh/", json={"refresh_token": body["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    again = {"Authorization": f"JWT {refreshed.json()['access_token']}"}
    assert [w["id"] for w in client.get("/api/workspaces/", headers=again).json()] == [
        owner.workspace_id
    ]


def test_settings_are_checked_and_only_for_owners_and_admins(
    client: httpx.Client, acme: OpenIdProvider
) -> None:
    owner = sign_up(client)
    at = unique_domain("acme")
    path = sso_path(owner.workspace_id)
    good = {
        "issuer": acme.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "allowed_domains": [at],
    }
    for change, field in (
        ({"client_secret": None}, "client_secret"),
        ({"keycloak_server_url": acme.server_url, "keycloak_realm": "acme"}, "issuer"),
        ({"issuer": "ftp://example.com"}, "issuer"),
        ({"issuer": "https://user:pw@example.com"}, "issuer"),
        ({"issuer": "", "keycloak_server_url": acme.server_url, "keycloak_realm": "a/b"}, None),
        ({"allowed_domains": []}, "allowed_domains"),
        ({"allowed_domains": ["not a domain"]}, "allowed_domains"),
        ({"group_roles": {"staff": "owner"}}, "group_roles"),
        ({"default_role": "superuser"}, "default_role"),
        ({"client_id": "tab\there"}, "client_id"),
        ({"client_id": "x" * 300}, "client_id"),
        ({"client_secret": "nul\x00byte"}, "client_secret"),
        ({"protocol": "kerberos"}, "protocol"),
        ({"unknown": 1}, None),
        ({"enforce": "yes"}, None),
        ({"break_glass_account_id": "acc_nobody", "enforce": True}, "break_glass_account_id"),
        ({"break_glass_account_id": "acc_nobody"}, "break_glass_account_id"),
        ({"allowed_domains": ["gmail.com"]}, "allowed_domains"),
    ):
        body = {k: v for k, v in (good | change).items() if v is not None}
        error_of(owner.put(path, json=body), 400, field)
    error_of(owner.get(path), 404)

    headers = {"X-Workspace": owner.workspace_id}
    editor = sign_up(client)
    join(owner, editor, "editor")
    error_of(editor.put(path, json=good, headers=headers), 403)
    error_of(editor.get(path, headers=headers), 403)
    admin = sign_up(client)
    join(owner, admin, "admin")
    # The provider decides who signs in as the members it links, owners included: owners
    # choose it; admins change the rest.
    error_of(admin.put(path, json=good, headers=headers), 403)
    assert owner.put(path, json=good).status_code == 200
    mapped = good | {"group_roles": {"staff": "viewer"}, "default_role": "viewer"}
    assert admin.put(path, json=mapped, headers=headers).status_code == 200
    assert admin.get(path, headers=headers).json()["group_roles"] == {"staff": "viewer"}
    error_of(admin.put(path, json=mapped | {"client_id": "another"}, headers=headers), 403)
    error_of(admin.put(path, json=mapped | {"issuer": f"{acme.issuer}x"}, headers=headers), 403)
    # Enforcement closes the workspace to the owners' passwords: owners only decide it.
    enforced = mapped | {"enforce": True, "break_glass_account_id": owner.account_id}
    error_of(admin.put(path, json=enforced, headers=headers), 403)
    assert owner.put(path, json=enforced).status_code == 200
    error_of(admin.put(path, json=mapped, headers=headers), 403)
    error_of(admin.delete(path, headers=headers), 403)
    assert owner.get(path).json()["enforce"] is True
    assert owner.put(path, json=good).status_code == 200
    token = create_token(owner, name="ci")["token"]
    error_of(client.get(path, headers=token_auth(token)), 403)


def test_login_parameters_are_checked(
    client: httpx.Client, acme: OpenIdProvider, browser: httpx.Client, stack: Stack
) -> None:
    owner = sign_up(client)
    configure(owner, acme, [unique_domain("acme")])
    login_path = f"/auth/sso/{owner.workspace_id}/login"
    error_of(client.get(login_path, params={"next": "//evil.example/"}), 400, "next")
    error_of(client.get(login_path, params={"next": "https://evil.example/"}), 400, "next")
    error_of(client.get(login_path, params={"response": "cookie"}), 400, "response")
    error_of(client.get(login_path, params={"utm": "x"}), 400)
    error_of(client.get(login_path, params={"next": "/\x00"}), 400)
    # A workspace without single sign-on, or none at all: the same answer.
    other = sign_up(client)
    error_of(client.get(f"/auth/sso/{other.workspace_id}/login"), 404)
    error_of(client.get("/auth/sso/ws_nothing/login"), 404)
    # By slug too.
    started = client.get(f"/auth/sso/{owner.workspace_slug}/login")
    assert started.status_code == 302, started.text
    location = urlsplit(started.headers["location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        f"{acme.issuer}/protocol/openid-connect/auth"
    )
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert query["state"][0] != query["nonce"][0]
    assert query["redirect_uri"] == [f"{stack.gateway_url}/auth/sso/callback"]


@pytest.mark.parametrize(
    "spoil",
    [
        "tamper",
        "expired",
        "future",
        "audience",
        "azp",
        "issuer",
        "nonce",
        "unsigned",
        "foreign_key",
        "replay",
        "hs256",
    ],
)
def test_a_bad_id_token_is_refused_and_makes_nothing(
    spoil: str, client: httpx.Client, acme: OpenIdProvider, stack: Stack
) -> None:
    owner = sign_up(client)
    at = unique_domain("acme")
    configure(owner, acme, [at], default_role="viewer")
    login, email = person(acme, at)
    if spoil == "replay":
        # A good ID token of an earlier login of another person, presented again: its
        # nonce is another login's.
        earlier_login, _ = person(acme, at)
        with httpx.Client(timeout=30.0) as earlier:
            signed_in = sign_in(earlier, stack.gateway_url, owner.workspace_id, login=earlier_login)
            assert signed_in.is_redirect
    acme.spoil_next_id_token(spoil)
    with httpx.Client(timeout=30.0) as browser:
        refused = sign_in(browser, stack.gateway_url, owner.workspace_id, login=login)
        error_of(refused, 401)
        assert not browser.cookies.get("sessionid")
    assert accounts_with(stack, email) == 0


def test_state_is_single_use_and_bound_to_the_browser(
    client: httpx.Client, acme: OpenIdProvider, stack: Stack, browser: httpx.Client
) -> None:
    owner = sign_up(client)
    at = unique_domain("acme")
    configure(owner, acme, [at], default_role="viewer")
    login, _ = person(acme, at)
    start = f"{stack.gateway_url}/auth/sso/{owner.workspace_id}/login"
    callback = through_provider(browser, start, login=login, until=f"{stack.gateway_url}/auth/sso/")
    # Another browser (no binding cookie) cannot complete it.
    with httpx.Client(timeout=30.0) as stranger:
        error_of(stranger.get(callback), 401)
    # A state it never issued.
    forged = callback.replace("state=", "state=x", 1)
    error_of(browser.get(forged), 401)
    # Nor does the stranger's attempt spend it: the owner's browser completes it, once,
    # with whatever else the provider added to the address (Google adds scope, authuser).
    assert browser.get(callback + "&scope=openid&authuser=0").status_code == 302
    error_of(browser.get(callback), 401)
    # The provider naming another issuer (RFC 9207) is refused.
    again = through_provider(browser, start, login=login, until=f"{stack.gateway_url}/auth/sso/")
    error_of(browser.get(again.replace("iss=", "iss=x", 1)), 401)
    # A spent code, put into a login of its own, is refused by the provider.
    spent_code = parse_qs(urlsplit(callback).query)["code"][0]
    fresh = through_provider(browser, start, login=login, until=f"{stack.gateway_url}/auth/sso/")
    fresh_state = parse_qs(urlsplit(fresh).query)["state"][0]
    replayed = browser.get(
        f"{stack.gateway_url}/auth/sso/callback",
        params={"code": spent_code, "state": fresh_state},
    )
    assert "refused the sign-in" in error_of(replayed, 401)["message"]


def test_a_stolen_code_is_useless_without_its_pkce_verifier(
    client: httpx.Client, acme: OpenIdProvider, stack: Stack
) -> None:
    """Code injection: an attacker puts the victim's code into a login of their own. The
    exchange sends the attacker's verifier, which the provider refuses."""
    owner = sign_up(client)
    at = unique_domain("acme")
    configure(owner, acme, [at], default_role="viewer")
    victim, _ = person(acme, at)
    attacker, _ = person(acme, at)
    start = f"{stack.gateway_url}/auth/sso/{owner.workspace_id}/login"
    until = f"{stack.gateway_url}/auth/sso/"
    with httpx.Client(timeout=30.0) as victims, httpx.Client(timeout=30.0) as attackers:
        stolen = parse_qs(
            urlsplit(through_provider(victims, start, login=victim, until=until)).query
        )
        own = parse_qs(
            urlsplit(through_provider(attackers, start, login=attacker, until=until)).query
        )
        injected = attackers.get(
            f"{stack.gateway_url}/auth/sso/callback",
            params={"code": stolen["code"][0], "state": own["state"][0]},
        )
        error_of(injected, 401)
        assert not attackers.cookies.get("sessionid")


def test_who_may_come_in(client: httpx.Client, acme: OpenIdProvider, stack: Stack) -> None:
    owner = sign_up(client)
    at = unique_domain("acme")
    configure(owner, acme, [at], default_role="viewer")
    # An address the provider has not verified, or of a domain not allowed: refused.
    login, _ = person(acme, at, email_verified=False)
    with httpx.Client(timeout=30.0) as browser:
        error_of(sign_in(browser, stack.gateway_url, owner.workspace_id, login=login), 403)
    login, _ = person(acme, "elsewhere.test")
    with httpx.Client(timeout=30.0) as browser:
        error_of(sign_in(browser, stack.gateway_url, owner.workspace_id, login=login), 403)
    # "false" as a string is no verification either.
    login, _ = person(acme, at, email_verified="false")
    with httpx.Client(timeout=30.0) as browser:
        error_of(sign_in(browser, stack.gateway_url, owner.workspace_id, login=login), 403)
    # An existing account is never taken over by its email: not an outsider's, nor a
    # member's the workspace added.
    outsider = sign_up(client, email=f"outsider-{secrets.token_hex(4)}@{at}")
    login = f"user-{secrets.token_hex(4)}"
    acme.set_user(login, email=outsider.email, email_verified=True, groups=[])
    with httpx.Client(timeout=30.0) as browser:
        refused = sign_in(browser, stack.gateway_url, owner.workspace_id, login=login)
        assert f"/auth/sso/{owner.workspace_id}/link" in error_of(refused, 409)["message"]
    join(owner, outsider, "editor")
    with httpx.Client(timeout=30.0) as browser:
        error_of(sign_in(browser, stack.gateway_url, owner.workspace_id, login=login), 409)
    # Its holder, signed in, links it; from then on the provider signs them in.
    with httpx.Client(timeout=30.0) as browser:
        answer = link(browser, stack, owner.workspace_id, outsider, login, response="token")
        assert answer.status_code == 200, answer.text
        assert answer.json()["user"]["id"] == outsider.account_id
        assert answer.json()["provisioned"] is False
        # The provider's groups decide: no mapped group, the default role.
        assert answer.json()["workspace"]["role"] == "viewer"
    with httpx.Client(timeout=30.0) as browser:
        again = sign_in(browser, stack.gateway_url, owner.workspace_id, login=login)
        assert again.status_code == 302, again.text
    # Linking takes the holder's password, and a provider login of the account's address.
    link_path = f"/auth/sso/{owner.workspace_id}/link"
    error_of(client.post(link_path, json={"email": outsider.email, "password": "not it!"}), 401)
    error_of(client.post(link_path, json={"email": outsider.email}), 400, "password")
    stranger, _ = person(acme, at)
    with httpx.Client(timeout=30.0) as browser:
        mismatch = link(browser, stack, owner.workspace_id, owner, stranger)
        assert "another address" in error_of(mismatch, 403)["message"]
    assert (
        client.post(
            "/api/user/token-auth/",
            json={"username": outsider.email, "password": outsider.password},
        ).status_code
        == 200
    )


def test_a_single_sign_on_login_opens_its_workspace_only(
    client: httpx.Client, acme: OpenIdProvider, stack: Stack, browser: httpx.Client
) -> None:
    at = unique_domain("acme")
    owner = sign_up(client, email=f"owner-{secrets.token_hex(4)}@{at}")
    configure(owner, acme, [at])
    # The owner links the provider and signs in through it: the session opens this
    # workspace only, not the owner's others, and manages no account-wide credential.
    elsewhere = client.post(
        "/api/workspaces/",
        json={"name": "Side project"},
        headers={"Authorization": f"JWT {owner.token}"},
    ).json()
    login = f"user-{secrets.token_hex(4)}"
    acme.set_user(login, email=owner.email, email_verified=True, groups=[])
    answer = link(browser, stack, owner.workspace_id, owner, login)
    assert answer.status_code == 302, answer.text
    [workspace] = workspaces_of(browser, stack)
    assert (workspace["id"], workspace["role"]) == (owner.workspace_id, "owner")
    csrf = {"X-CSRFToken": browser.cookies["csrftoken"]}
    error_of(browser.get(f"{stack.gateway_url}/api/workspaces/{elsewhere['id']}/members/"), 404)
    error_of(browser.post(f"{stack.gateway_url}/api/user/api-key", headers=csrf), 403)
    error_of(
        browser.post(f"{stack.gateway_url}/api/workspaces/", json={"name": "x"}, headers=csrf),
        403,
    )
    error_of(
        browser.post(
            f"{stack.gateway_url}/api/user/change-password/",
            json={"old_password": owner.password, "new_password": "another long one"},
            headers=csrf,
        ),
        403,
    )


def test_discovery_names_the_workspace_of_a_domain(
    client: httpx.Client, acme: OpenIdProvider, stack: Stack
) -> None:
    owner = sign_up(client)
    at = unique_domain("acme")
    configure(owner, acme, [at])
    [workspace] = owner.get("/api/workspaces/").json()
    found = client.post("/auth/sso/discover", json={"email": f"Someone@{at.upper()}"})
    assert found.status_code == 200, found.text
    assert found.json() == {
        "sso": True,
        "workspace_id": owner.workspace_id,
        "workspace_name": workspace["name"],
        "enforce": False,
        "login_url": f"{stack.gateway_url}/auth/sso/{owner.workspace_id}/login",
    }
    assert client.post("/auth/sso/discover", json={"email": "a@nowhere.test"}).json() == {
        "sso": False
    }
    error_of(client.post("/auth/sso/discover", json={"email": "not an address"}), 400, "email")
    error_of(client.post("/auth/sso/discover", json={"email": 5}), 400)
    # Another workspace cannot claim the domain.
    rival = sign_up(client)
    taken = rival.put(
        sso_path(rival.workspace_id),
        json={
            "issuer": acme.issuer,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "allowed_domains": [at],
        },
    )
    error_of(taken, 409, "allowed_domains")
    error_of(rival.get(sso_path(rival.workspace_id)), 404)


def test_enforced_single_sign_on_refuses_password_logins_but_the_break_glass_owner(
    client: httpx.Client, acme: OpenIdProvider, stack: Stack
) -> None:
    owner = sign_up(client)
    second_owner = sign_up(client)
    member = sign_up(client)
    join(owner, second_owner, "owner")
    join(owner, member, "editor")
    # Someone whose only workspace is this one (made by the users API, with a password).
    only_here = {"email": f"only-{secrets.token_hex(4)}@example.com", "password": "a password!"}
    made = owner.post("/api/users", json={**only_here, "role": "editor"})
    assert made.status_code in (200, 201), made.text
    at = unique_domain("acme")
    settings = configure(owner, acme, [at], enforce=True)
    assert settings["break_glass_account_id"] == owner.account_id

    def password_login(username: str, password: str) -> httpx.Response:
        return client.post(
            "/api/user/token-auth/", json={"username": username, "password": password}
        )

    # A password login that would open nothing is refused, naming where to sign in.
    refused = error_of(password_login(only_here["email"], only_here["password"]), 403)
    assert f"/auth/sso/{owner.workspace_id}/login" in refused["message"]
    error_of(
        client.post(
            "/auth/login/",
            json={"username": only_here["email"], "password": only_here["password"]},
        ),
        403,
    )
    # Members with workspaces of their own log in, but this one stays closed to them:
    # a workspace that adds someone and enforces cannot lock them out of everything.
    for who in (member, second_owner):
        signed_in = password_login(who.email, who.password)
        assert signed_in.status_code == 200, signed_in.text
        bearer = {"Authorization": f"JWT {signed_in.json()['access_token']}"}
        listed = client.get("/api/workspaces/", headers=bearer).json()
        assert owner.workspace_id not in {w["id"] for w in listed}
        closed = client.get(f"/api/workspaces/{owner.workspace_id}/members/", headers=bearer)
        assert f"/auth/sso/{owner.workspace_id}/login" in error_of(closed, 403)["message"]
        # Tokens issued before enforcement stop opening it too (within the cache's life,
        # at once here: the change's event reaches the gateway).
        earlier = {"Authorization": f"JWT {who.token}"}
        eventually(partial(closed_to, client, owner.workspace_id, earlier))
    # The break-glass owner keeps the way in.
    assert password_login(owner.email, owner.password).status_code == 200
    assert owner.get(f"/api/workspaces/{owner.workspace_id}/members/").status_code == 200
    # A wrong password still says only that.
    error_of(password_login(only_here["email"], "wrong one!"), 401)
    assert client.post("/auth/sso/discover", json={"email": f"x@{at}"}).json()["enforce"] is True
    # Turned off, passwords work again.
    configure(owner, acme, [at], enforce=False)
    assert password_login(only_here["email"], only_here["password"]).status_code == 200
    member_token = {"Authorization": f"JWT {member.token}"}
    eventually(lambda: members_status(client, owner.workspace_id, member_token) == 200)


@pytest.fixture(scope="module")
def globex(stack: Stack) -> Iterator[OpenIdProvider]:
    with openid_provider("globex") as provider:
        provider.register(client_metadata(stack.gateway_url, "tessera-globex"))
        yield provider


def test_two_workspaces_with_two_providers_stay_apart(
    client: httpx.Client, acme: OpenIdProvider, globex: OpenIdProvider, stack: Stack
) -> None:
    first, second = sign_up(client), sign_up(client)
    first_domain, second_domain = unique_domain("acme"), unique_domain("acme")
    configure(first, acme, [first_domain], default_role="viewer")
    configure(
        second,
        globex,
        [second_domain],
        client_id="tessera-globex",
        default_role="editor",
    )
    # The same login name at both providers is two people.
    login = f"user-{secrets.token_hex(4)}"
    acme.set_user(login, email=f"{login}@{first_domain}", email_verified=True)
    globex.set_user(login, email=f"{login}@{second_domain}", email_verified=True)
    with httpx.Client(timeout=30.0) as one, httpx.Client(timeout=30.0) as two:
        at_first = sign_in(
            one, stack.gateway_url, first.workspace_id, login=login, response="token"
        )
        at_second = sign_in(
            two, stack.gateway_url, second.workspace_id, login=login, response="token"
        )
    assert at_first.json()["user"]["id"] != at_second.json()["user"]["id"]
    assert at_first.json()["workspace"]["id"] == first.workspace_id
    assert at_second.json()["workspace"]["role"] == "editor"
    bearer = {"Authorization": f"JWT {at_first.json()['access_token']}"}
    error_of(client.get(f"/api/workspaces/{second.workspace_id}/members/", headers=bearer), 404)
    # Each workspace links the subject of its own provider.
    with psycopg.connect(database_url(stack, "identity")) as db:
        linked = db.execute(
            "SELECT tenant_id, issuer FROM sso_identities WHERE subject = %s", (login,)
        ).fetchall()
    assert sorted(linked) == sorted(
        [(first.workspace_id, acme.issuer), (second.workspace_id, globex.issuer)]
    )


def test_signing_key_rotation_at_the_provider_is_picked_up(
    client: httpx.Client, acme: OpenIdProvider, stack: Stack
) -> None:
    owner = sign_up(client)
    at = unique_domain("acme")
    configure(owner, acme, [at], default_role="viewer")
    login, _ = person(acme, at)
    with httpx.Client(timeout=30.0) as before:
        assert sign_in(before, stack.gateway_url, owner.workspace_id, login=login).is_redirect
        kid = acme.rotate_keys()
        with httpx.Client(timeout=30.0) as after:
            answer = sign_in(after, stack.gateway_url, owner.workspace_id, login=login)
            assert answer.status_code == 302, answer.text
        assert len(workspaces_of(before, stack)) == 1
    keys = httpx.get(f"{acme.issuer}/protocol/openid-connect/certs").json()["keys"]
    assert keys[0]["kid"] == kid


def test_a_provider_that_is_down_answers_503_and_sessions_go_on(
    client: httpx.Client, stack: Stack
) -> None:
    with openid_provider("outage") as provider:
        provider.register(client_metadata(stack.gateway_url, CLIENT_ID))
        owner = sign_up(client)
        at = unique_domain("acme")
        configure(owner, provider, [at], default_role="viewer")
        login, _ = person(provider, at)
        with httpx.Client(timeout=30.0) as browser:
            assert sign_in(browser, stack.gateway_url, owner.workspace_id, login=login).is_redirect
            # Down between the redirect to it and the callback: the code exchange fails.
            start = f"{stack.gateway_url}/auth/sso/{owner.workspace_id}/login"
            with httpx.Client(timeout=30.0) as other:
                callback = through_provider(
                    other, start, login=login, until=f"{stack.gateway_url}/auth/sso/"
                )
                provider.stop()
                down = other.get(callback)
            assert down.status_code == 503, down.text
            assert int(down.headers["Retry-After"]) > 0
            # New logins wait; the session already made does not.
            assert workspaces_of(browser, stack)[0]["id"] == owner.workspace_id
            provider.start()
            with httpx.Client(timeout=30.0) as later:
                back = sign_in(later, stack.gateway_url, owner.workspace_id, login=login)
                assert back.status_code == 302, back.text


def test_a_login_page_for_a_provider_that_is_down_answers_503(
    client: httpx.Client, stack: Stack
) -> None:
    owner = sign_up(client)
    unused = f"http://127.0.0.1:{free_port()}/realms/gone"
    response = owner.put(
        sso_path(owner.workspace_id),
        json={
            "issuer": unused,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "allowed_domains": [unique_domain("acme")],
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["provider_check"]["ok"] is False
    down = client.get(f"/auth/sso/{owner.workspace_id}/login")
    error_of(down, 503)
    assert down.headers["Retry-After"]


def test_a_provider_on_a_private_address_is_not_reached(client: httpx.Client, stack: Stack) -> None:
    owner = sign_up(client)
    response = owner.put(
        sso_path(owner.workspace_id),
        json={
            "issuer": "http://169.254.169.254/realms/metadata",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "allowed_domains": [unique_domain("acme")],
        },
    )
    assert response.status_code == 200, response.text
    check = response.json()["provider_check"]
    assert check["ok"] is False
    assert "TESSERA_OUTBOUND_ALLOWLIST" in check["message"]
    error_of(client.get(f"/auth/sso/{owner.workspace_id}/login"), 502)


def test_logout_here_and_at_the_provider_and_back_channel_logout(
    client: httpx.Client, acme: OpenIdProvider, stack: Stack
) -> None:
    owner = sign_up(client)
    at = unique_domain("acme")
    client_id = f"tessera-{secrets.token_hex(3)}"
    acme.register(
        client_metadata(
            stack.gateway_url,
            client_id,
            backchannel_logout_uri=(
                f"{stack.gateway_url}/auth/sso/{owner.workspace_id}/backchannel-logout"
            ),
            backchannel_logout_session_required=True,
        )
    )
    configure(owner, acme, [at], client_id=client_id, default_role="viewer")
    login, _ = person(acme, at)
    with httpx.Client(timeout=30.0) as browser, httpx.Client(timeout=30.0) as phone:
        # Two logins from one provider session (a cookie and a token client), and one from
        # another device.
        assert sign_in(browser, stack.gateway_url, owner.workspace_id, login=login).is_redirect
        tokens = sign_in(
            browser, stack.gateway_url, owner.workspace_id, login=login, response="token"
        ).json()
        assert sign_in(phone, stack.gateway_url, owner.workspace_id, login=login).is_redirect

        # Logging out at Tessera, asking for the provider's logout too.
        csrf = {"X-CSRFToken": browser.cookies["csrftoken"]}
        out = browser.post(
            f"{stack.gateway_url}/auth/sso/logout",
            json={"end_provider_session": True},
            headers=csrf,
        )
        assert out.status_code == 200, out.text
        error_of(browser.get(f"{stack.gateway_url}/api/workspaces/"), 401)
        provider_logout = out.json()["provider_logout_url"]
        assert provider_logout.startswith(f"{acme.issuer}/protocol/openid-connect/logout?")
        # The provider asks the browser to confirm, ends its session, tells every client
        # over the back channel, and sends the browser back.
        back = through_provider(
            browser, provider_logout, login=login, until=f"{stack.gateway_url}/auth/sso/"
        )
        assert browser.get(back).json() == {"detail": "Signed out at the identity provider"}
        # The token login of that provider session has ended; the other device's has not.
        eventually(lambda: refresh_token_revoked(stack, tokens["refresh_token"]))
        error_of(
            client.post(
                "/api/user/token-refresh/", json={"refresh_token": tokens["refresh_token"]}
            ),
            401,
        )
        assert workspaces_of(phone, stack)[0]["id"] == owner.workspace_id


def refresh_token_revoked(stack: Stack, refresh_token: str) -> bool:
    digest = hashlib.sha256(refresh_token.encode()).hexdigest()
    with psycopg.connect(database_url(stack, "identity")) as db:
        row = db.execute(
            "SELECT revoked_at IS NOT NULL FROM refresh_tokens WHERE token_hash = %s", (digest,)
        ).fetchone()
    return row == (True,)


def test_back_channel_logout_tokens_are_checked_and_spent_once(
    client: httpx.Client, acme: OpenIdProvider, stack: Stack
) -> None:
    owner = sign_up(client)
    at = unique_domain("acme")
    configure(owner, acme, [at], default_role="viewer")
    login, _ = person(acme, at)
    path = f"/auth/sso/{owner.workspace_id}/backchannel-logout"
    with httpx.Client(timeout=30.0) as browser:
        assert sign_in(browser, stack.gateway_url, owner.workspace_id, login=login).is_redirect
        for bad in (
            {"aud": "another-client"},
            {"iss": "http://127.0.0.1:1/realms/other"},
            {"events": None},
            {"nonce": "n"},
            {"sub": None},
            {"iat": int(time.time()) + 600},
            {"exp": int(time.time()) - 600},
        ):
            token = logout_token(acme, CLIENT_ID, **({"sub": login} | bad))
            error_of(client.post(path, data={"logout_token": token}), 401)
        error_of(client.post(path, data={"logout_token": "not.a.token"}), 401)
        error_of(client.post(path, data={}), 400)
        error_of(client.post(path, data={"logout_token": ""}), 400, "logout_token")
        error_of(
            client.post(
                f"/auth/sso/{secrets.token_hex(4)}/backchannel-logout",
                data={"logout_token": logout_token(acme, CLIENT_ID, sub=login)},
            ),
            404,
        )
        assert workspaces_of(browser, stack)

        token = logout_token(acme, CLIENT_ID, sub=login)
        ended = client.post(path, data={"logout_token": token})
        assert ended.status_code == 200, ended.text
        assert ended.json() == {"ended": 1}
        eventually(lambda: browser.get(f"{stack.gateway_url}/api/workspaces/").status_code == 401)
        # The same token again ends nothing more, even for a new login.
        assert sign_in(browser, stack.gateway_url, owner.workspace_id, login=login).is_redirect
        assert client.post(path, data={"logout_token": token}).json() == {"ended": 0}
        assert workspaces_of(browser, stack)


def test_odd_input_is_refused_and_changes_nothing(
    client: httpx.Client, acme: OpenIdProvider, stack: Stack, browser: httpx.Client
) -> None:
    owner = sign_up(client)
    path = sso_path(owner.workspace_id)
    at = unique_domain("acme")
    good = {
        "issuer": acme.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "allowed_domains": [at],
    }
    surrogate = '{"email": "\\udc80@acme.test"}'
    error_of(
        client.post(
            "/auth/sso/discover", content=surrogate, headers={"Content-Type": "application/json"}
        ),
        400,
        "email",
    )
    raw = json.dumps(good | {"client_id": "\ud800"})
    error_of(owner.put(path, content=raw, headers={"Content-Type": "application/json"}), 400)
    for server in ("http://\u0661\u0662\u0667.0.0.1:1", "http://xn--.test", "http://[::1"):
        odd = {k: v for k, v in good.items() if k != "issuer"}
        odd |= {"keycloak_server_url": server, "keycloak_realm": "acme"}
        error_of(owner.put(path, json=odd), 400)
    error_of(owner.get(path), 404)
    # Logout tokens with claims no service could store, or times past any clock.
    configure(owner, acme, [at], default_role="viewer")
    backchannel = f"/auth/sso/{owner.workspace_id}/backchannel-logout"
    for claims in (
        {"iat": float("inf")},
        {"exp": float("-inf")},
        {"iat": 1e300},
        {"jti": "a\x00b"},
        {"jti": "x" * 10_000},
        {"sid": "\x00"},
    ):
        token = logout_token(acme, CLIENT_ID, **({"sub": "someone"} | claims))
        response = client.post(backchannel, data={"logout_token": token})
        assert response.status_code in (400, 401), f"{claims}: {response.text}"
    # The email_verified claim says true, or nothing.
    login, _ = person(acme, at, email_verified="no")
    error_of(sign_in(browser, stack.gateway_url, owner.workspace_id, login=login), 403)


def test_a_single_sign_on_login_links_nothing_else(
    client: httpx.Client, acme: OpenIdProvider, globex: OpenIdProvider, stack: Stack
) -> None:
    first, second = sign_up(client), sign_up(client)
    first_domain, second_domain = unique_domain("acme"), unique_domain("acme")
    configure(first, acme, [first_domain], default_role="viewer")
    configure(second, globex, [second_domain], client_id="tessera-globex", default_role="viewer")
    login, email = person(acme, first_domain)
    with httpx.Client(timeout=30.0) as browser:
        assert sign_in(browser, stack.gateway_url, first.workspace_id, login=login).is_redirect
        # An account the provider made has no password: it links nothing elsewhere.
        linked = browser.post(
            f"{stack.gateway_url}/auth/sso/{second.workspace_id}/link",
            json={"email": email, "password": "whatever it is"},
            headers={"X-CSRFToken": browser.cookies["csrftoken"]},
        )
        error_of(linked, 401)


def test_another_provider_ends_every_link_and_login(
    client: httpx.Client, acme: OpenIdProvider, globex: OpenIdProvider, stack: Stack
) -> None:
    owner = sign_up(client)
    at = unique_domain("acme")
    configure(owner, acme, [at], default_role="viewer")
    login, email = person(acme, at)
    with httpx.Client(timeout=30.0) as browser:
        assert sign_in(browser, stack.gateway_url, owner.workspace_id, login=login).is_redirect
        tokens = sign_in(
            browser, stack.gateway_url, owner.workspace_id, login=login, response="token"
        ).json()
        configure(owner, globex, [at], client_id="tessera-globex", default_role="viewer")
        eventually(lambda: browser.get(f"{stack.gateway_url}/api/workspaces/").status_code == 401)
        eventually(lambda: refresh_token_revoked(stack, tokens["refresh_token"]))
    with psycopg.connect(database_url(stack, "identity")) as db:
        links = db.execute(
            "SELECT count(*) FROM sso_identities WHERE tenant_id = %s", (owner.workspace_id,)
        ).fetchone()
    assert links == (0,)
    # The new provider's user of that address finds the account the old one made: it is
    # not theirs to take.
    globex.set_user(login, email=email, email_verified=True)
    with httpx.Client(timeout=30.0) as browser:
        error_of(sign_in(browser, stack.gateway_url, owner.workspace_id, login=login), 409)
