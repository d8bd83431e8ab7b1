"""A workspace's members: who may list, add, re-role and remove them, the last owner, and
role changes reaching the member's next request."""

from __future__ import annotations

import httpx
import pytest

from tests.factories.accounts import Tenant, sign_up
from tests.factories.apps import create_app, create_schema, records_path
from tests.factories.credentials import in_workspace, join, members_path, set_role


@pytest.fixture
def member(client: httpx.Client) -> Tenant:
    return sign_up(client, name="Margaret Hamilton")


def test_an_owner_adds_an_existing_account_by_email_and_everyone_sees_it(
    tenant: Tenant, member: Tenant
) -> None:
    added = tenant.post(
        members_path(tenant.workspace_id), json={"email": member.email.upper(), "role": "editor"}
    )

    assert added.status_code == 201, added.text
    assert added.json()["id"] == member.account_id
    assert added.json()["role"] == "editor"
    assert added.json()["email"] == member.email
    listed = member.get(members_path(tenant.workspace_id))
    assert listed.status_code == 200
    assert [(m["id"], m["role"]) for m in listed.json()] == [
        (tenant.account_id, "owner"),
        (member.account_id, "editor"),
    ]
    one = member.get(members_path(tenant.workspace_id, tenant.account_id))
    assert one.status_code == 200
    assert one.json()["role"] == "owner"
    workspaces = member.get("/api/workspaces/").json()
    assert {w["id"]: w["role"] for w in workspaces}[tenant.workspace_id] == "editor"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"email": "nobody-here@example.com", "role": "editor"}, 404, "email"),
        ({"email": "not an email", "role": "editor"}, 400, "email"),
        ({"email": "x@example.com", "role": "superuser"}, 400, "role"),
        ({"email": "x@example.com"}, 400, "role"),
    ],
)
def test_adding_refuses_bad_input_with_the_field(
    tenant: Tenant, body: dict[str, str], status: int, field: str
) -> None:
    response = tenant.post(members_path(tenant.workspace_id), json=body)

    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field
    assert len(tenant.get(members_path(tenant.workspace_id)).json()) == 1


def test_adding_a_member_twice_is_a_conflict(tenant: Tenant, member: Tenant) -> None:
    join(tenant, member, "viewer")

    again = tenant.post(
        members_path(tenant.workspace_id), json={"email": member.email, "role": "admin"}
    )

    assert again.status_code == 409
    assert tenant.get(members_path(tenant.workspace_id, member.account_id)).json()["role"] == (
        "viewer"
    )


def test_editors_and_viewers_see_members_but_do_not_change_them(
    tenant: Tenant, member: Tenant, client: httpx.Client
) -> None:
    third = sign_up(client, name="Third")
    join(tenant, member, "editor")
    path = members_path(tenant.workspace_id)
    as_member = in_workspace(tenant.workspace_id)

    assert member.get(path, headers=as_member).status_code == 200
    added = member.post(path, json={"email": third.email, "role": "viewer"}, headers=as_member)
    assert added.status_code == 403
    assert added.json()["error"]["code"] == "permission_denied"
    assert member.delete(members_path(tenant.workspace_id, tenant.account_id)).status_code == 403
    assert len(tenant.get(path).json()) == 2


def test_an_admin_manages_members_but_never_owners(
    tenant: Tenant, member: Tenant, client: httpx.Client
) -> None:
    third = sign_up(client, name="Third")
    join(tenant, member, "admin")
    path = members_path(tenant.workspace_id)

    made_owner = member.post(path, json={"email": third.email, "role": "owner"})
    assert made_owner.status_code == 403
    assert member.post(path, json={"email": third.email, "role": "builder"}).status_code == 201
    promoted = member.patch(
        members_path(tenant.workspace_id, third.account_id), json={"role": "owner"}
    )
    assert promoted.status_code == 403
    owner_path = members_path(tenant.workspace_id, tenant.account_id)
    assert member.patch(owner_path, json={"role": "viewer"}).status_code == 403
    assert member.delete(owner_path).status_code == 403
    assert member.delete(members_path(tenant.workspace_id, third.account_id)).status_code == 204
    roles = {m["id"]: m["role"] for m in tenant.get(path).json()}
    assert roles == {tenant.account_id: "owner", member.account_id: "admin"}


def test_a_workspace_always_keeps_an_owner(tenant: Tenant, member: Tenant) -> None:
    own = members_path(tenant.workspace_id, tenant.account_id)

    demoted = tenant.patch(own, json={"role": "admin"})
    assert demoted.status_code == 409
    assert "owner" in demoted.json()["error"]["message"]
    assert tenant.delete(own).status_code == 409

    join(tenant, member, "owner")
    assert tenant.patch(own, json={"role": "admin"}).status_code == 200
    # Now the other one is the last owner.
    last = members_path(tenant.workspace_id, member.account_id)
    assert member.delete(last).status_code == 409
    assert member.patch(last, json={"role": "editor"}).status_code == 409
    roles = {m["id"]: m["role"] for m in member.get(members_path(tenant.workspace_id)).json()}
    assert roles == {tenant.account_id: "admin", member.account_id: "owner"}


def test_a_role_change_holds_for_the_members_next_request(tenant: Tenant, member: Tenant) -> None:
    app = create_app(tenant)
    create_schema(tenant, app["slug"])
    join(tenant, member, "editor")
    path = records_path(app["slug"])
    as_member = in_workspace(tenant.workspace_id)
    assert member.post(path, json={"name": "A"}, headers=as_member).status_code == 201

    set_role(tenant, member, "viewer")

    refused = member.post(path, json={"name": "B"}, headers=as_member)
    assert refused.status_code == 403
    assert member.get(path, headers=as_member).status_code == 200

    removed = tenant.delete(members_path(tenant.workspace_id, member.account_id))
    assert removed.status_code == 204
    assert member.get(path, headers=as_member).status_code == 404
    assert tenant.workspace_id not in {w["id"] for w in member.get("/api/workspaces/").json()}


def test_another_workspaces_members_are_not_found(tenant: Tenant, other_tenant: Tenant) -> None:
    theirs = members_path(other_tenant.workspace_id)

    assert tenant.get(theirs).status_code == 404
    assert tenant.post(theirs, json={"email": tenant.email, "role": "owner"}).status_code == 404
    assert (
        tenant.delete(members_path(other_tenant.workspace_id, other_tenant.account_id)).status_code
        == 404
    )
    # An account of another workspace is no member of this one.
    mine = members_path(tenant.workspace_id, other_tenant.account_id)
    assert tenant.get(mine).status_code == 404
    assert tenant.patch(mine, json={"role": "viewer"}).status_code == 404
    assert tenant.delete(mine).status_code == 404
    assert len(other_tenant.get(theirs).json()) == 1
