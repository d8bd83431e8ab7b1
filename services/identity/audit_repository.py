"""The audit log's SQL (beside repository.py, which holds the rest of identity's). Reads and
writes of one workspace's entries go through TenantTable; the account-wide writes (an
account's login lands in each of its workspaces) and the prune are explicit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, delete, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity import tables
from services.kit.audit import AuditEntry
from services.kit.ids import new_ids
from services.kit.tenancy import TenantTable

ENTRY_PREFIX = "aud"


@dataclass(frozen=True)
class StoredEntry:
    id: str
    occurred_at: datetime
    entry: AuditEntry


@dataclass(frozen=True)
class AuditFilter:
    actions: Sequence[str] = ()
    account_id: str = ""
    outcome: str = ""
    target_id: str = ""
    since: datetime | None = None
    until: datetime | None = None
    # Keyset: entries strictly older than (occurred_at, id).
    before: tuple[datetime, str] | None = None


class AuditLogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(self, tenant_ids: Sequence[str], entry: AuditEntry, now: datetime) -> None:
        """The same entry in each of the workspaces."""
        if not tenant_ids:
            return
        values = entry.to_data()
        rows = [
            {**values, "id": entry_id, "tenant_id": tenant_id, "occurred_at": now}
            for entry_id, tenant_id in zip(
                new_ids(ENTRY_PREFIX, len(tenant_ids)), tenant_ids, strict=True
            )
        ]
        await self.session.execute(insert(tables.audit_log), rows)

    async def workspaces_of_account(self, account_id: str) -> list[str]:
        m = tables.memberships
        rows = await self.session.scalars(
            select(m.c.tenant_id).where(m.c.account_id == account_id).order_by(m.c.tenant_id)
        )
        return list(rows)

    async def account_of_refresh_family(self, family_id: str) -> str:
        """Whose login the family of refresh tokens is (who logs out)."""
        t = tables.refresh_tokens
        found: str | None = await self.session.scalar(
            select(t.c.account_id).where(t.c.family_id == family_id).limit(1)
        )
        return found or ""

    async def page(self, tenant_id: str, where: AuditFilter, limit: int) -> list[StoredEntry]:
        log = TenantTable(tables.audit_log, tenant_id)
        c = log.c
        statement = log.select()
        if where.actions:
            statement = statement.where(c.action.in_(where.actions))
        if where.account_id:
            statement = statement.where(c.account_id == where.account_id)
        if where.outcome:
            statement = statement.where(c.outcome == where.outcome)
        if where.target_id:
            statement = statement.where(c.target_id == where.target_id)
        if where.since is not None:
            statement = statement.where(c.occurred_at >= where.since)
        if where.until is not None:
            statement = statement.where(c.occurred_at < where.until)
        if where.before is not None:
            moment, entry_id = where.before
            statement = statement.where(
                or_(c.occurred_at < moment, and_(c.occurred_at == moment, c.id < entry_id))
            )
        rows = await self.session.execute(
            statement.order_by(c.occurred_at.desc(), c.id.desc()).limit(limit)
        )
        return [_stored(row) for row in rows]

    async def prune(self, older_than: datetime) -> int:
        """Entries past retention, in every workspace, and the consumers' memory of the
        events as old (redelivery stops long before)."""
        deleted = await self.session.execute(
            delete(tables.audit_log).where(tables.audit_log.c.occurred_at < older_than)
        )
        processed = tables.processed_events
        await self.session.execute(delete(processed).where(processed.c.processed_at < older_than))
        count: int = deleted.rowcount  # type: ignore[attr-defined]
        return count


def _stored(row: Row[Any]) -> StoredEntry:
    return StoredEntry(
        id=row.id,
        occurred_at=row.occurred_at,
        entry=AuditEntry.from_data(dict(row._mapping)),
    )
