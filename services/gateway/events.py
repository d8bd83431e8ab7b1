"""What the gateway hears on NATS: identity changes that invalidate its caches."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import orjson
from nats.aio.msg import Msg

from services.gateway.auth import Authenticator

log = logging.getLogger(__name__)

IDENTITY_SUBJECTS = "identity.>"


def membership_invalidator(authenticator: Authenticator) -> Callable[[Msg], Awaitable[None]]:
    async def on_identity_event(message: Msg) -> None:
        entity = message.subject.split(".")[2:3]
        if entity != ["member"]:
            return
        try:
            data = orjson.loads(message.data).get("data", {})
        except orjson.JSONDecodeError:
            log.warning("undecodable identity event on %s", message.subject)
            return
        authenticator.memberships.forget(data.get("account_id"))

    return on_identity_event
