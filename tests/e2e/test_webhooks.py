"""Outgoing webhooks on the suite's stack, whose operator allows 127.0.0.1 and whose
deliveries are retried within seconds (tests/support/stack.py, SUITE_OUTBOUND): a real
local receiver gets each record event of the schemas a webhook subscribes to, signed so
that the Standard Webhooks reference library (`standardwebhooks`) accepts it; failures
are retried, given up on after the horizon, and a webhook failing again and again is
turned off; deliveries are listed with their attempts and can be replayed; a ping answers
at once; payloads show what the webhook's creator may see."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from standardwebhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from services.devstack.stack import Stack
from services.kit.db import create_engine, create_sessionmaker
from services.kit.grpc.client import create_channel
from services.kit.nats.events import Event
from services.workflows.deliveries import DeliverySettings
from services.workflows.records import RecordsClient
from services.workflows.webhook_events import WebhookEvents
from tests.factories.accounts import Tenant
from tests.factories.credentials import create_admin_token, token_auth
from tests.factories.tables import Table, error_of, new_table
from tests.support.bus import BusReader, stream_messages
from tests.support.receiver import Received, Receiver, receiving
from tests.support.trust import trust_settings
from tests.support.wait import eventually

FIELDS: list[dict[str, Any]] = [
    {"slug": "title", "type": "text"},
    {"slug": "status", "type": "select", "options": ["open", "closed"]},
    {"slug": "secret", "type": "text"},
]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as running:
        yield running


@pytest.fixture
def table(tenant: Tenant) -> Table:
    return new_table(tenant, FIELDS, slug="orders")


def hooks_path(table: Table) -> str:
    return f"/api/apps/{table.app_slug}/webhooks"


def subscribe(table: Table, url: str, **body: Any) -> dict[str, Any]:
    made = table.tenant.post(hooks_path(table), json={"url": url, **body})
    assert made.status_code == 201, made.text
    return dict(made.json())


def verified(secret: str, request: Received) -> dict[str, Any]:
    """The body, once the reference library accepts its signature."""
    payload: dict[str, Any] = Verifier(secret).verify(request.body, request.headers)
    return payload


def arrived(receiver: Receiver, path: str, count: int, timeout: float = 15.0) -> list[Received]:
    eventually(lambda: len(receiver.to(path)) >= count, timeout=timeout)
    return receiver.to(path)


def delivery_of(table: Table, webhook: dict[str, Any], delivery_id: str) -> dict[str, Any]:
    got = table.tenant.get(f"{hooks_path(table)}/{webhook['id']}/deliveries/{delivery_id}")
    assert got.status_code == 200, got.text
    return dict(got.json())


def deliveries_of(table: Table, webhook: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    listed = table.tenant.get(f"{hooks_path(table)}/{webhook['id']}/deliveries", params=params)
    assert listed.status_code == 200, listed.text
    return list(listed.json()["deliveries"])


def first_state(table: Table, webhook: dict[str, Any]) -> tuple[str, int] | None:
    """The newest delivery's state and attempts, once there is one."""
    listed = deliveries_of(table, webhook)
    return (listed[0]["state"], listed[0]["attempts"]) if listed else None


def test_record_events_arrive_signed_and_each_delivery_is_kept(
    table: Table, receiver: Receiver
) -> None:
    webhook = subscribe(table, receiver.url("/orders"), description="Orders to the ERP")
    secret = webhook["secret"]
    assert secret.startswith("whsec_")
    assert webhook["events"] == ["record.created", "record.updated", "record.deleted"]
    shown = table.tenant.get(f"{hooks_path(table)}/{webhook['id']}").json()
    assert "secret" not in shown
    assert shown["active"] is True

    record = table.create({"title": "Chair", "status": "open"}).json()
    table.tenant.patch(f"{table.records}/{record['id']}", json={"status": "closed"})
    table.tenant.delete(f"{table.records}/{record['id']}")

    got = [verified(secret, each) for each in arrived(receiver, "/orders", 3)]
    by_type = {payload["type"]: payload for payload in got}
    assert set(by_type) == {"record.created", "record.updated", "record.deleted"}
    created = by_type["record.created"]["data"]
    assert created["schema"] == "orders"
    assert created["record"]["id"] == record["id"]
    assert created["record"]["title"] == "Chair"
    assert by_type["record.updated"]["data"]["changed"] == ["status"]
    assert by_type["record.updated"]["data"]["record"]["status"] == "closed"
    assert by_type["record.deleted"]["data"]["record"] == {"id": record["id"]}

    # Each request's webhook-id is the delivery's id, kept with its attempt.
    ids = {each.headers["webhook-id"] for each in receiver.to("/orders")}
    assert len(ids) == 3
    eventually(lambda: len(deliveries_of(table, webhook, state="succeeded")) == 3)
    listed = deliveries_of(table, webhook)
    assert {each["id"] for each in listed} == ids
    one = delivery_of(table, webhook, listed[0]["id"])
    assert one["state"] == "succeeded"
    assert one["attempts"] == 1
    assert one["payload"]["type"] == listed[0]["event_type"]
    [attempt] = one["attempt_log"]
    assert attempt["response_status"] == 200
    assert attempt["request_headers"]["webhook-id"] == one["id"]
    assert attempt["latency_ms"] >= 0


