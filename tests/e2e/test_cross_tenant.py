"""Every gateway endpoint, tried with another workspace's ids, slugs and credentials.

The cases are generated from the gateway's own route table, so an endpoint added later is
covered without anyone remembering to: a path parameter this module does not know how to
fill, or a write without a body here, fails the suite by name.

Two workspaces, A and B, are furnished alike (an app with a schema its privacy rules open
to everyone and one without rules, records, an import job, app end users, an API token, an
admin token, a per-user key, a second member, trash, and a second app). Each route is then
called, both ways round (end users: one way), with each kind of credential of one
workspace (a member's JWT and key, an API token, an admin token, sessions of end users of
its app with app roles basic and admin) and the other workspace's ids in the path
(variants: the whole path the other's, its app named by slug or by public id; the caller's
own workspace, app and schema with the other's record, import, field, member or end user in
them; the other's record ids in a batch body), or, for a route without ids, the other
workspace in `X-Workspace`. What must hold:

- The answer is the one the same request gets with ids that exist nowhere (its "twin"):
  same status, same error code and message. The other workspace's things do not exist for
  the caller, so nothing (status, message, field) can tell them apart from nothing; its
  app's public id answers like a made-up `app_...`.
- For a JWT and a per-user key of an owner, who may do everything in their own workspace,
  that answer is 404. API tokens, admin tokens and app end users may also get 403: where
  the roles table refuses the route to that kind of credential at all (the users and
  members APIs, token management, apps for API tokens, schemas for end users...), which
  the twin shows happens before anything is looked up. Never a 2xx, never a 5xx.
- An end user of one app does not reach another app of its own workspace either: that
  app's records and end users are 404 to it.
- No body names any of the other workspace's ids, slugs, names or values.
- A token's workspace is its own: `X-Workspace` naming another does not move it there.
- A request with no credential at all is 401 everywhere, except on an app's record routes
  addressed by its public id, where it is the app's anonymous caller: a schema without
  privacy rules is closed to it (403).
- Afterwards both workspaces read back exactly as before (records, fields, rules, members,
  tokens, trash, import job, apps with their public ids, end users), and every credential
  still works.

Routes that act on the caller's account (its workspaces, its API key, its password) or on
no one (an account's sign-up and log-in) have no ids to swap; they are called with the
other workspace in `X-Workspace` and must not reveal or touch it. Those that change the
caller's own credentials use a spare account, so the workspaces' credentials stay valid.

An app's own sign-up and log-in are open, by design, to anyone who knows its public id, so
another workspace's public id is no leak there. What holds instead: credentials sent along
change nothing (the end user lands in the addressed app, never in the caller's workspace),
a made-up public id is 404, and the other workspace's app slug or workspace slug does not
address its app (404, or 403 to credentials that may not read apps at all; 401 without
credentials).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts

from services.gateway import deps
from services.gateway.app import create_app
from services.kit.ids import new_id
from tests.factories.accounts import Tenant, sign_up
from tests.factories.credentials import (
    ALL_RECORDS,
    create_admin_token,
    create_api_key,
    create_token,
    join,
    members_path,
    token_auth,
)

# End users of the workspace's app: app role basic, and app role admin.
APP_KINDS = frozenset({"app_user", "app_admin"})
# A request with no credential at all.
ANONYMOUS = "anonymous"
KINDS = ("jwt", "api_token", "admin_token", "user_key", "app_user", "app_admin", ANONYMOUS)
# Kinds of credential that stand for the owner themself and may do everything there.
OWNER_KINDS = frozenset({"jwt", "user_key"})
APP_USER_PASSWORD = "end user password"

# --- the route table ---------------------------------------------------------------------

# PUBLIC: no credential; VISITOR: no credential, one app named in the path (its sign-up
# and log-in, open to whoever knows the app's public id); ACCOUNT: the caller's account,
# no workspace; WORKSPACE: the caller in a workspace (its own, or one a path or X-Workspace
# names); APP: an app's record routes, the caller in its workspace or, with no credential
# and the app named by its public id, the app's anonymous caller.
PUBLIC, VISITOR, ACCOUNT, WORKSPACE, APP = "public", "visitor", "account", "workspace", "app"
_WORKSPACE_DEPENDENCIES = {
    deps.get_context,
    deps.get_workspace_context,
    deps.get_account_context,
}
_APP_DEPENDENCIES = {deps.get_app_context}
_ACCOUNT_DEPENDENCIES = {deps.get_caller, deps.get_account_caller}
# Dependencies that refuse API tokens and admin tokens before anything else.
_ACCOUNT_ONLY = {deps.get_account_caller, deps.get_account_context}
_PARAMETER = re.compile(r"{(\w+)(?::[^}]*)?}")
# The path parameter that names an app, by slug or by public id.
APP_PARAMETER = "app_slug"
# What an app's end users reach of it: its records, its end users and their sessions.
_END_USER_PATHS = ("/api/apps/{app_slug}/users", "/api/apps/{app_slug}/auth/")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    name: str
    access: str
    # Refuses API tokens and admin tokens whatever it is asked (403).
    members_only: bool

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(_PARAMETER.findall(self.path))

    @property
    def serves_end_users(self) -> bool:
        return self.access == APP or self.path.startswith(_END_USER_PATHS)

    def fillers(self, param: str) -> tuple[str, ...]:
        """Which of Names fill `param` here (KeyError: none known)."""
        for prefix, table in FILLERS_UNDER.items():
            if self.path.startswith(prefix) and param in table:
                return table[param]
        if self.access == VISITOR and param == APP_PARAMETER:
            return VISITED_APP
        return FILLERS[param]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _dependency_calls(route: APIRoute) -> set[Callable[..., Any]]:
    found: set[Callable[..., Any]] = set()
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        if dependant.call is not None:
            found.add(dependant.call)
        pending.extend(dependant.dependencies)
    return found


def _access(path: str, calls: set[Callable[..., Any]]) -> str:
    if calls & _WORKSPACE_DEPENDENCIES:
        return WORKSPACE
    if calls & _APP_DEPENDENCIES:
        return APP
    if calls & _ACCOUNT_DEPENDENCIES:
        return ACCOUNT
    if APP_PARAMETER in _PARAMETER.findall(path):
        return VISITOR
    return PUBLIC


# WebSockets, which this suite's HTTP calls cannot open, and where they are tried across
# workspaces instead.
OWN_TESTS = {"/api/apps/{app}/realtime": "tests/e2e/test_realtime.py"}


def gateway_routes() -> list[Route]:
    routes = []
    for context in iter_route_contexts(create_app().routes):
        route = context.original_route
        if isinstance(route, APIWebSocketRoute) and context.path in OWN_TESTS:
            continue
        if not isinstance(route, APIRoute):
            raise AssertionError(
                f"{context.path}: not an API route; teach tests/e2e/test_cross_tenant.py "
                "how to call it across workspaces"
            )
        calls = _dependency_calls(route)
        for method in sorted((context.methods or set()) - {"HEAD"}):
            routes.append(
                Route(
                    method=method,
                    path=str(context.path),
                    name=str(context.name),
                    access=_access(str(context.path), calls),
                    members_only=bool(calls & _ACCOUNT_ONLY),
                )
            )
    return routes


# --- what a workspace holds ----------------------------------------------------------------


@dataclass(frozen=True)
class Names:
    """What identifies a workspace's things in paths and bodies."""

    workspace_id: str
    workspace_slug: str
    owner_id: str
    member_id: str
    member_email: str
    app_slug: str
    app_public_id: str
    schema_slug: str
    text_field: str
    unique_field: str
    record_id: str
    # A schema of the app without privacy rules, and a record in it.
    closed_schema_slug: str
    closed_record_id: str
    app_user_id: str
    app_user_email: str
    app_admin_id: str
    import_id: str
    api_token_id: str
    admin_token_id: str
    record_trash_id: str
    schema_trash_id: str
    workflow_name: str
    run_id: str
    webhook_id: str
    delivery_id: str
    connector_id: str
    call_name: str
    query_name: str

    def counterfeit(self) -> Names:
        """The same shapes, naming nothing that exists anywhere."""
        return Names(
            **{f.name: _lookalike(getattr(self, f.name)) for f in dataclasses.fields(self)}
        )

    def closed(self) -> Names:
        """The same, with the schema without privacy rules in place of the open one."""
        return dataclasses.replace(
            self, schema_slug=self.closed_schema_slug, record_id=self.closed_record_id
        )


