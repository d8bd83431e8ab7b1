"""NATS admits the services' own keys only, and each key only to its service's subjects:
an anonymous client or an unknown key is refused; a service cannot publish another's
events, listen to what it does not consume, read another's stream or reply inbox, or use
a key-value bucket other than its own; the services' own traffic still flows.

The server reports a refused publish or subscription asynchronously (an -ERR the client
hands to its error callback), so each test waits for that report; that nothing arrived is
checked after a round trip to the server, which delivers in order whatever it routed
before answering."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nats
import nkeys
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js.api import AckPolicy, ConsumerConfig, RePublish, StreamConfig, StreamSource
from nats.js.errors import NoKeysError, NotFoundError
from nats.js.kv import KeyValue

from services.kit.ids import new_id
from services.kit.nats.connection import NatsIdentity
from services.kit.nats.permissions import RATE_LIMITS_BUCKET, RECORD_TRIGGERS
from tests.factories.accounts import Tenant
from tests.factories.apps import create_app, create_schema, records_path
from tests.support.infra import Infra
from tests.support.nats_users import OBSERVER, nats_identity, require_nats_auth

WAIT_SECONDS = 10.0


# The services run, with their streams and consumers, as in production.
pytestmark = pytest.mark.usefixtures("stack")


@pytest.fixture(autouse=True)
def _own_server(infra: Infra) -> None:
    require_nats_auth(infra)


@dataclass
class Watched:
    """A connection and every error the server reported on it."""

    nc: Client
    errors: list[Exception] = field(default_factory=list)

    async def refused(self, kind: str, subject: str) -> None:
        """Waits (bounded) for the server's permissions violation on `subject`."""
        expected = f'permissions violation for {kind} to "{subject}'.lower()
        await self.nc.flush()
        await eventually(lambda: any(expected in str(e).lower() for e in self.errors))

    async def heard_nothing(self, subscription: Received) -> None:
        await self.nc.flush()
        assert subscription.messages == []


@dataclass
class Received:
    messages: list[Msg] = field(default_factory=list)

    async def take(self, message: Msg) -> None:
        self.messages.append(message)