def test_a_tampered_body_or_a_wrong_secret_fails_the_reference_check(
    table: Table, receiver: Receiver
) -> None:
    webhook = subscribe(table, receiver.url("/check"))
    table.create({"title": "Desk"})
    [request] = arrived(receiver, "/check", 1)
    verified(webhook["secret"], request)
    tampered = Received(request.method, request.path, request.headers, request.body + b" ")
    with pytest.raises(WebhookVerificationError):
        verified(webhook["secret"], tampered)
    other = subscribe(table, receiver.url("/elsewhere"))
    with pytest.raises(WebhookVerificationError):
        verified(other["secret"], request)


def test_only_chosen_events_schemas_and_changed_fields_are_sent(
    table: Table, receiver: Receiver
) -> None:
    subscribe(table, receiver.url("/status"), events=["record.updated"], fields=["status"])
    subscribe(table, receiver.url("/elsewhere"), schemas=["invoices"])
    record = table.create({"title": "Lamp", "status": "open"}).json()
    table.tenant.patch(f"{table.records}/{record['id']}", json={"title": "Big lamp"})
    table.tenant.patch(f"{table.records}/{record['id']}", json={"status": "closed"})
    [request] = arrived(receiver, "/status", 1)
    payload = orjson.loads(request.body)
    assert payload["type"] == "record.updated"
    assert payload["data"]["changed"] == ["status"]
    time.sleep(1.0)  # what else might come has had time to
    assert len(receiver.to("/status")) == 1
    assert receiver.to("/elsewhere") == []


def test_events_of_batch_writes_are_each_delivered_once(table: Table, receiver: Receiver) -> None:
    subscribe(table, receiver.url("/batch"), events=["record.created"])
    made = table.tenant.post(
        f"{table.records}/batch",
        json={"records": [{"title": f"Item {n}"} for n in range(5)]},
    )
    assert made.status_code in (200, 201), made.text
    got = arrived(receiver, "/batch", 5)
    time.sleep(1.0)
    assert len(receiver.to("/batch")) == 5
    titles = sorted(orjson.loads(each.body)["data"]["record"]["title"] for each in got)
    assert titles == [f"Item {n}" for n in range(5)]


def test_an_event_heard_again_is_delivered_once(
    stack: Stack, bus: BusReader, table: Table, receiver: Receiver
) -> None:
    webhook = subscribe(table, receiver.url("/once"), events=["record.created"])
    table.create({"title": "Once"})
    arrived(receiver, "/once", 1)
    [published] = stream_messages(
        bus, "RECORDS", f"records.{table.tenant.workspace_id}.record.created", at_least=1
    )[-1:]
    event = Event.from_message(published.subject, orjson.dumps(published.body))

    # Its consumer died after queueing the delivery and before acknowledging the event:
    # the event comes again, to this consumer or another replica's.
    asyncio.run(hear_again(stack, event, times=2))

    time.sleep(1.0)
    assert len(receiver.to("/once")) == 1
    assert len(deliveries_of(table, webhook)) == 1


