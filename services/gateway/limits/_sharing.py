"""Sharing counts between gateway replicas through the JetStream KV bucket `rate_limits`.

Nothing on the request path waits for NATS. Each replica keeps its own count of each
counter under its own key (`<counter>.<replica>`), so writes never contend; every
`interval` it publishes the counts that changed, and it hears the others' as they are
written (a subscription on the bucket's subjects), adding them to its counters. A replica
that starts, or comes back after losing NATS, first reads what the bucket holds.

The bound: a replica admits requests on what it knows, which lags the others by at most
one interval plus the delivery time; so with N replicas a key can pass its limit by what
the other N-1 admit for it in that lag, never more than N times the limit.

Without NATS each replica keeps enforcing every limit on its own counts (a key then gets
up to N times its limit across N replicas), says so once in the log, and shares again
when NATS is back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue

from services.gateway.limits._counting import RateLimiter
from services.kit.nats.permissions import RATE_LIMITS_BUCKET

log = logging.getLogger(__name__)

BUCKET = RATE_LIMITS_BUCKET
_SUBJECTS = f"$KV.{BUCKET}."
# Ended windows are dropped from memory this often.
FORGET_INTERVAL_SECONDS = 1.0
# Reading what the bucket holds, at start and after an outage, waits at most this long.
LOAD_TIMEOUT_SECONDS = 5.0


class SharedCounts:
    def __init__(self, limiter: RateLimiter, *, interval: float) -> None:
        self.limiter = limiter
        self.interval = interval
        self.replica = uuid.uuid4().hex[:12]

    async def run(self, nats: Client) -> None:
        """Shares counts until cancelled."""
        try:
            bucket = await self._bucket(nats)
            await nats.subscribe(f"{_SUBJECTS}>", cb=self._on_count)
        except Exception:
            log.warning(
                "rate limits: bucket %s unavailable; each replica counts alone",
                BUCKET,
                exc_info=True,
            )
            await self._forget_ended_forever()
            return
        await self._load(bucket)
        reconnects = nats.stats["reconnects"]
        shared = True
        since_forgetting = 0.0
        while True:
            await asyncio.sleep(self.interval)
            since_forgetting += self.interval
            if since_forgetting >= FORGET_INTERVAL_SECONDS:
                since_forgetting = 0.0
                self.limiter.forget_ended()
            if not nats.is_connected:
                if shared:
                    log.warning("rate limits: NATS unreachable; counting on this replica alone")
                    shared = False
                continue
            if not shared or nats.stats["reconnects"] != reconnects:
                # What the others wrote meanwhile was missed, and they missed ours.
                reconnects = nats.stats["reconnects"]
                if not shared:
                    log.info("rate limits: NATS is back; sharing counts again")
                shared = True
                await self._load(bucket)
                counts = self.limiter.own_counts()
            else:
                counts = self.limiter.unshared()
            for name, count in counts:
                # Core publishes into the bucket's stream: no acknowledgement awaited per
                # key; a lost one is superseded by the next count of the same key.
                await nats.publish(f"{_SUBJECTS}{name}.{self.replica}", str(count).encode())

    async def _bucket(self, nats: Client) -> KeyValue:
        js = nats.jetstream()
        try:
            return await js.key_value(BUCKET)
        except BucketNotFoundError:
            pass
        longest = max((p.window_seconds for p in self.limiter.policies.values()), default=60)
        config = KeyValueConfig(
            bucket=BUCKET, history=1, ttl=float(2 * longest), storage=StorageType.MEMORY
        )
        try:
            return await js.create_key_value(config)
        except Exception:
            # Another replica created it first (perhaps with other windows): use theirs.
            return await js.key_value(BUCKET)

    async def _load(self, bucket: KeyValue) -> None:
        try:
            watcher = await bucket.watchall(ignore_deletes=True)
        except Exception:
            log.warning("rate limits: could not read bucket %s", BUCKET, exc_info=True)
            return
        try:
            while True:
                entry = await watcher.updates(timeout=LOAD_TIMEOUT_SECONDS)
                if entry is None:
                    break
                self._heard(entry.key, entry.value)
        except Exception:
            log.warning("rate limits: reading bucket %s stopped early", BUCKET, exc_info=True)
        finally:
            with contextlib.suppress(Exception):
                await watcher.stop()

    async def _on_count(self, message: Msg) -> None:
        self._heard(message.subject[len(_SUBJECTS) :], message.data)

    def _heard(self, key: str, value: bytes | None) -> None:
        name, _, replica = key.rpartition(".")
        if not name or replica == self.replica or not value:
            return
        try:
            count = int(value)
        except ValueError:
            return
        self.limiter.heard(name, replica, count)

    async def _forget_ended_forever(self) -> None:
        while True:
            await asyncio.sleep(FORGET_INTERVAL_SECONDS)
            self.limiter.forget_ended()
