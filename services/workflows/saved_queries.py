"""Saved queries (Budibase's): a connector's data call saved under a name of the app, with
default values for its public parameters and the weakest app end user role that may run
it. Workspace members who may run workflows may run any query of their apps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.kit.clock import rfc3339
from services.kit.errors import Conflict, NotFound, ValidationFailed
from services.kit.ids import new_id
from services.kit.json import holds_nul
from services.workflows import tables
from services.workflows.bodies import Strict, json_object, validated
from services.workflows.connectors import NAME, Scalar, ScalarValue

q = tables.saved_queries
MAX_QUERIES_PER_APP = 200


class QueryNotFound(NotFound):
    default_message = "Query not found"


class QueryInput(Strict):
    name: str
    connector_id: str = Field(min_length=1, max_length=100)
    call: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=1000)
    parameters: dict[str, ScalarValue] = Field(default_factory=dict, max_length=50)
    # Budibase's roles: "public" lets anonymous callers run it too.
    app_role: Literal["public", "basic", "power", "admin"] = "basic"

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if NAME.fullmatch(name) is None:
            raise ValueError(f"{name[:70]!r} is not a name (lowercase letters, digits, _)")
        return name

    @field_validator("description", "connector_id", "call")
    @classmethod
    def _text(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("holds a NUL character")
        return value

    @field_validator("parameters")
    @classmethod
    def _values(cls, values: dict[str, Scalar]) -> dict[str, Scalar]:
        if holds_nul(values):
            raise ValueError("holds a NUL character")
        return values


@dataclass(frozen=True, slots=True)
class StoredQuery:
    id: str
    app_id: str
    name: str
    connector_id: str
    call: str
    description: str
    parameters: dict[str, Any]
    app_role: str
    created_at: datetime
    updated_at: datetime

    def shown(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "connector_id": self.connector_id,
            "call": self.call,
            "description": self.description,
            "parameters": self.parameters,
            "app_role": self.app_role,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
        }


_COLUMNS = (
    q.c.id,
    q.c.app_id,
    q.c.name,
    q.c.connector_id,
    q.c.call,
    q.c.description,
    q.c.parameters,
    q.c.app_role,
    q.c.created_at,
    q.c.updated_at,
)


async def find(session: AsyncSession, tenant: str, app_id: str, name: str) -> StoredQuery:
    row = (
        await session.execute(
            select(*_COLUMNS).where(q.c.tenant_id == tenant, q.c.app_id == app_id, q.c.name == name)
        )
    ).first()
    if row is None:
        raise QueryNotFound()
    return StoredQuery(*tuple(row))


async def list_queries(session: AsyncSession, tenant: str, app_id: str) -> list[StoredQuery]:
    rows = await session.execute(
        select(*_COLUMNS).where(q.c.tenant_id == tenant, q.c.app_id == app_id).order_by(q.c.name)
    )
    return [StoredQuery(*tuple(row)) for row in rows]


def query_input(raw: bytes, earlier: StoredQuery | None = None) -> QueryInput:
    given = json_object(raw, "A query")
    if earlier is not None:
        unknown = set(given) - set(QueryInput.model_fields)
        if unknown:
            field = sorted(unknown)[0][:100]
            raise ValidationFailed(f"Unknown field '{field}'", field=field)
        current = earlier.shown()
        given = {name: given.get(name, current[name]) for name in QueryInput.model_fields}
    return validated(given, QueryInput)


async def create_query(
    session: AsyncSession, tenant: str, app_id: str, query: QueryInput
) -> StoredQuery:
    count = await session.scalar(
        select(func.count()).where(q.c.tenant_id == tenant, q.c.app_id == app_id)
    )
    if (count or 0) >= MAX_QUERIES_PER_APP:
        raise ValidationFailed(f"An app has at most {MAX_QUERIES_PER_APP} saved queries")
    await _name_free(session, tenant, app_id, query.name)
    await session.execute(
        insert(q).values(id=new_id("qry"), tenant_id=tenant, app_id=app_id, **query.model_dump())
    )
    return await find(session, tenant, app_id, query.name)


async def _name_free(
    session: AsyncSession, tenant: str, app_id: str, name: str, *, but: str = ""
) -> None:
    taken = await session.scalar(
        select(q.c.id).where(
            q.c.tenant_id == tenant, q.c.app_id == app_id, q.c.name == name, q.c.id != but
        )
    )
    if taken is not None:
        raise Conflict(f"The app has a query named {name!r}", field="name")


async def update_query(
    session: AsyncSession, tenant: str, app_id: str, earlier: StoredQuery, query: QueryInput
) -> StoredQuery:
    await _name_free(session, tenant, app_id, query.name, but=earlier.id)
    await session.execute(
        update(q).where(q.c.id == earlier.id).values(**query.model_dump(), updated_at=func.now())
    )
    return await find(session, tenant, app_id, query.name)


async def delete_query(session: AsyncSession, tenant: str, app_id: str, name: str) -> None:
    found = await find(session, tenant, app_id, name)
    await session.execute(delete(q).where(q.c.id == found.id))