async def hear_again(stack: Stack, event: Event, *, times: int) -> None:
    assert stack.pki is not None
    records_address = stack.processes["records"].grpc_address
    assert records_address is not None
    engine = create_engine(stack.resolved_database_urls["workflows"])
    records = create_channel(
        records_address, service="records", trust=trust_settings(stack.pki, "workflows")
    )
    try:
        handler = WebhookEvents(
            create_sessionmaker(engine), RecordsClient(records), DeliverySettings()
        )
        for _ in range(times):
            await handler(event)
    finally:
        await records.close()
        await engine.dispose()


def test_a_failing_endpoint_is_retried_until_it_answers(table: Table, receiver: Receiver) -> None:
    receiver.script["/flaky"] = [(500, b"down"), (503, b"busy")]
    webhook = subscribe(table, receiver.url("/flaky"))
    table.create({"title": "Shelf"})
    requests = arrived(receiver, "/flaky", 3)
    # The same delivery each time: same id, a fresh timestamp and signature.
    assert len({each.headers["webhook-id"] for each in requests}) == 1
    for each in requests:
        verified(webhook["secret"], each)
    eventually(lambda: (first_state(table, webhook) or ("",))[0] == "succeeded")
    delivery = delivery_of(table, webhook, requests[0].headers["webhook-id"])
    assert delivery["attempts"] == 3
    assert [a["response_status"] for a in delivery["attempt_log"]] == [500, 503, 200]
    assert delivery["attempt_log"][0]["response_body"] == "down"
    assert table.tenant.get(f"{hooks_path(table)}/{webhook['id']}").json()["failed_in_a_row"] == 0


def test_a_slow_endpoint_times_out_and_is_tried_again(table: Table, receiver: Receiver) -> None:
    receiver.delays["/slow"] = 2.5  # the stack's attempts give up after 2 s
    webhook = subscribe(table, receiver.url("/slow"))
    table.create({"title": "Clock"})
    eventually(lambda: (first_state(table, webhook) or ("", 0))[1] >= 1, timeout=15)
    delivery_id = deliveries_of(table, webhook)[0]["id"]
    first = delivery_of(table, webhook, delivery_id)["attempt_log"][0]
    assert first["response_status"] is None
    assert "2 s" in first["error"]
    receiver.delays.clear()
    eventually(lambda: (first_state(table, webhook) or ("",))[0] == "succeeded", timeout=15)


def test_a_delivery_is_given_up_after_the_horizon_and_the_webhook_turned_off(
    table: Table, receiver: Receiver
) -> None:
    receiver.script["/down"] = [(500, b"down")] * 1000
    webhook = subscribe(table, receiver.url("/down"))
    for n in range(3):  # the stack turns a webhook off after 3 failed deliveries
        table.create({"title": f"Doomed {n}"})
    eventually(lambda: len(deliveries_of(table, webhook, state="failed")) == 3, timeout=20)
    failed = deliveries_of(table, webhook, state="failed")[0]
    assert failed["last_status"] == 500
    assert failed["attempts"] >= 2
    assert failed["finished_at"] is not None
    assert failed["next_attempt_at"] is None
    shown = table.tenant.get(f"{hooks_path(table)}/{webhook['id']}").json()
    assert shown["active"] is False
    assert shown["failed_in_a_row"] == 3
    assert "3 deliveries in a row failed" in shown["disabled_reason"]
    assert shown["disabled_at"] is not None

    # Turned off: new events are not sent; turned on again, they are.
    table.create({"title": "Unsent"})
    time.sleep(1.0)
    assert len(deliveries_of(table, webhook)) == 3
    receiver.script["/down"] = []
    back = table.tenant.patch(f"{hooks_path(table)}/{webhook['id']}", json={"active": True})
    assert back.status_code == 200, back.text
    assert back.json()["disabled_reason"] is None
    assert back.json()["failed_in_a_row"] == 0
    table.create({"title": "Sent"})
    eventually(lambda: len(deliveries_of(table, webhook, state="succeeded")) == 1)


def test_a_delivery_is_replayed_with_its_id(table: Table, receiver: Receiver) -> None:
    webhook = subscribe(table, receiver.url("/replay"))
    table.create({"title": "Vase"})
    [first] = arrived(receiver, "/replay", 1)
    delivery_id = first.headers["webhook-id"]
    eventually(lambda: delivery_of(table, webhook, delivery_id)["state"] == "succeeded")
    replayed = table.tenant.post(
        f"{hooks_path(table)}/{webhook['id']}/deliveries/{delivery_id}/replay"
    )
    assert replayed.status_code == 202, replayed.text
    second = arrived(receiver, "/replay", 2)[1]
    assert second.headers["webhook-id"] == delivery_id
    assert second.body == first.body
    verified(webhook["secret"], second)
    eventually(lambda: delivery_of(table, webhook, delivery_id)["attempts"] == 2)


