"""Idempotency-Key for writes, kept by the service that does the write.

The key is claimed with an INSERT in the write's own transaction, so the stored reply
commits with the change or not at all, and a concurrent retry with the same key waits on
the claim and then reads the first answer. A key reused for a different request is a 409.
Failed writes roll back their claim: a retry of a failure runs again."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import timedelta

from google.protobuf.message import Message
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from tessera.common.v1 import common_pb2

from services.kit.clock import utcnow
from services.kit.db import ALL_TENANTS, act_in
from services.kit.errors import Conflict, ValidationFailed
from services.kit.periodic import run_every

log = logging.getLogger(__name__)

MAX_KEY_LENGTH = 255
# Keys are kept at least a day, as clients are told; older ones are purged.
RETENTION = timedelta(hours=48)
PURGE_INTERVAL_SECONDS = 3600.0


def idempotency_keys_table(metadata: MetaData) -> Table:
    return Table(
        "idempotency_keys",
        metadata,
        Column("tenant_id", Text, nullable=False),
        Column("key", Text, nullable=False),
        # sha256 of the principal, the method and the request without its context.
        Column("fingerprint", LargeBinary, nullable=False),
        # The serialized reply; NULL until the claiming write finishes.
        Column("reply", LargeBinary, nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("tenant_id", "key", name="pk_idempotency_keys"),
        # The purge scans by age.
        Index("ix_idempotency_keys_created_at", "created_at"),
    )


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ValidationFailed(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
            field="Idempotency-Key",
        )
    return key


def fingerprint(ctx: common_pb2.RequestContext, method: str, request: Message) -> bytes:
    bare = type(request)()
    bare.CopyFrom(request)
    bare.ClearField("ctx")
    digest = hashlib.sha256()
    for part in (ctx.principal_kind, ctx.principal_id, method):
        digest.update(part.encode())
        digest.update(b"\x00")
    digest.update(bare.SerializeToString(deterministic=True))
    return digest.digest()


class IdempotencyKeys:
    def __init__(self, table: Table) -> None:
        self.table = table

    async def replay(
        self, session: AsyncSession, ctx: common_pb2.RequestContext, method: str, request: Message
    ) -> bytes | None:
        """Claims the request's key; the first reply when the key answered already; None
        when this call is the first (or carries no key) and must do the work."""
        if not ctx.idempotency_key:
            return None
        key = check_key(ctx.idempotency_key)
        mark = fingerprint(ctx, method, request)
        claimed = await session.execute(
            insert(self.table)
            .values(tenant_id=ctx.tenant_id, key=key, fingerprint=mark)
            .on_conflict_do_nothing()
            .returning(self.table.c.key)
        )
        if claimed.first() is not None:
            return None
        row = (
            await session.execute(
                select(self.table.c.fingerprint, self.table.c.reply).where(
                    self.table.c.tenant_id == ctx.tenant_id, self.table.c.key == key
                )
            )
        ).one()
        if bytes(row.fingerprint) != mark:
            raise Conflict(
                "This Idempotency-Key was used for a different request",
                field="Idempotency-Key",
            )
        # Claim and reply commit together, so a committed claim always has its reply.
        return bytes(row.reply)

    async def store(
        self, session: AsyncSession, ctx: common_pb2.RequestContext, reply: Message
    ) -> None:
        if not ctx.idempotency_key:
            return
        await session.execute(
            update(self.table)
            .where(
                self.table.c.tenant_id == ctx.tenant_id,
                self.table.c.key == ctx.idempotency_key,
            )
            .values(reply=reply.SerializeToString())
        )

    async def purge(self, engine: AsyncEngine) -> int:
        async with engine.begin() as conn:
            # Expired keys go whichever workspace they were claimed in.
            await act_in(conn, ALL_TENANTS)
            result = await conn.execute(
                delete(self.table).where(self.table.c.created_at < utcnow() - RETENTION)
            )
        return int(result.rowcount)

    async def run_purge(self, engine: AsyncEngine, stop: asyncio.Event) -> None:
        """A background task: purges expired keys every PURGE_INTERVAL_SECONDS."""

        async def purge() -> None:
            purged = await self.purge(engine)
            if purged:
                log.info("purged %d expired idempotency keys", purged)

        await run_every(PURGE_INTERVAL_SECONDS, purge, stop, name="idempotency key purge")


__all__ = ["IdempotencyKeys", "check_key", "fingerprint", "idempotency_keys_table"]
