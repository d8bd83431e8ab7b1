"""What realtime subscribers see of record changes: the records service judges each change
on the row's images before and after it, with each viewer's privacy rules and filter."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import orjson
from tessera.common.v1 import common_pb2
from tessera.records.v1 import records_pb2

from services.kit.db import transaction
from services.kit.ids import new_id
from services.kit.json import dumps_exact
from services.records.schemas import SchemaDef
from tests.factories.records import context, field, schema
from tests.integration.records.conftest import Harness, harness
from tests.integration.records.test_service import body, outbox_events


def tasks_schema() -> SchemaDef:
    s = schema(
        field("title", "text"),
        field("status", "select", options=["open", "done"]),
        field("owner", "text"),
        field("secret", "text"),
        slug="tasks",
    )
    ids = {f.slug: f.id for f in s.fields}
    # App end users find their own tasks, without the secret.
    rules = {
        "rules": [
            {
                "condition": {"field": ids["owner"], "op": "eq", "value": "$current_user"},
                "find": True,
                "read_fields": [ids["title"], ids["status"], ids["owner"]],
            }
        ],
        "default": {},
    }
    return replace(s, privacy_rules_json=orjson.dumps(rules).decode())


def app_user(tenant: str, s: SchemaDef, user: str) -> common_pb2.RequestContext:
    return common_pb2.RequestContext(
        tenant_id=tenant,
        principal_id=user,
        principal_kind="app_user",
        app_id=s.app_id,
        app_role="basic",
    )


def gateway(tenant: str) -> common_pb2.RequestContext:
    return common_pb2.RequestContext(
        tenant_id=tenant, principal_kind="service", principal_id="gateway"
    )


def only(status: str) -> records_pb2.FilterNode:
    return records_pb2.FilterNode(
        condition=records_pb2.Condition(field="status", op="eq", text=status)
    )


async def view(
    h: Harness,
    tenant: str,
    s: SchemaDef,
    viewers: list[records_pb2.Viewer],
    events: list[dict[str, Any]],
) -> records_pb2.ViewChangesResponse:
    changes = [
        records_pb2.RecordChange(
            record_id=e["data"].get("record_id") or e["data"]["record"]["id"],
            action=e["subject"].rsplit(".", 1)[1],
            image_json=dumps_exact(e["data"]["image"]) if "image" in e["data"] else b"",
            previous_image_json=(
                dumps_exact(e["data"]["previous_image"]) if "previous_image" in e["data"] else b""
            ),
        )
        for e in events
    ]
    request = records_pb2.ViewChangesRequest(
        ctx=gateway(tenant),
        schema=records_pb2.SchemaRef(app_slug=s.app_slug, schema_slug=s.slug),
        schema_id=s.id,
        viewers=viewers,
        changes=changes,
    )
    async with transaction(h.sessionmaker, tenant=tenant) as session:
        return await h.service.view_changes(session, request.ctx, request)


def seen(sights: records_pb2.ViewerSights) -> list[tuple[int, str, dict[str, Any]]]:
    return [(s.change, s.action, orjson.loads(s.record_json)) for s in sights.sights]


def test_each_viewer_sees_changes_through_its_rules_and_filter(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            s = h.schemas.put(tenant, tasks_schema())
            ada, bob = new_id("usr"), new_id("usr")
            task = await h.create(
                tenant, s, body(title="Write", status="open", owner=ada, secret="x")
            )
            await h.update(tenant, s, task["id"], body(status="done"))
            await h.update(tenant, s, task["id"], body(owner=bob))
            await h.update(tenant, s, task["id"], body(status="open"))
            await h.delete(tenant, s, task["id"])
            events = await outbox_events(h, tenant)
            viewers = [
                records_pb2.Viewer(ctx=context(tenant)),
                records_pb2.Viewer(ctx=context(tenant), filter=only("open")),
                records_pb2.Viewer(ctx=app_user(tenant, s, ada)),
                records_pb2.Viewer(ctx=app_user(tenant, s, bob), filter=only("open")),
            ]
            reply = await view(h, tenant, s, viewers, events)
            owner_sees, open_only, ada_sees, bob_open = reply.viewers

            assert [(c, a) for c, a, _ in seen(owner_sees)] == [
                (0, "created"),
                (1, "updated"),
                (2, "updated"),
                (3, "updated"),
                (4, "deleted"),
            ]
            assert [(c, a) for c, a, _ in seen(open_only)] == [
                (0, "created"),
                (1, "deleted"),
                (3, "created"),
                (4, "deleted"),
            ]
            # Ada sees the task until it is given to Bob, never its secret.
            assert [(c, a) for c, a, _ in seen(ada_sees)] == [
                (0, "created"),
                (1, "updated"),
                (2, "deleted"),
            ]
            assert "secret" not in seen(ada_sees)[1][2]
            assert seen(ada_sees)[1][2]["status"] == "done"
            assert seen(ada_sees)[2][2] == {"id": task["id"]}
            assert not ada_sees.all_fields
            assert sorted(ada_sees.readable) == sorted(
                ["id", "title", "status", "owner", "created_at", "updated_at", "version"]
            )
            # Bob's task enters his view when it is his and open again.
            assert [(c, a) for c, a, _ in seen(bob_open)] == [(3, "created"), (4, "deleted")]
            created = seen(bob_open)[0][2]
            assert (created["status"], created["owner"], "secret" in created) == (
                "open",
                bob,
                False,
            )

    asyncio.run(scenario())


def test_a_viewer_that_may_not_watch_is_told_why_and_sees_nothing(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            s = h.schemas.put(tenant, tasks_schema())
            task = await h.create(tenant, s, body(title="Write", status="open", owner="u"))
            events = await outbox_events(h, tenant)
            other_app = app_user(tenant, s, "u")
            other_app.app_id = new_id("app")
            secret_filter = records_pb2.FilterNode(
                condition=records_pb2.Condition(field="secret", op="eq", text="x")
            )
            stranger = context(new_id("ws"))
            reply = await view(
                h,
                tenant,
                s,
                [
                    records_pb2.Viewer(ctx=other_app),
                    records_pb2.Viewer(ctx=app_user(tenant, s, "u"), filter=secret_filter),
                    records_pb2.Viewer(ctx=context(tenant), filter=only("nope")),
                    records_pb2.Viewer(ctx=stranger),
                    records_pb2.Viewer(ctx=app_user(tenant, s, "u")),
                ],
                events,
            )
            codes = [v.error_code for v in reply.viewers]
            assert codes == [
                "not_found",
                "validation_error",
                "validation_error",
                "permission_denied",
                "",
            ]
            assert all(not v.sights for v in reply.viewers[:4])
            assert seen(reply.viewers[4])[0][:2] == (0, "created")
            assert seen(reply.viewers[4])[0][2]["id"] == task["id"]

    asyncio.run(scenario())
