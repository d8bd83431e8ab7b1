"""Cookie sessions identity resolved, held at the gateway so a cookie-authenticated
request costs no call to identity.

Entries are keyed by the session id's hash (the cookie's value is never kept), held at
most the configured time, and dropped when identity reports that a session of the
account may have ended: a logout, or an account-wide revocation such as a password
change. What a session may reach in a workspace comes from the account's memberships,
cached and dropped on their own, so a removed member loses the workspace at once either
way."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from tessera.identity.v1 import identity_pb2

from services.gateway.clients import Backends
from services.kit.expiring import ExpiringCache

SESSION_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class ResolvedSession:
    account_id: str
    csrf_token: str
    # A single sign-on session's workspace, the only one it opens; "" otherwise.
    workspace_id: str = ""


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionCache:
    def __init__(self, backends: Backends, ttl_seconds: float) -> None:
        self.backends = backends
        self.ttl_seconds = ttl_seconds
        self._entries: ExpiringCache[str, ResolvedSession] = ExpiringCache(SESSION_CACHE_SIZE)

    async def resolve(self, session_id: str) -> ResolvedSession:
        key = _key(session_id)
        held = self._entries.get(key)
        if held is not None:
            return held
        # A lookup in flight across a drop may have read a session that has just ended:
        # its answer serves its request but is not kept.
        generation = self._entries.generation
        reply = await self.backends.call(
            self.backends.identity.ResolveSession,
            identity_pb2.ResolveSessionRequest(session_id=session_id),
        )
        resolved = ResolvedSession(
            account_id=reply.account.id,
            csrf_token=reply.csrf_token,
            workspace_id=reply.workspace_id,
        )
        if self.ttl_seconds > 0:
            self._entries.put(key, resolved, seconds=self.ttl_seconds, fetched_at=generation)
        return resolved

    def forget(self, account_id: str | None = None) -> None:
        """Drops the account's sessions; without an account, every session."""
        if account_id is None:
            self._entries.clear()
        else:
            self._entries.drop_where(lambda session: session.account_id == account_id)

    def forget_session(self, session_id: str) -> None:
        self._entries.drop(_key(session_id))
