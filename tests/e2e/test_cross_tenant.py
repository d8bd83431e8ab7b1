"""Every gateway endpoint, tried with another workspace's ids, slugs and credentials.

The cases are generated from the gateway's own route table, so an endpoint added later is
covered without anyone remembering to: a path parameter this module does not know how to
fill, or a write without a body here, fails the suite by name.

Two workspaces, A and B, are furnished alike (an app, a schema with fields, records, an
import job, an API token, an admin token, a per-user key, a second member, trash). Each
route is then called, both ways round, with each kind of credential of one workspace and the
other workspace's ids in the path (variants: the whole path the other's; the caller's own
workspace, app and schema with the other's record, import, field or member in them; the
other's record ids in a batch body), or, for a route without ids, the other workspace in
`X-Workspace`. What must hold:

- The answer is the one the same request gets with ids that exist nowhere (its "twin"):
  same status, same error code and message. The other workspace's things do not exist for
  the caller, so nothing (status, message, field) can tell them apart from nothing.
- For a JWT and a per-user key of an owner, who may do everything in their own workspace,
  that answer is 404. API tokens and admin tokens may also get 403: where the roles table
  refuses the route to that kind of credential at all (the users and members APIs,
  token management, apps for API tokens...), which the twin shows happens before anything
  is looked up. Never a 2xx, never a 5xx.
- No body names any of the other workspace's ids, slugs, names or values.
- A token's workspace is its own: `X-Workspace` naming another does not move it there.
- Afterwards both workspaces read back exactly as before (records, fields, rules, members,
  tokens, trash, import job), and every credential still works.

Routes that act on the caller's account (its workspaces, its API key) or on no one (sign
up, log in) have no ids to swap; they are called with the other workspace in
`X-Workspace` and must not reveal or touch it. Those that change the caller's own
credentials use a spare account, so the workspaces' credentials stay valid.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

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

KINDS = ("jwt", "api_token", "admin_token", "user_key")
# Kinds of credential that stand for the owner themself and may do everything there.
OWNER_KINDS = frozenset({"jwt", "user_key"})

# --- the route table ---------------------------------------------------------------------

PUBLIC, ACCOUNT, WORKSPACE = "public", "account", "workspace"
_WORKSPACE_DEPENDENCIES = {
    deps.get_context,
    deps.get_workspace_context,
    deps.get_account_context,
}
_ACCOUNT_DEPENDENCIES = {deps.get_caller, deps.get_account_caller}
# Dependencies that refuse API tokens and admin tokens before anything else.
_ACCOUNT_ONLY = {deps.get_account_caller, deps.get_account_context}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    name: str
    # PUBLIC: no credential; ACCOUNT: the caller's account, no workspace; WORKSPACE: the
    # caller in a workspace (its own, or one a path or X-Workspace names).
    access: str
    # Refuses API tokens and admin tokens whatever it is asked (403).
    members_only: bool

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"{(\w+)(?::[^}]*)?}", self.path))

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


def gateway_routes() -> list[Route]:
    routes = []
    for context in iter_route_contexts(create_app().routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            raise AssertionError(
                f"{context.path}: not an API route; teach tests/e2e/test_cross_tenant.py "
                "how to call it across workspaces"
            )
        calls = _dependency_calls(route)
        if calls & _WORKSPACE_DEPENDENCIES:
            access = WORKSPACE
        elif calls & _ACCOUNT_DEPENDENCIES:
            access = ACCOUNT
        else:
            access = PUBLIC
        for method in sorted((context.methods or set()) - {"HEAD"}):
            routes.append(
                Route(
                    method=method,
                    path=str(context.path),
                    name=str(context.name),
                    access=access,
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
    schema_slug: str
    text_field: str
    unique_field: str
    record_id: str
    import_id: str
    api_token_id: str
    admin_token_id: str
    record_trash_id: str
    schema_trash_id: str

    def counterfeit(self) -> Names:
        """The same shapes, naming nothing that exists anywhere."""
        return Names(
            **{f.name: _lookalike(getattr(self, f.name)) for f in dataclasses.fields(self)}
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
    "account_id": ("member_id", "owner_id"),
    "user_id": ("member_id", "owner_id"),
    "app_slug": ("app_slug",),
    "schema_slug": ("schema_slug",),
    "field_slug": ("text_field",),
    "record_id": ("record_id",),
    "import_id": ("import_id",),
    # Either kind of token id, on either kind of token route.
    "token_id": ("api_token_id", "admin_token_id"),
    "trash_id": ("record_trash_id", "schema_trash_id"),
}
# Parameters that say where (whose workspace, app, schema) rather than what.
CONTAINERS = frozenset({"workspace_id", "app_slug", "schema_slug"})


@dataclass
class Estate:
    owner: Tenant
    names: Names
    credentials: dict[str, dict[str, str]]
    # Everything of this workspace that must never reach a caller from another one.
    secrets: frozenset[str]


def furnish(client: httpx.Client, label: str) -> Estate:
    tag = secrets.token_hex(4)
    owner = sign_up(client, name=f"{label} Owner {tag}")
    member = sign_up(client, name=f"{label} Member {tag}")
    join(owner, member, "editor")
    app_slug, schema_slug = f"app-{tag}", f"s{tag}"
    text_field, unique_field = f"t{tag}", f"u{tag}"
    app = owner.post("/api/apps", json={"name": f"{label} App {tag}", "slug": app_slug})
    assert app.status_code == 201, app.text
    fields = [
        {"slug": text_field, "name": f"{label} Text {tag}", "type": "text"},
        {"slug": unique_field, "name": f"{label} Code {tag}", "type": "text", "unique": True},
    ]
    schema_path = f"/api/apps/{app_slug}/schemas"
    for slug in (schema_slug, f"gone{tag}"):
        made = owner.post(
            schema_path, json={"name": f"{label} Schema {slug}", "slug": slug, "fields": fields}
        )
        assert made.status_code == 201, made.text
    records = f"{schema_path}/{schema_slug}/records"
    values = [f"{label} value {tag} {n}" for n in range(3)]
    ids = []
    for n, value in enumerate(values):
        made = owner.post(records, json={text_field: value, unique_field: f"{tag}-{n}"})
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    imported = owner.post(
        f"{schema_path}/{schema_slug}/records/import",
        content=f"{text_field},{unique_field}\n{label} imported {tag},{tag}-i\n".encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert imported.status_code == 202, imported.text
    assert owner.delete(f"{records}/{ids[2]}").status_code == 204
    assert owner.delete(f"{schema_path}/gone{tag}").status_code == 200
    trash = owner.get("/api/trash").json()["trash"]
    rules = owner.put(
        f"{schema_path}/{schema_slug}/privacy-rules",
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
    token = create_token(owner, name=f"{label} Token {tag}", permissions=ALL_RECORDS)
    admin = create_admin_token(owner, name=f"{label} Admin {tag}")
    key = create_api_key(owner)
    names = Names(
        workspace_id=owner.workspace_id,
        workspace_slug=owner.workspace_slug,
        owner_id=owner.account_id,
        member_id=member.account_id,
        member_email=member.email,
        app_slug=app_slug,
        schema_slug=schema_slug,
        text_field=text_field,
        unique_field=unique_field,
        record_id=ids[0],
        import_id=imported.json()["id"],
        api_token_id=token["id"],
        admin_token_id=admin["id"],
        record_trash_id=next(e["id"] for e in trash if e["type"] == "record"),
        schema_trash_id=next(e["id"] for e in trash if e["type"] == "schema"),
    )
    return Estate(
        owner=owner,
        names=names,
        credentials={
            "jwt": {"Authorization": f"JWT {owner.token}"},
            "api_token": token_auth(token["token"]),
            "admin_token": token_auth(admin["token"], "Bearer"),
            "user_key": {"X-Api-Key": key},
        },
        secrets=frozenset(
            {
                *dataclasses.astuple(names),
                tag,
                owner.email,
                owner.name,
                member.name,
                *ids,
                token["token"],
                admin["token"],
                key,
            }
        ),
    )


def snapshot(estate: Estate) -> dict[str, Any]:
    """What the owner reads of everything the estate holds; usage stamps left out."""
    owner, n = estate.owner, estate.names
    schema = f"/api/apps/{n.app_slug}/schemas/{n.schema_slug}"

    def read(path: str) -> Any:
        response = owner.get(path)
        assert response.status_code == 200, f"{path}: {response.text}"
        return response.json()

    def unstamped(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in item.items() if k != "last_used_at"} for item in items]

    return {
        "workspaces": read("/api/workspaces/"),
        "app": read(f"/api/apps/{n.app_slug}"),
        "schemas": read(f"/api/apps/{n.app_slug}/schemas"),
        "rules": read(f"{schema}/privacy-rules"),
        "records": read(f"{schema}/records?per_page=100"),
        "import": read(f"{schema}/imports/{n.import_id}"),
        "members": read(members_path(n.workspace_id)),
        "tokens": unstamped(read("/api/tokens")["tokens"]),
        "admin_tokens": unstamped(read("/api/admin-tokens")["admin_tokens"]),
        "trash": read("/api/trash"),
    }


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
    "create_app": lambda _, t, w: Payload(json={"name": f"App {w}"}),
    "update_app": lambda _, t, w: Payload(json={"name": f"Renamed {w}"}),
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
}
# Routes whose body names records by id: also tried with the caller's own path and the
# other workspace's ids in the body.
BODY_NAMES_RECORDS = frozenset({"update_records", "delete_records"})
WRITES = frozenset({"POST", "PUT", "PATCH"})

# --- the cases -----------------------------------------------------------------------------


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


def variants(route: Route) -> list[Variant]:
    params = route.params
    if not params:
        by_id = Variant("x-workspace-id", header="workspace_id")
        if route.access != WORKSPACE:
            # The route reads no workspace: one way of naming the other is enough.
            return [by_id]
        return [by_id, Variant("x-workspace-slug", header="workspace_slug")]
    found = []
    choices = [[(p, attr) for attr in FILLERS[p]] for p in params]
    for combo in itertools.product(*choices):
        label = "foreign:" + ",".join(attr for _, attr in combo)
        found.append(Variant(label, foreign=combo, foreign_schema="schema_slug" in params))
    containers = [p for p in params if p in CONTAINERS]
    leaves = [p for p in params if p not in CONTAINERS]
    if containers and leaves:
        own = tuple((p, FILLERS[p][0]) for p in containers)
        for combo in itertools.product(*[[(p, a) for a in FILLERS[p]] for p in leaves]):
            label = "own-path:" + ",".join(attr for _, attr in combo)
            found.append(Variant(label, foreign=combo, own=own))
    if route.name in BODY_NAMES_RECORDS:
        own = tuple((p, FILLERS[p][0]) for p in params)
        found.append(Variant("own-path,foreign-body", own=own))
    return found


@dataclass(frozen=True)
class Case:
    route: Route
    variant: Variant
    kind: str
    direction: str  # "A->B": A's credentials, B's names
    problem: str = ""

    @property
    def id(self) -> str:
        return f"{self.route}|{self.variant.label}|{self.kind}|{self.direction}"


def cases() -> Iterator[Case]:
    for route in gateway_routes():
        unknown = [p for p in route.params if p not in FILLERS]
        if unknown:
            yield Case(
                route,
                Variant("unfillable"),
                "-",
                "-",
                problem=f"{route}: the cross-tenant suite does not know how to fill "
                f"{', '.join('{' + p + '}' for p in unknown)}; add it to FILLERS in "
                "tests/e2e/test_cross_tenant.py",
            )
            continue
        if route.method in WRITES and route.name not in BODIES:
            yield Case(
                route,
                Variant("no-body"),
                "-",
                "-",
                problem=f"{route} ({route.name}) has no body in BODIES of "
                "tests/e2e/test_cross_tenant.py; add one that would succeed on the "
                "caller's own ids",
            )
            continue
        # A public route takes no credential, so one kind of caller is enough.
        kinds = ("jwt",) if route.access == PUBLIC else KINDS
        for variant in variants(route):
            for kind in kinds:
                for direction in ("A->B", "B->A"):
                    yield Case(route, variant, kind, direction)


CASES = list(cases())


# --- the stack -----------------------------------------------------------------------------


@dataclass
class World:
    a: Estate
    b: Estate
    before: dict[str, dict[str, Any]]
    client: httpx.Client

    def sides(self, direction: str) -> tuple[Estate, Estate]:
        return (self.a, self.b) if direction == "A->B" else (self.b, self.a)


@pytest.fixture(scope="module")
def world(module_client: httpx.Client) -> World:
    a, b = furnish(module_client, "Alpha"), furnish(module_client, "Bravo")
    return World(a=a, b=b, before={"A": snapshot(a), "B": snapshot(b)}, client=module_client)


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
    return re.sub(r"{(\w+)(?::[^}]*)?}", lambda m: values[m.group(1)], route.path)


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


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_another_workspaces_things_do_not_exist_for_a_caller(
    case: Case, world: World, spare: Spare
) -> None:
    if case.problem:
        pytest.fail(case.problem)
    caller, other = world.sides(case.direction)
    route = case.route
    credentials = caller.credentials[case.kind]
    if route.access != WORKSPACE and route.method != "GET":
        credentials = spare.credentials(case.kind)

    response = call(world.client, case, credentials, caller.names, other.names)

    assert_reveals_nothing(response, other, case.id, sent=_sent(response.request))
    if route.access == PUBLIC:
        return
    if route.members_only and case.kind not in OWNER_KINDS:
        assert response.status_code == 403, f"{case.id}: {response.text}"
        return
    if route.access == ACCOUNT:
        return
    nowhere = other.names.counterfeit()
    twin = call(world.client, case, credentials, caller.names, nowhere)
    assert _normalised(response, other.names) == _normalised(twin, nowhere), (
        f"{case.id}: the other workspace's ids answer {response.status_code} "
        f"{response.text[:300]}, ids that exist nowhere {twin.status_code} {twin.text[:300]}"
    )
    if route.params or case.kind in OWNER_KINDS:
        allowed = {404} if case.kind in OWNER_KINDS else {403, 404}
        assert response.status_code in allowed, f"{case.id}: {response.text[:300]}"


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


def test_another_workspaces_apps_and_schemas_cannot_be_granted_to_a_token(world: World) -> None:
    a, b = world.a, world.b
    for scope in (["app", b.names.app_slug], ["schema", b.names.app_slug, b.names.schema_slug]):
        response = a.owner.post(
            "/api/tokens", json={"name": "Reach", "permissions": {"read": [scope]}}
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["field"] == "permissions.read"


def test_both_workspaces_are_as_they_were(world: World) -> None:
    """Runs after the cases above: nothing they sent changed either workspace."""
    for label, estate in (("A", world.a), ("B", world.b)):
        assert snapshot(estate) == world.before[label], f"workspace {label} changed"
        n = estate.names
        path = f"/api/apps/{n.app_slug}/schemas/{n.schema_slug}/records"
        for kind, headers in estate.credentials.items():
            response = world.client.get(path, headers=headers)
            assert response.status_code == 200, f"{label}'s {kind}: {response.text}"
