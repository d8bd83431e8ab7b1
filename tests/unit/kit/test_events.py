from __future__ import annotations

import orjson
import pytest
from opentelemetry.sdk.trace import TracerProvider

from services.kit.ids import new_id
from services.kit.nats.events import Event


def test_subject_follows_service_tenant_entity_action() -> None:
    event = Event.new(
        service="records", tenant="ws_abc", entity="record", action="created", data={"x": 1}
    )
    assert event.subject == "records.ws_abc.record.created"
    assert event.type == "records.record.created"
    assert event.id.startswith("evt_")


def test_envelope_round_trip() -> None:
    event = Event.new(
        service="schema", tenant="ws_t", entity="app", action="created", data={"app": {"slug": "a"}}
    )
    body = orjson.loads(event.to_json())
    assert set(body) == {"id", "type", "tenant", "time", "data"}
    assert body["time"].endswith("Z")
    again = Event.from_message(event.subject, event.to_json())
    assert (again.id, again.entity, again.action, again.data) == (
        event.id,
        "app",
        "created",
        event.data,
    )


def test_a_body_naming_another_tenant_than_its_subject_is_no_event() -> None:
    event = Event.new(service="schema", tenant="ws_a", entity="app", action="created", data={})
    with pytest.raises(ValueError, match="tenant"):
        Event.from_message("schema.ws_b.app.created", event.to_json())


def test_ids_are_prefixed_unguessable_and_identifier_safe() -> None:
    ids = {new_id("rec") for _ in range(1000)}
    assert len(ids) == 1000
    for value in ids:
        prefix, token = value.split("_")
        assert prefix == "rec"
        assert len(token) == 26
        assert token.isalnum()
        assert token == token.lower()


def test_events_carry_the_current_trace() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("change") as span:
        event = Event.new(service="schema", tenant="ws_t", entity="app", action="created", data={})
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert event.headers["traceparent"].split("-")[1] == trace_id
    outside = Event.new(service="schema", tenant="ws_t", entity="app", action="created", data={})
    assert "traceparent" not in outside.headers


def test_many_events_of_one_change_share_its_time_and_trace() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("import"):
        events = Event.many(
            service="records",
            tenant="ws_t",
            entity="record",
            action="created",
            datas=({"n": n} for n in range(3)),
        )
    assert [e.data for e in events] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert len({e.id for e in events}) == 3
    assert len({e.time for e in events}) == 1
    assert len({e.headers["traceparent"] for e in events}) == 1
    assert all(e.subject == "records.ws_t.record.created" for e in events)
