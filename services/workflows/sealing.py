"""Resealing what this service keeps sealed (hook, webhook and connector secrets, users'
connector tokens, PKCE verifiers) with the first key of TESSERA_SECRET_KEY: one way for
every table, each sealed value opened under the context it was sealed with."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Column, Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.kit.secrets import SecretBox


async def reseal_column(
    session: AsyncSession,
    box: SecretBox,
    table: Table,
    keys: Sequence[Column[Any]],
    columns: Sequence[str],
    context: Callable[..., str],
) -> int:
    """Reseals `columns` of every row of `table` not sealed with the first key, in the
    caller's one transaction (every tenant's); how many values. `context(*key values)` is
    each row's sealing context. SecretUnreadable, changing nothing, for a value no listed
    key opens."""
    rows = (
        await session.execute(select(*keys, *(table.c[name] for name in columns)).with_for_update())
    ).all()
    resealed = 0
    for row in rows:
        ids, values = tuple(row[: len(keys)]), row[len(keys) :]
        for name, value in zip(columns, values, strict=True):
            if value is not None and box.needs_resealing(value):
                fresh = box.reseal(value, context=context(*ids))
                where = [key == each for key, each in zip(keys, ids, strict=True)]
                await session.execute(update(table).where(*where).values({name: fresh}))
                resealed += 1
    return resealed
