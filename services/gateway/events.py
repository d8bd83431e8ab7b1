"""What the gateway hears on NATS: identity changes that invalidate its caches, and schema
changes that invalidate the app definitions its API documents are made from.

`identity.<tenant>.member.*` drops the account's memberships and every credential made by
it (a token's rights follow its creator's role); `identity.<tenant>.credential.*` drops
the credential named (`credential_id`) or, without one, every credential of the account
and its memberships (`account_id`: a password change, logout everywhere), since the
cutoff its access JWTs are checked against comes with the memberships; and with them the
account's cookie sessions (a logout is announced this way too: rare enough that the
account's other cached entries may go with it)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.msg import Msg

from services.gateway.app_spec import AppDefinitions
from services.gateway.auth import Authenticator
from services.gateway.realtime import Hub
from services.kit.nats.events import Event
from services.kit.nats.permissions import SSO_ENFORCEMENT_CHANGED

log = logging.getLogger(__name__)


def membership_invalidator(
    authenticator: Authenticator, hub: Hub
) -> Callable[[Msg], Awaitable[None]]:
    async def on_identity_event(message: Msg) -> None:
        try:
            event = Event.from_message(message.subject, message.data)
        except (ValueError, KeyError, TypeError):
            log.warning("undecodable identity event on %s", message.subject)
            return
        data = event.data if isinstance(event.data, dict) else {}
        forget(event, data)
        # The realtime connections it may touch check their credentials again now: the
        # revoked ones end, the others are answered from what is still cached.
        hub.recheck_soon(
            tenant=event.tenant if event.entity == "member" else None,
            account_id=data.get("account_id"),
            credential_id=data.get("credential_id"),
        )

    def forget(event: Event, data: dict[str, Any]) -> None:
        account_id = data.get("account_id")
        if event.entity == "member" and event.action == SSO_ENFORCEMENT_CHANGED:
            # Its members' password logins open it no more, or again: only they change.
            authenticator.memberships.forget_workspace(str(data.get("workspace_id", "")))
            return
        if event.entity == "member":
            authenticator.memberships.forget(account_id)
            authenticator.credentials.forget(account_id=account_id)
            return
        credential_id = data.get("credential_id")
        if credential_id:
            authenticator.credentials.forget(credential_id=credential_id)
        elif account_id:
            authenticator.sessions.forget(account_id)
            authenticator.credentials.forget(account_id=account_id)
            authenticator.memberships.forget(account_id)

    return on_identity_event


def definitions_invalidator(definitions: AppDefinitions) -> Callable[[Msg], Awaitable[None]]:
    """`schema.<tenant>.app.*` and `schema.<tenant>.schema.*`: the workspace's apps and
    schemas as held for the API documents are read again."""

    async def on_schema_event(message: Msg) -> None:
        parts = message.subject.split(".")
        if len(parts) > 2:
            definitions.forget(parts[1])

    return on_schema_event
