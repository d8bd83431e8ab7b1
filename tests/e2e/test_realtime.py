"""Realtime over two gateway replicas: subscribers on both hear a change once, as they may
see it; a subscriber that reconnects with its last event id gets what it missed, no more
and no less; privacy rules, hidden fields and filters hold per subscriber; a revoked
credential closes its sockets; a client that does not read is told and disconnected."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from services.devstack.infra import free_port
from services.devstack.stack import DATABASE_SERVICES, Stack
from tests.factories.accounts import Tenant, sign_up
from tests.factories.apps import create_app, records_path
from tests.factories.credentials import create_token
from tests.support.infra import Infra
from tests.support.stack import SUITE_LOGIN_LIMITS, SUITE_OUTBOUND

PASSWORD = "end user password"
TASK_FIELDS: list[dict[str, Any]] = [
    {"slug": "title", "type": "text"},
    {"slug": "status", "type": "select", "options": ["open", "done"]},
    {"slug": "owner", "type": "created_by"},
    {"slug": "secret", "type": "text"},
    {"slug": "notes", "type": "long_text"},
]
# App end users find the tasks they made, without the secret.
OWN_TASKS: dict[str, Any] = {
    "rules": [
        {
            "name": "Own tasks",
            "condition": {"field": "owner", "op": "eq", "value": "$current_user"},
            "find": True,
            "read_fields": ["title", "status", "owner"],
            "create": True,
            "update": True,
        }
    ],
    "default": {"find": False},
}
WAIT = 10.0


@pytest.fixture(scope="module")
def second_gateway(stack: Stack) -> Iterator[str]:
    with stack.another_gateway() as url:
        yield url


def ws_url(base: str, app: str) -> str:
    return base.replace("http://", "ws://") + f"/api/apps/{app}/realtime"


def tasks_app(tenant: Tenant, *, rules: dict[str, Any] | None = None) -> dict[str, Any]:
    app = create_app(tenant)
    body = {"name": "Tasks", "slug": "tasks", "fields": TASK_FIELDS}
    response = tenant.post(f"/api/apps/{app['slug']}/schemas", json=body)
    assert response.status_code == 201, response.text
    if rules is not None:
        path = f"/api/apps/{app['slug']}/schemas/tasks/privacy-rules"
        response = tenant.put(path, json=rules)
        assert response.status_code == 200, response.text
    return app


class Socket:
    """A realtime client: what the server sent, read as it comes."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def next(self, *types: str, within: float = WAIT) -> dict[str, Any]:
        """The next message of one of `types` (heartbeats skipped)."""
        while True:
            message = orjson.loads(await asyncio.wait_for(self.ws.recv(), within))
            if message["type"] == "heartbeat":
                continue
            if not types or message["type"] in types:
                return dict(message)
            raise AssertionError(f"expected {types}, got {message}")

    async def quiet(self, seconds: float = 1.0) -> list[dict[str, Any]]:
        """Whatever arrives within `seconds` but heartbeats and schema changes (the app's
        set-up may still be on its way: the subscription began where this replica had
        read to)."""
        heard = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                async for raw in self.ws:
                    message = orjson.loads(raw)
                    if message["type"] != "heartbeat" and not message["type"].startswith(
                        ("schema.", "field.")
                    ):
                        heard.append(message)
        return heard

    async def send(self, **message: Any) -> None:
        await self.ws.send(orjson.dumps(message).decode())

    async def subscribe(self, subscription: str = "s", **given: Any) -> dict[str, Any]:
        await self.send(type="subscribe", id=subscription, **given)
        return await self.next("subscribed", "error")

    async def subscribed(self, subscription: str = "s", **given: Any) -> None:
        answer = await self.subscribe(subscription, **given)
        assert answer["type"] == "subscribed", answer


@contextlib.asynccontextmanager
async def opened(
    base: str, app: str, token: str | None = None, **headers: str
) -> AsyncIterator[Socket]:
    sent = {**headers, **({"Authorization": f"JWT {token}"} if token else {})}
    async with connect(ws_url(base, app), additional_headers=sent, open_timeout=WAIT) as ws:
        socket = Socket(ws)
        assert (await socket.next("ready"))["heartbeat_seconds"] > 0
        yield socket