def test_a_ping_is_sent_at_once_and_answers_how_it_went(table: Table, receiver: Receiver) -> None:
    webhook = subscribe(table, receiver.url("/ping"))
    pinged = table.tenant.post(f"{hooks_path(table)}/{webhook['id']}/ping")
    assert pinged.status_code == 200, pinged.text
    answer = pinged.json()
    assert answer["event_type"] == "webhook.ping"
    assert answer["state"] == "succeeded"
    assert answer["attempt_log"][0]["response_status"] == 200
    [request] = receiver.to("/ping")
    assert verified(webhook["secret"], request)["type"] == "webhook.ping"

    receiver.script["/ping"] = [(404, b"no such hook")]
    again = table.tenant.post(f"{hooks_path(table)}/{webhook['id']}/ping").json()
    assert again["state"] == "failed"
    assert again["last_status"] == 404
    # A ping is never retried and never counts toward turning the webhook off.
    shown = table.tenant.get(f"{hooks_path(table)}/{webhook['id']}").json()
    assert shown["failed_in_a_row"] == 0
    assert shown["active"] is True


def test_a_renewed_secret_overlaps_the_old_one(table: Table, receiver: Receiver) -> None:
    webhook = subscribe(table, receiver.url("/rotate"))
    old = webhook["secret"]
    renewed = table.tenant.post(
        f"{hooks_path(table)}/{webhook['id']}/secret", json={"keep_previous_seconds": 600}
    )
    assert renewed.status_code == 200, renewed.text
    new = renewed.json()["secret"]
    assert new != old
    assert renewed.json()["previous_secret_until"] is not None
    table.create({"title": "Both"})
    [both] = arrived(receiver, "/rotate", 1)
    assert len(both.headers["webhook-signature"].split()) == 2
    verified(old, both)
    verified(new, both)

    table.tenant.post(f"{hooks_path(table)}/{webhook['id']}/secret")
    newest = table.tenant.get(f"{hooks_path(table)}/{webhook['id']}").json()
    assert newest["previous_secret_until"] is None
    table.create({"title": "Only the newest"})
    [_, last] = arrived(receiver, "/rotate", 2)
    with pytest.raises(WebhookVerificationError):
        verified(new, last)


