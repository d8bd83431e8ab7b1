"""An app's workflows through the REST API: created, edited as versions with If-Match,
read at any version, deleted; builders only; a bad definition refused whole."""

from __future__ import annotations

import copy
from typing import Any

import httpx

from tests.factories.accounts import Tenant, sign_up
from tests.factories.apps import create_app
from tests.factories.credentials import in_workspace, join
from tests.factories.workflows import SIMPLE
from tests.support.wait import eventually


def workflows_path(app: str, name: str | None = None) -> str:
    path = f"/api/apps/{app}/workflows"
    return f"{path}/{name}" if name else path


def definition(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(SIMPLE), **changes}


def test_a_workflow_is_created_edited_as_versions_and_deleted(tenant: Tenant) -> None:
    app = create_app(tenant)["slug"]
    created = tenant.post(workflows_path(app), json=definition())
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"id", "name", "version", "definition", "hook", "created_at", "updated_at"}
    assert body["hook"] is None
    assert (body["name"], body["version"]) == ("new-lead", 1)
    assert created.headers["ETag"] == '"1"'
    # Stored as checked, defaults filled in.
    assert body["definition"]["steps"][0]["attempts"] == 3

    path = workflows_path(app, "new-lead")
    edited = tenant.put(path, json=definition(public=False), headers={"If-Match": '"1"'})
    assert edited.status_code == 200, edited.text
    assert edited.json()["version"] == 2
    assert edited.headers["ETag"] == '"2"'
    # An edit of version 1 made while version 2 is stored is refused, and stores nothing.
    stale = tenant.put(path, json=definition(), headers={"If-Match": '"1"'})
    assert stale.status_code == 412, stale.text
    assert stale.json()["error"]["code"] == "precondition_failed"
    assert tenant.get(path).json()["version"] == 2

    first = tenant.get(path, params={"version": 1})
    assert first.status_code == 200
    assert first.json()["definition"]["public"] is True
    assert tenant.get(path).json()["definition"]["public"] is False
    assert tenant.get(path, params={"version": 9}).status_code == 404
    assert tenant.get(path, params={"version": "two"}).status_code == 400

    listed = tenant.get(workflows_path(app))
    assert listed.status_code == 200
    assert [(w["name"], w["version"]) for w in listed.json()["workflows"]] == [("new-lead", 2)]

    assert tenant.delete(path).status_code == 204
    assert tenant.get(path).status_code == 404
    assert tenant.get(workflows_path(app)).json() == {"workflows": []}


def test_a_bad_definition_is_refused_whole_with_where(tenant: Tenant) -> None:
    app = create_app(tenant)["slug"]
    bad = definition()
    bad["steps"][1]["value"] = {"lead": "steps.missing.id"}
    refused = tenant.post(workflows_path(app), json=bad)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["code"] == "validation_error"
    assert error["field"] == "steps[1].value.lead"
    assert "missing" in error["message"]
    for not_json in (b"[1, 2]", b"{", b'{"name": "x\\u0000y", "steps": []}'):
        response = tenant.post(
            workflows_path(app), content=not_json, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, (not_json, response.text)
    assert tenant.get(workflows_path(app)).json() == {"workflows": []}


def test_only_builders_and_up_see_or_change_workflows(client: httpx.Client, tenant: Tenant) -> None:
    app = create_app(tenant)["slug"]
    assert tenant.post(workflows_path(app), json=definition()).status_code == 201
    editor = sign_up(client)
    join(tenant, editor, "editor")
    as_editor = in_workspace(tenant.workspace_id)
    assert editor.get(workflows_path(app), headers=as_editor).status_code == 403
    changed = editor.put(workflows_path(app, "new-lead"), json=definition(), headers=as_editor)
    assert changed.status_code == 403
    builder = sign_up(client)
    join(tenant, builder, "builder")
    as_builder = in_workspace(tenant.workspace_id)
    listed = builder.get(workflows_path(app), headers=as_builder)
    assert listed.status_code == 200
    assert [w["name"] for w in listed.json()["workflows"]] == ["new-lead"]


def test_an_app_keeps_its_workflows_when_renamed_and_its_old_slug_stops_naming_it(
    tenant: Tenant,
) -> None:
    app = create_app(tenant)["slug"]
    assert tenant.post(workflows_path(app), json=definition()).status_code == 201
    # The workflows service has looked the app up, and holds it.
    assert tenant.get(workflows_path(app, "new-lead")).status_code == 200
    renamed = tenant.patch(f"/api/apps/{app}", json={"slug": f"{app}-2"})
    assert renamed.status_code == 200, renamed.text

    assert tenant.get(workflows_path(f"{app}-2", "new-lead")).status_code == 200
    # Heard from the schema service's event, well before the app would be looked up again.
    eventually(lambda: tenant.get(workflows_path(app, "new-lead")).status_code == 404, timeout=5)
