"""The platform's OpenAPI document: valid OpenAPI 3.1, every operation with its
credentials and errors, and true to what the API answers; its pages served without a
CDN."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from services.devstack.stack import Stack
from tests.factories.accounts import Tenant, sign_up, unique_email
from tests.factories.apps import create_app, create_schema, records_path
from tests.support.external_api import API_KEY, CLIENT_ID, CLIENT_SECRET, external_api
from tests.support.openapi import SpecChecker
from tests.support.openid import CLIENT_SECRET as SSO_CLIENT_SECRET
from tests.support.openid import (
    client_metadata,
    logout_token,
    openid_provider,
    sign_in,
)
from tests.support.saml_idp import saml_identity_provider, saml_sign_in

# Reached without any credential.
PUBLIC = {
    "healthz",
    "readyz",
    "jwks",
    "create_account",
    "token_auth",
    "token_refresh",
    "token_blacklist",
    "login",
    "logout",
    "sign_up",
    "log_in",
    "deliver_hook",
    "connector_oauth_callback",
    "discover_sso",
    "sso_login",
    "sso_callback",
    "sso_logged_out",
    "backchannel_logout",
    "saml_acs",
    "saml_metadata",
    "sso_link",
}
# Writes that take no body.
BODILESS = {
    "rotate_token",
    "create_api_key",
    "log_out",
    "log_out_others",
    "restore",
    "logout",
    "replay_run",
    "ping_webhook",
    "replay_delivery",
    "authorize_connector",
}
# Operations that run a workflow and answer 422 when the run fails at a step.
RUN_WORKFLOWS = {"run_workflow", "replay_run"}
# Not called by the walk below: each has tests of its own (test_transfer, test_trash,
# test_realtime: an event stream stays open).
NOT_WALKED = {
    "import_records",
    "get_import",
    "export_records",
    "delete_app",
    "restore",
    "realtime_events",
}


@pytest.fixture(scope="module")
def spec(module_client: httpx.Client) -> dict[str, Any]:
    response = module_client.get("/api/openapi.json")
    assert response.status_code == 200, response.text
    return dict(response.json())


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), path, operation


def test_the_platform_document_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    validate(spec)
    assert spec["openapi"] == "3.1.0"
    assert set(spec["components"]["securitySchemes"]) == {
        "JWT",
        "Token",
        "Bearer",
        "ApiKey",
        "Session",
    }


def test_baserows_address_serves_the_same_document_with_an_etag(client: httpx.Client) -> None:
    first = client.get("/api/openapi.json")
    again = client.get("/api/schema.json")
    assert again.status_code == 200
    assert again.content == first.content
    etag = first.headers["ETag"]
    unchanged = client.get("/api/openapi.json", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert client.get("/api/openapi.json", headers={"If-None-Match": '"other"'}).content


def test_every_operation_names_its_credentials_and_documents_its_errors(
    spec: dict[str, Any],
) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(spec)]
    assert len(ids) == len(set(ids))
    public = set()
    for method, path, operation in operations(spec):
        name = operation["operationId"]
        responses = operation["responses"]
        if not operation["security"]:
            public.add(name)
        else:
            assert "401" in responses, name
            assert "403" in responses, name
        for status in ("400", "429", "500"):
            assert responses[status] == {"$ref": f"#/components/responses/Error{status}"}, name
        if name in RUN_WORKFLOWS:
            assert responses["422"] == {"$ref": "#/components/responses/Error422"}, name
        else:
            assert "422" not in responses, name
        if method in ("POST", "PUT", "PATCH") and name not in BODILESS:
            assert "requestBody" in operation, f"{method} {path} documents no body"
    assert public == PUBLIC
    # Every operation sits in one of the document's sections.
    sections = [tag["name"] for tag in spec["tags"]]
    for _, _, operation in operations(spec):
        assert len(operation["tags"]) == 1, operation["operationId"]
        assert operation["tags"][0] in sections, operation["operationId"]
    # The seed documents link Baserow's operations by these names.
    assert {"token_auth", "token_refresh", "list_workspaces"} <= set(ids)


def test_anonymous_callers_reach_an_apps_records_and_documents_only(
    spec: dict[str, Any],
) -> None:
    anonymous = {
        operation["operationId"]
        for _, _, operation in operations(spec)
        if {} in operation["security"]
    }
    documents = {"app_openapi", "app_postman"}
    assert documents < anonymous
    # Workflows and saved queries exposed as public may be run without a credential.
    runs = {"run_workflow", "execute_query", "authorize_connector", "disconnect_connector"}
    # And hear an app's records change (the records they may see).
    events = {"realtime_events"}
    assert all("record" in name for name in anonymous - documents - runs - events), anonymous
    assert runs < anonymous


def test_every_answer_of_a_walk_through_the_api_is_as_documented(
    client: httpx.Client, stack: Stack, spec: dict[str, Any]
) -> None:
    checker = SpecChecker(spec)
    client.event_hooks["response"] = [checker.check]
    client.get("/healthz")
    client.get("/readyz")
    client.get("/api/.well-known/jwks.json")

    owner = sign_up(client)
    refreshed = client.post("/api/user/token-refresh/", json={"refresh_token": owner.refresh_token})
    owner.token = refreshed.json()["access_token"]
    owner.get("/api/workspaces/")
    owner.post("/api/workspaces/", json={"name": "Second"})
    client.post("/auth/login/", json={"username": owner.email, "password": owner.password})
    client.post("/auth/logout/")
    client.cookies.clear()

    app = create_app(owner)["slug"]
    owner.get("/api/apps")
    owner.get(f"/api/apps/{app}")
    owner.patch(f"/api/apps/{app}", json={"description": "Walked through"})
    create_schema(
        owner,
        app,
        slug="contacts",
        fields=[
            {"slug": "name", "type": "text", "required": True, "unique": True},
            {"slug": "score", "type": "integer"},
            {"slug": "stage", "type": "select", "options": ["new", "won"]},
        ],
    )
    schema_path = f"/api/apps/{app}/schemas/contacts"
    owner.get(f"/api/apps/{app}/schemas")
    owner.get(schema_path)
    owner.patch(schema_path, json={"name": "People"})
    owner.post(f"{schema_path}/fields", json={"slug": "notes", "type": "long_text"})
    owner.patch(f"{schema_path}/fields/notes", json={"name": "Remarks"})
    owner.delete(f"{schema_path}/fields/notes")
    owner.get(f"{schema_path}/privacy-rules")
    owner.put(
        f"{schema_path}/privacy-rules",
        json={"rules": [], "default": {"find": True, "create": True, "update": True}},
    )
    owner.put(f"{schema_path}/privacy-rules", json={"rules": None})

    records = records_path(app)
    created = owner.post(records, json={"name": "Ada", "score": 3, "stage": "new"}).json()
    owner.get(f"{records}/{created['id']}")
    owner.patch(f"{records}/{created['id']}", json={"score": 4})
    owner.put(f"{records}/{created['id']}", json={"stage": "won"})
    owner.put(records, params={"upsert_on": "name"}, json={"name": "Ada", "score": 5})
    owner.get(records, params={"sort": "-score", "filter[stage]": "won"})
    owner.get(records, params={"per_page": 1, "count": "false"})
    owner.post(f"{records}/search", json={"filter": {"field": "score", "op": "gte", "value": 1}})
    batch = owner.post(f"{records}/batch", json={"records": [{"name": "Bo"}, {"name": "Cy"}]})
    ids = [record["id"] for record in batch.json()["records"]]
    owner.patch(f"{records}/batch", json={"records": [{"id": ids[0], "score": 9}]})
    owner.request_delete_json(f"{records}/batch", {"ids": ids})
    owner.delete(f"{records}/{created['id']}")
    owner.get("/api/trash")
    flows = f"/api/apps/{app}/workflows"
    flow = {"name": "greet", "steps": [{"type": "return", "value": {"hi": "'there'"}}]}
    owner.post(flows, json=flow)
    owner.get(flows)
    owner.get(f"{flows}/greet", params={"version": 1})
    owner.put(f"{flows}/greet", json={**flow, "public": True}, headers={"If-Match": "1"})
    ran = owner.post(f"{flows}/greet/run", json={}).json()
    owner.post(f"{flows}/greet/run", params={"async": "true"}, json={})
    owner.get(f"{flows}/greet/runs", params={"per_page": 1})
    owner.get(f"{flows}/greet/runs/{ran['run_id']}")
    owner.post(f"{flows}/greet/runs/{ran['run_id']}/replay")
    failing = {"name": "fail", "steps": [{"type": "return", "value": {"x": "1 / 0"}}]}
    owner.post(flows, json=failing)
    owner.post(f"{flows}/fail/run", json={})
    owner.delete(f"{flows}/greet")
    hooked = {**flow, "name": "hooked", "triggers": [{"type": "hook"}]}
    hook = owner.post(flows, json=hooked).json()["hook"]
    owner.post(f"{flows}/hooked/hook/secret")
    client.post(hook["path"], json={})
    owner.put(f"{flows}/hooked", json={**hooked, "triggers": [{"type": "hook", "scheme": "none"}]})
    client.post(hook["path"], json={})
    webhooks = f"/api/apps/{app}/webhooks"
    webhook = owner.post(webhooks, json={"url": "http://127.0.0.1:9/x"}).json()
    owner.get(webhooks)
    owner.get(f"{webhooks}/{webhook['id']}")
    owner.patch(f"{webhooks}/{webhook['id']}", json={"events": ["record.created"]})
    owner.post(f"{webhooks}/{webhook['id']}/secret", json={"keep_previous_seconds": 60})
    ping = owner.post(f"{webhooks}/{webhook['id']}/ping").json()
    owner.get(f"{webhooks}/{webhook['id']}/deliveries", params={"state": "failed"})
    owner.get(f"{webhooks}/{webhook['id']}/deliveries/{ping['id']}")
    owner.post(f"{webhooks}/{webhook['id']}/deliveries/{ping['id']}/replay")
    owner.delete(f"{webhooks}/{webhook['id']}")
    with external_api() as remote:
        connectors = f"/api/apps/{app}/connectors"
        connector = owner.post(
            connectors,
            json={
                "name": "Inventory",
                "base_url": remote.url(),
                "auth": {"type": "key_in_header", "key_name": "X-Api-Key", "key": API_KEY},
                "calls": [{"name": "list_items", "url": "/v1/items"}],
            },
        ).json()
        connector_path = f"{connectors}/{connector['id']}"
        owner.get(connectors)
        owner.get(connector_path)
        owner.post(f"{connector_path}/calls/list_items/run")  # not initialized yet: 412
        owner.post(f"{connector_path}/calls/list_items/initialize", json={})
        owner.post(f"{connector_path}/calls/list_items/run", json={"parameters": {}})
        saved = f"/api/apps/{app}/queries"
        owner.post(
            saved, json={"name": "items", "connector_id": connector["id"], "call": "list_items"}
        )
        owner.get(saved)
        owner.get(f"{saved}/items")
        owner.patch(f"{saved}/items", json={"app_role": "public"})
        owner.post(f"{saved}/items/execute")
        # Where nothing listens: the external API's failure (502).
        owner.patch(connector_path, json={"base_url": "http://127.0.0.1:9"})
        owner.post(f"{saved}/items/execute", json={"parameters": {}})
        owner.delete(f"{saved}/items")
        owner.delete(connector_path)
        per_user = owner.post(
            connectors,
            json={
                "name": "Per user",
                "auth": {
                    "type": "oauth2_user_agent",
                    "authorize_url": remote.url("/authorize"),
                    "token_url": remote.url("/token"),
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                },
            },
        ).json()
        authorize = f"{connectors}/{per_user['id']}/authorize"
        started = owner.post(authorize).json()
        back = httpx.get(started["authorize_url"] + "&user=ada").headers["location"]
        client.get(back.removeprefix(str(client.base_url).rstrip("/")))
        client.get("/api/connectors/oauth/callback", params={"state": "spent"})
        owner.delete(authorize)
    owner.get(f"/api/apps/{app}/openapi.json")
    owner.get(f"/api/apps/{app}/postman.json")
    # Errors are documented too.
    owner.get(f"{records}/rec_missing")
    owner.post(records, json={"score": "many"})
    client.get("/api/apps")

    token = owner.post(
        "/api/tokens", json={"name": "reader", "permissions": {"read": [["app", app]]}}
    ).json()
    owner.get("/api/tokens")
    owner.get(f"/api/tokens/{token['id']}")
    owner.patch(f"/api/tokens/{token['id']}", json={"name": "Reader"})
    owner.post(f"/api/tokens/{token['id']}/rotate")
    owner.delete(f"/api/tokens/{token['id']}")
    owner.post("/api/user/api-key")
    owner.delete("/api/user/api-key")
    admin = owner.post("/api/admin-tokens", json={"name": "ops"}).json()
    owner.get("/api/admin-tokens")
    owner.delete(f"/api/admin-tokens/{admin['id']}")

    members = f"/api/workspaces/{owner.workspace_id}/members/"
    colleague = sign_up(client, name="Grace Hopper")
    owner.get(members)
    owner.post(members, json={"email": colleague.email, "role": "editor"})
    owner.get(f"{members}{colleague.account_id}/")
    owner.patch(f"{members}{colleague.account_id}/", json={"role": "viewer"})
    owner.delete(f"{members}{colleague.account_id}/")
    walk_single_sign_on(client, stack, owner, checker)
    user = owner.post("/api/users", json={"email": unique_email(), "role": "viewer"}).json()
    owner.get("/api/users")
    owner.post("/api/users/search", json={"name": "Ada"})
    owner.get(f"/api/users/{user['data']['_id']}")
    owner.patch(f"/api/users/{user['data']['_id']}", json={"role": "editor"})
    owner.delete(f"/api/users/{user['data']['_id']}")

    end_user = {"email": unique_email(), "password": "end user password"}
    session = owner.post(f"/api/apps/{app}/auth/signup", json=end_user).json()
    owner.post(f"/api/apps/{app}/auth/login", json=end_user)
    as_end_user = {"Authorization": f"Bearer {session['token']}"}
    client.post(f"/api/apps/{app}/auth/logout-others", headers=as_end_user)
    client.post(f"/api/apps/{app}/auth/logout", headers=as_end_user)
    app_user = owner.post(
        f"/api/apps/{app}/users", json={"email": unique_email(), "password": "app user password"}
    ).json()
    owner.get(f"/api/apps/{app}/users")
    owner.get(f"/api/apps/{app}/users/{app_user['id']}")
    owner.patch(f"/api/apps/{app}/users/{app_user['id']}", json={"name": "Eve"})
    owner.delete(f"/api/apps/{app}/users/{app_user['id']}")
    owner.delete(schema_path)

    owner.get("/api/audit-log", params={"per_page": 5})
    owner.post(
        "/api/user/change-password/",
        json={"old_password": owner.password, "new_password": "a new password 2"},
    )
    client.post("/api/user/token-blacklist/", json={"refresh_token": owner.refresh_token})

    all_ids = {operation["operationId"] for _, _, operation in operations(spec)}
    assert all_ids - checker.seen == NOT_WALKED


def test_the_docs_pages_load_everything_from_this_server(client: httpx.Client) -> None:
    for page, asset in (
        ("/api/docs", "/api/docs/assets/swagger-ui-bundle.js"),
        ("/api/redoc", "/api/docs/assets/redoc.standalone.js"),
    ):
        html = client.get(page)
        assert html.status_code == 200
        assert html.headers["content-type"].startswith("text/html")
        assert asset in html.text
        assert "/api/openapi.json" in html.text
        assert "cdn" not in html.text.lower()
        script = client.get(asset)
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("text/javascript")
        assert len(script.content) > 100_000
        assert "max-age" in script.headers["cache-control"]
    css = client.get("/api/docs/assets/swagger-ui.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    missing = client.get("/api/docs/assets/..%2F..%2Fconsts.py")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def walk_single_sign_on(
    client: httpx.Client, stack: Stack, owner: Tenant, checker: SpecChecker
) -> None:
    """Settings, discovery, both kinds of login, both kinds of logout, against a real
    provider; only Tessera's answers are held to its document."""

    def tessera_only(response: httpx.Response) -> None:
        if str(response.url).startswith(stack.gateway_url):
            checker.check(response)

    domain = f"walk-{secrets.token_hex(4)}.test"
    sso = f"/api/workspaces/{owner.workspace_id}/sso"
    with openid_provider("walk") as provider:
        provider.register(client_metadata(stack.gateway_url, "walk"))
        provider.set_user("walker", email=f"walker@{domain}", email_verified=True)
        owner.put(
            sso,
            json={
                "keycloak_server_url": provider.server_url,
                "keycloak_realm": provider.realm,
                "client_id": "walk",
                "client_secret": SSO_CLIENT_SECRET,
                "allowed_domains": [domain],
                "default_role": "viewer",
            },
        )
        owner.get(sso)
        client.post("/auth/sso/discover", json={"email": f"someone@{domain}"})
        client.get(f"/auth/sso/{owner.workspace_id}/login")
        client.post(
            f"/auth/sso/{owner.workspace_id}/link",
            json={"email": owner.email, "password": owner.password, "response": "token"},
        )
        hooks = {"response": [tessera_only]}
        with httpx.Client(timeout=30.0, event_hooks=hooks) as browser:
            sign_in(
                browser, stack.gateway_url, owner.workspace_id, login="walker", response="token"
            )
            sign_in(browser, stack.gateway_url, owner.workspace_id, login="walker")
            browser.post(
                f"{stack.gateway_url}/auth/sso/logout",
                json={"end_provider_session": True},
                headers={"X-CSRFToken": browser.cookies["csrftoken"]},
            )
        client.get("/auth/sso/logged-out")
        client.get("/auth/sso/callback", params={"state": "spent"})
        client.post(
            f"/auth/sso/{owner.workspace_id}/backchannel-logout",
            data={"logout_token": logout_token(provider, "walk", sub="walker")},
        )
    with saml_identity_provider() as saml_provider:
        settings = owner.put(
            sso,
            json={
                "protocol": "saml",
                "idp_metadata_xml": saml_provider.metadata_xml,
                "allowed_domains": [domain],
                "default_role": "viewer",
            },
        ).json()
        client.get(settings["sp_metadata_url"].removeprefix(stack.gateway_url))
        saml_provider.trust(settings["sp_metadata_url"])
        saml_provider.set_user("walker", email=f"walker@{domain}")
        with httpx.Client(timeout=30.0, event_hooks={"response": [tessera_only]}) as browser:
            saml_sign_in(browser, stack.gateway_url, owner.workspace_id, login="walker")
        client.post("/auth/sso/saml/acs", data={"SAMLResponse": "x", "RelayState": "spent"})
    owner.delete(sso)