def test_payloads_show_what_the_creator_may_see(tenant: Tenant, receiver: Receiver) -> None:
    table = new_table(tenant, FIELDS, slug="orders")
    rules = {
        "rules": [
            {
                "name": "Open orders",
                "condition": {"field": "status", "op": "eq", "value": "open"},
                "find": True,
                "read_fields": ["title", "status"],
            }
        ],
        "default": {"find": False},
    }
    set_rules = tenant.put(f"{table.path}/privacy-rules", json=rules)
    assert set_rules.status_code == 200, set_rules.text
    # An admin token that does not bypass privacy rules: they bind what it is sent.
    bound = token_auth(create_admin_token(tenant)["token"], "Bearer")
    made = httpx.post(
        f"{str(tenant.client.base_url).rstrip('/')}{hooks_path(table)}",
        json={"url": receiver.url("/bound"), "events": ["record.created"]},
        headers=bound,
    )
    assert made.status_code == 201, made.text
    subscribe(table, receiver.url("/owner"), events=["record.created"])

    table.create({"title": "Closed one", "status": "closed", "secret": "s1"})
    table.create({"title": "Open one", "status": "open", "secret": "s2"})
    arrived(receiver, "/owner", 2)
    [request] = arrived(receiver, "/bound", 1)
    time.sleep(1.0)
    assert len(receiver.to("/bound")) == 1
    record = orjson.loads(request.body)["data"]["record"]
    assert record["title"] == "Open one"
    assert "secret" not in record
    owners = [orjson.loads(each.body)["data"]["record"] for each in receiver.to("/owner")]
    assert {each.get("secret") for each in owners} == {"s1", "s2"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"url": 5}, "url"),
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "http://10.0.0.1/x"}, "url"),
        ({"url": "http://169.254.169.254/latest/meta-data"}, "url"),
        ({"url": "http://user:pw@127.0.0.1/x"}, "url"),
        ({"url": "http://127.0.0.1/\u0000"}, "url"),
        ({"url": "http://127.0.0.1/" + "x" * 2100}, "url"),
        ({"url": "http://127.0.0.1/x", "events": []}, "events"),
        ({"url": "http://127.0.0.1/x", "events": ["record.exploded"]}, "events.0"),
        ({"url": "http://127.0.0.1/x", "schemas": ["Not A Slug"]}, "schemas"),
        ({"url": "http://127.0.0.1/x", "schemas": ["a.b"]}, "schemas"),
        ({"url": "http://127.0.0.1/x", "fields": [1]}, "fields.0"),
        ({"url": "http://127.0.0.1/x", "active": "yes"}, "active"),
        ({"url": "http://127.0.0.1/x", "unknown": 1}, "unknown"),
        ({"url": "http://127.0.0.1/x", "description": "a\u0000b"}, "description"),
        ({"url": "http://127.0.0.1/x", "description": "x" * 1001}, "description"),
        ({"url": "http://127.0.0.1/x", "schemas": ["s"] * 101}, "schemas"),
        ({"url": "http://127.0.0.1/x", "fields": ["\u0661"]}, "fields"),
    ],
)
def test_bad_webhooks_are_refused_and_change_nothing(
    table: Table, body: dict[str, Any], field: str
) -> None:
    refused = table.tenant.post(hooks_path(table), json=body)
    error = error_of(refused, 400)
    assert error["field"] == field or str(error["field"]).startswith(field), error
    assert table.tenant.get(hooks_path(table)).json()["webhooks"] == []


def test_an_update_changes_what_it_sends_and_refuses_bad_values(
    table: Table, receiver: Receiver
) -> None:
    webhook = subscribe(table, receiver.url("/edit"), description="first")
    path = f"{hooks_path(table)}/{webhook['id']}"
    for body, field in (
        ({"url": "http://10.1.2.3/x"}, "url"),
        ({"events": []}, "events"),
        ({"active": 1}, "active"),
        ({"description": "\u0000"}, "description"),
        ({"secret": "whsec_mine"}, "secret"),
    ):
        error = error_of(table.tenant.patch(path, json=body), 400)
        assert str(error["field"]).startswith(field), (body, error)
    assert error_of(table.tenant.patch(path, content=b"not json"), 400)
    # null leaves a field as it is.
    kept = table.tenant.patch(path, json={"events": None, "description": None, "url": None})
    assert kept.status_code == 200, kept.text
    assert kept.json()["description"] == "first"
    assert kept.json()["events"] == webhook["events"]
    changed = table.tenant.patch(
        path, json={"url": receiver.url("/edited"), "events": ["record.deleted"], "active": False}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["url"] == receiver.url("/edited")
    assert changed.json()["active"] is False
    assert changed.json()["disabled_reason"] is None  # turned off by hand
    assert "secret" not in changed.json()


def test_other_tenants_and_unknown_ids_are_not_found(
    table: Table, other_tenant: Tenant, receiver: Receiver
) -> None:
    webhook = subscribe(table, receiver.url("/mine"))
    path = f"{hooks_path(table)}/{webhook['id']}"
    assert other_tenant.get(path).status_code == 404
    assert table.tenant.get(f"{hooks_path(table)}/whk_nothing").status_code == 404
    assert table.tenant.get(f"{path}/deliveries/msg_nothing").status_code == 404
    assert table.tenant.post(f"{path}/deliveries/msg_nothing/replay").status_code == 404
    bad_page = table.tenant.get(f"{path}/deliveries", params={"per_page": 1000})
    assert error_of(bad_page, 400)["field"] == "per_page"
    bad_state = table.tenant.get(f"{path}/deliveries", params={"state": "exploded"})
    assert error_of(bad_state, 400)["field"] == "state"
    bad_overlap = table.tenant.post(f"{path}/secret", json={"keep_previous_seconds": 10**7})
    assert error_of(bad_overlap, 400)["field"] == "keep_previous_seconds"
    deleted = table.tenant.delete(path)
    assert deleted.status_code == 204
    assert table.tenant.get(path).status_code == 404
