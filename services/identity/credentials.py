"""Opaque credentials: every secret identity issues for a principal other than a signed-in
member (API tokens, per-user keys, admin tokens, app end-user sessions) reads
`tsr_<kind>_<random>`. The prefix makes a leaked secret recognisable to secret scanners,
and `<kind>` picks the resolver; only the secret's hash is stored.

Each kind registers a resolver in RESOLVERS: it looks the hash up and answers the
principal (a RequestContext without request_id) and when the credential expires, or None
when it is unknown, expired or revoked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from tessera.common.v1 import common_pb2

from services.identity.tokens import hash_secret
from services.kit.access import CREDENTIAL_PREFIX, MAX_SECRET_LENGTH
from services.kit.clock import utcnow
from services.kit.errors import Unauthenticated
from services.kit.ids import new_secret


@dataclass(frozen=True)
class Resolved:
    ctx: common_pb2.RequestContext
    expires_at: datetime | None


# (session, hash of the secret, now) -> the principal, or None
Resolver = Callable[[AsyncSession, str, datetime], Awaitable[Resolved | None]]
RESOLVERS: dict[str, Resolver] = {}


def new_credential_secret(kind: str) -> str:
    return f"{CREDENTIAL_PREFIX}{kind}_{new_secret()}"


async def resolve(session: AsyncSession, secret: str) -> Resolved:
    kind = secret[len(CREDENTIAL_PREFIX) :].partition("_")[0]
    resolver = RESOLVERS.get(kind)
    if (
        not secret.startswith(CREDENTIAL_PREFIX)
        or len(secret) > MAX_SECRET_LENGTH
        or resolver is None
    ):
        raise Unauthenticated("The token is not valid")
    resolved = await resolver(session, hash_secret(secret), utcnow())
    if resolved is None:
        raise Unauthenticated("The token is not valid")
    return resolved
