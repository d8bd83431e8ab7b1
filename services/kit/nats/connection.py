"""Connecting to NATS and declaring a service's JetStream stream."""

from __future__ import annotations

import logging

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

log = logging.getLogger(__name__)

# JetStream drops a repeated Nats-Msg-Id inside this window; a relay restarted after a
# crash republishes well inside it.
DUPLICATE_WINDOW_SECONDS = 600


async def connect(url: str, *, name: str) -> Client:
    return await nats.connect(
        url,
        name=f"tessera-{name}",
        connect_timeout=5,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
    )


async def ensure_stream(js: JetStreamContext, *, name: str, subjects: list[str]) -> None:
    """Creates the stream, or updates its subjects; safe to call from every replica."""
    config = StreamConfig(name=name, subjects=subjects, duplicate_window=DUPLICATE_WINDOW_SECONDS)
    try:
        await js.stream_info(name)
    except NotFoundError:
        await js.add_stream(config)
        log.info("created stream %s for %s", name, subjects)
    else:
        await js.update_stream(config)