_ID = re.compile(r"([a-z]+)_[a-z2-7]{26}")


def _lookalike(value: str) -> str:
    matched = _ID.fullmatch(value)
    if matched:
        return new_id(matched.group(1))
    if "@" in value:
        return f"nobody-{secrets.token_hex(4)}@example.com"
    return f"n{secrets.token_hex(4)}"


# Which of Names fills each path parameter; several: each is tried.
FILLERS: dict[str, tuple[str, ...]] = {
    "workspace_id": ("workspace_id", "workspace_slug"),
    # A single sign-on login's workspace, by id or slug.
    "workspace": ("workspace_id", "workspace_slug"),
    "account_id": ("member_id", "owner_id"),
    "user_id": ("member_id", "owner_id"),
    "app_slug": ("app_slug", "app_public_id"),
    "schema_slug": ("schema_slug",),
    "field_slug": ("text_field",),
    "record_id": ("record_id",),
    "import_id": ("import_id",),
    # Either kind of token id, on either kind of token route.
    "token_id": ("api_token_id", "admin_token_id"),
    "trash_id": ("record_trash_id", "schema_trash_id"),
    "name": ("workflow_name",),
    "run_id": ("run_id",),
    "webhook_id": ("webhook_id",),
    "delivery_id": ("delivery_id",),
    "connector_id": ("connector_id",),
    "call": ("call_name",),
    "app_public_id": ("app_public_id",),
}
# A parameter whose meaning depends on the path it is in: the longest path first.
FILLERS_UNDER: dict[str, dict[str, tuple[str, ...]]] = {
    "/api/apps/{app_slug}/users/": {"user_id": ("app_user_id", "app_admin_id")},
    "/api/apps/{app_slug}/queries/": {"name": ("query_name",)},
}
# How a visitor's route (sign-up, log-in) is tried: by the other workspace's public id,
# open to anyone by design; by its app slug and its workspace slug, which must not be.
VISITED_APP = ("app_public_id", "app_slug", "workspace_slug")
# Parameters that say where (whose workspace, app, schema) rather than what.
CONTAINERS = frozenset({"workspace_id", "app_slug", "schema_slug"})
# How an end user names its own app: it has no workspace to find a slug in.
END_USER_CONTAINERS = {"app_slug": "app_public_id"}


@dataclass
class Estate:
    owner: Tenant
    names: Names
    credentials: dict[str, dict[str, str]]
    # Everything of this workspace that must never reach a caller from another one.
    secrets: frozenset[str]


@dataclass(frozen=True)
class FurnishedApp:
    """An app furnished for the suite: its Names fields, the ids of its open schema's
    records, its end users' sessions by caller kind, and what must not leak of it."""

    names: dict[str, str]
    record_ids: list[str]
    sessions: dict[str, str]
    secrets: frozenset[str]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def workflow_definition(name: str, schema_slug: str) -> dict[str, Any]:
    return {
        "name": name,
        "parameters": [{"name": "text", "type": "text"}],
        "triggers": [{"type": "hook"}],
        "steps": [
            {"id": "found", "type": "find_records", "schema": schema_slug, "limit": 1},
            {"type": "return", "value": {"found": "steps.found.count"}},
        ],
    }


QUIET_WEBHOOK = {
    "url": "http://127.0.0.1:9/never",
    "events": ["schema.trashed"],
    "schemas": ["never_made"],
}


def quiet_connector(name: str, call_name: str) -> dict[str, Any]:
    return {
        "name": name,
        "base_url": "http://127.0.0.1:9",
        "auth": {"type": "key_in_header", "key": f"key of {name}"},
        "calls": [{"name": call_name, "url": "/never"}],
    }


