"""All of identity's SQL. Memberships are tenant-owned and go through TenantTable; the
account-scoped reads (an account's own memberships, sessions, refresh tokens) are explicit
methods keyed by account id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity import tables
from services.identity.models import Account, Credentials, Membership, PublicKey, Workspace
from services.identity.tokens import KeyPair
from services.kit.tenancy import TenantTable

# Serialises signing-key bootstrap across replicas starting at the same time.
SIGNING_KEY_LOCK = 0x1DE7_5167


class IdentityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # Accounts

    async def account_by_id(self, account_id: str) -> Account | None:
        row = (
            await self.session.execute(
                select(tables.accounts).where(tables.accounts.c.id == account_id)
            )
        ).first()
        return _account(row) if row is not None else None

    async def credentials_by_email(self, email: str) -> Credentials | None:
        row = (
            await self.session.execute(
                select(tables.accounts).where(tables.accounts.c.email == email)
            )
        ).first()
        if row is None:
            return None
        return Credentials(account=_account(row), password_hash=row.password_hash)

    async def email_taken(self, email: str) -> bool:
        found = await self.session.scalar(
            select(tables.accounts.c.id).where(tables.accounts.c.email == email)
        )
        return found is not None

    async def insert_account(
        self, *, account_id: str, name: str, email: str, password_hash: str, now: datetime
    ) -> Account | None:
        """None when the email was taken meanwhile (the unique constraint decides)."""
        row = (
            await self.session.execute(
                insert(tables.accounts)
                .values(
                    id=account_id,
                    name=name,
                    email=email,
                    password_hash=password_hash,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=[tables.accounts.c.email])
                .returning(tables.accounts)
            )
        ).first()
        return _account(row) if row is not None else None

    async def update_password_hash(self, account_id: str, password_hash: str) -> None:
        await self.session.execute(
            update(tables.accounts)
            .where(tables.accounts.c.id == account_id)
            .values(password_hash=password_hash)
        )

    # Workspaces and memberships

    async def insert_workspace(
        self, *, workspace_id: str, name: str, slug: str, now: datetime
    ) -> Workspace | None:
        """None when the slug is taken."""
        row = (
            await self.session.execute(
                insert(tables.workspaces)
                .values(id=workspace_id, name=name, slug=slug, created_at=now)
                .on_conflict_do_nothing(index_elements=[tables.workspaces.c.slug])
                .returning(tables.workspaces)
            )
        ).first()
        return _workspace(row) if row is not None else None

    async def add_member(
        self, *, workspace_id: str, account_id: str, role: str, now: datetime
    ) -> None:
        members = TenantTable(tables.memberships, workspace_id)
        await self.session.execute(members.insert(account_id=account_id, role=role, created_at=now))

    async def memberships_of_account(self, account_id: str) -> list[Membership]:
        m, w = tables.memberships, tables.workspaces
        rows = (
            await self.session.execute(
                select(w, m.c.role)
                .join(m, m.c.tenant_id == w.c.id)
                .where(m.c.account_id == account_id)
                .order_by(m.c.created_at, m.c.tenant_id)
            )
        ).all()
        return [Membership(workspace=_workspace(row), role=row.role) for row in rows]

    async def first_workspace_id(self, account_id: str) -> str | None:
        m = tables.memberships
        found: str | None = await self.session.scalar(
            select(m.c.tenant_id)
            .where(m.c.account_id == account_id)
            .order_by(m.c.created_at, m.c.tenant_id)
            .limit(1)
        )
        return found

    # Refresh tokens

    async def insert_refresh_token(
        self, *, token_hash: str, account_id: str, now: datetime, expires_at: datetime
    ) -> None:
        await self.session.execute(
            insert(tables.refresh_tokens).values(
                token_hash=token_hash, account_id=account_id, created_at=now, expires_at=expires_at
            )
        )

    async def live_refresh_token_account(self, token_hash: str, now: datetime) -> Account | None:
        t, a = tables.refresh_tokens, tables.accounts
        row = (
            await self.session.execute(
                select(a)
                .join(t, t.c.account_id == a.c.id)
                .where(t.c.token_hash == token_hash, t.c.revoked_at.is_(None), t.c.expires_at > now)
            )
        ).first()
        return _account(row) if row is not None else None

    async def revoke_refresh_token(self, token_hash: str, now: datetime) -> None:
        t = tables.refresh_tokens
        await self.session.execute(
            update(t)
            .where(t.c.token_hash == token_hash, t.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    # Sessions

    async def insert_session(
        self,
        *,
        id_hash: str,
        account_id: str,
        csrf_token: str,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        await self.session.execute(
            insert(tables.sessions).values(
                id_hash=id_hash,
                account_id=account_id,
                csrf_token=csrf_token,
                created_at=now,
                expires_at=expires_at,
            )
        )

    async def live_session(self, id_hash: str, now: datetime) -> tuple[Account, str] | None:
        """The session's account and CSRF token, if it has neither ended nor expired."""
        s, a = tables.sessions, tables.accounts
        row = (
            await self.session.execute(
                select(a, s.c.csrf_token)
                .join(s, s.c.account_id == a.c.id)
                .where(s.c.id_hash == id_hash, s.c.ended_at.is_(None), s.c.expires_at > now)
            )
        ).first()
        return (_account(row), row.csrf_token) if row is not None else None

    async def end_session(self, id_hash: str, now: datetime) -> str | None:
        """Ends a session that was still open; returns its account id."""
        s = tables.sessions
        account_id: str | None = await self.session.scalar(
            update(s)
            .where(s.c.id_hash == id_hash, s.c.ended_at.is_(None))
            .values(ended_at=now)
            .returning(s.c.account_id)
        )
        return account_id

    # Signing keys

    async def lock_signing_keys(self) -> None:
        """Held until the transaction ends."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": SIGNING_KEY_LOCK}
        )

    async def current_signing_key(self) -> KeyPair | None:
        """The newest key that is not retired: the one new tokens are signed with."""
        k = tables.signing_keys
        row = (
            await self.session.execute(
                select(k).where(k.c.retired_at.is_(None)).order_by(k.c.created_at.desc()).limit(1)
            )
        ).first()
        if row is None:
            return None
        return KeyPair(
            kid=row.kid,
            algorithm=row.algorithm,
            private_key_pem=row.private_key_pem,
            public_key_pem=row.public_key_pem,
        )

    async def public_keys(self) -> list[PublicKey]:
        k = tables.signing_keys
        rows = (
            await self.session.execute(
                select(k.c.kid, k.c.algorithm, k.c.public_key_pem)
                .where(k.c.retired_at.is_(None))
                .order_by(k.c.created_at, k.c.kid)
            )
        ).all()
        return [
            PublicKey(kid=row.kid, algorithm=row.algorithm, public_key_pem=row.public_key_pem)
            for row in rows
        ]

    async def insert_signing_key(self, key: KeyPair) -> None:
        await self.session.execute(
            insert(tables.signing_keys).values(
                kid=key.kid,
                algorithm=key.algorithm,
                private_key_pem=key.private_key_pem,
                public_key_pem=key.public_key_pem,
            )
        )


def _account(row: Row[Any]) -> Account:
    return Account(id=row.id, name=row.name, email=row.email, created_at=row.created_at)


def _workspace(row: Row[Any]) -> Workspace:
    return Workspace(id=row.id, name=row.name, slug=row.slug, created_at=row.created_at)
