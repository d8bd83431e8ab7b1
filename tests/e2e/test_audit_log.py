"""The audit log over HTTP: every security event a workspace's owners and admins expect to
find (who, what, from where, failures included), nobody else reading it, no other
workspace's entries, its filters and cursor, and no secret in it or in any log line."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from services.devstack.stack import Stack
from tests.e2e.conftest import database_url
from tests.factories.accounts import Tenant, sign_up, unique_email
from tests.factories.apps import create_app, create_schema
from tests.factories.credentials import (
    create_admin_token,
    create_api_key,
    create_token,
    join,
    members_path,
    set_role,
    token_auth,
)
from tests.support.wait import eventually

END_USER_PASSWORD = "end user password"
# The gateway sees the suite's requests coming from here.
CLIENT_IP = "127.0.0.1"


def user_agent() -> str:
    return f"AuditProbe/1.0 (+{secrets.token_hex(6)})"


@pytest.fixture
def agent() -> str:
    return user_agent()


@pytest.fixture
def probe(stack: Stack, agent: str) -> Iterator[httpx.Client]:
    """A client whose every request names the same distinctive user agent."""
    with httpx.Client(
        base_url=stack.gateway_url, timeout=30.0, headers={"User-Agent": agent}
    ) as http:
        yield http


@pytest.fixture
def owner(probe: httpx.Client) -> Tenant:
    return sign_up(probe)


def audit_log(reader: Tenant, **params: Any) -> httpx.Response:
    return reader.get("/api/audit-log", params=params)


def entries(reader: Tenant, **params: Any) -> list[dict[str, Any]]:
    response = audit_log(reader, **params)
    assert response.status_code == 200, response.text
    return list(response.json()["entries"])


def only(reader: Tenant, action: str, **params: Any) -> dict[str, Any]:
    found = entries(reader, action=action, **params)
    assert len(found) == 1, found
    return found[0]


def assert_from(entry: dict[str, Any], agent: str) -> None:
    assert entry["client_ip"] == CLIENT_IP
    assert entry["user_agent"] == agent


def spend_long_ago(stack: Stack, refresh_token: str) -> None:
    """As if the token had been rotated past the racing-client grace."""
    with psycopg.connect(database_url(stack, "identity"), autocommit=True) as connection:
        connection.execute(
            "UPDATE refresh_tokens SET rotated_at = now() - interval '1 minute'"
            " WHERE token_hash = %s",
            (hashlib.sha256(refresh_token.encode()).hexdigest(),),
        )


def actor_is(entry: dict[str, Any], kind: str, principal_id: str, account_id: str) -> None:
    assert entry["actor"]["kind"] == kind, entry
    assert entry["actor"]["id"] == principal_id, entry
    assert entry["actor"]["account_id"] == account_id, entry


# --- signing up, in and out ----------------------------------------------------------------


def test_sign_up_and_token_login_are_recorded_with_who_and_where(owner: Tenant, agent: str) -> None:
    created = only(owner, "account.created")
    actor_is(created, "user", owner.account_id, owner.account_id)
    assert created["target"] == {"type": "account", "id": owner.account_id}
    assert created["outcome"] == "success"
    assert_from(created, agent)
    # The factory's token-auth after signing up.
    login = only(owner, "login")
    actor_is(login, "user", owner.account_id, owner.account_id)
    assert login["details"] == {"method": "jwt"}
    assert login["actor"]["credential_id"].startswith("rtf_")
    assert_from(login, agent)
    datetime.fromisoformat(login["time"])


def test_a_wrong_password_is_a_failed_login_of_that_account(
    owner: Tenant, probe: httpx.Client, agent: str
) -> None:
    refused = probe.post(
        "/api/user/token-auth/", json={"username": owner.email, "password": "not it at all"}
    )
    assert refused.status_code == 401
    failed = only(owner, "login", outcome="failure")
    # Nobody signed in: the account is what was tried, not who tried.
    assert failed["actor"] == {
        "kind": "anonymous",
        "id": None,
        "account_id": None,
        "credential_id": None,
    }
    assert failed["target"] == {"type": "account", "id": owner.account_id}
    assert failed["details"] == {"method": "jwt"}
    assert_from(failed, agent)


def test_session_login_its_failure_and_logout(owner: Tenant, stack: Stack, agent: str) -> None:
    with httpx.Client(base_url=stack.gateway_url, headers={"User-Agent": agent}) as browser:
        wrong = browser.post("/auth/login/", data={"username": owner.email, "password": "nope"})
        assert wrong.status_code == 401
        opened = browser.post(
            "/auth/login/", data={"username": owner.email, "password": owner.password}
        )
        assert opened.status_code == 200, opened.text
        assert browser.post("/auth/logout/").status_code == 200
    sessions = entries(owner, action="login", outcome="success")
    assert [e["details"]["method"] for e in sessions] == ["session", "jwt"]
    assert_from(sessions[0], agent)
    failed = only(owner, "login", outcome="failure")
    assert failed["details"] == {"method": "session"}
    logout = only(owner, "logout")
    actor_is(logout, "user", owner.account_id, owner.account_id)
    assert logout["details"] == {"method": "session"}
    assert_from(logout, agent)


def test_token_logout_names_the_login_it_ends(owner: Tenant, probe: httpx.Client) -> None:
    ended = probe.post("/api/user/token-blacklist/", json={"refresh_token": owner.refresh_token})
    assert ended.status_code == 204
    login = only(owner, "login")
    logout = only(owner, "logout")
    assert logout["details"] == {"method": "jwt"}
    assert logout["actor"]["credential_id"] == login["actor"]["credential_id"]


def test_a_reused_refresh_token_is_recorded_as_a_failure(
    owner: Tenant, probe: httpx.Client, stack: Stack, agent: str
) -> None:
    first = probe.post("/api/user/token-refresh/", json={"refresh_token": owner.refresh_token})
    assert first.status_code == 200, first.text
    spend_long_ago(stack, owner.refresh_token)
    reused = probe.post("/api/user/token-refresh/", json={"refresh_token": owner.refresh_token})
    assert reused.status_code == 401
    found = only(owner, "refresh_token.reused")
    assert found["outcome"] == "failure"
    assert found["actor"]["kind"] == "anonymous"
    assert found["target"] == {"type": "account", "id": owner.account_id}
    assert found["actor"]["credential_id"] == only(owner, "login")["actor"]["credential_id"]
    assert_from(found, agent)


def test_an_unknown_email_lands_in_no_workspace_but_in_identitys_log(
    owner: Tenant, stack: Stack
) -> None:
    stranger_agent = user_agent()
    email = unique_email("stranger")
    with httpx.Client(
        base_url=stack.gateway_url, headers={"User-Agent": stranger_agent}
    ) as stranger:
        refused = stranger.post(
            "/api/user/token-auth/", json={"username": email, "password": "guess 1234"}
        )
    assert refused.status_code == 401
    assert not [e for e in entries(owner) if e["user_agent"] == stranger_agent]
    log = stack.log_dir / "identity.log"
    line = eventually(
        lambda: next((ln for ln in log.read_text().splitlines() if stranger_agent in ln), None)
    )
    assert "login failure for no known account" in line
    assert CLIENT_IP in line
    assert email not in line
    assert "guess 1234" not in line


def test_password_change_and_its_refusal(owner: Tenant, agent: str) -> None:
    wrong = owner.post(
        "/api/user/change-password/",
        json={"old_password": "not the one", "new_password": "battery staple 99"},
    )
    assert wrong.status_code == 400
    changed = owner.post(
        "/api/user/change-password/",
        json={"old_password": owner.password, "new_password": "battery staple 99"},
    )
    assert changed.status_code == 204
    relogin = owner.client.post(
        "/api/user/token-auth/",
        json={"username": owner.email, "password": "battery staple 99"},
    )
    owner.token = relogin.json()["token"]
    found = entries(owner, action="password.changed")
    assert [e["outcome"] for e in found] == ["success", "failure"]
    for entry in found:
        actor_is(entry, "user", owner.account_id, owner.account_id)
        assert entry["target"] == {"type": "account", "id": owner.account_id}
        assert_from(entry, agent)


def test_a_new_workspace_is_recorded_in_it(owner: Tenant, agent: str) -> None:
    created = owner.post("/api/workspaces/", json={"name": "Second"})
    assert created.status_code == 200, created.text
    workspace_id = created.json()["id"]
    found = entries(owner, action="workspace.created")
    assert not found, "the first workspace's log is not the new one's"
    response = owner.get(
        "/api/audit-log",
        params={"action": "workspace.created"},
        headers={"X-Workspace": workspace_id},
    )
    assert response.status_code == 200, response.text
    (entry,) = response.json()["entries"]
    actor_is(entry, "user", owner.account_id, owner.account_id)
    assert entry["target"] == {"type": "workspace", "id": workspace_id}
    assert entry["details"] == {"name": "Second"}
    assert_from(entry, agent)


# --- credentials ---------------------------------------------------------------------------


def test_api_token_lifecycle(owner: Tenant, agent: str) -> None:
    token = create_token(owner, name="Zapier", expires_at="2030-01-01T00:00:00Z")
    token_id = token["id"]
    changed = owner.patch(f"/api/tokens/{token_id}", json={"permissions": {"read": False}})
    assert changed.status_code == 200, changed.text
    assert owner.post(f"/api/tokens/{token_id}/rotate").status_code == 200
    assert owner.delete(f"/api/tokens/{token_id}").status_code == 204
    found = entries(owner, target=token_id)
    assert [e["action"] for e in found] == [
        "api_token.revoked",
        "api_token.rotated",
        "api_token.updated",
        "api_token.created",
    ]
    for entry in found:
        actor_is(entry, "user", owner.account_id, owner.account_id)
        assert entry["target"] == {"type": "api_token", "id": token_id}
        assert_from(entry, agent)
    assert found[3]["details"] == {
        "name": "Zapier",
        "permissions": ["read:*"],
        "expires_at": "2030-01-01T00:00:00Z",
    }
    assert found[2]["details"] == {"name": "Zapier", "permissions": []}


def test_the_api_key_created_replaced_and_deleted(owner: Tenant, agent: str) -> None:
    create_api_key(owner)
    create_api_key(owner)
    assert owner.delete("/api/user/api-key").status_code == 204
    found = entries(owner, action=["user_key.created", "user_key.revoked"])
    assert [e["action"] for e in found] == [
        "user_key.revoked",
        "user_key.created",
        "user_key.revoked",
        "user_key.created",
    ]
    first, second = found[3]["target"]["id"], found[1]["target"]["id"]
    assert found[2]["target"]["id"] == first
    assert found[2]["details"] == {"replaced_by": second}
    assert found[0]["target"]["id"] == second
    for entry in found:
        actor_is(entry, "user", owner.account_id, owner.account_id)
        assert_from(entry, agent)


def test_an_action_taken_with_the_api_key_names_the_key(owner: Tenant, probe: httpx.Client) -> None:
    key = create_api_key(owner)
    key_id = only(owner, "user_key.created")["target"]["id"]
    made = probe.post(
        "/api/tokens", json={"name": "Via key", "permissions": {}}, headers={"X-Api-Key": key}
    )
    assert made.status_code == 201, made.text
    entry = only(owner, "api_token.created")
    actor_is(entry, "user_key", key_id, owner.account_id)
    assert entry["actor"]["credential_id"] == key_id


def test_admin_tokens_say_whether_they_bypass_privacy_rules(owner: Tenant, agent: str) -> None:
    bypassing = create_admin_token(owner, name="Backend", bypass_privacy_rules=True)
    bound = create_admin_token(owner, name="Reports")
    assert owner.delete(f"/api/admin-tokens/{bypassing['id']}").status_code == 204
    created = entries(owner, action="admin_token.created")
    assert [(e["target"]["id"], e["details"]) for e in created] == [
        (bound["id"], {"name": "Reports", "bypass_privacy_rules": False}),
        (bypassing["id"], {"name": "Backend", "bypass_privacy_rules": True}),
    ]
    revoked = only(owner, "admin_token.revoked")
    assert revoked["target"] == {"type": "admin_token", "id": bypassing["id"]}
    assert revoked["details"] == {"name": "Backend", "bypass_privacy_rules": True}
    actor_is(revoked, "user", owner.account_id, owner.account_id)
    assert_from(revoked, agent)


# --- members -------------------------------------------------------------------------------


def test_members_added_re_roled_and_removed(
    owner: Tenant, client: httpx.Client, agent: str
) -> None:
    member = sign_up(client, name="Grace Hopper")
    join(owner, member, "editor")
    set_role(owner, member, "builder")
    assert owner.delete(members_path(owner.workspace_id, member.account_id)).status_code == 204
    found = entries(owner, target=member.account_id)
    assert [(e["action"], e["details"]) for e in found] == [
        ("member.removed", {"role": "builder"}),
        ("member.role_changed", {"role": "builder", "previous_role": "editor"}),
        ("member.added", {"role": "editor", "email": member.email}),
    ]
    for entry in found:
        actor_is(entry, "user", owner.account_id, owner.account_id)
        assert entry["target"] == {"type": "account", "id": member.account_id}
        assert_from(entry, agent)


def test_a_members_own_logins_reach_every_workspace_they_are_in(
    owner: Tenant, client: httpx.Client
) -> None:
    member = sign_up(client, name="Grace Hopper")
    join(owner, member, "viewer")
    again = client.post(
        "/api/user/token-auth/", json={"username": member.email, "password": member.password}
    )
    assert again.status_code == 200
    mine = entries(owner, action="login", actor=member.account_id)
    assert len(mine) == 1
    # Their own workspace has both logins (the factory's and this one).
    assert len(entries(member, action="login")) == 2


def test_the_users_api_records_an_account_it_creates(owner: Tenant) -> None:
    email = unique_email("made")
    created = owner.post("/api/users", json={"email": email, "role": "viewer"})
    assert created.status_code == 201, created.text
    entry = only(owner, "member.added")
    assert entry["details"] == {"role": "viewer", "email": email, "account_created": True}


# --- what the schema service reports -------------------------------------------------------


def test_privacy_rule_and_app_settings_changes_arrive_from_the_schema_service(
    owner: Tenant, agent: str
) -> None:
    app = create_app(owner)
    create_schema(owner, app["slug"])
    rules = {
        "rules": [{"name": "Everyone finds", "condition": None, "find": True}],
        "default": {"find": False},
    }
    path = f"/api/apps/{app['slug']}/schemas/contacts/privacy-rules"
    assert owner.put(path, json=rules).status_code == 200
    assert owner.put(path, json={"rules": None}).status_code == 200
    changed = owner.patch(
        f"/api/apps/{app['slug']}", json={"settings": {"default_app_role": "power"}}
    )
    assert changed.status_code == 200, changed.text

    def arrived() -> list[dict[str, Any]] | None:
        found = entries(owner, action="privacy_rules.changed,app.settings_changed")
        return found if len(found) == 3 else None

    # The recorder may still be waiting for the SCHEMA stream on a freshly started stack.
    settings, removed, set_rules = eventually(arrived, timeout=30.0)
    # Apps and schemas are named by the ids the services share, their slugs beside.
    app_id = settings["target"]["id"]
    assert settings["action"] == "app.settings_changed"
    assert settings["target"]["type"] == "app"
    assert settings["details"] == {
        "app": app["slug"],
        "public_id": app["public_id"],
        "default_app_role": "power",
        "previous_default_app_role": "basic",
    }
    assert set_rules["action"] == "privacy_rules.changed"
    assert set_rules["target"]["type"] == "schema"
    assert set_rules["target"]["id"].startswith("sch_")
    assert set_rules["details"] == {
        "app_id": app_id,
        "app": app["slug"],
        "schema": "contacts",
        "removed": False,
        "rule_names": ["Everyone finds"],
    }
    assert removed["target"] == set_rules["target"]
    assert removed["details"]["removed"] is True
    assert removed["details"]["rule_names"] == []
    for entry in (settings, removed, set_rules):
        actor_is(entry, "user", owner.account_id, owner.account_id)
        assert_from(entry, agent)


# --- app end users -------------------------------------------------------------------------


def test_app_end_users_sign_up_log_in_fail_log_out_and_are_managed(
    owner: Tenant, probe: httpx.Client, agent: str
) -> None:
    app = create_app(owner)
    public = app["public_id"]
    email = unique_email("enduser")
    signed_up = probe.post(
        f"/api/apps/{public}/auth/signup", json={"email": email, "password": END_USER_PASSWORD}
    )
    assert signed_up.status_code == 201, signed_up.text
    user_id = signed_up.json()["user"]["id"]
    login = probe.post(
        f"/api/apps/{public}/auth/login", json={"email": email, "password": END_USER_PASSWORD}
    )
    assert login.status_code == 200
    wrong = probe.post(f"/api/apps/{public}/auth/login", json={"email": email, "password": "x"})
    assert wrong.status_code == 401
    nobody = probe.post(
        f"/api/apps/{public}/auth/login",
        json={"email": unique_email("nobody"), "password": END_USER_PASSWORD},
    )
    assert nobody.status_code == 401
    out = probe.post(
        f"/api/apps/{public}/auth/logout",
        headers={"Authorization": f"Bearer {login.json()['token']}"},
    )
    assert out.status_code == 204
    users = f"/api/apps/{app['slug']}/users/{user_id}"
    assert owner.patch(users, json={"app_role": "admin"}).status_code == 200
    assert owner.patch(users, json={"password": "another end user pw"}).status_code == 200
    assert owner.delete(users).status_code == 204

    found = entries(owner, target=user_id)
    assert [(e["action"], e["outcome"]) for e in found] == [
        ("app_user.deleted", "success"),
        ("app_user.password_set", "success"),
        ("app_user.role_changed", "success"),
        ("app_user.logout", "success"),
        ("app_user.login", "failure"),
        ("app_user.login", "success"),
        ("app_user.signed_up", "success"),
    ]
    deleted, password_set, role_changed, logout, failed, logged_in, signup = found
    for entry in (signup, logged_in, logout):
        actor_is(entry, "app_user", user_id, user_id)
    assert signup["actor"]["credential_id"].startswith("aps_")
    assert logged_in["actor"]["credential_id"].startswith("aps_")
    assert logout["actor"]["credential_id"] == logged_in["actor"]["credential_id"]
    assert failed["actor"]["kind"] == "anonymous"
    app_id = signup["details"]["app_id"]
    assert app_id.startswith("app_")
    assert signup["details"] == {"app_id": app_id, "app_role": "basic"}
    assert role_changed["details"] == {
        "app_id": app_id,
        "app_role": "admin",
        "previous_app_role": "basic",
    }
    for entry in (deleted, password_set, role_changed):
        actor_is(entry, "user", owner.account_id, owner.account_id)
    for entry in found:
        assert_from(entry, agent)
    # An email no end user has: the app's workspace sees the attempt on its app.
    unknown = [
        e
        for e in entries(owner, action="app_user.login", outcome="failure")
        if e["target"]["type"] == "app"
    ]
    assert [e["target"]["id"] for e in unknown] == [app_id]


# --- who may read it, and what ---------------------------------------------------------------


def test_only_owners_and_admins_read_it(owner: Tenant, client: httpx.Client) -> None:
    for role in ("viewer", "editor", "builder", "admin"):
        member = sign_up(client)
        join(owner, member, role)
        response = member.get("/api/audit-log", headers={"X-Workspace": owner.workspace_id})
        if role == "admin":
            assert response.status_code == 200, response.text
            assert response.json()["entries"]
        else:
            assert response.status_code == 403, (role, response.text)
            assert response.json()["error"]["code"] == "permission_denied"
    api_token = create_token(owner, permissions={"read": True})["token"]
    admin_token = create_admin_token(owner, bypass_privacy_rules=True)["token"]
    for secret in (api_token, admin_token):
        refused = client.get("/api/audit-log", headers=token_auth(secret, "Bearer"))
        assert refused.status_code == 403, refused.text
    assert client.get("/api/audit-log").status_code == 401


def test_another_workspaces_entries_never_appear(owner: Tenant, client: httpx.Client) -> None:
    other = sign_up(client, name="Grace Hopper")
    create_token(other, name="Theirs")
    mine = entries(owner, per_page=100)
    assert mine
    assert all(other.account_id not in str(entry) for entry in mine)
    assert not entries(owner, actor=other.account_id)
    refused = owner.get("/api/audit-log", headers={"X-Workspace": other.workspace_id})
    assert refused.status_code == 404
    assert refused.json()["error"]["message"] == "Workspace not found"
    theirs = entries(other)
    assert all(owner.account_id not in str(entry) for entry in theirs)


# --- filters and the cursor ----------------------------------------------------------------


def test_filters_narrow_and_the_cursor_walks_newest_first(owner: Tenant) -> None:
    for index in range(3):
        create_token(owner, name=f"T{index}")
    everything = entries(owner, per_page=100)
    assert len(everything) == 5  # signed up, logged in, three tokens
    times = [e["time"] for e in everything]
    assert times == sorted(times, reverse=True)

    walked: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"per_page": 2}
        if cursor:
            params["cursor"] = cursor
        body = audit_log(owner, **params).json()
        walked += body["entries"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [e["id"] for e in walked] == [e["id"] for e in everything]

    tokens = entries(owner, action="api_token.created")
    assert len(tokens) == 3
    several = entries(owner, action=["api_token.created", "login"])
    assert len(several) == 4
    assert entries(owner, action="api_token.created,login") == several
    assert len(entries(owner, actor=owner.account_id)) == 5
    assert entries(owner, outcome="failure") == []
    assert entries(owner, target=tokens[0]["target"]["id"]) == [tokens[0]]
    oldest = everything[-1]["time"]
    assert entries(owner, until=oldest) == []
    assert entries(owner, since=oldest) == everything
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    assert entries(owner, since=later) == []
    # Without an offset, a time is UTC.
    naive = datetime.fromisoformat(oldest).astimezone(UTC).replace(tzinfo=None).isoformat()
    assert entries(owner, since=naive) == everything


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "5"}, "limit"),
        ({"action": "login.hacked"}, "action"),
        ({"outcome": "maybe"}, "outcome"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-45"}, "until"),
        ({"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}, "since"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"per_page": "0"}, "per_page"),
        ({"per_page": "101"}, "per_page"),
        ({"per_page": "ten"}, "per_page"),
        ({"actor": ["acc_a", "acc_b"]}, "actor"),
        ({"target": "x" * 101}, "target"),
    ],
)
def test_bad_filters_are_400_naming_the_parameter(
    shared_tenant: Tenant, params: dict[str, Any], field: str
) -> None:
    before = entries(shared_tenant, per_page=100)
    response = audit_log(shared_tenant, **params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["field"] == field
    assert entries(shared_tenant, per_page=100) == before


# --- no secrets ----------------------------------------------------------------------------


def test_no_secret_reaches_an_entry_or_a_log_line(
    owner: Tenant, probe: httpx.Client, stack: Stack
) -> None:
    known: dict[str, str] = {
        "password": owner.password,
        "access token": owner.token,
        "refresh token": owner.refresh_token,
        "API token": create_token(owner, name="Secretive")["token"],
        "admin token": create_admin_token(owner, bypass_privacy_rules=True)["token"],
        "API key": create_api_key(owner),
    }
    rotated = owner.post(f"/api/tokens/{only(owner, 'api_token.created')['target']['id']}/rotate")
    known["rotated API token"] = rotated.json()["token"]
    session = probe.post("/auth/login/", data={"username": owner.email, "password": owner.password})
    known["session id"] = session.cookies["sessionid"]
    known["CSRF token"] = session.cookies["csrftoken"]
    probe.post(
        "/api/user/token-auth/", json={"username": owner.email, "password": "wrong guess pw"}
    )
    known["wrong password"] = "wrong guess pw"
    app = create_app(owner)
    signed_up = probe.post(
        f"/api/apps/{app['public_id']}/auth/signup",
        json={"email": unique_email("enduser"), "password": END_USER_PASSWORD},
    )
    known["end user password"] = END_USER_PASSWORD
    known["end user session"] = signed_up.json()["token"]
    changed = owner.post(
        "/api/user/change-password/",
        json={"old_password": owner.password, "new_password": "a brand new secret pw"},
    )
    assert changed.status_code == 204
    known["new password"] = "a brand new secret pw"
    relogin = probe.post(
        "/api/user/token-auth/",
        json={"username": owner.email, "password": "a brand new secret pw"},
    )
    owner.token = relogin.json()["token"]
    known["new access token"] = owner.token

    listed = audit_log(owner, per_page=100)
    assert listed.status_code == 200
    assert len(listed.json()["entries"]) >= 10
    logs = {path.name: path.read_text() for path in stack.log_dir.glob("*.log")}
    assert {"identity.log", "schema.log", "records.log", "gateway.log"} <= set(logs)
    for what, secret in known.items():
        assert secret not in listed.text, f"the {what} is in an audit entry"
        for name, text in logs.items():
            assert secret not in text, f"the {what} is in {name}"