def furnish_app(owner: Tenant, label: str, *, records: int, sessions: bool) -> FurnishedApp:
    """An app with a schema whose privacy rules open it to everyone, a schema without
    rules, records in both, and two end users (app roles basic and admin), logged in when
    `sessions`."""
    tag = secrets.token_hex(4)
    app_slug, schema_slug, closed_slug = f"app-{tag}", f"s{tag}", f"c{tag}"
    text_field, unique_field = f"t{tag}", f"u{tag}"
    app = owner.post("/api/apps", json={"name": f"{label} App {tag}", "slug": app_slug})
    assert app.status_code == 201, app.text
    public_id = app.json()["public_id"]
    fields = [
        {"slug": text_field, "name": f"{label} Text {tag}", "type": "text"},
        {"slug": unique_field, "name": f"{label} Code {tag}", "type": "text", "unique": True},
    ]
    schemas = f"/api/apps/{app_slug}/schemas"
    for slug in (schema_slug, closed_slug):
        made = owner.post(
            schemas, json={"name": f"{label} Schema {slug}", "slug": slug, "fields": fields}
        )
        assert made.status_code == 201, made.text
    values = [f"{label} value {tag} {n}" for n in range(records)]
    record_ids = []
    for n, value in enumerate(values):
        made = owner.post(
            f"{schemas}/{schema_slug}/records", json={text_field: value, unique_field: f"{tag}-{n}"}
        )
        assert made.status_code == 201, made.text
        record_ids.append(made.json()["id"])
    closed_value = f"{label} closed {tag}"
    closed = owner.post(
        f"{schemas}/{closed_slug}/records", json={text_field: closed_value, unique_field: tag}
    )
    assert closed.status_code == 201, closed.text
    rules = owner.put(
        f"{schemas}/{schema_slug}/privacy-rules",
        json={
            "rules": [
                {
                    "name": f"{label} rule {tag}",
                    "condition": {"field": text_field, "op": "contains", "value": "value"},
                    "find": True,
                    "update": True,
                    "delete": True,
                    "create": True,
                }
            ],
            "default": {"find": True, "create": True, "update": True, "delete": True},
        },
    )
    assert rules.status_code == 200, rules.text
    users: dict[str, dict[str, Any]] = {}
    for role in ("basic", "admin"):
        made = owner.post(
            f"/api/apps/{app_slug}/users",
            json={
                "email": f"{role}-{tag}@example.com",
                "password": APP_USER_PASSWORD,
                "name": f"{label} {role} {tag}",
                "app_role": role,
            },
        )
        assert made.status_code == 201, made.text
        users[role] = made.json()
    tokens = {}
    if sessions:
        for kind, role in (("app_user", "basic"), ("app_admin", "admin")):
            logged_in = owner.client.post(
                f"/api/apps/{public_id}/auth/login",
                json={"email": users[role]["email"], "password": APP_USER_PASSWORD},
            )
            assert logged_in.status_code == 200, logged_in.text
            tokens[kind] = logged_in.json()["token"]
    workflow_name = f"flow-{tag}"
    made_workflow = owner.post(
        f"/api/apps/{app_slug}/workflows", json=workflow_definition(workflow_name, schema_slug)
    )
    assert made_workflow.status_code == 201, made_workflow.text
    ran = owner.post(f"/api/apps/{app_slug}/workflows/{workflow_name}/run", json={"text": tag})
    assert ran.status_code == 200, ran.text
    # A webhook for events that never come (its deliveries would change what the suite
    # compares), and a delivery of it: a ping to a port where nothing listens.
    webhook = owner.post(f"/api/apps/{app_slug}/webhooks", json=QUIET_WEBHOOK)
    assert webhook.status_code == 201, webhook.text
    pinged = owner.post(f"/api/apps/{app_slug}/webhooks/{webhook.json()['id']}/ping")
    assert pinged.status_code == 200, pinged.text
    # A connector to a port where nothing listens, and a saved query of its call.
    call_name = f"call_{tag}"
    connector = owner.post(
        f"/api/apps/{app_slug}/connectors", json=quiet_connector(f"{label} API {tag}", call_name)
    )
    assert connector.status_code == 201, connector.text
    query_name = f"q{tag}"
    query = owner.post(
        f"/api/apps/{app_slug}/queries",
        json={"name": query_name, "connector_id": connector.json()["id"], "call": call_name},
    )
    assert query.status_code == 201, query.text
    names = {
        "connector_id": connector.json()["id"],
        "call_name": call_name,
        "query_name": query_name,
        "workflow_name": workflow_name,
        "run_id": ran.json()["run_id"],
        "webhook_id": webhook.json()["id"],
        "delivery_id": pinged.json()["id"],
        "app_slug": app_slug,
        "app_public_id": public_id,
        "schema_slug": schema_slug,
        "text_field": text_field,
        "unique_field": unique_field,
        "record_id": record_ids[0],
        "closed_schema_slug": closed_slug,
        "closed_record_id": closed.json()["id"],
        "app_user_id": users["basic"]["id"],
        "app_user_email": users["basic"]["email"],
        "app_admin_id": users["admin"]["id"],
    }
    return FurnishedApp(
        names=names,
        record_ids=record_ids,
        sessions=tokens,
        secrets=frozenset(
            {
                *names.values(),
                tag,
                closed_value,
                *values,
                *record_ids,
                *(user[key] for user in users.values() for key in ("id", "email", "name")),
                *tokens.values(),
            }
        ),
    )