async def eventually(condition: Callable[[], bool | Awaitable[bool]]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        outcome = condition()
        if outcome if isinstance(outcome, bool) else await outcome:
            return
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def connected(infra: Infra, identity: NatsIdentity) -> AsyncIterator[Watched]:
    errors: list[Exception] = []
    watched = Watched(await _connect(infra.nats_url, identity.connect_options(), errors), errors)
    try:
        yield watched
    finally:
        await watched.nc.close()


async def _connect(url: str, options: dict[str, object], errors: list[Exception]) -> Client:
    return await nats.connect(
        url,
        allow_reconnect=False,
        connect_timeout=5,
        error_cb=_collect(errors),
        **options,
    )


def _collect(errors: list[Exception]) -> Callable[[Exception], Awaitable[None]]:
    async def on_error(error: Exception) -> None:
        errors.append(error)

    return on_error


# Refused at the door


def test_an_anonymous_client_is_refused(infra: Infra) -> None:
    async def scenario() -> None:
        with pytest.raises(NatsError, match="Authorization Violation"):
            await _connect(infra.nats_url, {}, [])

    asyncio.run(scenario())


def test_a_key_the_server_does_not_know_is_refused(infra: Infra, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger.nk"
    stranger.write_bytes(nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER))

    async def scenario() -> None:
        with pytest.raises(NatsError, match="Authorization Violation"):
            await _connect(infra.nats_url, {"nkeys_seed": str(stranger)}, [])

    asyncio.run(scenario())


# Publishing: only a service's own events


@pytest.mark.parametrize(
    ("role", "forged"),
    [
        ("records", "identity.{tenant}.member.added"),
        ("gateway", "identity.{tenant}.credential.revoked"),
        ("identity", "schema.{tenant}.schema.created"),
        ("schema", "records.{tenant}.record.created"),
    ],
)
def test_a_service_cannot_publish_another_services_events(
    infra: Infra, role: str, forged: str
) -> None:
    subject = forged.format(tenant=new_id("ws"))
    owner = subject.split(".", 1)[0]

    async def scenario() -> None:
        async with (
            connected(infra, nats_identity(infra, OBSERVER)) as observer,
            connected(infra, nats_identity(infra, role)) as service,
        ):
            heard = Received()
            await observer.nc.subscribe(subject, cb=heard.take)
            await observer.nc.flush()

            await service.nc.publish(subject, b'{"forged": true}')
            await service.refused("publish", subject)
            await observer.heard_nothing(heard)
            # Nor did the owner's stream take it in.
            info = await observer.nc.jetstream().stream_info(owner.upper(), subjects_filter=subject)
            assert not info.state.subjects

    asyncio.run(scenario())


# Listening: only what a service consumes


@pytest.mark.parametrize(
    ("role", "subject"),
    [
        ("gateway", "records.>"),
        # Wider than the member and credential events its caches need: account events
        # carry e-mail addresses.
        ("gateway", "identity.>"),
        ("identity", "schema.>"),
        ("schema", "identity.*.member.*"),
        ("records", "identity.>"),
        # Another service's replies: pulled messages and JetStream answers.
        ("gateway", "_INBOX.records.>"),
        ("records", "_INBOX.>"),
        # The schema service's audit events carry members' addresses; records needs none.
        ("records", "schema.*.audit.recorded"),
    ],
)
def test_a_service_cannot_listen_to_what_it_does_not_consume(
    infra: Infra, role: str, subject: str
) -> None:
    async def scenario() -> None:
        async with connected(infra, nats_identity(infra, role)) as service:
            await service.nc.subscribe(subject)
            await service.refused("subscription", subject)

    asyncio.run(scenario())


def test_record_contents_reach_no_subscriber_without_the_right(
    infra: Infra, shared_tenant: Tenant
) -> None:
    """The attack as found: a client subscribes to `>` hoping for every tenant's records.
    With the gateway's own key it is refused and hears nothing of a record written while
    it listens, which the observer does hear."""
    app = create_app(shared_tenant, name="Secret")
    create_schema(shared_tenant, app["slug"])
    subject = f"records.{shared_tenant.workspace_id}.record.created"

    async def scenario() -> None:
        async with (
            connected(infra, nats_identity(infra, OBSERVER)) as observer,
            connected(infra, nats_identity(infra, "gateway")) as gateway,
        ):
            observed, snooped = Received(), Received()
            await observer.nc.subscribe(subject, cb=observed.take)
            await observer.nc.flush()
            await gateway.nc.subscribe(">", cb=snooped.take)
            await gateway.refused("subscription", ">")

            created = await asyncio.to_thread(
                shared_tenant.post, records_path(app["slug"]), json={"name": "Classified"}
            )
            assert created.status_code == 201
            await eventually(lambda: bool(observed.messages))
            assert b"Classified" in observed.messages[0].data
            await gateway.heard_nothing(snooped)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("role", "stream", "subject"),
    [
        ("gateway", "RECORDS", "records.>"),
        ("records", "IDENTITY", "identity.>"),
        ("identity", "SCHEMA", "schema.>"),
    ],
)
def test_a_service_cannot_read_another_services_stream(
    infra: Infra, role: str, stream: str, subject: str
) -> None:
    async def scenario() -> None:
        async with connected(infra, nats_identity(infra, role)) as service:
            js = service.nc.jetstream(timeout=2)
            # The request is dropped, so no answer comes back before the deadline.
            with pytest.raises(Exception):  # noqa: B017
                await js.pull_subscribe(subject, stream=stream)
            await service.refused("publish", f"$JS.API.CONSUMER.CREATE.{stream}")

    asyncio.run(scenario())


def test_records_cannot_widen_its_durable_consumer_on_schema(infra: Infra) -> None:
    """Its durable on SCHEMA may filter schema definitions only; one over every schema
    event under the same name is refused."""

    async def scenario() -> None:
        async with connected(infra, nats_identity(infra, "records")) as records:
            js = records.nc.jetstream(timeout=2)
            wider = ConsumerConfig(
                name="records-schema-provisioner",
                durable_name="records-schema-provisioner",
                filter_subject="schema.>",
                ack_policy=AckPolicy.EXPLICIT,
            )
            with pytest.raises(Exception):  # noqa: B017
                await js.add_consumer("SCHEMA", wider)
            await records.refused(
                "publish", "$JS.API.CONSUMER.CREATE.SCHEMA.records-schema-provisioner.schema.>"
            )

    asyncio.run(scenario())


def test_the_gateway_follows_event_streams_but_never_takes_another_services_messages(
    infra: Infra,
) -> None:
    """Realtime's consumers: any name, a filter inside its grant, one tenant's or all;
    never a durable another service owns, nor a wider filter."""

    async def scenario() -> None:
        async with connected(infra, nats_identity(infra, "gateway")) as gateway:
            js = gateway.nc.jetstream(timeout=2)
            mine = ConsumerConfig(
                name="realtime-test",
                filter_subject="records.ws_someone.record.>",
                ack_policy=AckPolicy.NONE,
                inactive_threshold=5,
            )
            await js.add_consumer("RECORDS", mine)
            await js.delete_consumer("RECORDS", "realtime-test")
            with pytest.raises(Exception):  # noqa: B017
                await js.add_consumer(
                    "SCHEMA",
                    ConsumerConfig(name="realtime-wide", filter_subject="schema.>"),
                )
            await gateway.refused(
                "publish", "$JS.API.CONSUMER.CREATE.SCHEMA.realtime-wide.schema.>"
            )
            theirs = RECORD_TRIGGERS.name
            await gateway.nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.RECORDS.{theirs}", b"1")
            await gateway.refused("publish", f"$JS.API.CONSUMER.MSG.NEXT.RECORDS.{theirs}")
            await gateway.nc.publish(f"$JS.API.CONSUMER.DELETE.RECORDS.{theirs}", b"")
            await gateway.refused("publish", f"$JS.API.CONSUMER.DELETE.RECORDS.{theirs}")

    asyncio.run(scenario())