def records_part(event: dict[str, Any]) -> int:
    return int(event["event_id"].split("-")[0])


def create(tenant: Tenant, app: dict[str, Any], **values: Any) -> dict[str, Any]:
    response = tenant.post(records_path(app["slug"], "tasks"), json=values)
    assert response.status_code == 201, response.text
    return dict(response.json())


def update(tenant: Tenant, app: dict[str, Any], record_id: str, **values: Any) -> None:
    response = tenant.patch(f"{records_path(app['slug'], 'tasks')}/{record_id}", json=values)
    assert response.status_code == 200, response.text


def test_subscribers_on_both_gateways_hear_each_change_and_resume_without_gap_or_repeat(
    stack: Stack, second_gateway: str, shared_tenant: Tenant
) -> None:
    app = tasks_app(shared_tenant)

    async def scenario() -> None:
        token = shared_tenant.token
        async with (
            opened(stack.gateway_url, app["slug"], token) as first,
            opened(second_gateway, app["slug"], token) as second,
        ):
            await first.subscribed(schema="tasks")
            await second.subscribed(schema="tasks")
            made = await asyncio.to_thread(create, shared_tenant, app, title="One", status="open")
            heard = [await s.next("record.created") for s in (first, second)]
            for event in heard:
                assert event["record"]["id"] == made["id"]
                assert event["record"]["title"] == "One"
                assert event["subscription"] == "s"
            assert heard[0]["event_id"] == heard[1]["event_id"]
            last = heard[1]["event_id"]
            await second.ws.close()

            # Missed while away: two creations and an update.
            missed = [
                (await asyncio.to_thread(create, shared_tenant, app, title=t))["id"]
                for t in ("Two", "Three")
            ]
            await asyncio.to_thread(update, shared_tenant, app, missed[0], status="done")
            seen_live = [await first.next("record.created", "record.updated") for _ in range(3)]

            # Back on the other replica, from where it stopped.
            async with opened(stack.gateway_url, app["slug"], token) as again:
                await again.send(type="subscribe", id="s", schema="tasks", last_event_id=last)
                assert (await again.next("subscribed"))["event_id"] == last
                replayed = [await again.next("record.created", "record.updated") for _ in range(3)]
                assert [(e["type"], e["record"]["id"]) for e in replayed] == [
                    ("record.created", missed[0]),
                    ("record.created", missed[1]),
                    ("record.updated", missed[0]),
                ]
                # The same events: the same place in the records' stream.
                assert [records_part(e) for e in replayed] == [records_part(e) for e in seen_live]
                # Then live, once.
                await asyncio.to_thread(create, shared_tenant, app, title="Four")
                live = await again.next("record.created")
                assert live["record"]["title"] == "Four"
                assert await again.quiet() == []

    asyncio.run(scenario())