def furnish(client: httpx.Client, label: str) -> tuple[Estate, Estate]:
    """A workspace, and its second app as seen by the end users of its first."""
    tag = secrets.token_hex(4)
    owner = sign_up(client, name=f"{label} Owner {tag}")
    member = sign_up(client, name=f"{label} Member {tag}")
    join(owner, member, "editor")
    app = furnish_app(owner, label, records=3, sessions=True)
    second = furnish_app(owner, f"{label} Second", records=1, sessions=False)
    app_slug, schema_slug = app.names["app_slug"], app.names["schema_slug"]
    text_field, unique_field = app.names["text_field"], app.names["unique_field"]
    schema_path = f"/api/apps/{app_slug}/schemas"
    gone = owner.post(
        schema_path,
        json={
            "name": f"{label} Gone {tag}",
            "slug": f"gone{tag}",
            "fields": [{"slug": "title", "type": "text"}],
        },
    )
    assert gone.status_code == 201, gone.text
    imported = owner.post(
        f"{schema_path}/{schema_slug}/records/import",
        content=f"{text_field},{unique_field}\n{label} imported {tag},{tag}-i\n".encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert imported.status_code == 202, imported.text
    records = f"{schema_path}/{schema_slug}/records"
    assert owner.delete(f"{records}/{app.record_ids[2]}").status_code == 204
    assert owner.delete(f"{schema_path}/gone{tag}").status_code == 200
    trash = owner.get("/api/trash").json()["trash"]
    token = create_token(owner, name=f"{label} Token {tag}", permissions=ALL_RECORDS)
    admin = create_admin_token(owner, name=f"{label} Admin {tag}")
    key = create_api_key(owner)
    names = Names(
        workspace_id=owner.workspace_id,
        workspace_slug=owner.workspace_slug,
        owner_id=owner.account_id,
        member_id=member.account_id,
        member_email=member.email,
        import_id=imported.json()["id"],
        api_token_id=token["id"],
        admin_token_id=admin["id"],
        record_trash_id=next(e["id"] for e in trash if e["type"] == "record"),
        schema_trash_id=next(e["id"] for e in trash if e["type"] == "schema"),
        **app.names,
    )
    estate = Estate(
        owner=owner,
        names=names,
        credentials={
            "jwt": {"Authorization": f"JWT {owner.token}"},
            "api_token": token_auth(token["token"]),
            "admin_token": token_auth(admin["token"], "Bearer"),
            "user_key": {"X-Api-Key": key},
            "app_user": bearer(app.sessions["app_user"]),
            "app_admin": token_auth(app.sessions["app_admin"]),
            ANONYMOUS: {},
        },
        secrets=frozenset(
            {
                *dataclasses.astuple(names),
                tag,
                owner.email,
                owner.name,
                member.name,
                token["token"],
                admin["token"],
                key,
                *app.secrets,
                *second.secrets,
            }
        ),
    )
    second_app = Estate(
        owner=owner,
        names=dataclasses.replace(names, **second.names),
        credentials={},
        secrets=second.secrets,
    )
    return estate, second_app


def snapshot(estate: Estate, *, whole_workspace: bool = True) -> dict[str, Any]:
    """What the owner reads of everything the estate holds (of its app alone unless
    `whole_workspace`); usage stamps left out."""
    owner, n = estate.owner, estate.names
    app = f"/api/apps/{n.app_slug}"
    schema = f"{app}/schemas/{n.schema_slug}"

    def read(path: str) -> Any:
        response = owner.get(path)
        assert response.status_code == 200, f"{path}: {response.text}"
        return response.json()

    def unstamped(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in item.items() if k != "last_used_at"} for item in items]

    found = {
        "app": read(app),
        "app_by_public_id": read(f"/api/apps/{n.app_public_id}"),
        "schemas": read(f"{app}/schemas"),
        "rules": read(f"{schema}/privacy-rules"),
        "records": read(f"{schema}/records?per_page=100"),
        "closed_records": read(f"{app}/schemas/{n.closed_schema_slug}/records?per_page=100"),
        "app_users": read(f"{app}/users?per_page=100"),
        "workflows": read(f"{app}/workflows"),
        "webhooks": read(f"{app}/webhooks"),
        "deliveries": read(f"{app}/webhooks/{n.webhook_id}/deliveries"),
        "connectors": read(f"{app}/connectors"),
        "queries": read(f"{app}/queries"),
    }
    if whole_workspace:
        found |= {
            "workspaces": read("/api/workspaces/"),
            "import": read(f"{schema}/imports/{n.import_id}"),
            "members": read(members_path(n.workspace_id)),
            "tokens": unstamped(read("/api/tokens")["tokens"]),
            "admin_tokens": unstamped(read("/api/admin-tokens")["admin_tokens"]),
            "trash": read("/api/trash"),
        }
    return found


# --- bodies --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payload:
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


