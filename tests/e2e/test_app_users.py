"""App end users over HTTP: public app ids, signup and login, sessions and their
lifetimes, management by builders and app-role admins, anonymous callers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.factories.accounts import Tenant, unique_email
from tests.factories.apps import create_app, create_schema, records_path
from tests.support.wait import eventually

PASSWORD = "end user password"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_up(
    client: httpx.Client, public_id: str, email: str | None = None, **extra: Any
) -> dict[str, Any]:
    body = {"email": email or unique_email("enduser"), "password": PASSWORD, **extra}
    response = client.post(f"/api/apps/{public_id}/auth/signup", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def log_in(client: httpx.Client, public_id: str, email: str, **extra: Any) -> httpx.Response:
    return client.post(
        f"/api/apps/{public_id}/auth/login", json={"email": email, "password": PASSWORD, **extra}
    )


def app_admin(client: httpx.Client, tenant: Tenant, app: dict[str, Any]) -> str:
    """A session of an end user the builder made an app-role admin."""
    email = unique_email("appadmin")
    created = tenant.post(
        f"/api/apps/{app['slug']}/users",
        json={"email": email, "password": PASSWORD, "app_role": "admin"},
    )
    assert created.status_code == 201, created.text
    response = log_in(client, app["public_id"], email)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def expires_in(body: dict[str, Any]) -> timedelta:
    return datetime.fromisoformat(body["expires_at"]) - datetime.now(UTC)


@pytest.fixture
def app(tenant: Tenant) -> dict[str, Any]:
    created = create_app(tenant)
    create_schema(tenant, created["slug"])
    return created


def test_an_app_has_a_public_id_accepted_in_place_of_its_slug(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant, app: dict[str, Any]
) -> None:
    public_id = app["public_id"]
    assert re.fullmatch(r"app_[a-z2-7]{26}", public_id)
    assert app["settings"] == {"default_app_role": "basic"}

    assert tenant.get(f"/api/apps/{public_id}").json() == app
    schemas = tenant.get(f"/api/apps/{public_id}/schemas")
    assert schemas.status_code == 200
    assert [s["slug"] for s in schemas.json()["schemas"]] == ["contacts"]
    created = tenant.post(records_path(public_id), json={"name": "Ada"})
    assert created.status_code == 201, created.text
    record = tenant.get(f"{records_path(app['slug'])}/{created.json()['id']}")
    assert record.json()["name"] == "Ada"

    # Another workspace's public id, with a member's JWT: no such app here.
    for path in (
        f"/api/apps/{public_id}",
        f"/api/apps/{public_id}/schemas",
        records_path(public_id),
        f"/api/apps/{public_id}/users",
    ):
        response = other_tenant.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


def test_signup_and_login_give_sessions_of_24_hours_or_12_months(
    client: httpx.Client, app: dict[str, Any]
) -> None:
    email = unique_email("enduser")
    signed_up = sign_up(client, app["public_id"], f"  {email.upper()} ", name="Edith")

    assert signed_up["token"].startswith("tsr_apu_")
    assert signed_up["user"]["email"] == email
    assert signed_up["user"]["name"] == "Edith"
    assert signed_up["user"]["app_role"] == "basic"
    assert re.fullmatch(r"apu_[a-z2-7]{26}", signed_up["user"]["id"])
    assert timedelta(hours=23, minutes=59) < expires_in(signed_up) <= timedelta(hours=24)

    short = log_in(client, app["public_id"], email)
    long = log_in(client, app["public_id"], email, keep_logged_in=True)

    assert short.status_code == long.status_code == 200
    assert timedelta(hours=23, minutes=59) < expires_in(short.json()) <= timedelta(hours=24)
    assert timedelta(days=364) < expires_in(long.json()) <= timedelta(days=365)
    assert short.json()["user"] == long.json()["user"] == signed_up["user"]
    assert len({signed_up["token"], short.json()["token"], long.json()["token"]}) == 3


def test_signup_and_login_refuse_bad_input_and_wrong_passwords(
    client: httpx.Client, app: dict[str, Any]
) -> None:
    public_id = app["public_id"]
    email = sign_up(client, public_id)["user"]["email"]

    taken = client.post(
        f"/api/apps/{public_id}/auth/signup", json={"email": email, "password": PASSWORD}
    )
    assert taken.status_code == 409
    assert taken.json()["error"]["field"] == "email"
    for body, field in (
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": unique_email(), "password": "short"}, "password"),
    ):
        response = client.post(f"/api/apps/{public_id}/auth/signup", json=body)
        assert response.status_code == 400
        assert response.json()["error"]["field"] == field
    wrong = client.post(
        f"/api/apps/{public_id}/auth/login", json={"email": email, "password": "wrong password"}
    )
    unknown = log_in(client, public_id, unique_email())
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    missing = client.post(
        "/api/apps/app_aaaaaaaaaaaaaaaaaaaaaaaaaa/auth/login",
        json={"email": email, "password": PASSWORD},
    )
    assert missing.status_code == 404


def test_end_users_of_one_app_are_unknown_to_another(
    client: httpx.Client, tenant: Tenant, app: dict[str, Any]
) -> None:
    other_app = create_app(tenant)
    create_schema(tenant, other_app["slug"])
    email = sign_up(client, app["public_id"])["user"]["email"]
    token = app_admin(client, tenant, app)

    assert log_in(client, other_app["public_id"], email).status_code == 401
    for path in (
        f"/api/apps/{other_app['public_id']}/users",
        f"/api/apps/{other_app['slug']}/users",
    ):
        response = client.get(path, headers=bearer(token))
        assert response.status_code == 404, path
        assert response.json()["error"]["message"] == "App not found"
    assert client.get(f"/api/apps/{app['public_id']}/users", headers=bearer(token)).is_success


def test_end_users_of_one_app_cannot_reach_another_apps_records(
    client: httpx.Client, tenant: Tenant, app: dict[str, Any]
) -> None:
    other_app = create_app(tenant)
    create_schema(tenant, other_app["slug"])
    token = sign_up(client, app["public_id"])["token"]

    response = client.get(records_path(other_app["public_id"]), headers=bearer(token))

    assert response.status_code == 404


def test_the_apps_default_role_is_what_signup_gives(
    client: httpx.Client, tenant: Tenant, app: dict[str, Any]
) -> None:
    changed = tenant.patch(
        f"/api/apps/{app['slug']}", json={"settings": {"default_app_role": "power"}}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["settings"] == {"default_app_role": "power"}

    assert sign_up(client, app["public_id"])["user"]["app_role"] == "power"
    refused = tenant.patch(
        f"/api/apps/{app['slug']}", json={"settings": {"default_app_role": "owner"}}
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["field"] == "default_app_role"
    assert tenant.get(f"/api/apps/{app['slug']}").json()["settings"]["default_app_role"] == "power"


def test_logout_ends_the_session_and_logout_others_every_other_one(
    client: httpx.Client, tenant: Tenant, app: dict[str, Any]
) -> None:
    token = app_admin(client, tenant, app)
    users = f"/api/apps/{app['public_id']}/users"
    me = client.get(users, headers=bearer(token)).json()["users"][0]["email"]
    second = log_in(client, app["public_id"], me).json()["token"]
    third = log_in(client, app["public_id"], me).json()["token"]
    for session in (token, second, third):
        assert client.get(users, headers=bearer(session)).status_code == 200

    ended = client.post(f"/api/apps/{app['public_id']}/auth/logout-others", headers=bearer(token))

    assert ended.status_code == 200
    assert ended.json() == {"sessions_ended": 2}
    assert client.get(users, headers=bearer(second)).status_code == 401
    assert client.get(users, headers=bearer(third)).status_code == 401
    assert client.get(users, headers=bearer(token)).status_code == 200

    out = client.post(f"/api/apps/{app['public_id']}/auth/logout", headers=bearer(token))

    assert out.status_code == 204
    refused = client.get(users, headers=bearer(token))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthenticated"


def test_builders_manage_an_apps_users(
    client: httpx.Client, tenant: Tenant, app: dict[str, Any]
) -> None:
    users = f"/api/apps/{app['slug']}/users"
    signed_up = sign_up(client, app["public_id"])

    created = tenant.post(
        users, json={"email": unique_email("made"), "password": PASSWORD, "name": "Made"}
    )
    assert created.status_code == 201, created.text
    made = created.json()
    assert made["app_role"] == "basic"
    listed = tenant.get(users)
    assert listed.status_code == 200
    assert listed.json()["total"] == 2
    assert [u["id"] for u in listed.json()["users"]] == [signed_up["user"]["id"], made["id"]]
    assert tenant.get(f"{users}?per_page=1&page=2").json()["users"] == [made]
    assert tenant.get(f"{users}/{made['id']}").json() == made

    changed = tenant.patch(f"{users}/{made['id']}", json={"name": "Renamed", "app_role": "power"})
    assert changed.status_code == 200
    assert (changed.json()["name"], changed.json()["app_role"]) == ("Renamed", "power")
    for body, field in (
        ({"app_role": "owner"}, "app_role"),
        ({"email": signed_up["user"]["email"]}, "email"),
        ({"password": "short"}, "password"),
    ):
        response = tenant.patch(f"{users}/{made['id']}", json=body)
        assert response.status_code in (400, 409)
        assert response.json()["error"]["field"] == field
    assert tenant.get(f"{users}/{made['id']}").json() == changed.json()

    assert tenant.delete(f"{users}/{made['id']}").status_code == 204
    assert tenant.get(f"{users}/{made['id']}").status_code == 404
    assert tenant.get(users).json()["total"] == 1


def test_app_role_admins_manage_the_apps_users_and_basic_users_may_not(
    client: httpx.Client, tenant: Tenant, app: dict[str, Any]
) -> None:
    admin = app_admin(client, tenant, app)
    users = f"/api/apps/{app['public_id']}/users"
    basic = sign_up(client, app["public_id"])

    created = client.post(
        users,
        json={"email": unique_email("byadmin"), "password": PASSWORD},
        headers=bearer(admin),
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    assert client.get(users, headers=bearer(admin)).json()["total"] == 3
    updated = client.patch(f"{users}/{user_id}", json={"app_role": "power"}, headers=bearer(admin))
    assert updated.json()["app_role"] == "power"
    assert client.delete(f"{users}/{user_id}", headers=bearer(admin)).status_code == 204

    for method, path in (
        ("GET", users),
        ("POST", users),
        ("GET", f"{users}/{basic['user']['id']}"),
        ("PATCH", f"{users}/{basic['user']['id']}"),
        ("DELETE", f"{users}/{basic['user']['id']}"),
    ):
        body = {"email": unique_email(), "password": PASSWORD} if method == "POST" else None
        if method == "PATCH":
            body = {"app_role": "admin"}
        response = client.request(method, path, json=body, headers=bearer(basic["token"]))
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["code"] == "permission_denied"
    assert client.get(users, headers=bearer(admin)).json()["total"] == 2


def test_a_new_app_role_applies_at_once(
    client: httpx.Client, tenant: Tenant, app: dict[str, Any]
) -> None:
    users = f"/api/apps/{app['public_id']}/users"
    basic = sign_up(client, app["public_id"])
    assert client.get(users, headers=bearer(basic["token"])).status_code == 403

    tenant.patch(f"/api/apps/{app['slug']}/users/{basic['user']['id']}", json={"app_role": "admin"})

    assert client.get(users, headers=bearer(basic["token"])).status_code == 200


def test_a_deleted_or_repassworded_users_sessions_are_refused_at_once(
    client: httpx.Client, tenant: Tenant, app: dict[str, Any]
) -> None:
    users = f"/api/apps/{app['slug']}/users"
    deleted = app_admin(client, tenant, app)
    repassworded = app_admin(client, tenant, app)
    path = f"/api/apps/{app['public_id']}/users"
    listed = client.get(path, headers=bearer(deleted)).json()["users"]
    assert client.get(path, headers=bearer(repassworded)).status_code == 200

    tenant.delete(f"{users}/{listed[0]['id']}")
    tenant.patch(f"{users}/{listed[1]['id']}", json={"password": "a brand new password"})

    for token in (deleted, repassworded):
        response = client.get(path, headers=bearer(token))
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthenticated"
    relogin = client.post(
        f"/api/apps/{app['public_id']}/auth/login",
        json={"email": listed[1]["email"], "password": "a brand new password"},
    )
    assert relogin.status_code == 200


def test_anonymous_callers_reach_only_the_record_routes_of_a_public_id(
    client: httpx.Client, tenant: Tenant, app: dict[str, Any]
) -> None:
    public_id = app["public_id"]

    for path in (
        "/api/apps",
        f"/api/apps/{public_id}",
        f"/api/apps/{public_id}/schemas",
        f"/api/apps/{public_id}/users",
        records_path(app["slug"]),
    ):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "unauthenticated"
    assert client.get(records_path("app_aaaaaaaaaaaaaaaaaaaaaaaaaa")).status_code == 404
    # An invalid credential is refused, never taken for an anonymous caller.
    forged = client.get(records_path(public_id), headers=bearer("tsr_apu_forged"))
    assert forged.status_code == 401


def test_a_schema_without_privacy_rules_is_closed_to_anonymous_callers_until_rules_open_it(
    client: httpx.Client, tenant: Tenant, app: dict[str, Any]
) -> None:
    tenant.post(records_path(app["slug"]), json={"name": "Secret"})

    listed = client.get(records_path(app["public_id"]))
    created = client.post(records_path(app["public_id"]), json={"name": "Spam"})

    assert listed.status_code == 403, listed.text
    assert created.status_code == 403, created.text
    assert tenant.get(records_path(app["slug"])).json()["total"] == 1

    rules = {"rules": [], "default": {"find": True, "read_fields": ["name"]}}
    path = records_path(app["slug"]).removesuffix("/records")
    assert tenant.put(f"{path}/privacy-rules", json=rules).status_code == 200

    def listed_once_open() -> httpx.Response | None:
        response = client.get(records_path(app["public_id"]))
        return response if response.status_code == 200 else None

    opened = eventually(listed_once_open)
    assert [record["name"] for record in opened.json()["records"]] == ["Secret"]
    assert client.post(records_path(app["public_id"]), json={"name": "Spam"}).status_code == 403