def test_app_users_hear_only_their_own_records_without_hidden_fields(
    stack: Stack, second_gateway: str, shared_tenant: Tenant, module_client: httpx.Client
) -> None:
    app = tasks_app(shared_tenant, rules=OWN_TASKS)

    def end_user() -> str:
        body = {"email": f"u{secrets.token_hex(4)}@example.com", "password": PASSWORD}
        response = module_client.post(f"/api/apps/{app['public_id']}/auth/signup", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["token"])

    ada, bob = end_user(), end_user()

    def create_as(token: str, **values: Any) -> dict[str, Any]:
        response = module_client.post(
            records_path(app["public_id"], "tasks"),
            json=values,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def scenario() -> None:
        public = app["public_id"]
        async with (
            opened(stack.gateway_url, public, ada) as ada_socket,
            opened(second_gateway, public, bob) as bob_socket,
        ):
            for socket in (ada_socket, bob_socket):
                await socket.subscribed(schema="tasks")
            mine = await asyncio.to_thread(create_as, ada, title="Ada's")
            theirs = await asyncio.to_thread(create_as, bob, title="Bob's")
            await asyncio.to_thread(create, shared_tenant, app, title="The owner's")
            await asyncio.to_thread(update, shared_tenant, app, mine["id"], secret="s3cret")
            heard = [await ada_socket.next("record.created", "record.updated") for _ in range(2)]
            assert [(e["type"], e["record"]["id"]) for e in heard] == [
                ("record.created", mine["id"]),
                ("record.updated", mine["id"]),
            ]
            assert all("secret" not in e["record"] for e in heard)
            assert await ada_socket.quiet() == []
            heard = [await bob_socket.next("record.created")]
            assert heard[0]["record"]["id"] == theirs["id"]
            assert await bob_socket.quiet() == []
            # A filter on a hidden field would tell its values: refused.
            refused = await ada_socket.subscribe(
                "hidden", schema="tasks", filter={"field": "secret", "value": "s3cret"}
            )
            assert (refused["type"], refused["code"], refused["subscription"]) == (
                "error",
                "validation_error",
                "hidden",
            )

    asyncio.run(scenario())


def test_a_record_leaving_or_entering_a_filter_is_deleted_or_created_for_the_subscriber(
    stack: Stack, second_gateway: str, shared_tenant: Tenant
) -> None:
    app = tasks_app(shared_tenant)

    async def scenario() -> None:
        async with opened(second_gateway, app["slug"], shared_tenant.token) as socket:
            answer = await socket.subscribe(
                schema="tasks", filter={"field": "status", "value": "open"}
            )
            assert answer["type"] == "subscribed"
            task = await asyncio.to_thread(create, shared_tenant, app, title="T", status="open")
            assert (await socket.next("record.created"))["record"]["id"] == task["id"]
            await asyncio.to_thread(update, shared_tenant, app, task["id"], status="done")
            left = await socket.next("record.deleted")
            assert left["record"] == {"id": task["id"]}
            await asyncio.to_thread(update, shared_tenant, app, task["id"], title="Quietly")
            assert await socket.quiet() == []
            await asyncio.to_thread(update, shared_tenant, app, task["id"], status="open")
            back = await socket.next("record.created")
            assert (back["record"]["title"], back["record"]["status"]) == ("Quietly", "open")

    asyncio.run(scenario())


def test_revoking_the_token_closes_its_sockets_on_every_gateway(
    stack: Stack, second_gateway: str, shared_tenant: Tenant
) -> None:
    app = tasks_app(shared_tenant)
    token = create_token(shared_tenant, name="realtime")

    async def scenario() -> None:
        headers = {"Authorization": f"Token {token['token']}"}
        async with (
            opened(stack.gateway_url, app["slug"], **headers) as first,
            opened(second_gateway, app["slug"], **headers) as second,
        ):
            for socket in (first, second):
                await socket.subscribed(schema="tasks")
            revoked = await asyncio.to_thread(shared_tenant.delete, f"/api/tokens/{token['id']}")
            assert revoked.status_code in (200, 204), revoked.text
            for socket in (first, second):
                ended = await socket.next("error", within=1.5)
                assert ended["code"] == "credential_revoked"
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(socket.ws.recv(), 1.5)
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == 4401

    asyncio.run(scenario())


def test_a_client_that_does_not_read_is_told_and_disconnected(
    stack: Stack, shared_tenant: Tenant
) -> None:
    app = tasks_app(shared_tenant)
    with stack.another_gateway(GATEWAY_REALTIME_QUEUE_SIZE="5") as url:

        async def scenario() -> None:
            async with opened(url, app["slug"], shared_tenant.token) as socket:
                await socket.subscribed(schema="tasks")
                # The client stops reading; large records fill the socket, then the queue.
                socket.ws.transport.pause_reading()
                big = "x" * 90_000
                rows = [{"notes": big} for _ in range(150)]
                response = await asyncio.to_thread(
                    shared_tenant.post,
                    f"{records_path(app['slug'], 'tasks')}/batch",
                    json={"records": rows},
                )
                assert response.status_code == 201, response.text
                await asyncio.sleep(3)
                socket.ws.transport.resume_reading()
                codes = []
                with contextlib.suppress(ConnectionClosed, TimeoutError):
                    async with asyncio.timeout(WAIT):
                        async for raw in socket.ws:
                            message = orjson.loads(raw)
                            codes.append(message.get("code", message["type"]))
                assert codes[-1] == "slow_consumer"
                assert codes.count("record.created") < 150
                assert socket.ws.close_code == 4429

        asyncio.run(scenario())


def test_another_workspace_s_apps_and_schemas_do_not_exist_for_a_subscriber(
    stack: Stack, shared_tenant: Tenant, shared_other_tenant: Tenant
) -> None:
    app = tasks_app(shared_tenant)
    own = tasks_app(shared_other_tenant)

    async def scenario() -> None:
        token = shared_other_tenant.token
        for address in (app["slug"], app["public_id"]):
            sent = {"Authorization": f"JWT {token}"}
            async with connect(ws_url(stack.gateway_url, address), additional_headers=sent) as ws:
                refused = await Socket(ws).next("error")
                assert refused["code"] == "not_found"
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
                assert ws.close_code == 4404
        async with opened(stack.gateway_url, own["slug"], token) as socket:
            # Subjects are made of the caller's workspace and checked slugs only.
            for wildcard in ("*", ">", "tasks.>", "a.b"):
                refused = await socket.subscribe(schema=wildcard)
                assert (refused["type"], refused["code"]) == ("error", "validation_error")
            await socket.subscribed(schema="tasks")
            # The other workspace's changes are not heard here.
            await asyncio.to_thread(create, shared_tenant, app, title="Theirs")
            assert await socket.quiet() == []

    asyncio.run(scenario())


def test_bad_messages_are_answered_with_errors_and_change_nothing(
    stack: Stack, shared_tenant: Tenant
) -> None:
    app = tasks_app(shared_tenant)

    async def scenario() -> None:
        async with opened(stack.gateway_url, app["slug"], shared_tenant.token) as socket:
            for raw in ("not json", "[]", '{"type": "dance"}', "\x00", '{"type": 5}'):
                await socket.ws.send(raw)
                assert (await socket.next("error"))["code"] == "validation_error"
            for bad in (
                {"id": "x" * 65, "schema": "tasks"},
                {"id": "s", "schema": "tasks", "extra": 1},
                {"id": "s", "schema": "tasks", "last_event_id": "\uff11-2-3"},
                {"id": "s", "schema": "tasks", "last_event_id": 5},
                {"id": "s", "schema": "tasks", "filter": {"field": "nope", "value": 1}},
                {"id": "s", "topic": "everything"},
            ):
                await socket.send(type="subscribe", **bad)
                answer = await socket.next("error", "subscribed")
                assert answer.get("code") == "validation_error", bad
            await socket.subscribed(schema="tasks")
            again = await socket.subscribe(schema="tasks")
            assert (again["type"], again["code"]) == ("error", "conflict")
            await socket.send(type="ping")
            assert (await socket.next("pong"))["type"] == "pong"
            await socket.send(type="unsubscribe", id="s")
            assert (await socket.next("unsubscribed"))["subscription"] == "s"
            await asyncio.to_thread(create, shared_tenant, app, title="Unheard")
            assert await socket.quiet() == []

    asyncio.run(scenario())


def test_a_socket_without_a_credential_must_authenticate_first(
    stack: Stack, shared_tenant: Tenant, shared_other_tenant: Tenant
) -> None:
    app = tasks_app(shared_tenant)

    async def scenario() -> None:
        url = ws_url(stack.gateway_url, app["slug"])
        async with connect(url, open_timeout=WAIT) as ws:
            socket = Socket(ws)
            await socket.send(type="auth", token=shared_tenant.token)
            await socket.next("ready")
            await socket.subscribed(schema="tasks")
            # A fresh credential of the same caller keeps the socket; another's ends it.
            await socket.send(type="auth", token=shared_tenant.token)
            await socket.next("authenticated")
            await socket.send(type="auth", token=shared_other_tenant.token)
            assert (await socket.next("error"))["code"] == "unauthenticated"
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 4401
        async with connect(url, open_timeout=WAIT) as ws:
            socket = Socket(ws)
            await socket.send(type="auth", token="forged")
            assert (await socket.next("error"))["code"] == "unauthenticated"
        # A session cookie from a foreign page's origin opens nothing.
        cookie = {"Cookie": "sessionid=whatever", "Origin": "https://evil.example"}
        async with connect(url, additional_headers=cookie, open_timeout=WAIT) as ws:
            assert (await Socket(ws).next("error"))["code"] == "permission_denied"

    asyncio.run(scenario())


def test_the_event_stream_delivers_and_resumes_from_last_event_id(
    stack: Stack, second_gateway: str, shared_tenant: Tenant
) -> None:
    app = tasks_app(shared_tenant)
    path = f"/api/apps/{app['slug']}/events"
    auth = {"Authorization": f"JWT {shared_tenant.token}"}

    def events(base: str, count: int, **headers: str) -> list[dict[str, Any]]:
        """The first `count` events (heartbeats aside) the stream sends."""
        heard: list[dict[str, Any]] = []
        params = {"schema": "tasks", "filter[status]": "open"}
        with (
            httpx.Client(base_url=base, timeout=WAIT) as http,
            http.stream("GET", path, params=params, headers={**auth, **headers}) as stream,
        ):
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            event: dict[str, Any] = {}
            for line in stream.iter_lines():
                if line.startswith("id: "):
                    event["id"] = line[4:]
                elif line.startswith("event: "):
                    event["event"] = line[7:]
                elif line.startswith("data: "):
                    event["data"] = orjson.loads(line[6:])
                elif not line and event:
                    if event["event"] not in ("heartbeat", "subscribed"):
                        heard.append(event)
                        if len(heard) == count:
                            return heard
                    event = {}
        raise AssertionError(f"the stream ended after {heard}")

    async def scenario() -> None:
        listening = asyncio.create_task(asyncio.to_thread(events, second_gateway, 1))
        await asyncio.sleep(1.5)
        first = await asyncio.to_thread(create, shared_tenant, app, title="A", status="open")
        (heard,) = await listening
        assert (heard["event"], heard["data"]["record"]["id"]) == ("record.created", first["id"])
        assert heard["id"] == heard["data"]["event_id"]
        # Away: one that matches the filter, one that does not.
        await asyncio.to_thread(create, shared_tenant, app, title="B", status="done")
        second = await asyncio.to_thread(create, shared_tenant, app, title="C", status="open")
        (missed,) = await asyncio.to_thread(
            events, stack.gateway_url, 1, **{"Last-Event-ID": heard["id"]}
        )
        assert missed["data"]["record"]["id"] == second["id"]

    asyncio.run(scenario())


def test_refused_event_streams_answer_in_the_error_envelope(
    client: httpx.Client, shared_tenant: Tenant, shared_other_tenant: Tenant
) -> None:
    app = tasks_app(shared_tenant)
    path = f"/api/apps/{app['slug']}/events"
    own = {"Authorization": f"JWT {shared_tenant.token}"}
    other = {"Authorization": f"JWT {shared_other_tenant.token}"}
    cases = [
        (own, {}, 400),
        (own, {"schema": "tasks", "bogus": "1"}, 400),
        (own, {"schema": "tasks", "filter": "{not json"}, 400),
        (own, {"schema": "tasks", "filter[nope]": "1"}, 400),
        (own, {"schema": "nope"}, 404),
        (other, {"schema": "tasks"}, 404),
        ({}, {"schema": "tasks"}, 401),
    ]
    for headers, params, status in cases:
        response = client.get(path, params=params, headers=headers)
        assert response.status_code == status, (params, response.text)
        assert response.json()["error"]["code"]


def test_subscribers_resume_across_a_nats_restart(infra: Infra) -> None:
    with (
        stack_with_its_own_nats(infra) as own,
        own.another_gateway() as second,
        httpx.Client(base_url=own.gateway_url, timeout=30) as http,
    ):
        tenant = sign_up(http)
        app = tasks_app(tenant)

        async def scenario() -> None:
            async with (
                opened(own.gateway_url, app["slug"], tenant.token) as first_socket,
                opened(second, app["slug"], tenant.token) as second_socket,
            ):
                sockets = (first_socket, second_socket)
                for socket in sockets:
                    await socket.subscribed(schema="tasks")
                before = await asyncio.to_thread(create, tenant, app, title="Before")
                for socket in sockets:
                    assert (await socket.next("record.created"))["record"]["id"] == before["id"]
                assert own.nats is not None
                await asyncio.to_thread(own.nats.stop)
                # Written while NATS is away: the outbox keeps it until it is back.
                during = await asyncio.to_thread(create, tenant, app, title="During")
                await asyncio.to_thread(own.nats.start)
                after = await asyncio.to_thread(create, tenant, app, title="After")
                for socket in sockets:
                    heard = [
                        await socket.next("record.created", "resync_required", within=30)
                        for _ in range(2)
                    ]
                    assert [(e["type"], e["record"]["id"]) for e in heard] == [
                        ("record.created", during["id"]),
                        ("record.created", after["id"]),
                    ]

        asyncio.run(scenario())


@contextlib.contextmanager
def stack_with_its_own_nats(infra: Infra) -> Iterator[Stack]:
    """A stack on the suite's PostgreSQL with an embedded nats-server of its own, which
    the test may stop and start again."""
    port = free_port()
    stack = Stack(
        data_dir=infra.work_dir / f"stack-{port}",
        gateway_port=port,
        database_urls=dict.fromkeys(DATABASE_SERVICES),
        postgres_admin_url=infra.postgres_admin_url,
        database_prefix=infra.database_prefix("stack"),
        extra_env={**SUITE_LOGIN_LIMITS, **SUITE_OUTBOUND},
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def test_schema_and_field_changes_reach_only_who_may_read_them(
    stack: Stack, shared_tenant: Tenant, module_client: httpx.Client
) -> None:
    app = tasks_app(shared_tenant, rules=OWN_TASKS)
    body = {"email": f"u{secrets.token_hex(4)}@example.com", "password": PASSWORD}
    signed_up = module_client.post(f"/api/apps/{app['public_id']}/auth/signup", json=body)
    assert signed_up.status_code == 201, signed_up.text
    end_user = signed_up.json()["token"]
    fields = f"/api/apps/{app['slug']}/schemas/tasks/fields"

    async def scenario() -> None:
        async with (
            opened(stack.gateway_url, app["slug"], shared_tenant.token) as owner,
            opened(stack.gateway_url, app["public_id"], end_user) as user,
        ):
            await owner.subscribed(schema="tasks")
            await owner.subscribed("app", topic="schemas")
            await user.subscribed(schema="tasks")
            # Schema events of the app's set-up may still come: wait them out.
            await owner.quiet()
            await user.quiet()
            for topic in ("schemas", "workflow_runs"):
                refused = await user.subscribe(topic, topic=topic)
                assert refused["code"] == "permission_denied"
            added = await asyncio.to_thread(
                shared_tenant.post, fields, json={"slug": "priority", "type": "text"}
            )
            assert added.status_code == 201, added.text
            heard = {(m["subscription"], m["type"]) for m in await messages(owner, 3)}
            assert heard == {
                ("s", "schema.updated"),
                ("s", "field.created"),
                ("app", "schema.updated"),
            }
            # Not a field the end user reads: the schema changed, nothing more.
            assert [m["type"] for m in await messages(user, 1)] == ["schema.updated"]
            renamed = await asyncio.to_thread(
                shared_tenant.patch, f"{fields}/title", json={"name": "Headline"}
            )
            assert renamed.status_code == 200, renamed.text
            changed = [m for m in await messages(user, 2) if m["type"] == "field.updated"]
            assert [(m["field"]["slug"], m["field"]["name"]) for m in changed] == [
                ("title", "Headline")
            ]
            await messages(owner, 3)
            gone = await asyncio.to_thread(shared_tenant.delete, f"{fields}/secret")
            assert gone.status_code in (200, 204), gone.text
            deleted = [m for m in await messages(owner, 3) if m["type"] == "field.deleted"]
            assert len(deleted) == 1
            assert [m["type"] for m in await messages(user, 1)] == ["schema.updated"]

    asyncio.run(scenario())


def test_workflow_runs_reach_members_who_follow_them(stack: Stack, shared_tenant: Tenant) -> None:
    app = tasks_app(shared_tenant)
    workflow = {"name": "hello", "steps": [{"type": "return", "value": {"said": "'hi'"}}]}
    made = shared_tenant.post(f"/api/apps/{app['slug']}/workflows", json=workflow)
    assert made.status_code == 201, made.text

    async def scenario() -> None:
        async with opened(stack.gateway_url, app["slug"], shared_tenant.token) as socket:
            await socket.subscribed("runs", topic="workflow_runs")
            ran = await asyncio.to_thread(
                shared_tenant.post, f"/api/apps/{app['slug']}/workflows/hello/run", json={}
            )
            assert ran.status_code == 200, ran.text
            started = await socket.next("workflow.run.started")
            done = await socket.next("workflow.run.succeeded")
            assert started["run"]["id"] == done["run"]["id"]
            assert (done["run"]["workflow"], done["run"]["state"]) == ("hello", "succeeded")

    asyncio.run(scenario())


async def messages(socket: Socket, count: int) -> list[dict[str, Any]]:
    """The next `count` messages but heartbeats."""
    return [await socket.next() for _ in range(count)]


def test_a_session_cookie_opens_a_socket_from_the_gateway_s_own_pages(
    stack: Stack, shared_tenant: Tenant, module_client: httpx.Client
) -> None:
    app = tasks_app(shared_tenant)
    login = module_client.post(
        "/auth/login/", data={"username": shared_tenant.email, "password": shared_tenant.password}
    )
    assert login.status_code == 200, login.text
    cookie = f"sessionid={login.cookies['sessionid']}"
    module_client.cookies.clear()

    async def scenario() -> None:
        own = {"Cookie": cookie, "Origin": stack.gateway_url}
        async with opened(stack.gateway_url, app["slug"], **own) as socket:
            await socket.subscribed(schema="tasks")
            made = await asyncio.to_thread(create, shared_tenant, app, title="By cookie")
            assert (await socket.next("record.created"))["record"]["id"] == made["id"]

    asyncio.run(scenario())


def test_an_api_token_follows_only_the_schemas_it_may_read(
    stack: Stack, shared_tenant: Tenant
) -> None:
    app = tasks_app(shared_tenant)
    other = shared_tenant.post(
        f"/api/apps/{app['slug']}/schemas",
        json={"name": "Notes", "slug": "notes", "fields": [{"slug": "text", "type": "text"}]},
    )
    assert other.status_code == 201, other.text
    token = create_token(shared_tenant, permissions={"read": [["schema", app["slug"], "notes"]]})

    async def scenario() -> None:
        headers = {"Authorization": f"Token {token['token']}"}
        async with opened(stack.gateway_url, app["slug"], **headers) as socket:
            refused = await socket.subscribe(schema="tasks")
            assert (refused["type"], refused["code"]) == ("error", "permission_denied")
            await socket.subscribed("notes", schema="notes")
            for topic in ("schemas", "workflow_runs"):
                refused = await socket.subscribe(topic, topic=topic)
                assert (refused["type"], refused["code"]) == ("error", "permission_denied")

    asyncio.run(scenario())


def test_heartbeats_carry_where_each_subscription_stands_and_a_lost_place_asks_to_resync(
    stack: Stack, shared_tenant: Tenant
) -> None:
    app = tasks_app(shared_tenant)
    with stack.another_gateway(GATEWAY_REALTIME_HEARTBEAT_SECONDS="0.5") as url:

        async def scenario() -> None:
            async with opened(url, app["slug"], shared_tenant.token) as socket:
                subscribed = await socket.subscribe(schema="tasks")
                made = await asyncio.to_thread(create, shared_tenant, app, title="Beat")
                heard = await socket.next("record.created")
                assert heard["record"]["id"] == made["id"]
                while True:
                    beat = orjson.loads(await asyncio.wait_for(socket.ws.recv(), WAIT))
                    if beat["type"] == "heartbeat":
                        break
                # Nothing new for the subscription: it stands where its last event put it.
                assert records_part({"event_id": beat["event_ids"]["s"]}) >= records_part(heard)
                assert subscribed["event_id"] != beat["event_ids"]["s"]
                # A place the streams never reached (or no longer hold): start afresh.
                ahead = f"{10**15}-0-0"
                await socket.send(type="subscribe", id="lost", schema="tasks", last_event_id=ahead)
                told = await socket.next("resync_required", "subscribed")
                assert (told["type"], told["subscription"]) == ("resync_required", "lost")

        asyncio.run(scenario())