# A body per write route that would succeed were the ids the caller's own, so a route
# cannot answer "not found" merely because the body was wrong. Arguments: the names of
# the workspace whose app and schema the path holds, those of the workspace the ids are
# taken from, and a fresh word for anything that must be new. None: the route takes none.
Body = Callable[[Names, Names, str], Payload] | None
BODIES: dict[str, Body] = {
    "create_account": lambda _, t, w: Payload(
        json={"name": f"New {w}", "email": f"new-{w}@example.com", "password": "correct horse"}
    ),
    "token_auth": lambda _, t, w: Payload(
        json={"username": t.member_email, "password": "not the password"}
    ),
    "token_refresh": lambda _, t, w: Payload(json={"refresh_token": f"not-a-token-{w}"}),
    "token_blacklist": lambda _, t, w: Payload(json={"refresh_token": f"not-a-token-{w}"}),
    "create_workspace": lambda _, t, w: Payload(json={"name": f"Side {w}"}),
    # The right password would end the spare account's logins the later cases use.
    "change_password": lambda _, t, w: Payload(
        json={"old_password": "not the password", "new_password": f"a new password {w}"}
    ),
    "login": lambda _, t, w: Payload(
        json={"username": t.member_email, "password": "not the password"}
    ),
    "logout": None,
    "add_member": lambda own, t, w: Payload(json={"email": f"m-{w}@example.com", "role": "viewer"}),
    "change_member": lambda _, t, w: Payload(json={"role": "viewer"}),
    "create_user": lambda _, t, w: Payload(json={"email": f"u-{w}@example.com", "role": "viewer"}),
    "search_users": lambda _, t, w: Payload(json={"email": t.member_email[:8]}),
    "update_user": lambda _, t, w: Payload(json={"role": "viewer"}),
    "create_token": lambda _, t, w: Payload(json={"name": f"T {w}", "permissions": ALL_RECORDS}),
    "update_token": lambda _, t, w: Payload(json={"name": f"Renamed {w}"}),
    "rotate_token": None,
    "create_api_key": None,
    "create_admin_token": lambda _, t, w: Payload(json={"name": f"Admin {w}"}),
    "create_workflow": lambda own, t, w: Payload(
        json=workflow_definition(f"w-{w}", own.schema_slug)
    ),
    "update_workflow": lambda own, t, w: Payload(
        json=workflow_definition(t.workflow_name, own.schema_slug)
    ),
    "run_workflow": lambda _, t, w: Payload(json={"text": w}),
    "replay_run": None,
    "new_hook_secret": lambda _, t, w: Payload(json={}),
    "deliver_hook": lambda _, t, w: Payload(json={"text": w}),
    "create_webhook": lambda _, t, w: Payload(json={**QUIET_WEBHOOK, "description": w}),
    "update_webhook": lambda _, t, w: Payload(json={"description": w}),
    "new_webhook_secret": lambda _, t, w: Payload(json={}),
    "ping_webhook": None,
    "replay_delivery": None,
    "create_connector": lambda _, t, w: Payload(json=quiet_connector(f"C {w}", "c")),
    "update_connector": lambda _, t, w: Payload(json={"name": f"Renamed {w}"}),
    "initialize_call": lambda _, t, w: Payload(json={}),
    "run_call": lambda _, t, w: Payload(json={}),
    "create_query": lambda _, t, w: Payload(
        json={"name": f"q{w}", "connector_id": t.connector_id, "call": t.call_name}
    ),
    "update_query": lambda _, t, w: Payload(json={"description": w}),
    "execute_query": lambda _, t, w: Payload(json={}),
    "authorize_connector": None,
    "create_app": lambda _, t, w: Payload(json={"name": f"App {w}"}),
    "update_app": lambda _, t, w: Payload(json={"name": f"Renamed {w}"}),
    "sign_up": lambda _, t, w: Payload(
        json={"email": f"visitor-{w}@example.com", "password": APP_USER_PASSWORD, "name": w}
    ),
    "log_in": lambda _, t, w: Payload(
        json={"email": t.app_user_email, "password": APP_USER_PASSWORD}
    ),
    "log_out": None,
    "log_out_others": None,
    "put_sso": lambda _, t, w: Payload(
        json={
            "issuer": f"http://127.0.0.1:9/realms/{w}",
            "client_id": f"client-{w}",
            "client_secret": f"secret-{w}",
            "allowed_domains": [f"{w}.example.net"],
        }
    ),
    "discover_sso": lambda _, t, w: Payload(json={"email": f"someone@{w}.example.net"}),
    "sso_logout": lambda _, t, w: Payload(json={}),
    "backchannel_logout": lambda _, t, w: Payload(json={"logout_token": f"not.a.{w}"}),
    "saml_acs": lambda _, t, w: Payload(json={"SAMLResponse": w, "RelayState": w}),
    "sso_link": lambda _, t, w: Payload(
        json={"email": f"link-{w}@example.com", "password": "not the password"}
    ),
    "create_app_user": lambda _, t, w: Payload(
        json={"email": f"au-{w}@example.com", "password": APP_USER_PASSWORD, "app_role": "basic"}
    ),
    "update_app_user": lambda _, t, w: Payload(json={"name": f"Renamed {w}"}),
    "create_schema": lambda _, t, w: Payload(
        json={"name": f"S {w}", "slug": f"s{w}", "fields": [{"slug": "title", "type": "text"}]}
    ),
    "update_schema": lambda _, t, w: Payload(json={"name": f"Renamed {w}"}),
    "add_field": lambda _, t, w: Payload(json={"slug": f"f{w}", "type": "text"}),
    "update_field": lambda _, t, w: Payload(json={"name": f"Renamed {w}"}),
    "set_privacy_rules": lambda _, t, w: Payload(json={"rules": None}),
    "import_records": lambda p, t, w: Payload(
        content=f"{p.text_field}\n{w}\n".encode(), headers={"Content-Type": "text/csv"}
    ),
    "search_records": lambda p, t, w: Payload(json={"sort": [p.text_field]}),
    "create_records": lambda p, t, w: Payload(json={"records": [{p.text_field: w}]}),
    "update_records": lambda p, t, w: Payload(
        json={"records": [{"id": t.record_id, p.text_field: w}]}
    ),
    "delete_records": lambda p, t, w: Payload(json={"ids": [t.record_id]}),
    "upsert_record": lambda p, t, w: Payload(
        json={p.unique_field: w, p.text_field: w}, params={"upsert_on": p.unique_field}
    ),
    "create_record": lambda p, t, w: Payload(json={p.text_field: w}),
    "replace_record": lambda p, t, w: Payload(json={p.text_field: w}),
    "update_record": lambda p, t, w: Payload(json={p.text_field: w}),
    "restore": None,
    # An event stream with a subscription it could have, were the app the caller's.
    "realtime_events": lambda p, t, w: Payload(params={"schema": p.schema_slug}),
}
# Routes whose body names records by id: also tried with the caller's own path and the
# other workspace's ids in the body.
# An app's end users reach these on its public id, but the suite's workflow is not
# exposed as public: to them it does not exist.
HIDDEN_FROM_END_USERS = frozenset({"run_workflow"})
# The suite's saved query admits signed-in end users, and only they have accounts to
# connect: its app's anonymous caller is asked to sign in.
SIGN_IN_FIRST = frozenset({"execute_query", "authorize_connector", "disconnect_connector"})
BODY_NAMES_RECORDS = frozenset({"update_records", "delete_records"})
WRITES = frozenset({"POST", "PUT", "PATCH"})

# --- the cases -----------------------------------------------------------------------------

# "A->B": A's credentials, B's names; "A->A'": A's end users, the names of A's second app.
ACROSS_WORKSPACES = ("A->B", "B->A")
ACROSS_APPS = ("A->A'", "B->B'")


@dataclass(frozen=True)
class Variant:
    """Where the other workspace's names go: `foreign` maps each path parameter taken from
    it to the Names attribute; the other parameters are the caller's own."""

    label: str
    foreign: tuple[tuple[str, str], ...] = ()
    own: tuple[tuple[str, str], ...] = ()
    # The other workspace in X-Workspace (routes without ids).
    header: str = ""
    # The path's app and schema are the other workspace's (else the caller's).
    foreign_schema: bool = False

    @property
    def app_address(self) -> str:
        """Which of the other's Names addresses the app ("" if the path names none)."""
        return dict(self.foreign).get(APP_PARAMETER, "")


def variants(route: Route, kind: str) -> list[Variant]:
    params = route.params
    if not params:
        by_id = Variant("x-workspace-id", header="workspace_id")
        if route.access != WORKSPACE:
            # The route reads no workspace: one way of naming the other is enough.
            return [by_id]
        return [by_id, Variant("x-workspace-slug", header="workspace_slug")]
    found = []
    choices = [[(p, attr) for attr in route.fillers(p)] for p in params]
    for combo in itertools.product(*choices):
        label = "foreign:" + ",".join(attr for _, attr in combo)
        found.append(Variant(label, foreign=combo, foreign_schema="schema_slug" in params))
    if kind == ANONYMOUS or route.access == VISITOR:
        # Neither has a place of its own to mix the other's names into.
        return found

    def own_container(param: str) -> str:
        if kind in APP_KINDS and param in END_USER_CONTAINERS:
            return END_USER_CONTAINERS[param]
        return route.fillers(param)[0]

    containers = [p for p in params if p in CONTAINERS]
    leaves = [p for p in params if p not in CONTAINERS]
    if containers and leaves:
        own = tuple((p, own_container(p)) for p in containers)
        for combo in itertools.product(*[[(p, a) for a in route.fillers(p)] for p in leaves]):
            label = "own-path:" + ",".join(attr for _, attr in combo)
            found.append(Variant(label, foreign=combo, own=own))
    if route.name in BODY_NAMES_RECORDS:
        own = tuple((p, own_container(p)) for p in params)
        found.append(Variant("own-path,foreign-body", own=own))
    return found


