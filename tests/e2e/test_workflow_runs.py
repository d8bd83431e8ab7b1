"""The Workflow API on the running stack: a workflow run over REST with typed parameters
creates records as its caller, bad parameters change nothing, every run is kept with
each step's log, a failed step fails the run, replays and Idempotency-Key repeat nothing
they should not, and who may run what follows the caller."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories.accounts import Tenant, sign_up, unique_email
from tests.factories.apps import create_app, create_schema, records_path
from tests.factories.credentials import in_workspace, join
from tests.factories.tables import error_of, invalid
from tests.support.wait import eventually

LEAD_FIELDS: list[dict[str, Any]] = [
    {"slug": "email", "type": "email", "required": True},
    {"slug": "score", "type": "integer"},
    {"slug": "status", "type": "select", "options": ["new", "hot"]},
]
NEW_LEAD: dict[str, Any] = {
    "name": "new-lead",
    "public": True,
    "parameters": [
        {"name": "email", "type": "text", "required": True},
        {"name": "score", "type": "integer"},
    ],
    "steps": [
        {
            "id": "lead",
            "type": "create_record",
            "schema": "leads",
            "values": {"email": "params.email", "score": "params.score", "status": "'new'"},
        },
        {
            "id": "hot",
            "type": "update_record",
            "schema": "leads",
            "record": "steps.lead",
            "values": {"status": "'hot'"},
            "only_when": "params.score > 50",
        },
        {"type": "return", "value": {"lead": "steps.lead.id", "email": "steps.lead.email"}},
    ],
}
PASSWORD = "end user password"


def crm(tenant: Tenant, *workflows: dict[str, Any]) -> dict[str, Any]:
    app = create_app(tenant)
    create_schema(tenant, app["slug"], name="Leads", slug="leads", fields=LEAD_FIELDS)
    for workflow in workflows or (NEW_LEAD,):
        created = tenant.post(f"/api/apps/{app['slug']}/workflows", json=workflow)
        assert created.status_code == 201, created.text
    return app


def run_path(app: str, name: str = "new-lead") -> str:
    return f"/api/apps/{app}/workflows/{name}/run"


def leads(tenant: Tenant, app: str) -> list[dict[str, Any]]:
    listed = tenant.get(records_path(app, "leads"), params={"sort": "email"})
    assert listed.status_code == 200, listed.text
    return list(listed.json()["records"])


def test_a_run_creates_records_as_its_caller_and_keeps_each_steps_log(tenant: Tenant) -> None:
    app = crm(tenant)["slug"]

    ran = tenant.post(run_path(app), json={"email": "ada@example.com", "score": 90})
    assert ran.status_code == 200, ran.text
    body = ran.json()
    assert body["status"] == "success"
    assert body["response"]["email"] == "ada@example.com"
    [lead] = leads(tenant, app)
    assert (lead["id"], lead["score"], lead["status"]) == (body["response"]["lead"], 90, "hot")

    # Form fields are parameters too, typed as declared; a low score skips the update.
    form = tenant.post(run_path(app), data={"email": "bob@example.com", "score": "7"})
    assert form.status_code == 200, form.text
    assert [(r["email"], r["status"]) for r in leads(tenant, app)] == [
        ("ada@example.com", "hot"),
        ("bob@example.com", "new"),
    ]

    runs = tenant.get(f"/api/apps/{app}/workflows/new-lead/runs")
    assert runs.status_code == 200, runs.text
    listed = runs.json()["runs"]
    assert [r["id"] for r in listed] == [form.json()["run_id"], body["run_id"]]
    assert all(r["state"] == "succeeded" and r["trigger"] == "api" for r in listed)
    assert listed[1]["parameters"] == {"email": "ada@example.com", "score": 90}

    run = tenant.get(f"/api/apps/{app}/workflows/new-lead/runs/{form.json()['run_id']}").json()
    assert run["version"] == 1
    assert run["result"] == form.json()["response"]
    assert [(s["place"], s["type"], s["state"]) for s in run["steps"]] == [
        ("steps[0]", "create_record", "succeeded"),
        ("steps[1]", "update_record", "skipped"),
        ("steps[2]", "return", "succeeded"),
    ]
    assert run["steps"][0]["input"] == {
        "values": {"email": "bob@example.com", "score": 7, "status": "new"}
    }
    assert run["steps"][0]["output"]["id"] == form.json()["response"]["lead"]


def test_bad_parameters_are_refused_by_name_and_run_nothing(tenant: Tenant) -> None:
    app = crm(tenant)["slug"]
    for parameters, field in (
        ({"score": 3}, "email"),
        ({"email": "a@example.com", "score": "many"}, "score"),
        ({"email": "a@example.com", "score": 1.5}, "score"),
        ({"email": "a@example.com", "colour": "red"}, "colour"),
        ({"email": ["a@example.com", "b@example.com"]}, "email"),
    ):
        invalid(tenant.post(run_path(app), json=parameters), field)
    error_of(tenant.post(run_path(app), content=b"{nope"), 400)
    error_of(tenant.post(run_path(app), json=["email"]), 400)
    error_of(
        tenant.post(run_path(app), content=b"email=x", headers={"Content-Type": "text/plain"}),
        415,
    )
    error_of(tenant.post(run_path(app, "no-such-workflow"), json={}), 404)
    assert leads(tenant, app) == []
    assert tenant.get(f"/api/apps/{app}/workflows/new-lead/runs").json()["runs"] == []


def test_a_failed_step_fails_the_run_and_says_where(tenant: Tenant) -> None:
    # The record the first step makes has no email, which the schema requires.
    broken = {
        **NEW_LEAD,
        "name": "broken",
        "steps": [
            {"id": "lead", "type": "create_record", "schema": "leads", "values": {}},
            {"type": "return", "value": {"lead": "steps.lead.id"}},
        ],
    }
    app = crm(tenant, broken)["slug"]

    failed = tenant.post(run_path(app, "broken"), json={"email": "x@example.com"})
    error = error_of(failed, 422, "steps[0]")
    assert error["code"] == "workflow_failed"
    assert "email" in error["message"]
    [detail] = error["details"]

    run = tenant.get(f"/api/apps/{app}/workflows/broken/runs/{detail['run_id']}").json()
    assert (run["state"], run["result"]) == ("failed", None)
    assert run["error"].startswith("steps[0]: validation_error")
    # Refused by the records service: nothing to try again.
    assert [(s["attempt"], s["state"]) for s in run["steps"]] == [(1, "failed")]
    assert leads(tenant, app) == []


def test_a_replay_runs_the_same_inputs_again_and_a_retry_with_its_key_does_not(
    tenant: Tenant,
) -> None:
    app = crm(tenant)["slug"]
    key = {"Idempotency-Key": "lead-ada-1"}
    first = tenant.post(run_path(app), json={"email": "ada@example.com", "score": 1}, headers=key)
    again = tenant.post(run_path(app), json={"email": "ada@example.com", "score": 1}, headers=key)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json()["run_id"] == first.json()["run_id"]
    assert len(leads(tenant, app)) == 1

    # A new version does not change what a replay runs: the run's own version and inputs.
    edited = {**NEW_LEAD, "steps": [{"type": "return", "value": {"nothing": "true"}}]}
    assert tenant.put(f"/api/apps/{app}/workflows/new-lead", json=edited).status_code == 200
    runs = f"/api/apps/{app}/workflows/new-lead/runs"
    replayed = tenant.post(f"{runs}/{first.json()['run_id']}/replay")
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["run_id"] != first.json()["run_id"]
    assert [r["email"] for r in leads(tenant, app)] == ["ada@example.com"] * 2
    replay = tenant.get(f"{runs}/{replayed.json()['run_id']}").json()
    assert (replay["trigger"], replay["replay_of"], replay["version"]) == (
        "replay",
        first.json()["run_id"],
        1,
    )
    error_of(tenant.post(f"{runs}/run_nope/replay"), 404)


def test_an_asynchronous_run_answers_202_and_finishes(tenant: Tenant) -> None:
    app = crm(tenant)["slug"]
    accepted = tenant.post(
        run_path(app), params={"async": "true"}, json={"email": "ada@example.com", "score": 3}
    )
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["status"] == "accepted"
    path = f"/api/apps/{app}/workflows/new-lead/runs/{accepted.json()['run_id']}"

    def finished() -> dict[str, Any] | None:
        run = dict(tenant.get(path).json())
        return run if run["state"] not in ("queued", "running") else None

    run = eventually(finished)
    assert (run["state"], run["result"]["email"]) == ("succeeded", "ada@example.com")


def test_a_run_does_what_its_caller_may_and_no_more(client: httpx.Client, tenant: Tenant) -> None:
    private = {**NEW_LEAD, "public": False, "name": "private-lead"}
    app = crm(tenant, NEW_LEAD, private)
    slug, public_id = app["slug"], app["public_id"]

    # A viewer may run a workflow, but its steps act as the viewer: records refuse them.
    viewer = sign_up(client)
    join(tenant, viewer, "viewer")
    as_viewer = viewer.post(
        run_path(slug), json={"email": "v@example.com"}, headers=in_workspace(tenant.workspace_id)
    )
    error = error_of(as_viewer, 422, "steps[0]")
    assert "permission_denied" in error["message"]
    assert leads(tenant, slug) == []
    # Runs and their logs are for builders.
    runs = f"/api/apps/{slug}/workflows/new-lead/runs"
    error_of(viewer.get(runs, headers=in_workspace(tenant.workspace_id)), 403)

    # Without a credential: only a workflow chosen to run without authentication.
    anonymous = client.post(run_path(public_id), json={"email": "a@example.com"})
    assert error_of(anonymous, 401)["code"] == "unauthenticated"

    # An app end user: public workflows only; a private one does not exist for them.
    email = unique_email("enduser")
    signed_up = client.post(
        f"/api/apps/{public_id}/auth/signup", json={"email": email, "password": PASSWORD}
    )
    assert signed_up.status_code == 201, signed_up.text
    logged_in = client.post(
        f"/api/apps/{public_id}/auth/login", json={"email": email, "password": PASSWORD}
    )
    end_user = {"Authorization": f"Bearer {logged_in.json()['token']}"}
    hidden = client.post(
        run_path(public_id, "private-lead"), json={"email": "e@x.io"}, headers=end_user
    )
    error_of(hidden, 404)
    # Another app's workflows are not theirs either.
    other = crm(tenant)
    error_of(
        client.post(run_path(other["public_id"]), json={"email": "e@x.io"}, headers=end_user), 404
    )


def test_privacy_rules_bind_a_run_as_they_bind_its_caller(
    client: httpx.Client, tenant: Tenant
) -> None:
    counting = {
        "name": "count-leads",
        "public": True,
        "steps": [
            {"id": "found", "type": "find_records", "schema": "leads", "sort": ["email"]},
            {
                "type": "return",
                "value": {"count": "steps.found.count", "first": "steps.found.records[0]"},
            },
        ],
    }
    app = crm(tenant, counting)
    slug, public_id = app["slug"], app["public_id"]
    for email, status in (("a@x.io", "hot"), ("b@x.io", "new"), ("c@x.io", "hot")):
        made = tenant.post(records_path(slug, "leads"), json={"email": email, "status": status})
        assert made.status_code == 201, made.text
    rules = {
        "rules": [
            {
                "name": "Hot leads, without their score",
                "condition": {"field": "status", "op": "eq", "value": "hot"},
                "find": True,
                "read_fields": ["email", "status"],
            }
        ],
        "default": {"find": False},
    }
    set_rules = tenant.put(f"/api/apps/{slug}/schemas/leads/privacy-rules", json=rules)
    assert set_rules.status_code == 200, set_rules.text

    as_owner = tenant.post(run_path(slug, "count-leads"), json={})
    assert as_owner.json()["response"]["count"] == 3

    email = unique_email("enduser")
    signed_up = client.post(
        f"/api/apps/{public_id}/auth/signup", json={"email": email, "password": PASSWORD}
    )
    assert signed_up.status_code == 201, signed_up.text
    token = client.post(
        f"/api/apps/{public_id}/auth/login", json={"email": email, "password": PASSWORD}
    ).json()["token"]
    as_end_user = client.post(
        run_path(public_id, "count-leads"), json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert as_end_user.status_code == 200, as_end_user.text
    response = as_end_user.json()["response"]
    assert response["count"] == 2
    assert response["first"]["email"] == "a@x.io"
    assert "score" not in response["first"]