@pytest.mark.parametrize("role", ["identity", "schema", "records"])
def test_a_service_cannot_make_its_stream_copy_another(infra: Infra, role: str) -> None:
    """A stream's configuration can source another stream and re-publish it anywhere, which
    no subject permission checks: a service may create its stream, never change it, and
    creating it again with such a configuration is refused by the server."""
    stream = role.upper()
    copying = StreamConfig(
        name=stream,
        subjects=[f"{role}.>"],
        sources=[StreamSource(name="RECORDS" if role != "records" else "IDENTITY")],
        republish=RePublish(src=">", dest=f"_INBOX.{role}.copied.>"),
    )

    async def scenario() -> None:
        async with connected(infra, nats_identity(infra, role)) as service:
            js = service.nc.jetstream(timeout=2)
            with pytest.raises(Exception):  # noqa: B017
                await js.update_stream(copying)
            await service.refused("publish", f"$JS.API.STREAM.UPDATE.{stream}")
            with pytest.raises(Exception):  # noqa: B017
                await js.add_stream(copying)
            info = await js.stream_info(stream)
            assert not info.config.sources
            assert info.config.republish is None

    asyncio.run(scenario())


# What the services do still works under their keys


def test_the_records_provisioner_acknowledges_schema_events(
    infra: Infra, shared_tenant: Tenant
) -> None:
    """The records service creates its durable consumer on SCHEMA, pulls and acks with
    its own key: the consumer's acknowledged floor passes a new schema's event."""
    app = create_app(shared_tenant, name="Provisioned")
    create_schema(shared_tenant, app["slug"])
    subject = f"schema.{shared_tenant.workspace_id}.schema.created"

    async def scenario() -> None:
        async with connected(infra, nats_identity(infra, OBSERVER)) as observer:
            js = observer.nc.jetstream()
            sequence = (await js.get_last_msg("SCHEMA", subject)).seq
            assert sequence is not None

            async def acknowledged() -> bool:
                info = await js.consumer_info("SCHEMA", "records-schema-provisioner")
                return info.ack_floor.stream_seq >= sequence

            await eventually(acknowledged)

    asyncio.run(scenario())


async def listed_keys(bucket: KeyValue) -> list[str]:
    """The bucket's keys. nats-py lists them through a watcher that may report "no more"
    before the server has counted what is pending, on a busy machine: ask again."""
    for _ in range(20):
        try:
            return list(await bucket.keys())
        except NoKeysError:
            await asyncio.sleep(0.1)
    return []


def test_the_gateway_may_use_its_rate_limit_bucket_and_no_other(infra: Infra) -> None:
    key = f"probe-{secrets.token_hex(4)}"

    async def scenario() -> None:
        async with connected(infra, nats_identity(infra, "gateway")) as gateway:
            js = gateway.nc.jetstream(timeout=2)
            try:
                bucket = await js.key_value(RATE_LIMITS_BUCKET)
            except NotFoundError:
                bucket = await js.create_key_value(bucket=RATE_LIMITS_BUCKET, history=1)
            written = Received()
            await gateway.nc.subscribe(f"$KV.{RATE_LIMITS_BUCKET}.{key}", cb=written.take)
            revision = await bucket.create(key, b"1")
            await bucket.update(key, b"2", last=revision)
            entry = await bucket.get(key)
            assert entry.value == b"2"
            assert key in await listed_keys(bucket)
            watcher = await bucket.watch(key)
            latest = await watcher.updates(timeout=WAIT_SECONDS)
            assert latest is not None
            assert latest.value == b"2"
            await watcher.stop()
            await eventually(lambda: [m.data for m in written.messages] == [b"1", b"2"])
            await bucket.delete(key)
            await bucket.purge(key)
            assert gateway.errors == []

            with pytest.raises(Exception):  # noqa: B017
                await js.create_key_value(bucket="sessions")
            await gateway.refused("publish", "$JS.API.STREAM.CREATE.KV_sessions")

    asyncio.run(scenario())
