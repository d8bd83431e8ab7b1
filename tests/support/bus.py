"""Reading what services published to JetStream, with bounded waits, as the suite's
observer (tests.support.nats_users)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import orjson
from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import DeliverPolicy

from services.kit.nats.connection import NatsIdentity, connect
from tests.support.infra import Infra
from tests.support.nats_users import OBSERVER, nats_identity


@dataclass(frozen=True)
class BusReader:
    """The session's nats-server, read with the observer's credentials."""

    url: str
    identity: NatsIdentity

    @classmethod
    def of(cls, infra: Infra) -> BusReader:
        return cls(infra.nats_url, nats_identity(infra, OBSERVER))

    async def connect(self) -> Client:
        return await connect(self.url, name="test-observer", identity=self.identity)


@dataclass(frozen=True)
class Published:
    subject: str
    msg_id: str | None
    body: dict[str, Any]


def stream_messages(
    bus: BusReader,
    stream: str,
    subject: str,
    *,
    at_least: int = 1,
    timeout: float = 10.0,
    settle: float = 0.5,
) -> list[Published]:
    """Every message on `subject` in `stream`: waits (bounded) until at least `at_least`
    arrived, then briefly for stragglers, so a duplicate would be seen too."""

    async def read() -> list[Published]:
        connection = await bus.connect()
        try:
            js = connection.jetstream()
            subscription = await js.subscribe(
                subject, stream=stream, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
            )
            seen: list[Published] = []
            deadline = time.monotonic() + timeout
            quiet_until: float | None = None
            while time.monotonic() < deadline:
                if quiet_until is not None and time.monotonic() > quiet_until:
                    break
                try:
                    message = await subscription.next_msg(timeout=0.2)
                except (NatsTimeoutError, TimeoutError):
                    if len(seen) >= at_least and quiet_until is None:
                        quiet_until = time.monotonic() + settle
                    continue
                headers = message.headers or {}
                seen.append(
                    Published(
                        message.subject, headers.get("Nats-Msg-Id"), orjson.loads(message.data)
                    )
                )
            await subscription.unsubscribe()
            return seen
        finally:
            await connection.close()

    return asyncio.run(read())
