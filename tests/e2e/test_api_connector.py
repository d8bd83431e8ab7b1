"""The API connector and saved queries on the suite's stack, whose operator allows 127.0.0.1
(tests/support/stack.py): a real local API and authorization server
(tests/support/external_api.py) admits each authentication type only when Tessera sends
what it should; a call is initialized once and its answer's schema kept; a saved query
runs with parameters for those its role admits; private values are never shown, stored
in the clear or logged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from openapi_spec_validator import validate

from services.devstack.stack import Stack
from tests.e2e.conftest import database_url
from tests.factories.accounts import Tenant, unique_email
from tests.factories.apps import create_app
from tests.factories.tables import error_of
from tests.support import external_api as api
from tests.support.external_api import ExternalApi, external_api, tls_api

ITEMS_CALL: dict[str, Any] = {
    "name": "list_items",
    "url": "/v1/items?limit=<limit>",
    "parameters": [{"name": "limit", "value": 10}],
}


@pytest.fixture(scope="module")
def remote() -> Iterator[ExternalApi]:
    with external_api() as running:
        yield running


@pytest.fixture
def app(tenant: Tenant) -> dict[str, Any]:
    return create_app(tenant)


def connectors_path(app: dict[str, Any]) -> str:
    return f"/api/apps/{app['slug']}/connectors"


def queries_path(app: dict[str, Any]) -> str:
    return f"/api/apps/{app['slug']}/queries"


def connect_to(tenant: Tenant, app: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    made = tenant.post(connectors_path(app), json=body)
    assert made.status_code == 201, made.text
    return dict(made.json())


def connect(
    tenant: Tenant, app: dict[str, Any], remote: ExternalApi, **body: Any
) -> dict[str, Any]:
    return connect_to(
        tenant, app, {"name": "Inventory", "base_url": remote.url(), "calls": [ITEMS_CALL], **body}
    )


def call_path(app: dict[str, Any], connector: dict[str, Any], call: str, action: str) -> str:
    return f"{connectors_path(app)}/{connector['id']}/calls/{call}/{action}"


AUTHS: dict[str, dict[str, Any]] = {
    "none": {"type": "none"},
    "key_in_url": {"type": "key_in_url", "key": api.API_KEY},
    "key_in_header": {"type": "key_in_header", "key_name": "X-Api-Key", "key": api.API_KEY},
    "basic": {"type": "basic", "username": api.USERNAME, "password": api.PASSWORD},
    "oauth2_password": {
        "type": "oauth2_password",
        "token_url": "<remote>/token",
        "username": api.USERNAME,
        "password": api.PASSWORD,
        "client_id": api.CLIENT_ID,
        "client_secret": api.CLIENT_SECRET,
    },
    "oauth2_client_credentials": {
        "type": "oauth2_client_credentials",
        "token_url": "<remote>/token",
        "client_id": api.CLIENT_ID,
        "client_secret": api.CLIENT_SECRET,
        "scope": "inventory.read",
    },
    "oauth2_custom_token": {
        "type": "oauth2_custom_token",
        "token_url": "<remote>/custom-token",
        "client_id": api.CUSTOM_KEY,
        "client_secret": api.CUSTOM_SECRET,
        "token_parameters": {"grant_type": "client_credentials", "realm": "inventory"},
        "token_field": "result.bearer",
    },
    "jwt_bearer_grant": {
        "type": "jwt",
        "token_url": "<remote>/token",
        "algorithm": "RS256",
        "private_key": "<pem>",
        "client_id": api.JWT_ISSUER,
        "scope": "inventory.read",
        "claims": {"aud": api.JWT_AUDIENCE},
    },
    "jwt_sent_as_it_is": {
        "type": "jwt",
        "algorithm": "RS256",
        "private_key": "<pem>",
        "claims": {"aud": api.JWT_AUDIENCE, "sub": "tessera"},
        "lifetime_seconds": 300,
    },
}
SECRET_FIELDS = ("key", "password", "client_secret", "private_key")


def auth_for(name: str, remote: ExternalApi) -> dict[str, Any]:
    auth = dict(AUTHS[name])
    for key, value in auth.items():
        if value == "<pem>":
            auth[key] = remote.private_key_pem
        elif isinstance(value, str) and value.startswith("<remote>"):
            auth[key] = remote.url(value.removeprefix("<remote>"))
    return auth


@pytest.mark.parametrize("auth_name", sorted(AUTHS))
def test_each_authentication_type_reaches_an_api_that_checks_it(
    tenant: Tenant, app: dict[str, Any], remote: ExternalApi, auth_name: str
) -> None:
    auth = auth_for(auth_name, remote)
    if auth_name == "none":
        # This API admits no unauthenticated caller: the failure is the API's, reported.
        connector = connect(tenant, app, remote, auth=auth)
        refused = tenant.post(call_path(app, connector, "list_items", "initialize"))
        error = error_of(refused, 502)
        assert error["code"] == "upstream_failed"
        assert error["details"][0]["status"] == 401
        return
    grants_before = len(remote.grants)
    connector = connect(tenant, app, remote, auth=auth)
    for name in SECRET_FIELDS:
        if auth.get(name) is not None:
            assert connector["auth"][name] == "***"

    initialized = tenant.post(
        call_path(app, connector, "list_items", "initialize"), json={"parameters": {"limit": 2}}
    )
    assert initialized.status_code == 200, initialized.text
    assert initialized.json()["body"]["items"] == api.ITEMS
    sent = remote.to("/v1/items")[-1]
    assert sent.query["limit"] == ["2"]
    if auth_name == "key_in_url":
        assert sent.query["api_key"] == [api.API_KEY]
    elif auth_name == "key_in_header":
        assert sent.headers["x-api-key"] == api.API_KEY
    elif auth_name == "basic":
        assert sent.headers["authorization"].startswith("Basic ")
    else:
        assert sent.headers["authorization"].startswith("Bearer ")

    ran = tenant.post(call_path(app, connector, "list_items", "run"))
    assert ran.status_code == 200, ran.text
    assert ran.json() == {
        "status": 200,
        "content_type": "application/json",
        "body": {"items": api.ITEMS, "total": 2},
    }
    assert remote.to("/v1/items")[-1].query["limit"] == ["10"]
    if auth["type"] not in ("none", "key_in_url", "key_in_header", "basic") and auth.get(
        "token_url"
    ):
        # One token for both calls: it is kept until it expires.
        assert len(remote.grants) == grants_before + 1


def test_initialization_keeps_the_answers_schema_and_a_changed_call_needs_it_again(
    tenant: Tenant, app: dict[str, Any], remote: ExternalApi
) -> None:
    connector = connect(tenant, app, remote, auth=auth_for("key_in_header", remote))
    before = tenant.post(call_path(app, connector, "list_items", "run"))
    assert error_of(before, 412)["field"] == "call"
    assert connector["calls"][0]["initialized"] is None

    assert tenant.post(call_path(app, connector, "list_items", "initialize")).status_code == 200
    shown = tenant.get(f"{connectors_path(app)}/{connector['id']}").json()
    shape = shown["calls"][0]["initialized"]["shape"]
    item = shape["properties"]["items"]["items"]
    assert shape["properties"]["total"] == {"type": "integer"}
    assert item["properties"]["name"] == {"type": "string"}
    # 12.5 and 3: numbers; null and 40: an integer that may be null.
    assert item["properties"]["price"] == {"type": "number"}
    assert item["properties"]["stock"] == {"type": ["integer", "null"]}
    assert item["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}

    # Renaming the connector keeps its calls initialized; changing a call does not.
    renamed = tenant.patch(f"{connectors_path(app)}/{connector['id']}", json={"name": "Stock"})
    assert renamed.json()["calls"][0]["initialized"] == shown["calls"][0]["initialized"]
    changed_call = {**ITEMS_CALL, "url": "/v1/items?limit=<limit>&sort=name"}
    changed = tenant.patch(
        f"{connectors_path(app)}/{connector['id']}", json={"calls": [changed_call]}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["calls"][0]["initialized"] is None
    assert changed.json()["auth"]["key"] == "***"  # the key stayed, unseen
    error_of(tenant.post(call_path(app, connector, "list_items", "run")), 412)


def test_private_values_are_write_only_sealed_and_never_logged(
    tenant: Tenant, app: dict[str, Any], remote: ExternalApi, stack: Stack
) -> None:
    header_secret = "hdr-" + unique_email("s")
    parameter_secret = "prm-" + unique_email("s")
    call = {
        "name": "echo",
        "method": "POST",
        "url": "/v1/echo",
        "headers": [{"name": "X-Tenant-Secret", "value": header_secret, "private": True}],
        "parameters": [
            {"name": "token", "value": parameter_secret, "private": True},
            {"name": "note", "value": "hello"},
        ],
        "body_type": "json",
        "body": {"token": "<token>", "note": "<note>"},
    }
    connector = connect(
        tenant, app, remote, auth=auth_for("basic", remote), calls=[ITEMS_CALL, call]
    )
    echo = connector["calls"][1]
    assert echo["headers"][0]["value"] == "***"
    assert echo["parameters"][0]["value"] == "***"
    assert echo["parameters"][1]["value"] == "hello"

    with psycopg.connect(database_url(stack, "workflows"), autocommit=True) as connection:
        stored = connection.execute(
            "SELECT document::text, sealed_secrets FROM connectors WHERE id = %s",
            (connector["id"],),
        ).fetchone()
    assert stored is not None
    for secret in (header_secret, parameter_secret, api.PASSWORD):
        assert secret not in stored[0]
        assert secret not in stored[1]
    assert stored[1].startswith("tsk1.")

    # Sent back as read ("***" kept), the connector still calls with the real values.
    path = f"{connectors_path(app)}/{connector['id']}"
    shown = tenant.get(path).json()
    assert tenant.patch(path, json=shown).status_code == 200
    initialized = tenant.post(call_path(app, connector, "echo", "initialize"))
    assert initialized.status_code == 200, initialized.text
    sent = remote.to("/v1/echo")[-1]
    assert sent.headers["x-tenant-secret"] == header_secret
    assert sent.json() == {"token": parameter_secret, "note": "hello"}
    # A private parameter is the builder's: a caller cannot set it.
    refused = tenant.post(
        call_path(app, connector, "echo", "run"), json={"parameters": {"token": "mine"}}
    )
    assert error_of(refused, 400)["field"] == "parameters.token"
    # "***" where nothing is stored is refused, not stored.
    bad = tenant.patch(path, json={"headers": [{"name": "X-New", "value": "***", "private": True}]})
    assert error_of(bad, 400)["field"] == "headers.x-new"

    for log in Path(stack.log_dir).glob("*"):
        if log.is_file():
            text = log.read_text(errors="replace")
            # The key sent in a URL's query by the key_in_url tests of this module too.
            for secret in (header_secret, parameter_secret, api.PASSWORD, api.API_KEY):
                assert secret not in text, f"{secret} in {log.name}"


def test_bodies_shared_headers_and_parameters_fill_in_as_documented(
    tenant: Tenant, app: dict[str, Any], remote: ExternalApi
) -> None:
    calls = [
        {
            "name": "create_item",
            "use_as": "action",
            "method": "POST",
            "url": "/v1/items/<sku>",
            "parameters": [
                {"name": "sku", "value": "a/b c"},
                {"name": "count", "value": 3},
                {"name": "name", "value": "Anvil"},
                {"name": "fragile", "value": True},
            ],
            "body_type": "json",
            "body": {"count": "<count>", "label": "Item <name>!", "flags": ["<fragile>"]},
        },
        {
            "name": "form_item",
            "method": "PUT",
            "url": "/v1/form",
            "parameters": [{"name": "name", "value": "x"}],
            "body_type": "form",
            "body": {"name": "<name>", "kind": "tool & die"},
        },
        {
            "name": "raw_item",
            "method": "PATCH",
            "url": "/v1/raw",
            "headers": [{"name": "Content-Type", "value": "text/csv"}],
            "parameters": [{"name": "name", "value": "x"}],
            "body_type": "raw",
            "body": "name\n<name>\n",
        },
    ]
    connector = connect(
        tenant,
        app,
        remote,
        auth=auth_for("key_in_header", remote),
        headers=[{"name": "Accept-Language", "value": "fr"}],
        parameters=[{"name": "workspace", "value": "north"}],
        calls=calls,
    )
    for name in ("create_item", "form_item", "raw_item"):
        initialized = tenant.post(call_path(app, connector, name, "initialize"))
        assert initialized.status_code == 200, initialized.text

    created = remote.to("/v1/items/a%2Fb%20c")[-1]
    assert created.method == "POST"
    assert created.headers["accept-language"] == "fr"
    assert created.headers["content-type"] == "application/json"
    # A placeholder that is the whole string keeps its type; inside text it is text.
    assert created.json() == {
        "workspace": "north",
        "count": 3,
        "label": "Item Anvil!",
        "flags": [True],
    }
    form = remote.to("/v1/form")[-1]
    assert form.form() == {"workspace": ["north"], "name": ["x"], "kind": ["tool & die"]}
    raw = remote.to("/v1/raw")[-1]
    assert raw.body == b"name\nx\n"
    assert raw.headers["content-type"] == "text/csv"
    assert raw.query["workspace"] == ["north"]

    ran = tenant.post(
        call_path(app, connector, "create_item", "run"),
        json={"parameters": {"count": 12, "name": "Rope"}},
    )
    assert ran.status_code == 200, ran.text
    assert remote.to("/v1/items/a%2Fb%20c")[-1].json()["count"] == 12


def test_a_token_refused_early_is_asked_for_again_once(
    tenant: Tenant, app: dict[str, Any], remote: ExternalApi
) -> None:
    connector = connect(tenant, app, remote, auth=auth_for("oauth2_client_credentials", remote))
    assert tenant.post(call_path(app, connector, "list_items", "initialize")).status_code == 200
    grants = len(remote.grants)
    remote.revoke_tokens()
    ran = tenant.post(call_path(app, connector, "list_items", "run"))
    assert ran.status_code == 200, ran.text
    assert len(remote.grants) == grants + 1

    # A provider whose every token is refused: one new token, then the 401 is reported.
    remote.refuse_tokens = True
    try:
        remote.revoke_tokens()
        tries = len(remote.to("/v1/items"))
        failed = tenant.post(call_path(app, connector, "list_items", "run"))
        assert error_of(failed, 502)["details"][0]["status"] == 401
        assert len(remote.to("/v1/items")) == tries + 2
        assert len(remote.grants) == grants + 2
    finally:
        remote.refuse_tokens = False


def test_wrong_credentials_are_the_apis_refusal_and_say_nothing_of_them(
    tenant: Tenant, app: dict[str, Any], remote: ExternalApi
) -> None:
    wrong = {**auth_for("oauth2_password", remote), "password": "not the password"}
    connector = connect(tenant, app, remote, auth=wrong)
    failed = tenant.post(call_path(app, connector, "list_items", "initialize"))
    error = error_of(failed, 502)
    assert "token endpoint" in error["message"]
    assert "not the password" not in failed.text


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::ffff:127.0.0.2]/",
        "http://0x7f000002/",
        "http://[fd00:ec2::254]/",
    ],
)
def test_calls_to_addresses_inside_are_refused(
    tenant: Tenant, app: dict[str, Any], remote: ExternalApi, url: str
) -> None:
    connector = connect(
        tenant,
        app,
        remote,
        calls=[{"name": "inside", "url": url}],
        auth={"type": "none"},
    )
    refused = tenant.post(call_path(app, connector, "inside", "initialize"))
    assert error_of(refused, 400)["field"] == "url"


def _end_user(client: httpx.Client, tenant: Tenant, app: dict[str, Any], role: str) -> str:
    email = unique_email("enduser")
    made = tenant.post(
        f"/api/apps/{app['slug']}/users",
        json={"email": email, "password": "end user password", "app_role": role},
    )
    assert made.status_code == 201, made.text
    session = client.post(
        f"/api/apps/{app['public_id']}/auth/login",
        json={"email": email, "password": "end user password"},
    )
    assert session.status_code == 200, session.text
    return str(session.json()["token"])


def test_a_saved_query_runs_with_parameters_for_the_roles_it_admits(
    client: httpx.Client, tenant: Tenant, app: dict[str, Any], remote: ExternalApi
) -> None:
    connector = connect(tenant, app, remote, auth=auth_for("key_in_url", remote))
    query = {
        "name": "cheap_items",
        "connector_id": connector["id"],
        "call": "list_items",
        "parameters": {"limit": 5},
        "app_role": "power",
    }
    made = tenant.post(queries_path(app), json=query)
    assert made.status_code == 201, made.text
    assert made.json()["app_role"] == "power"
    execute = f"{queries_path(app)}/cheap_items/execute"
    # Not initialized yet: the query's schema is unknown.
    error_of(tenant.post(execute), 412)
    assert tenant.post(call_path(app, connector, "list_items", "initialize")).status_code == 200

    ran = tenant.post(execute, json={"parameters": {"limit": 1}})
    assert ran.status_code == 200, ran.text
    assert ran.json()["data"]["items"] == api.ITEMS
    assert ran.json()["schema"]["properties"]["total"] == {"type": "integer"}
    assert remote.to("/v1/items")[-1].query["limit"] == ["1"]
    assert tenant.post(execute).status_code == 200
    assert remote.to("/v1/items")[-1].query["limit"] == ["5"]  # the query's default

    public_execute = f"/api/apps/{app['public_id']}/queries/cheap_items/execute"
    basic = {"Authorization": f"Bearer {_end_user(client, tenant, app, 'basic')}"}
    power = {"Authorization": f"Bearer {_end_user(client, tenant, app, 'power')}"}
    assert error_of(client.post(public_execute, headers=basic), 403)["code"] == "permission_denied"
    assert client.post(public_execute, headers=power).status_code == 200
    error_of(client.post(public_execute), 401)
    # End users run queries; they do not read or change them.
    error_of(client.get(f"/api/apps/{app['public_id']}/queries", headers=power), 403)

    opened = tenant.patch(f"{queries_path(app)}/cheap_items", json={"app_role": "public"})
    assert opened.status_code == 200, opened.text
    assert opened.json()["parameters"] == {"limit": 5}
    assert client.post(public_execute).status_code == 200

    listed = tenant.get(queries_path(app)).json()["queries"]
    assert [each["name"] for each in listed] == ["cheap_items"]
    # Deleting the connector deletes its queries.
    assert tenant.delete(f"{connectors_path(app)}/{connector['id']}").status_code == 204
    error_of(tenant.get(f"{queries_path(app)}/cheap_items"), 404)


def test_a_query_must_name_a_data_call_and_its_public_parameters(
    tenant: Tenant, app: dict[str, Any], remote: ExternalApi
) -> None:
    action = {**ITEMS_CALL, "name": "restock", "use_as": "action"}
    connector = connect(tenant, app, remote, calls=[ITEMS_CALL, action])
    base = {"name": "q", "connector_id": connector["id"], "call": "list_items"}
    for body, field in (
        ({**base, "connector_id": "con_nothing"}, "connector_id"),
        ({**base, "call": "nothing"}, "call"),
        ({**base, "call": "restock"}, "call"),
        ({**base, "parameters": {"nope": 1}}, "parameters.nope"),
        ({**base, "parameters": {"limit": [1]}}, "parameters.limit"),
        ({**base, "app_role": "owner"}, "app_role"),
        ({**base, "name": "Not A Name"}, "name"),
        ({**base, "surprise": 1}, "surprise"),
    ):
        response = tenant.post(queries_path(app), json=body)
        assert error_of(response, 400)["field"] == field, (body, response.text)
    assert tenant.get(queries_path(app)).json() == {"queries": []}
    assert tenant.post(queries_path(app), json=base).status_code == 201
    error_of(tenant.post(queries_path(app), json=base), 409)


PUBLIC_PEM = (
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode("ascii")
)
DEEP: Any = "x"
for _ in range(300):
    DEEP = [DEEP]

BAD_CONNECTORS: list[tuple[dict[str, Any], str]] = [
    ({}, "name"),
    ({"name": 5}, "name"),
    ({"name": "x", "surprise": True}, "surprise"),
    ({"name": "x\u0000"}, "name"),
    ({"name": "x", "base_url": "http://a\r\nb"}, "base_url"),
    ({"name": "x", "auth": {"type": "magic"}}, "auth.type"),
    ({"name": "x", "auth": {"type": "basic", "username": "u"}}, "auth"),
    ({"name": "x", "auth": {"type": "none", "key": "k"}}, "auth"),
    ({"name": "x", "auth": {"type": "key_in_header", "key": "a\nb"}}, "auth.key"),
    (
        {"name": "x", "auth": {"type": "jwt", "algorithm": "RS256", "private_key": "not a key"}},
        "auth",
    ),
    ({"name": "x", "auth": {"type": "key_in_url", "key": "***"}}, "auth.key"),
    ({"name": "x", "headers": [{"name": "Bad Header", "value": "v"}]}, "headers.0.name"),
    ({"name": "x", "headers": [{"name": "A", "value": "1"}, {"name": "a"}]}, "headers"),
    ({"name": "x", "calls": [{"name": "Bad"}]}, "calls.0.name"),
    ({"name": "x", "calls": [{"name": "c", "url": "/<missing>"}]}, "calls.0"),
    ({"name": "x", "calls": [{"name": "c", "method": "TRACE"}]}, "calls.0.method"),
    ({"name": "x", "calls": [{"name": "c", "body": {"a": 1}}]}, "calls.0"),
    ({"name": "x", "calls": [{"name": "c", "body_type": "form", "body": {"a": 1}}]}, "calls.0"),
    ({"name": "x", "calls": [{"name": "c", "body_type": "raw", "body": "\u0000"}]}, "calls.0"),
    ({"name": "x", "calls": [{"name": "c"}, {"name": "c"}]}, "calls"),
    ({"name": "x", "base_url": "ftp://files.example.com"}, "base_url"),
    ({"name": "x", "base_url": "https://api.example.com:99999"}, "base_url"),
    ({"name": "x", "calls": [{"name": "c", "url": "ftp://[::1/x"}]}, "calls.0.url"),
    ({"name": "x", "headers": [{"name": "Content-Length", "value": "abc"}]}, "headers.0.name"),
    ({"name": "x", "headers": [{"name": "X-A", "value": " padded"}]}, "headers.0.value"),
    ({"name": "x", "auth": {"type": "key_in_header", "key": "\u202e\u0661"}}, "auth"),
    (
        {
            "name": "x",
            "auth": {
                "type": "oauth2_user_agent",
                "authorize_url": "javascript:alert(1)",
                "token_url": "https://a.example.com/token",
                "client_id": "c",
            },
        },
        "auth.authorize_url",
    ),
    (
        {
            "name": "x",
            "calls": [
                {
                    "name": "c",
                    "url": "https://<tenant>.example.com/v1",
                    "parameters": [{"name": "tenant", "value": "a"}],
                }
            ],
        },
        "calls.0.url",
    ),
    (
        {"name": "x", "auth": {"type": "jwt", "algorithm": "RS256", "private_key": PUBLIC_PEM}},
        "auth",
    ),
    ({"name": "x", "headers": [{"name": "X-Name", "value": "caf\u00e9"}]}, "headers.0.value"),
    ({"name": "x", "calls": [{"name": "c", "body_type": "json", "body": DEEP}]}, ""),
    (
        {"name": "x", "calls": [{"name": "c", "parameters": [{"name": "n", "value": 1e305}]}]},
        "",
    ),
    (
        {"name": "x", "calls": [{"name": "c", "parameters": [{"name": "p", "value": [1]}]}]},
        "calls.0.parameters.0.value",
    ),
    (
        {
            "name": "x",
            "auth": {
                "type": "jwt",
                "algorithm": "RS256",
                "private_key": "k",
                "lifetime_seconds": 10**12,
            },
        },
        "auth.lifetime_seconds",
    ),
]


@pytest.mark.parametrize(("body", "field"), BAD_CONNECTORS)
def test_bad_connectors_are_refused_and_change_nothing(
    tenant: Tenant, app: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    response = tenant.post(connectors_path(app), json=body)
    error = error_of(response, 400)
    if field:
        assert (error.get("field") or "").startswith(field), error
    assert tenant.get(connectors_path(app)).json() == {"connectors": []}


def test_bad_parameters_and_names_are_refused(
    tenant: Tenant, app: dict[str, Any], remote: ExternalApi
) -> None:
    connector = connect(tenant, app, remote, auth=auth_for("key_in_header", remote))
    run = call_path(app, connector, "list_items", "initialize")
    for body, field in (
        ({"parameters": {"unknown": 1}}, "parameters.unknown"),
        ({"parameters": {"limit": {"a": 1}}}, "parameters.limit"),
        ({"parameters": {"limit": None}}, "parameters.limit"),
        ({"parameters": {"limit": "x\u0000"}}, "parameters.limit"),
        ({"parameters": []}, "parameters"),
        ({"surprise": 1}, "surprise"),
    ):
        assert error_of(tenant.post(run, json=body), 400)["field"] == field, body
    error_of(tenant.post(call_path(app, connector, "nothing", "initialize")), 404)
    assert (
        tenant.get(f"{connectors_path(app)}/{connector['id']}").json()["calls"][0]["initialized"]
        is None
    )
    duplicate = tenant.post(connectors_path(app), json={"name": "Inventory"})
    assert error_of(duplicate, 409)["field"] == "name"


def test_other_tenants_and_unknown_ids_are_not_found(
    tenant: Tenant, other_tenant: Tenant, app: dict[str, Any], remote: ExternalApi
) -> None:
    connector = connect(tenant, app, remote)
    path = f"{connectors_path(app)}/{connector['id']}"
    assert other_tenant.get(path).status_code == 404
    assert other_tenant.post(f"{path}/calls/list_items/initialize").status_code == 404
    assert tenant.get(f"{connectors_path(app)}/con_nothing").status_code == 404
    assert tenant.delete(path).status_code == 204
    assert tenant.get(path).status_code == 404


def test_a_workflow_step_calls_a_connector_and_its_run_keeps_no_private_value(
    tenant: Tenant, app: dict[str, Any], remote: ExternalApi
) -> None:
    restock = {
        "name": "restock",
        "use_as": "action",
        "method": "POST",
        "url": "/v1/restock",
        "parameters": [{"name": "item", "value": "sample"}, {"name": "count", "value": 1}],
        "body_type": "json",
        "body": {"item": "<item>", "count": "<count>"},
    }
    connector = connect(
        tenant, app, remote, auth=auth_for("oauth2_client_credentials", remote), calls=[restock]
    )
    workflow: dict[str, Any] = {
        "name": "restock-item",
        "parameters": [{"name": "item", "type": "text", "required": True}],
        "steps": [
            {
                "id": "sent",
                "type": "api_call",
                "connector": "Inventory",
                "call": "restock",
                "parameters": {"item": "params.item", "count": "2 * 3"},
            },
            {
                "type": "return",
                "value": {"status": "steps.sent.status", "echo": "steps.sent.body.echo"},
            },
        ],
    }
    flows = f"/api/apps/{app['slug']}/workflows"
    # What it names is checked when it is saved.
    step = workflow["steps"][0]
    for wrong, field in (
        ({"connector": "Nowhere"}, "steps[0].connector"),
        ({"call": "nothing"}, "steps[0].call"),
        ({"parameters": {"nope": "1"}}, "steps[0].parameters.nope"),
    ):
        broken = {**workflow, "steps": [{**step, **wrong}, workflow["steps"][1]]}
        assert error_of(tenant.post(flows, json=broken), 400)["field"] == field
    assert tenant.post(flows, json=workflow).status_code == 201
    run = f"{flows}/restock-item/run"
    # Not initialized: the step fails, saying so.
    failed = tenant.post(run, json={"item": "rope"})
    assert "initialize it first" in error_of(failed, 422)["message"]

    assert tenant.post(call_path(app, connector, "restock", "initialize")).status_code == 200
    ran = tenant.post(run, json={"item": "rope"})
    assert ran.status_code == 200, ran.text
    assert ran.json()["response"] == {"status": 200, "echo": "/v1/restock"}
    assert remote.to("/v1/restock")[-1].json() == {"item": "rope", "count": 6}

    logged = tenant.get(f"{flows}/restock-item/runs/{ran.json()['run_id']}")
    assert logged.status_code == 200
    assert logged.json()["steps"][0]["input"] == {
        "connector": "Inventory",
        "call": "restock",
        "parameters": {"item": "rope", "count": 6},
    }
    assert api.CLIENT_SECRET not in logged.text
    assert "Bearer" not in logged.text


def test_a_client_certificate_admits_tessera_to_an_api_of_a_private_authority(
    tenant: Tenant, app: dict[str, Any]
) -> None:
    with tls_api() as secure:
        pki = secure.pki
        whoami = [{"name": "whoami", "url": "/v1/whoami"}]
        connector = connect_to(
            tenant,
            app,
            {
                "name": "Secure",
                "base_url": secure.url(),
                "ca_certificate": pki.ca_certificate,
                "auth": {
                    "type": "client_certificate",
                    "certificate": pki.client_certificate,
                    "private_key": pki.client_key,
                },
                "calls": whoami,
            },
        )
        assert connector["auth"]["private_key"] == "***"
        assert connector["auth"]["certificate"] == pki.client_certificate
        answered = tenant.post(call_path(app, connector, "whoami", "initialize"))
        assert answered.status_code == 200, answered.text
        assert answered.json()["body"] == {"client": "tessera-client"}
        assert secure.clients == ["tessera-client"]

        # A certificate of another authority is refused by the API.
        stranger = connect_to(
            tenant,
            app,
            {
                "name": "Stranger",
                "base_url": secure.url(),
                "ca_certificate": pki.ca_certificate,
                "auth": {
                    "type": "client_certificate",
                    "certificate": pki.stranger_certificate,
                    "private_key": pki.stranger_key,
                },
                "calls": whoami,
            },
        )
        error_of(tenant.post(call_path(app, stranger, "whoami", "initialize")), 502)
        # Without the private authority, Tessera does not trust the API's certificate.
        untrusting = connect_to(
            tenant,
            app,
            {
                "name": "Untrusting",
                "base_url": secure.url(),
                "auth": {
                    "type": "client_certificate",
                    "certificate": pki.client_certificate,
                    "private_key": pki.client_key,
                },
                "calls": whoami,
            },
        )
        error_of(tenant.post(call_path(app, untrusting, "whoami", "initialize")), 502)
        assert secure.clients == ["tessera-client"]

        # A key that is not the certificate's is refused when the connector is saved.
        mismatched = tenant.post(
            connectors_path(app),
            json={
                "name": "Mismatched",
                "auth": {
                    "type": "client_certificate",
                    "certificate": pki.client_certificate,
                    "private_key": pki.stranger_key,
                },
            },
        )
        assert "not the key of" in error_of(mismatched, 400)["message"]
        not_pem = tenant.post(
            connectors_path(app), json={"name": "NotPem", "ca_certificate": "-----BEGIN nothing"}
        )
        assert error_of(not_pem, 400)["field"] == "ca_certificate"


def test_the_apps_openapi_document_types_the_queries_the_caller_may_run(
    client: httpx.Client, tenant: Tenant, app: dict[str, Any], remote: ExternalApi
) -> None:
    connector = connect(tenant, app, remote, auth=auth_for("key_in_header", remote))
    for name, role in (("for_power_users", "power"), ("for_everyone", "public")):
        made = tenant.post(
            queries_path(app),
            json={
                "name": name,
                "connector_id": connector["id"],
                "call": "list_items",
                "description": f"Items, {role}",
                "app_role": role,
            },
        )
        assert made.status_code == 201, made.text

    def paths(spec: dict[str, Any]) -> set[str]:
        return {path.rsplit("/", 2)[1] for path in spec["paths"] if "/queries/" in path}

    # Uninitialized, a query's answer is unknown: it is not in the document yet.
    document = f"/api/apps/{app['slug']}/openapi.json"
    assert paths(tenant.get(document).json()) == set()
    assert tenant.post(call_path(app, connector, "list_items", "initialize")).status_code == 200

    spec = tenant.get(document).json()
    validate(spec)
    assert paths(spec) == {"for_power_users", "for_everyone"}
    operation = spec["paths"][f"/api/apps/{app['slug']}/queries/for_everyone/execute"]["post"]
    assert operation["summary"] == "Items, public"
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["parameters"]["properties"] == {
        "limit": {"type": "integer", "default": 10}
    }
    data = operation["responses"]["200"]["content"]["application/json"]["schema"]
    items = data["properties"]["data"]["properties"]["items"]["items"]
    assert items["properties"]["price"] == {"type": "number"}

    # An end user's document shows the queries their role may run, by the public id.
    public_document = f"/api/apps/{app['public_id']}/openapi.json"
    basic = {"Authorization": f"Bearer {_end_user(client, tenant, app, 'basic')}"}
    assert paths(client.get(public_document, headers=basic).json()) == {"for_everyone"}
    power = {"Authorization": f"Bearer {_end_user(client, tenant, app, 'power')}"}
    assert paths(client.get(public_document, headers=power).json()) == {
        "for_power_users",
        "for_everyone",
    }
    assert paths(client.get(public_document).json()) == {"for_everyone"}


def _connect_account(client: httpx.Client, start: str, user: str, **headers: str) -> httpx.Response:
    """What a browser does: to the authorization URL, signed in there as `user`, and back."""
    started = client.post(start, headers=headers)
    assert started.status_code == 200, started.text
    approved = httpx.get(started.json()["authorize_url"] + f"&user={user}")
    assert approved.status_code == 302, approved.text
    back = approved.headers["location"]
    assert back.startswith(str(client.base_url))
    return client.get(back.removeprefix(str(client.base_url).rstrip("/")))


def test_each_user_connects_their_own_account_and_calls_act_as_them(
    client: httpx.Client, tenant: Tenant, app: dict[str, Any], remote: ExternalApi
) -> None:
    auth = {
        "type": "oauth2_user_agent",
        "authorize_url": remote.url("/authorize"),
        "token_url": remote.url("/token"),
        "client_id": api.CLIENT_ID,
        "client_secret": api.CLIENT_SECRET,
        "scope": "profile",
    }
    connector = connect(tenant, app, remote, auth=auth, calls=[{"name": "me", "url": "/v1/me"}])
    initialize = call_path(app, connector, "me", "initialize")
    assert "Connect your account" in error_of(tenant.post(initialize), 412)["message"]

    start = f"{connectors_path(app)}/{connector['id']}/authorize"
    builder = {"Authorization": f"JWT {tenant.token}"}
    connected = _connect_account(tenant.client, start, "builder", **builder)
    assert connected.status_code == 200, connected.text
    assert connected.json() == {
        "connected": True,
        "connector_id": connector["id"],
        "connector": "Inventory",
    }
    assert tenant.post(initialize).json()["body"] == {"user": "builder"}
    query = {"name": "whoami", "connector_id": connector["id"], "call": "me"}
    assert tenant.post(queries_path(app), json=query).status_code == 201

    # Each end user, by the app's public id, with their own account.
    public = f"/api/apps/{app['public_id']}"
    execute = f"{public}/queries/whoami/execute"
    alice = {"Authorization": f"Bearer {_end_user(client, tenant, app, 'basic')}"}
    bob = {"Authorization": f"Bearer {_end_user(client, tenant, app, 'basic')}"}
    assert "Connect your account" in error_of(client.post(execute, headers=alice), 412)["message"]
    start_public = f"{public}/connectors/{connector['id']}/authorize"
    assert _connect_account(client, start_public, "alice", **alice).status_code == 200
    assert _connect_account(client, start_public, "bob", **bob).status_code == 200
    assert client.post(execute, headers=alice).json()["data"] == {"user": "alice"}
    assert client.post(execute, headers=bob).json()["data"] == {"user": "bob"}
    assert tenant.post(execute).json()["data"] == {"user": "builder"}

    # A token the API stopped accepting is renewed with the refresh token, once.
    refreshed = remote.grants.count("refresh_token")
    remote.revoke_tokens()
    assert client.post(execute, headers=alice).json()["data"] == {"user": "alice"}
    assert remote.grants.count("refresh_token") == refreshed + 1

    # An authorization URL sent to someone else comes back to a browser without the
    # starter's cookie: their account does not become the starter's.
    sent = client.post(start_public, headers=bob).json()["authorize_url"]
    back = httpx.get(sent + "&user=mallory").headers["location"]
    with httpx.Client(base_url=client.base_url) as elsewhere:
        refused = elsewhere.get(back.removeprefix(str(client.base_url).rstrip("/")))
        assert "another browser" in error_of(refused, 400)["message"]
    assert client.post(execute, headers=bob).json()["data"] == {"user": "bob"}

    # A state is good once; a refusal at the authorization server stores nothing.
    started = client.post(start_public, headers=bob).json()["authorize_url"]
    back = httpx.get(started + "&user=denied").headers["location"]
    path = back.removeprefix(str(client.base_url).rstrip("/"))
    assert "access_denied" in error_of(client.get(path), 400)["message"]
    assert error_of(client.get(path), 400)["field"] == "state"
    assert error_of(client.get("/api/connectors/oauth/callback?state=forged&code=x"), 400)
    assert client.post(execute, headers=bob).json()["data"] == {"user": "bob"}

    # Disconnecting forgets the user's tokens, and nobody else's.
    assert client.delete(start_public, headers=bob).status_code == 204
    error_of(client.post(execute, headers=bob), 412)
    assert client.post(execute, headers=alice).json()["data"] == {"user": "alice"}
    # Anonymous callers have no account to connect.
    error_of(client.post(start_public), 401)


def test_values_that_would_misdirect_or_break_a_call_are_refused(
    client: httpx.Client, tenant: Tenant, app: dict[str, Any], remote: ExternalApi
) -> None:
    calls = [
        {
            "name": "item",
            "url": "/v1/items/<sku>",
            "headers": [{"name": "X-Label", "value": "<label>"}],
            "parameters": [{"name": "sku", "value": "a"}, {"name": "label", "value": "x"}],
        },
        {"name": "moved", "url": "/redirect"},
    ]
    connector = connect(
        tenant,
        app,
        remote,
        base_url=remote.url("/v1"),
        auth=auth_for("key_in_header", remote),
        calls=calls,
    )
    initialize = call_path(app, connector, "item", "initialize")
    assert tenant.post(initialize).status_code == 200
    seen = len(remote.seen)
    for parameters in (
        {"sku": ".."},  # /v1/items/.. would be /v1/
        {"sku": "."},
        {"label": "caf\u00e9"},  # no header carries it
        b'{"parameters": {"label": "\\ud800"}}',  # a lone surrogate
        b'{"parameters": {"sku": 1e999999999}}',  # a gigabyte, written out
        {"sku": [1]},
    ):
        if isinstance(parameters, bytes):
            refused = tenant.post(
                initialize, content=parameters, headers={"Content-Type": "application/json"}
            )
        else:
            refused = tenant.post(initialize, json={"parameters": parameters})
        assert refused.status_code == 400, (parameters, refused.text)
    assert len(remote.seen) == seen  # nothing was sent

    # A redirect is the API's answer: not followed with the connector's key.
    moved = tenant.post(call_path(app, connector, "moved", "initialize"))
    assert error_of(moved, 502)["details"][0]["status"] == 302
    assert len(remote.seen) == seen + 1

    # Pointing the connector elsewhere takes its private values given again.
    path = f"{connectors_path(app)}/{connector['id']}"
    elsewhere = {"base_url": "https://api.elsewhere.example/v1"}
    error_of(tenant.patch(path, json=elsewhere), 400)
    assert tenant.get(path).json()["base_url"] == remote.url("/v1")
    given = {**elsewhere, "auth": auth_for("key_in_header", remote)}
    assert tenant.patch(path, json=given).status_code == 200
    error_of(tenant.patch(path, json={"calls": 5}), 400)


def test_a_failing_api_tells_end_users_its_status_only(
    client: httpx.Client, tenant: Tenant, app: dict[str, Any], remote: ExternalApi
) -> None:
    connector = connect(tenant, app, remote, auth=auth_for("key_in_header", remote))
    assert tenant.post(call_path(app, connector, "list_items", "initialize")).status_code == 200
    query = {"name": "items", "connector_id": connector["id"], "call": "list_items"}
    assert tenant.post(queries_path(app), json=query).status_code == 201
    path = f"{connectors_path(app)}/{connector['id']}"
    # The key goes wrong (given again, as any private value is changed).
    wrong = {**auth_for("key_in_header", remote), "key": "not the key"}
    assert tenant.patch(path, json={"auth": wrong}).status_code == 200
    end_user = {"Authorization": f"Bearer {_end_user(client, tenant, app, 'basic')}"}
    execute = f"/api/apps/{app['public_id']}/queries/items/execute"
    failed = error_of(client.post(execute, headers=end_user), 502)
    assert failed["details"] == [{"status": 401}]
    # Its builders see what the API said.
    assert "unauthorized" in error_of(tenant.post(execute), 502)["details"][0]["body"]


def test_odd_answers_and_names_are_errors_of_their_own_never_500(
    tenant: Tenant, app: dict[str, Any], remote: ExternalApi
) -> None:
    # A NUL in a path names nothing, on every route.
    for path in (f"{connectors_path(app)}/%00", f"{queries_path(app)}/a%00b", "/api/apps/%00"):
        assert error_of(tenant.get(path), 404)["code"] == "not_found"
    calls = [{"name": "deep", "url": "/v1/deep"}, {"name": "nulkey", "url": "/v1/nulkey"}]
    connector = connect(tenant, app, remote, auth=auth_for("key_in_header", remote), calls=calls)
    # 130 objects deep: its schema is kept to 32 levels, and the connector reads back.
    assert tenant.post(call_path(app, connector, "deep", "initialize")).status_code == 200
    assert tenant.post(call_path(app, connector, "nulkey", "initialize")).status_code == 200
    shown = tenant.get(f"{connectors_path(app)}/{connector['id']}")
    assert shown.status_code == 200, shown.text
    assert tenant.get(connectors_path(app)).status_code == 200
    assert shown.json()["calls"][1]["initialized"]["shape"]["properties"]["a\ufffdb"] == {
        "type": "integer"
    }
    query = {"name": "deep", "connector_id": connector["id"], "call": "deep"}
    assert tenant.post(queries_path(app), json=query).status_code == 201
    assert tenant.get(f"/api/apps/{app['slug']}/openapi.json").status_code == 200
    # A token endpoint answering deeper than JSON may nest: the API's failure.
    deep_token = {
        "type": "oauth2_client_credentials",
        "token_url": remote.url("/deep-token"),
        "client_id": api.CLIENT_ID,
        "client_secret": api.CLIENT_SECRET,
    }
    other = connect_to(
        tenant,
        app,
        {"name": "Deep token", "base_url": remote.url(), "auth": deep_token, "calls": [ITEMS_CALL]},
    )
    error_of(tenant.post(call_path(app, other, "list_items", "initialize")), 502)
    # Names with a NUL in bodies are refused, not looked up.
    bad_query = {**query, "name": "q2", "connector_id": "con_\u0000"}
    assert error_of(tenant.post(queries_path(app), json=bad_query), 400)["field"] == "connector_id"
    step = {"type": "api_call", "connector": "wf\u0000", "call": "deep"}
    flow = {"name": "nul-step", "steps": [step]}
    error_of(tenant.post(f"/api/apps/{app['slug']}/workflows", json=flow), 400)
    huge = b'{"name": "Huge", "calls": [{"name": "c", "body_type": "json", "body": {"n": 1e4300}}]}'
    refused = tenant.post(
        connectors_path(app), content=huge, headers={"Content-Type": "application/json"}
    )
    error_of(refused, 400)
