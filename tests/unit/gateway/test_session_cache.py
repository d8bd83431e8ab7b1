"""The gateway's cookie-session cache, with identity faked at the client seam."""

from __future__ import annotations

import asyncio
from typing import Any

from tessera.identity.v1 import identity_pb2

from services.gateway.session_cache import SessionCache


class FakeIdentity:
    """Answers ResolveSession for one account; `gate`, when set, holds answers back."""

    def __init__(self) -> None:
        self.lookups = 0
        self.gate: asyncio.Event | None = None

    async def ResolveSession(
        self, request: identity_pb2.ResolveSessionRequest
    ) -> identity_pb2.ResolveSessionResponse:
        self.lookups += 1
        if self.gate is not None:
            await self.gate.wait()
        return identity_pb2.ResolveSessionResponse(
            account=identity_pb2.Account(id="acc_1"), csrf_token=f"csrf-{request.session_id}"
        )


class FakeBackends:
    def __init__(self) -> None:
        self.identity = FakeIdentity()

    async def call(self, method: Any, request: Any) -> Any:
        return await method(request)


def cache(ttl_seconds: float = 30.0) -> tuple[SessionCache, FakeIdentity]:
    backends = FakeBackends()
    return SessionCache(backends, ttl_seconds), backends.identity  # type: ignore[arg-type]


def test_a_session_is_looked_up_once_while_cached() -> None:
    sessions, identity = cache()

    async def twice() -> None:
        first = await sessions.resolve("sid-1")
        second = await sessions.resolve("sid-1")
        assert first == second
        assert (first.account_id, first.csrf_token) == ("acc_1", "csrf-sid-1")

    asyncio.run(twice())
    assert identity.lookups == 1


def test_forgetting_the_account_or_the_session_looks_it_up_again() -> None:
    sessions, identity = cache()

    async def run() -> None:
        await sessions.resolve("sid-1")
        sessions.forget("acc_other")
        await sessions.resolve("sid-1")
        assert identity.lookups == 1
        sessions.forget("acc_1")
        await sessions.resolve("sid-1")
        assert identity.lookups == 2
        sessions.forget_session("sid-1")
        await sessions.resolve("sid-1")
        assert identity.lookups == 3

    asyncio.run(run())


def test_an_answer_that_raced_a_revocation_is_not_kept() -> None:
    sessions, identity = cache()

    async def run() -> None:
        identity.gate = asyncio.Event()
        lookup = asyncio.create_task(sessions.resolve("sid-1"))
        await asyncio.sleep(0)
        sessions.forget("acc_1")
        identity.gate.set()
        await lookup
        identity.gate = None
        await sessions.resolve("sid-1")

    asyncio.run(run())
    assert identity.lookups == 2


def test_a_cache_time_of_zero_keeps_nothing() -> None:
    sessions, identity = cache(ttl_seconds=0)

    async def run() -> None:
        await sessions.resolve("sid-1")
        await sessions.resolve("sid-1")

    asyncio.run(run())
    assert identity.lookups == 2