@dataclass(frozen=True)
class Case:
    route: Route
    variant: Variant
    kind: str
    direction: str
    problem: str = ""

    @property
    def id(self) -> str:
        return f"{self.route}|{self.variant.label}|{self.kind}|{self.direction}"


def _problem(route: Route) -> str:
    try:
        for param in route.params:
            route.fillers(param)
    except KeyError as unknown:
        return (
            f"{route}: the cross-tenant suite does not know how to fill {{{unknown.args[0]}}}; "
            "add it to FILLERS in tests/e2e/test_cross_tenant.py"
        )
    if route.method in WRITES and route.name not in BODIES:
        return (
            f"{route} ({route.name}) has no body in BODIES of tests/e2e/test_cross_tenant.py; "
            "add one that would succeed on the caller's own ids"
        )
    return ""


def cases() -> Iterator[Case]:
    for route in gateway_routes():
        problem = _problem(route)
        if problem:
            yield Case(route, Variant("unknown"), "-", "-", problem=problem)
            continue
        # A public route takes no credential, so one kind of caller is enough.
        kinds = ("jwt",) if route.access == PUBLIC else KINDS
        for kind in kinds:
            directions: tuple[str, ...] = ACROSS_WORKSPACES
            if kind in APP_KINDS and route.access != VISITOR:
                # The workspaces' end users are alike, and the members' credentials go
                # both ways already: end users go one way round, which keeps the suite
                # under a minute.
                directions = ACROSS_WORKSPACES[:1]
                if route.serves_end_users:
                    directions += ACROSS_APPS[:1]
            for variant in variants(route, kind):
                ways = directions
                if route.access == VISITOR and variant.app_address == "app_public_id":
                    # Each signs an end user up or in, at the cost of a password hash, and
                    # the workspaces are alike: one way round is enough.
                    ways = ACROSS_WORKSPACES[:1]
                for direction in ways:
                    yield Case(route, variant, kind, direction)


CASES = list(cases())
# Sign-up and log-in, by every kind of caller.
VISITS = [c for c in CASES if c.route.access == VISITOR and not c.problem]
# No credential, on the routes that need one.
ANONYMOUS_CASES = [c for c in CASES if c.kind == ANONYMOUS and c.route.access != VISITOR]
CREDENTIALED = [
    c for c in CASES if c.problem or (c.kind != ANONYMOUS and c.route.access != VISITOR)
]


# --- the stack -----------------------------------------------------------------------------


@dataclass
class World:
    a: Estate
    b: Estate
    # Each workspace's second app, for the end users of its first.
    a_second: Estate
    b_second: Estate
    before: dict[str, dict[str, Any]]
    client: httpx.Client
    # Sends a call's twin while the call is under way.
    pool: ThreadPoolExecutor

    def sides(self, direction: str) -> tuple[Estate, Estate]:
        return {
            "A->B": (self.a, self.b),
            "B->A": (self.b, self.a),
            "A->A'": (self.a, self.a_second),
            "B->B'": (self.b, self.b_second),
        }[direction]

    def estates(self) -> dict[str, tuple[Estate, bool]]:
        """Each estate by label, and whether it is a whole workspace."""
        return {
            "A": (self.a, True),
            "B": (self.b, True),
            "A'": (self.a_second, False),
            "B'": (self.b_second, False),
        }


@pytest.fixture(scope="module")
def world(module_client: httpx.Client) -> Iterator[World]:
    with ThreadPoolExecutor(max_workers=1) as pool:
        bravo = pool.submit(furnish, module_client, "Bravo")
        a, a_second = furnish(module_client, "Alpha")
        b, b_second = bravo.result()
        found = World(
            a=a,
            b=b,
            a_second=a_second,
            b_second=b_second,
            before={},
            client=module_client,
            pool=pool,
        )
        found.before = {
            label: snapshot(estate, whole_workspace=whole)
            for label, (estate, whole) in found.estates().items()
        }
        yield found


@dataclass
class Spare:
    """An account of its own, for routes that change the caller's own credentials (its
    API key), so the workspaces' credentials stay valid."""

    account: Tenant
    tokens: dict[str, dict[str, str]]

    def credentials(self, kind: str) -> dict[str, str]:
        if kind == "jwt":
            return {"Authorization": f"JWT {self.account.token}"}
        if kind == "user_key":
            # The route may replace or delete the key: a new one for every call.
            return {"X-Api-Key": create_api_key(self.account)}
        return self.tokens[kind]


@pytest.fixture(scope="module")
def spare(module_client: httpx.Client) -> Spare:
    account = sign_up(module_client, name="Spare")
    return Spare(
        account=account,
        tokens={
            "api_token": token_auth(create_token(account, permissions=ALL_RECORDS)["token"]),
            "admin_token": token_auth(create_admin_token(account)["token"], "Bearer"),
        },
    )


# --- the calls -----------------------------------------------------------------------------


def _path(route: Route, variant: Variant, caller: Names, other: Names) -> str:
    values = {p: getattr(other, attr) for p, attr in variant.foreign}
    values.update({p: getattr(caller, attr) for p, attr in variant.own})
    return _PARAMETER.sub(lambda m: values[m.group(1)], route.path)


def call(
    client: httpx.Client,
    case: Case,
    credentials: dict[str, str],
    caller: Names,
    other: Names,
) -> httpx.Response:
    route, variant = case.route, case.variant
    path = _path(route, variant, caller, other)
    body = BODIES.get(route.name)
    schema_owner = other if variant.foreign_schema else caller
    payload = body(schema_owner, other, secrets.token_hex(4)) if body else Payload()
    headers = {**credentials, **payload.headers}
    if variant.header:
        headers["X-Workspace"] = getattr(other, variant.header)
    return client.request(
        route.method,
        path,
        json=payload.json,
        content=payload.content,
        params=payload.params,
        headers=headers,
    )


