"""Connecting to NATS and declaring a service's JetStream stream."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from services.kit.nats.permissions import inbox_prefix

log = logging.getLogger(__name__)

# JetStream drops a repeated Nats-Msg-Id inside this window; a relay restarted after a
# crash republishes well inside it.
DUPLICATE_WINDOW_SECONDS = 600
# How long a stream keeps an event. Durable consumers read far sooner; without a limit a
# stream (and the server's memory for its index and caches) grows with every write ever
# made. A consumer away for longer starts again from what is left.
EVENT_RETENTION_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class NatsIdentity:
    """Who a connection is on NATS: the role its permissions and inbox prefix follow from
    (services.kit.nats.permissions), and the secret that proves it. An nkey seed file
    signs the server's challenge (the devstack writes one per service); a .creds file is
    for servers run in operator (JWT) mode. Neither: an anonymous connection, which a
    server with authorization refuses."""

    role: str
    seed_file: Path | None = None
    creds_file: Path | None = None

    def connect_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"inbox_prefix": inbox_prefix(self.role)}
        if self.seed_file is not None:
            options["nkeys_seed"] = str(self.seed_file)
        if self.creds_file is not None:
            options["user_credentials"] = str(self.creds_file)
        return options


async def connect(url: str, *, name: str, identity: NatsIdentity | None = None) -> Client:
    """A connection that keeps trying until the server takes it, and reconnects forever
    after; the secret stays out of the URL, which is logged."""

    async def on_error(error: Exception) -> None:
        # A refused key or a permissions violation names the subject; it says which
        # credentials or which grant in services.kit.nats.permissions to look at.
        log.error("NATS reported an error to %s: %s", name, error)

    return await nats.connect(
        url,
        name=f"tessera-{name}",
        connect_timeout=5,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        error_cb=on_error,
        **(identity.connect_options() if identity is not None else {}),
    )


async def ensure_stream(js: JetStreamContext, *, name: str, subjects: list[str]) -> None:
    """Creates the stream when it is missing; safe to call from every replica. An existing
    stream is left as it is: services may create their stream but not change it (see
    services.kit.nats.permissions), so a stream whose configuration must change is updated
    by an operator with the server's own credentials."""
    config = StreamConfig(
        name=name,
        subjects=subjects,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        max_age=EVENT_RETENTION_SECONDS,
    )
    try:
        info = await js.stream_info(name)
    except NotFoundError:
        await js.add_stream(config)
        log.info("created stream %s for %s", name, subjects)
        return
    if sorted(info.config.subjects or []) != sorted(subjects):
        log.error(
            "stream %s takes %s, not %s: update it with an operator's credentials",
            name,
            info.config.subjects,
            subjects,
        )
    if not info.config.max_age:
        log.warning(
            "stream %s keeps its events forever: give it a max_age (%d s) with an operator's "
            "credentials",
            name,
            EVENT_RETENTION_SECONDS,
        )
