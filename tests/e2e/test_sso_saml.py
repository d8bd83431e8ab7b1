"""SAML 2.0 single sign-on against a real identity provider (pysaml2's, started here):
SP-initiated logins, signed assertions required, audience and recipient checked, each
answer accepted once."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest

from services.devstack.stack import Stack
from tests.e2e.conftest import accounts_with
from tests.factories.accounts import Tenant, sign_up, unique_domain
from tests.factories.tables import error_of
from tests.support.saml_idp import SamlIdentityProvider, saml_identity_provider, saml_sign_in

MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"


@pytest.fixture(scope="module")
def idp() -> Iterator[SamlIdentityProvider]:
    with saml_identity_provider() as provider:
        yield provider


def configure(
    owner: Tenant, idp: SamlIdentityProvider, domains: list[str], **overrides: Any
) -> dict[str, Any]:
    response = owner.put(
        f"/api/workspaces/{owner.workspace_id}/sso",
        json={
            "protocol": "saml",
            "idp_metadata_xml": idp.metadata_xml,
            "allowed_domains": domains,
            "group_roles": {"engineering": "builder", "admins": "admin"},
            **overrides,
        },
    )
    assert response.status_code == 200, response.text
    settings: dict[str, Any] = response.json()
    idp.trust(settings["sp_metadata_url"])
    return settings


def person(idp: SamlIdentityProvider, at: str, *groups: str) -> tuple[str, str]:
    login = f"user-{secrets.token_hex(4)}"
    email = f"{login}@{at}"
    idp.set_user(login, email=email, name="Sam Doe", groups=list(groups))
    return login, email


def test_settings_and_service_provider_metadata(
    client: httpx.Client, idp: SamlIdentityProvider, stack: Stack
) -> None:
    owner = sign_up(client)
    settings = configure(owner, idp, [unique_domain("saml")])
    assert settings["protocol"] == "saml"
    assert settings["issuer"] == idp.entity_id
    assert settings["provider_check"] == {"ok": True, "sso_url": f"{idp.base_url}/idp/sso"}
    assert settings["acs_url"] == f"{stack.gateway_url}/auth/sso/saml/acs"
    assert settings["client_secret_set"] is False
    metadata = client.get(settings["sp_metadata_url"].removeprefix(stack.gateway_url))
    assert metadata.status_code == 200, metadata.text
    assert metadata.headers["content-type"].startswith("application/samlmetadata+xml")
    root = ElementTree.fromstring(metadata.text)
    assert root.get("entityID") == settings["sp_entity_id"]
    [acs] = root.iter(f"{MD}AssertionConsumerService")
    assert acs.get("Location") == settings["acs_url"]
    # An OpenID workspace, or none, has no SAML metadata.
    other = sign_up(client)
    error_of(client.get(f"/auth/sso/{other.workspace_id}/saml/metadata"), 404)
    for bad in ("", "<not-metadata/>", "<x", "a" * 600_000):
        refused = owner.put(
            f"/api/workspaces/{owner.workspace_id}/sso",
            json={
                "protocol": "saml",
                "idp_metadata_xml": bad,
                "allowed_domains": [unique_domain("saml")],
            },
        )
        error_of(refused, 400, "idp_metadata_xml")


def test_first_login_provisions_and_groups_set_the_role(
    client: httpx.Client, idp: SamlIdentityProvider, stack: Stack
) -> None:
    owner = sign_up(client)
    at = unique_domain("saml")
    configure(owner, idp, [at])
    login, email = person(idp, at, "engineering")
    with httpx.Client(timeout=30.0) as browser:
        answer = saml_sign_in(browser, stack.gateway_url, owner.workspace_id, login=login)
        assert answer.status_code == 302, answer.text
        workspaces = browser.get(f"{stack.gateway_url}/api/workspaces/").json()
        assert [(w["id"], w["role"]) for w in workspaces] == [(owner.workspace_id, "builder")]
    idp.set_user(login, email=email, groups=["engineering", "admins"])
    with httpx.Client(timeout=30.0) as browser:
        answer = saml_sign_in(
            browser, stack.gateway_url, owner.workspace_id, login=login, response="token"
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["workspace"]["role"] == "admin"
        assert answer.json()["provisioned"] is False
    # No mapped group and no default role: refused, and the membership goes.
    idp.set_user(login, email=email, groups=[])
    with httpx.Client(timeout=30.0) as browser:
        error_of(saml_sign_in(browser, stack.gateway_url, owner.workspace_id, login=login), 403)
    members = owner.get(f"/api/workspaces/{owner.workspace_id}/members/").json()
    assert email not in {m["email"] for m in members}


@pytest.mark.parametrize("spoil", ["unsigned", "audience", "recipient", "foreign_key", "tamper"])
def test_a_bad_assertion_is_refused_and_makes_nothing(
    spoil: str, client: httpx.Client, idp: SamlIdentityProvider, stack: Stack
) -> None:
    owner = sign_up(client)
    at = unique_domain("saml")
    configure(owner, idp, [at], default_role="viewer")
    login, email = person(idp, at)
    idp.spoil_next_response(spoil)
    with httpx.Client(timeout=30.0) as browser:
        refused = saml_sign_in(browser, stack.gateway_url, owner.workspace_id, login=login)
        error_of(refused, 401)
        assert not browser.cookies.get("sessionid")
    assert accounts_with(stack, email) == 0


def test_an_answer_is_accepted_once(
    client: httpx.Client, idp: SamlIdentityProvider, stack: Stack
) -> None:
    owner = sign_up(client)
    at = unique_domain("saml")
    configure(owner, idp, [at], default_role="viewer")
    login, _ = person(idp, at)
    acs = f"{stack.gateway_url}/auth/sso/saml/acs"
    with httpx.Client(timeout=30.0) as browser:
        page = browser.get(
            f"{stack.gateway_url}/auth/sso/{owner.workspace_id}/login", follow_redirects=True
        )
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
        fields["login"] = login
        posted = browser.post(f"{idp.base_url}/idp/sso", data=fields)
        answer = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', posted.text))
        assert browser.post(acs, data=answer).status_code == 302
        # The same answer again, as it was posted.
        error_of(browser.post(acs, data=answer), 401)
        # The same answer for a login of its own: it answers another request.
        again = browser.get(
            f"{stack.gateway_url}/auth/sso/{owner.workspace_id}/login", follow_redirects=True
        )
        relay = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', again.text))["RelayState"]
        error_of(browser.post(acs, data={**answer, "RelayState": relay}), 401)
    # Answered by the provider with a response it sent before, for an earlier request.
    idp.spoil_next_response("replay")
    with httpx.Client(timeout=30.0) as browser:
        error_of(saml_sign_in(browser, stack.gateway_url, owner.workspace_id, login=login), 401)
    # Posted with no login under way, or not SAML at all.
    error_of(client.post("/auth/sso/saml/acs", data={"SAMLResponse": "x", "RelayState": "y"}), 401)
    error_of(client.post("/auth/sso/saml/acs", data={"RelayState": "y"}), 400)


def test_a_saml_workspace_is_not_reached_through_openid_routes(
    client: httpx.Client, idp: SamlIdentityProvider, stack: Stack
) -> None:
    owner = sign_up(client)
    at = unique_domain("saml")
    configure(owner, idp, [at], default_role="viewer")
    with httpx.Client(timeout=30.0) as browser:
        page = browser.get(
            f"{stack.gateway_url}/auth/sso/{owner.workspace_id}/login", follow_redirects=True
        )
        relay = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))["RelayState"]
        error_of(
            browser.get(
                f"{stack.gateway_url}/auth/sso/callback", params={"state": relay, "code": "x"}
            ),
            401,
        )
    error_of(
        client.post(
            f"/auth/sso/{owner.workspace_id}/backchannel-logout", data={"logout_token": "a.b.c"}
        ),
        404,
    )
    # A sign-on endpoint that is no web address is refused with the metadata.
    scripted = idp.metadata_xml.replace(f"{idp.base_url}/idp/sso", "javascript:alert(1)//")
    refused = owner.put(
        f"/api/workspaces/{owner.workspace_id}/sso",
        json={"protocol": "saml", "idp_metadata_xml": scripted, "allowed_domains": [at]},
    )
    error_of(refused, 400, "idp_metadata_xml")
