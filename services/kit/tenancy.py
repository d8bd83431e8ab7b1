"""The one tenancy helper. Every statement on a tenant-owned table is built through a
TenantTable bound to the caller's tenant, so no repository writes `tenant_id == ...` by
hand and no statement can forget it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Delete, Insert, Select, Table, Update, delete, insert, select, update
from tessera.common.v1 import common_pb2

from services.kit.errors import Unauthenticated


def tenant_of(ctx: common_pb2.RequestContext) -> str:
    """The caller's tenant; a call without one is refused before any SQL runs."""
    if not ctx.tenant_id:
        raise Unauthenticated("The call carries no workspace")
    return ctx.tenant_id


class TenantTable:
    """A table with a tenant_id column, seen through one tenant."""

    def __init__(self, table: Table, tenant_id: str) -> None:
        if not tenant_id:
            raise Unauthenticated("The call carries no workspace")
        self.table = table
        self.tenant_id = tenant_id
        self.c = table.c

    def select(self, *columns: Any) -> Select[Any]:
        statement = select(*columns) if columns else select(self.table)
        return statement.where(self.table.c.tenant_id == self.tenant_id)

    def insert(self, **values: Any) -> Insert:
        return insert(self.table).values(tenant_id=self.tenant_id, **values)

    def update(self) -> Update:
        return update(self.table).where(self.table.c.tenant_id == self.tenant_id)

    def delete(self) -> Delete:
        return delete(self.table).where(self.table.c.tenant_id == self.tenant_id)
