"""Every change is published once, through the outbox, on the owning service's stream."""

from __future__ import annotations

from tests.factories.accounts import Tenant
from tests.factories.apps import create_app, create_schema, records_path
from tests.support.bus import BusReader, stream_messages


def test_record_changes_publish_exactly_one_event_each(bus: BusReader, tenant: Tenant) -> None:
    app = create_app(tenant, name="Events")
    create_schema(tenant, app["slug"])
    path = records_path(app["slug"])
    record = tenant.post(path, json={"name": "Evented"}).json()
    tenant.patch(f"{path}/{record['id']}", json={"score": 3})
    tenant.delete(f"{path}/{record['id']}")

    events = stream_messages(bus, "RECORDS", f"records.{tenant.workspace_id}.record.>", at_least=3)
    assert [e.subject.rsplit(".", 1)[1] for e in events] == ["created", "updated", "deleted"]
    for event in events:
        assert event.msg_id == event.body["id"]
        assert event.body["tenant"] == tenant.workspace_id
        assert event.body["type"].startswith("records.record.")
    assert events[0].body["data"]["record"]["id"] == record["id"]
    assert len({e.msg_id for e in events}) == 3


def test_identity_and_schema_changes_are_published(bus: BusReader, tenant: Tenant) -> None:
    identity = stream_messages(bus, "IDENTITY", f"identity.{tenant.workspace_id}.>", at_least=1)
    assert any(e.subject.endswith("account.created") for e in identity)
    create_schema(tenant, create_app(tenant, name="Published")["slug"])
    schema = stream_messages(bus, "SCHEMA", f"schema.{tenant.workspace_id}.>", at_least=2)
    assert [e.subject.split(".", 2)[2] for e in schema] == ["app.created", "schema.created"]
