"""The NATS roles keep every service to its own subjects, and the server configuration
rendered from them allows nothing a role does not list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.devstack.nats_auth import NatsUser, server_config
from services.kit.nats.permissions import ROLES, BusRole, Durable, Permissions, inbox_prefix


@pytest.mark.parametrize("role", list(ROLES.values()), ids=list(ROLES))
def test_a_role_publishes_no_other_services_events(role: BusRole) -> None:
    others = [name for name in ROLES if name != role.name]
    for subject in role.permissions().publish:
        assert not any(subject.split(".", 1)[0] == other for other in others), subject


@pytest.mark.parametrize("role", list(ROLES.values()), ids=list(ROLES))
def test_a_role_reads_replies_on_its_own_inbox_only(role: BusRole) -> None:
    inboxes = [s for s in role.permissions().subscribe if s.startswith("_INBOX")]
    assert inboxes == [f"{inbox_prefix(role.name)}.>"]


def test_a_consumer_of_another_stream_is_one_entry() -> None:
    """What a workflows service would be: its own events, durables on two streams."""
    role = BusRole(
        "workflows",
        consumes=(
            Durable("RECORDS", "workflows-triggers", "records.>"),
            Durable("SCHEMA", "workflows-schemas", "schema.*.schema.>"),
        ),
    )
    granted = role.permissions()
    assert "workflows.>" in granted.publish
    assert "$JS.API.STREAM.CREATE.WORKFLOWS" in granted.publish
    assert "$JS.API.CONSUMER.CREATE.RECORDS.workflows-triggers.records.>" in granted.publish
    assert "$JS.API.CONSUMER.MSG.NEXT.SCHEMA.workflows-schemas" in granted.publish
    assert "$JS.ACK.RECORDS.workflows-triggers.>" in granted.publish
    assert granted.subscribe == ("_INBOX.workflows.>",)


def test_the_gateway_may_follow_streams_but_not_the_durables_of_others() -> None:
    granted = ROLES["gateway"].permissions()
    assert "$JS.API.CONSUMER.CREATE.RECORDS.*.records.*.record.>" in granted.publish
    assert "$JS.API.CONSUMER.MSG.NEXT.SCHEMA.*" in granted.publish
    owned = [d for role in ROLES.values() for d in role.consumes]
    assert owned
    for durable in owned:
        if durable.stream in ("RECORDS", "SCHEMA", "WORKFLOWS"):
            next_message = f"$JS.API.CONSUMER.MSG.NEXT.{durable.stream}.{durable.name}"
            assert next_message in granted.publish_denied
    config = json.loads(
        server_config(
            host="127.0.0.1",
            port=4222,
            store_dir=Path("/data/nats"),
            log_file=Path("/data/nats/server.log"),
            users=[NatsUser("UGATEWAY", granted)],
        )
    )
    rendered = config["authorization"]["users"][0]["permissions"]["publish"]
    assert rendered["deny"] == list(granted.publish_denied)


def test_the_server_configuration_allows_only_what_is_listed() -> None:
    config = json.loads(
        server_config(
            host="127.0.0.1",
            port=4222,
            store_dir=Path("/data/nats"),
            log_file=Path("/data/nats/server.log"),
            users=[
                NatsUser("UREADER", Permissions(subscribe=("a.>",))),
                NatsUser("UWRITER", Permissions(publish=("b.>",), subscribe=("_INBOX.w.>",))),
            ],
        )
    )
    assert config["listen"] == "127.0.0.1:4222"
    assert "no_auth_user" not in config["authorization"]
    reader, writer = config["authorization"]["users"]
    # An empty allow list would let the reader publish anywhere.
    assert reader == {
        "nkey": "UREADER",
        "permissions": {"publish": {"deny": [">"]}, "subscribe": {"allow": ["a.>"]}},
    }
    assert writer["permissions"] == {
        "publish": {"allow": ["b.>"]},
        "subscribe": {"allow": ["_INBOX.w.>"]},
    }