def _normalised(response: httpx.Response, names: Names) -> tuple[int, Any]:
    """Status and error, with the names the request used replaced by their attribute."""
    error: Any = None
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
    if error is not None:
        text = str(error)
        for attr, value in dataclasses.asdict(names).items():
            text = text.replace(value, f"<{attr}>")
        error = text
    return response.status_code, error


def _code(response: httpx.Response) -> str:
    body = response.json() if response.content else {}
    return str(body.get("error", {}).get("code", "")) if isinstance(body, dict) else ""


def assert_reveals_nothing(
    response: httpx.Response, other: Estate, label: str, sent: str = ""
) -> None:
    """Nothing of `other` in the answer, but what the request itself carried (an error
    may name the id it could not find; the twin shows it would name any id so)."""
    shown = response.text + str(response.headers)
    leaked = sorted(s for s in other.secrets if s in shown and s not in sent)
    assert not leaked, f"{label}: the answer names {leaked}: {response.text[:500]}"
    assert response.status_code < 500, f"{label}: {response.status_code} {response.text}"


def _sent(request: httpx.Request) -> str:
    return str(request.url) + request.content.decode(errors="replace")


def with_twin(
    world: World, case: Case, credentials: dict[str, str]
) -> tuple[httpx.Response, httpx.Response, Names]:
    """The call with the other's names, and its twin with names that exist nowhere (which
    it returns too), sent together: neither waits on the other's answer."""
    caller, other = world.sides(case.direction)
    nowhere = other.names.counterfeit()
    twin = world.pool.submit(call, world.client, case, credentials, caller.names, nowhere)
    response = call(world.client, case, credentials, caller.names, other.names)
    return response, twin.result(), nowhere


def assert_like_its_twin(
    case: Case,
    response: httpx.Response,
    names: Names,
    twin: httpx.Response,
    nowhere: Names,
    *,
    to_the_letter: bool = True,
) -> None:
    """The other's names answer as names that exist nowhere do: the same status and error
    (or, not `to_the_letter`, the same status and error code)."""
    seen, expected = _normalised(response, names), _normalised(twin, nowhere)
    if not to_the_letter:
        seen, expected = (response.status_code, _code(response)), (twin.status_code, _code(twin))
    assert seen == expected, (
        f"{case.id}: the other's ids answer {response.status_code} {response.text[:300]}, "
        f"ids that exist nowhere {twin.status_code} {twin.text[:300]}"
    )


@pytest.mark.parametrize("case", CREDENTIALED, ids=[c.id for c in CREDENTIALED])
def test_another_workspaces_things_do_not_exist_for_a_caller(
    case: Case, world: World, spare: Spare
) -> None:
    if case.problem:
        pytest.fail(case.problem)
    caller, other = world.sides(case.direction)
    route = case.route
    credentials = caller.credentials[case.kind]
    if route.access in (PUBLIC, ACCOUNT) and route.method != "GET" and case.kind not in APP_KINDS:
        credentials = spare.credentials(case.kind)

    refused_outright = route.members_only and case.kind not in OWNER_KINDS
    if route.access in (WORKSPACE, APP) and not refused_outright:
        response, twin, nowhere = with_twin(world, case, credentials)
    else:
        response = call(world.client, case, credentials, caller.names, other.names)

    assert_reveals_nothing(response, other, case.id, sent=_sent(response.request))
    if route.access == PUBLIC:
        return
    if refused_outright:
        assert response.status_code == 403, f"{case.id}: {response.text}"
        return
    if route.access == ACCOUNT:
        return
    # Known: the records service tells an end user another app of its own workspace from
    # none by the message alone (test_an_end_user_cannot_tell_another_app_of_its_own_from_none).
    to_the_letter = not (case.direction in ACROSS_APPS and route.access == APP)
    assert_like_its_twin(case, response, other.names, twin, nowhere, to_the_letter=to_the_letter)
    if case.direction in ACROSS_APPS and case.variant.app_address:
        # Another app of the end user's own workspace: its records and users are not there.
        assert response.status_code == 404, f"{case.id}: {response.text[:300]}"
    elif route.params or case.kind in OWNER_KINDS:
        allowed = {404} if case.kind in OWNER_KINDS else {403, 404}
        assert response.status_code in allowed, f"{case.id}: {response.text[:300]}"


# Routes that describe an app (its OpenAPI document and what is made of it): to the app's
# anonymous callers, by its public id, they show its open part, which its record routes
# serve them anyway, and nothing else.
DESCRIBE_THE_APP = frozenset(
    {"app_openapi", "app_postman", "app_api_docs", "app_swagger_ui", "app_redoc"}
)
# What of a workspace its open part never shows.
NOT_OPEN = (
    "workspace_id",
    "workspace_slug",
    "owner_id",
    "member_id",
    "member_email",
    "app_slug",
    "closed_schema_slug",
    "closed_record_id",
    "app_user_id",
    "app_user_email",
    "app_admin_id",
    "api_token_id",
    "admin_token_id",
)


@pytest.mark.parametrize("case", ANONYMOUS_CASES, ids=[c.id for c in ANONYMOUS_CASES])
def test_a_caller_without_credentials_reaches_only_an_apps_open_records(
    case: Case, world: World
) -> None:
    _, other = world.sides(case.direction)
    closed = other.names.closed()

    response = call(world.client, case, {}, closed, closed)

    if case.route.name in DESCRIBE_THE_APP and case.variant.app_address == "app_public_id":
        assert response.status_code == 200, f"{case.id}: {response.text[:300]}"
        shown = response.text + str(response.headers)
        leaked = [name for name in NOT_OPEN if getattr(other.names, name) in shown]
        assert not leaked, f"{case.id}: the answer names {leaked}"
        return
    assert_reveals_nothing(response, other, case.id, sent=_sent(response.request))
    if case.route.access == APP and case.variant.app_address == "app_public_id":
        if case.route.name in HIDDEN_FROM_END_USERS:
            assert response.status_code == 404, f"{case.id}: {response.text[:300]}"
            return
        if case.route.name in SIGN_IN_FIRST:
            assert response.status_code == 401, f"{case.id}: {response.text[:300]}"
            nowhere = call(world.client, case, {}, closed, other.names.counterfeit())
            assert nowhere.status_code == 404, f"{case.id}: {nowhere.text[:300]}"
            return
        # The app's anonymous caller, on a schema without privacy rules: closed to it.
        assert response.status_code == 403, f"{case.id}: {response.text[:300]}"
        assert response.json()["error"]["code"] == "permission_denied", response.text
        nowhere = call(world.client, case, {}, closed, other.names.counterfeit())
        assert nowhere.status_code == 404, f"{case.id}: {nowhere.text[:300]}"
    else:
        assert response.status_code == 401, f"{case.id}: {response.text[:300]}"


