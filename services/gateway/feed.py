"""What realtime is fed from: the records, schema and workflows streams on JetStream.

Each gateway tails every stream once, for all tenants (`Tail`): an ephemeral pull consumer
of its own, made again from the last sequence it handed on whenever it is gone (a NATS
restart), so a replica misses nothing while it runs. A subscriber that comes back names
where it stopped; what it missed is read again for its tenant alone (`replay`), by a short-
lived consumer whose filter names the tenant, from the stream itself, as far back as the
stream keeps events.

An event id is a position in all three streams at once ("<records>-<schema>-<workflows>",
stream sequences): an event's own stream's part is its sequence, and the others say how
far the subscriber has been given those. Resuming from it misses nothing and repeats
nothing, whichever replica served it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from services.kit.nats.permissions import REALTIME_FEEDS, stream_name

log = logging.getLogger(__name__)

# A consumer nobody pulls from is removed by the server after this long (a replica that
# died, a replay cut short).
CONSUMER_IDLE_SECONDS: Final = 30.0
FETCH_BATCH: Final = 128
# How long one pull waits for news before the tail checks that its consumer still exists.
FETCH_WAIT_SECONDS: Final = 2.0
RETRY_SECONDS: Final = 1.0
# A tenant id goes into a consumer's filter: one token, nothing NATS reads as a wildcard.
_SUBJECT_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,100}", re.ASCII)
_EVENT_ID = re.compile(r"([0-9]{1,19})-([0-9]{1,19})-([0-9]{1,19})", re.ASCII)


@dataclass(frozen=True, slots=True)
class Feed:
    """One stream realtime reads: the events of `entity` its service publishes."""

    service: str
    entity: str

    @property
    def stream(self) -> str:
        return stream_name(self.service)

    @property
    def every_tenant(self) -> str:
        return f"{self.service}.*.{self.entity}.>"

    def of_tenant(self, tenant: str) -> str:
        if not _SUBJECT_TOKEN.fullmatch(tenant):
            raise ValueError(f"not a tenant id: {tenant!r}")
        return f"{self.service}.{tenant}.{self.entity}.>"


FEEDS: Final = tuple(Feed(service, entity) for service, entity in REALTIME_FEEDS)
RECORDS, SCHEMAS, RUNS = range(len(FEEDS))
Position = tuple[int, ...]


def format_event_id(position: Sequence[int]) -> str:
    return "-".join(str(seq) for seq in position)


def parse_event_id(raw: str) -> Position | None:
    """The position an event id names; None for anything that is not one."""
    match = _EVENT_ID.fullmatch(raw) if isinstance(raw, str) else None
    return None if match is None else tuple(int(part) for part in match.groups())


@dataclass(frozen=True, slots=True)
class StreamBounds:
    first: int
    last: int


async def bounds(js: JetStreamContext, feed: Feed) -> StreamBounds:
    """The sequences of the oldest and newest event the stream holds (0, 0: none yet, or
    no stream yet: its service has not started)."""
    try:
        info = await js.stream_info(feed.stream)
    except NotFoundError:
        return StreamBounds(0, 0)
    return StreamBounds(info.state.first_seq, info.state.last_seq)


def _consumer(name: str, subject: str, after: int) -> ConsumerConfig:
    return ConsumerConfig(
        name=name,
        filter_subject=subject,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=after + 1,
        ack_policy=AckPolicy.NONE,
        inactive_threshold=CONSUMER_IDLE_SECONDS,
        mem_storage=True,
        num_replicas=1,
    )


def _consumer_name() -> str:
    return f"realtime-{secrets.token_hex(8)}"


def sequence_of(message: Msg) -> int:
    return int(message.metadata.sequence.stream)


class Tail:
    """Follows one stream for every tenant, handing each batch to `deliver` in order.
    `fetched`: the newest sequence taken from the stream (handed on or about to be);
    `delivered`: the newest one whose batch `deliver` has finished with. `lost` is called
    when the stream no longer holds events this replica had not read yet (it was away too
    long, or the stream was made anew)."""

    def __init__(
        self,
        feed: Feed,
        deliver: Callable[[Sequence[Msg]], Awaitable[None]],
        lost: Callable[[], None],
    ) -> None:
        self.feed = feed
        self._deliver = deliver
        self._lost = lost
        self.fetched = 0
        self.delivered = 0
        self.started = asyncio.Event()

    async def run(self, js: JetStreamContext) -> None:
        while True:
            try:
                if not self.started.is_set():
                    # Live from here on: what came before is for replays.
                    self.fetched = self.delivered = (await bounds(js, self.feed)).last
                    self.started.set()
                await self._follow(js)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("realtime feed %s interrupted: %s", self.feed.stream, error)
                await asyncio.sleep(RETRY_SECONDS)

    async def _follow(self, js: JetStreamContext) -> None:
        held = await bounds(js, self.feed)
        if held.last < self.delivered or held.first > self.delivered + 1 > 1:
            log.warning("realtime feed %s lost events; subscribers resync", self.feed.stream)
            self.fetched = self.delivered = max(0, held.first - 1)
            self._lost()
        name = _consumer_name()
        await js.add_consumer(
            self.feed.stream, _consumer(name, self.feed.every_tenant, self.delivered)
        )
        subscription = await js.pull_subscribe_bind(name, self.feed.stream)
        try:
            while True:
                try:
                    messages = await subscription.fetch(FETCH_BATCH, timeout=FETCH_WAIT_SECONDS)
                except (TimeoutError, NatsTimeout):
                    # Quiet, or the consumer went with a NATS restart: asked, it says.
                    await js.consumer_info(self.feed.stream, name)
                    continue
                fresh = [m for m in messages if sequence_of(m) > self.delivered]
                if not fresh:
                    continue
                self.fetched = sequence_of(fresh[-1])
                await self._deliver(fresh)
                self.delivered = self.fetched
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
            with contextlib.suppress(Exception):
                await js.delete_consumer(self.feed.stream, name)


async def replay(
    js: JetStreamContext, feed: Feed, tenant: str, after: int, upto: int
) -> AsyncGenerator[list[Msg], None]:
    """The tenant's events with sequences in (after, upto], in batches, in order."""
    if after >= upto:
        return
    name = _consumer_name()
    info = await js.add_consumer(feed.stream, _consumer(name, feed.of_tenant(tenant), after))
    subscription = await js.pull_subscribe_bind(name, feed.stream)
    try:
        pending = info.num_pending or 0
        while pending > 0:
            messages = await subscription.fetch(min(FETCH_BATCH, pending), timeout=5.0)
            pending -= len(messages)
            wanted = [m for m in messages if sequence_of(m) <= upto]
            if wanted:
                yield wanted
            if len(wanted) < len(messages) or (messages and sequence_of(messages[-1]) >= upto):
                return
    finally:
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()
        with contextlib.suppress(Exception):
            await js.delete_consumer(feed.stream, name)


__all__ = [
    "FEEDS",
    "RECORDS",
    "RUNS",
    "SCHEMAS",
    "Feed",
    "Position",
    "StreamBounds",
    "Tail",
    "bounds",
    "format_event_id",
    "parse_event_id",
    "replay",
    "sequence_of",
]
