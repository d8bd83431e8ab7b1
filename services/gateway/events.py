"""What the gateway hears on NATS: identity changes that invalidate its caches.

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

import orjson
from nats.aio.msg import Msg

from services.gateway.auth import Authenticator

log = logging.getLogger(__name__)

# Only what invalidates a cache: the gateway's NATS user may subscribe to nothing else of
# identity's (services.kit.nats.permissions).
IDENTITY_SUBJECTS = ("identity.*.member.*", "identity.*.credential.*")


def membership_invalidator(authenticator: Authenticator) -> Callable[[Msg], Awaitable[None]]:
    async def on_identity_event(message: Msg) -> None:
        entity = message.subject.split(".")[2:3]
        if entity not in (["member"], ["credential"]):
            return
        try:
            data = orjson.loads(message.data).get("data", {})
        except orjson.JSONDecodeError:
            log.warning("undecodable identity event on %s", message.subject)
            return
        account_id = data.get("account_id")
        if entity == ["member"]:
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