@pytest.mark.parametrize("case", VISITS, ids=[c.id for c in VISITS])
def test_an_apps_sign_up_and_log_in_serve_the_app_its_public_id_names(
    case: Case, world: World
) -> None:
    caller, other = world.sides(case.direction)
    credentials = caller.credentials[case.kind]
    client = world.client

    response, twin, nowhere = with_twin(world, case, credentials)

    if case.variant.app_address != "app_public_id":
        # A slug is looked for in the caller's own workspace, where there is no such app.
        assert_reveals_nothing(response, other, case.id, sent=_sent(response.request))
        if case.kind == ANONYMOUS:
            allowed = {401}
        else:
            # 403: the credential may not read apps at all, which the twin shows comes first.
            allowed = {404} if case.kind in OWNER_KINDS else {403, 404}
        assert response.status_code in allowed, f"{case.id}: {response.text[:300]}"
        assert_like_its_twin(case, response, other.names, twin, nowhere)
        return
    assert twin.status_code == 404, f"{case.id}: a made-up public id: {twin.text[:300]}"
    assert response.status_code in (200, 201), f"{case.id}: {response.text[:300]}"
    user_id = response.json()["user"]["id"]
    session = bearer(response.json()["token"])
    if response.status_code == 200:
        assert user_id == other.names.app_user_id, case.id
    # The end user is the addressed app's, whatever credentials came along.
    assert other.owner.get(f"/api/apps/{other.names.app_slug}/users/{user_id}").status_code == 200
    mine = caller.owner.get(f"/api/apps/{caller.names.app_slug}/users/{user_id}")
    assert mine.status_code == 404, f"{case.id}: {mine.text[:300]}"
    for names, expected in ((other.names, 200), (caller.names, 404)):
        records = f"/api/apps/{names.app_public_id}/schemas/{names.schema_slug}/records"
        listed = client.get(records, headers=session)
        assert listed.status_code == expected, f"{case.id}: {listed.text[:300]}"
    if response.status_code == 201:
        removed = other.owner.delete(f"/api/apps/{other.names.app_slug}/users/{user_id}")
        assert removed.status_code == 204, removed.text
    else:
        ended = client.post(f"/api/apps/{other.names.app_public_id}/auth/logout", headers=session)
        assert ended.status_code == 204, ended.text


def test_a_token_stays_in_its_own_workspace_whatever_x_workspace_names(world: World) -> None:
    a, b = world.a, world.b
    records = f"/api/apps/{a.names.app_slug}/schemas/{a.names.schema_slug}/records"
    for kind in ("api_token", "admin_token"):
        headers = {**a.credentials[kind], "X-Workspace": b.names.workspace_id}
        listed = world.client.get(records, headers=headers)
        assert listed.status_code == 200, listed.text
        assert {r["id"] for r in listed.json()["records"]} >= {a.names.record_id}
        workspaces = world.client.get("/api/workspaces/", headers=headers)
        assert [w["id"] for w in workspaces.json()] == [a.names.workspace_id]
    apps = world.client.get(
        "/api/apps", headers={**a.credentials["admin_token"], "X-Workspace": b.names.workspace_id}
    )
    assert a.names.app_slug in {app["slug"] for app in apps.json()["apps"]}
    assert_reveals_nothing(apps, b, "GET /api/apps")


def test_an_end_user_stays_in_its_own_app_whatever_x_workspace_names(world: World) -> None:
    a, b = world.a, world.b
    records = f"/api/apps/{a.names.app_public_id}/schemas/{a.names.schema_slug}/records"
    for kind in sorted(APP_KINDS):
        headers = {**a.credentials[kind], "X-Workspace": b.names.workspace_id}
        listed = world.client.get(records, headers=headers)
        assert listed.status_code == 200, listed.text
        assert {r["id"] for r in listed.json()["records"]} >= {a.names.record_id}
        assert_reveals_nothing(listed, b, f"{kind}: GET {records}")
        # An end user is a member of no workspace, its app's included.
        workspaces = world.client.get("/api/workspaces/", headers=headers)
        assert workspaces.status_code == 200, workspaces.text
        assert workspaces.json() == []


def test_another_workspaces_apps_and_schemas_cannot_be_granted_to_a_token(world: World) -> None:
    a, b = world.a, world.b
    for app in (b.names.app_slug, b.names.app_public_id):
        for scope in (["app", app], ["schema", app, b.names.schema_slug]):
            response = a.owner.post(
                "/api/tokens", json={"name": "Reach", "permissions": {"read": [scope]}}
            )
            assert response.status_code == 400, response.text
            assert response.json()["error"]["field"] == "permissions.read"


def test_an_end_user_cannot_tell_another_app_of_its_own_from_none(world: World) -> None:
    a, second = world.a, world.a_second
    nowhere = second.names.counterfeit()
    for app in ("app_slug", "app_public_id"):
        answers = []
        for names in (second.names, nowhere):
            path = f"/api/apps/{getattr(names, app)}/schemas/{names.schema_slug}/records"
            response = world.client.get(path, headers=a.credentials["app_user"])
            answers.append(_normalised(response, names))
        assert answers[0] == answers[1], app


def test_both_workspaces_are_as_they_were(world: World) -> None:
    """Runs after the cases above: nothing they sent changed either workspace."""
    for label, (estate, whole) in world.estates().items():
        found = snapshot(estate, whole_workspace=whole)
        assert found == world.before[label], f"{label} changed"
    for label, estate in (("A", world.a), ("B", world.b)):
        n = estate.names
        for kind, headers in estate.credentials.items():
            for schema, expected in (
                (n.schema_slug, 200),
                (n.closed_schema_slug, 403 if kind in APP_KINDS or kind == ANONYMOUS else 200),
            ):
                path = f"/api/apps/{n.app_public_id}/schemas/{schema}/records"
                response = world.client.get(path, headers=headers)
                assert response.status_code == expected, f"{label}'s {kind}: {response.text}"
