"""All of identity's SQL. Memberships and app end users are tenant-owned and go through
TenantTable; the account-scoped reads (an account's own memberships, sessions, refresh
tokens) are explicit methods keyed by account id, and credential lookups by a secret's
hash come before any tenant is known."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Row, case, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity import tables
from services.identity.errors import AppUserEmailTaken
from services.identity.models import (
    Account,
    AdminToken,
    ApiToken,
    AppUser,
    AppUserCredentials,
    Credentials,
    LiveAppSession,
    LoginScope,
    Member,
    Membership,
    Permission,
    PublicKey,
    RefreshTokenState,
    ResolvedSession,
    ThrottleState,
    Workspace,
)
from services.identity.tokens import StoredKeyPair
from services.kit.access import GRANT_OPERATIONS
from services.kit.tenancy import TenantTable

UNIQUE_VIOLATION = "23505"

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
        return _credentials(row)

    async def credentials_for_update(self, account_id: str) -> Credentials | None:
        """Locked until the transaction ends, so two password changes take turns."""
        row = (
            await self.session.execute(
                select(tables.accounts)
                .where(tables.accounts.c.id == account_id)
                # NO KEY UPDATE: logins inserting sessions and refresh tokens (whose
                # foreign keys share-lock the account) are not blocked, nor deadlocked.
                .with_for_update(key_share=True)
            )
        ).first()
        return _credentials(row) if row is not None else None

    async def tokens_valid_after(self, account_id: str) -> datetime | None:
        found: datetime | None = await self.session.scalar(
            select(tables.accounts.c.tokens_valid_after).where(tables.accounts.c.id == account_id)
        )
        return found

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

    async def rehash_password(self, account_id: str, *, replacing: str, password_hash: str) -> None:
        """Stores a stronger hash of the same password, unless the password has changed
        since `replacing` was read: a login must never undo a password change."""
        a = tables.accounts
        await self.session.execute(
            update(a)
            .where(a.c.id == account_id, a.c.password_hash == replacing)
            .values(password_hash=password_hash)
        )

    async def set_password(self, account_id: str, password_hash: str) -> None:
        await self.session.execute(
            update(tables.accounts)
            .where(tables.accounts.c.id == account_id)
            .values(password_hash=password_hash)
        )

    async def set_tokens_valid_after(self, account_id: str, cutoff: datetime) -> None:
        await self.session.execute(
            update(tables.accounts)
            .where(tables.accounts.c.id == account_id)
            .values(tokens_valid_after=cutoff)
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

    async def account_by_email(self, email: str) -> Account | None:
        row = (
            await self.session.execute(
                select(tables.accounts).where(tables.accounts.c.email == email)
            )
        ).first()
        return _account(row) if row is not None else None

    async def account(self, account_id: str) -> Account | None:
        row = (
            await self.session.execute(
                select(tables.accounts).where(tables.accounts.c.id == account_id)
            )
        ).first()
        return _account(row) if row is not None else None

    async def workspace(self, workspace_id: str) -> Workspace | None:
        row = (
            await self.session.execute(
                select(tables.workspaces).where(tables.workspaces.c.id == workspace_id)
            )
        ).first()
        return _workspace(row) if row is not None else None

    async def rename_account(self, account_id: str, name: str) -> None:
        await self.session.execute(
            update(tables.accounts).where(tables.accounts.c.id == account_id).values(name=name)
        )

    # Members of one workspace

    async def members(self, workspace_id: str, *, prefix: str = "") -> list[Member]:
        members = TenantTable(tables.memberships, workspace_id)
        a = tables.accounts
        statement = (
            members.select(a, members.c.role, members.c.created_at.label("joined_at"))
            .select_from(tables.memberships.join(a, a.c.id == members.c.account_id))
            .order_by(members.c.created_at, members.c.account_id)
        )
        if prefix:
            pattern = _escape_like(prefix.lower()) + "%"
            statement = statement.where(
                or_(
                    func.lower(a.c.name).like(pattern, escape="\\"),
                    a.c.email.like(pattern, escape="\\"),
                )
            )
        rows = (await self.session.execute(statement)).all()
        return [_member(row) for row in rows]

    async def member(
        self, workspace_id: str, account_id: str, *, for_update: bool = False
    ) -> Member | None:
        members = TenantTable(tables.memberships, workspace_id)
        a = tables.accounts
        statement = (
            members.select(a, members.c.role, members.c.created_at.label("joined_at"))
            .select_from(tables.memberships.join(a, a.c.id == members.c.account_id))
            .where(members.c.account_id == account_id)
        )
        if for_update:
            statement = statement.with_for_update(of=tables.memberships)
        row = (await self.session.execute(statement)).first()
        return _member(row) if row is not None else None

    async def insert_member(
        self, *, workspace_id: str, account_id: str, role: str, now: datetime
    ) -> bool:
        """False when the account is a member already."""
        members = TenantTable(tables.memberships, workspace_id)
        inserted = await self.session.scalar(
            insert(tables.memberships)
            .values(tenant_id=members.tenant_id, account_id=account_id, role=role, created_at=now)
            .on_conflict_do_nothing()
            .returning(members.c.account_id)
        )
        return inserted is not None

    async def lock_owners(self, workspace_id: str) -> list[str]:
        """The workspace's owners, locked until the transaction ends, so two demotions or
        removals running together cannot leave it without one."""
        members = TenantTable(tables.memberships, workspace_id)
        rows = await self.session.scalars(
            members.select(members.c.account_id).where(members.c.role == "owner").with_for_update()
        )
        return list(rows)

    async def set_role(self, workspace_id: str, account_id: str, role: str) -> None:
        members = TenantTable(tables.memberships, workspace_id)
        await self.session.execute(
            members.update().where(members.c.account_id == account_id).values(role=role)
        )

    async def remove_member(self, workspace_id: str, account_id: str) -> None:
        """The membership and every token the member made there: were the account added
        again, its old tokens must not come back to life."""
        for table, column in (
            (tables.api_tokens, "account_id"),
            (tables.admin_tokens, "created_by"),
            (tables.memberships, "account_id"),
        ):
            scoped = TenantTable(table, workspace_id)
            await self.session.execute(scoped.delete().where(scoped.c[column] == account_id))

    # API tokens

    async def insert_api_token(
        self,
        *,
        workspace_id: str,
        token_id: str,
        account_id: str,
        name: str,
        secret_hash: str,
        permissions: dict[str, Permission],
        now: datetime,
        expires_at: datetime | None,
    ) -> ApiToken:
        tokens = TenantTable(tables.api_tokens, workspace_id)
        row = (
            await self.session.execute(
                tokens.insert(
                    id=token_id,
                    account_id=account_id,
                    name=name,
                    secret_hash=secret_hash,
                    permissions=permissions,
                    created_at=now,
                    expires_at=expires_at,
                ).returning(tables.api_tokens)
            )
        ).one()
        return _api_token(row)

    async def api_tokens_of(self, workspace_id: str, account_id: str) -> list[ApiToken]:
        tokens = TenantTable(tables.api_tokens, workspace_id)
        rows = (
            await self.session.execute(
                tokens.select()
                .where(tokens.c.account_id == account_id)
                .order_by(tokens.c.created_at, tokens.c.id)
            )
        ).all()
        return [_api_token(row) for row in rows]

    async def api_token(self, workspace_id: str, account_id: str, token_id: str) -> ApiToken | None:
        tokens = TenantTable(tables.api_tokens, workspace_id)
        row = (
            await self.session.execute(
                tokens.select().where(tokens.c.id == token_id, tokens.c.account_id == account_id)
            )
        ).first()
        return _api_token(row) if row is not None else None

    async def update_api_token(
        self, workspace_id: str, account_id: str, token_id: str, **values: Any
    ) -> ApiToken | None:
        tokens = TenantTable(tables.api_tokens, workspace_id)
        row = (
            await self.session.execute(
                tokens.update()
                .where(tokens.c.id == token_id, tokens.c.account_id == account_id)
                .values(**values)
                .returning(tables.api_tokens)
            )
        ).first()
        return _api_token(row) if row is not None else None

    async def delete_api_token(self, workspace_id: str, account_id: str, token_id: str) -> bool:
        tokens = TenantTable(tables.api_tokens, workspace_id)
        deleted = await self.session.scalar(
            tokens.delete()
            .where(tokens.c.id == token_id, tokens.c.account_id == account_id)
            .returning(tokens.c.id)
        )
        return deleted is not None

    async def api_token_by_hash(self, secret_hash: str) -> tuple[ApiToken, str] | None:
        """A token with its creator's current role in the token's workspace; None once the
        creator is no longer a member there."""
        t, m = tables.api_tokens, tables.memberships
        row = (
            await self.session.execute(
                select(t, m.c.role)
                .join(m, (m.c.tenant_id == t.c.tenant_id) & (m.c.account_id == t.c.account_id))
                .where(t.c.secret_hash == secret_hash)
            )
        ).first()
        return (_api_token(row), row.role) if row is not None else None

    async def touch(
        self, table_name: str, credential_id: str, now: datetime, *, older_than: datetime
    ) -> None:
        """Records a use, at most once per period: a credential used constantly costs one
        write a period, not one a request."""
        table = _TOUCHABLE[table_name]
        await self.session.execute(
            update(table)
            .where(
                table.c.id == credential_id,
                or_(table.c.last_used_at.is_(None), table.c.last_used_at < older_than),
            )
            .values(last_used_at=now)
        )

    # Per-user API keys

    async def replace_user_key(
        self, *, account_id: str, key_id: str, secret_hash: str, now: datetime
    ) -> str | None:
        """Stores the account's new key; returns the id of the key it replaced."""
        k = tables.user_keys
        previous: str | None = await self.session.scalar(
            delete(k).where(k.c.account_id == account_id).returning(k.c.id)
        )
        await self.session.execute(
            insert(k).values(
                id=key_id, account_id=account_id, secret_hash=secret_hash, created_at=now
            )
        )
        return previous

    async def delete_user_key(self, account_id: str) -> str | None:
        k = tables.user_keys
        deleted: str | None = await self.session.scalar(
            delete(k).where(k.c.account_id == account_id).returning(k.c.id)
        )
        return deleted

    async def user_key_by_hash(self, secret_hash: str) -> tuple[str, str, datetime | None] | None:
        """The key's id, its account and when it was last used."""
        k = tables.user_keys
        row = (
            await self.session.execute(
                select(k.c.id, k.c.account_id, k.c.last_used_at).where(
                    k.c.secret_hash == secret_hash
                )
            )
        ).first()
        return (row.id, row.account_id, row.last_used_at) if row is not None else None

    # Admin tokens

    async def insert_admin_token(
        self,
        *,
        workspace_id: str,
        token_id: str,
        created_by: str,
        name: str,
        secret_hash: str,
        bypass_privacy_rules: bool,
        now: datetime,
    ) -> AdminToken:
        tokens = TenantTable(tables.admin_tokens, workspace_id)
        row = (
            await self.session.execute(
                tokens.insert(
                    id=token_id,
                    created_by=created_by,
                    name=name,
                    secret_hash=secret_hash,
                    bypass_privacy_rules=bypass_privacy_rules,
                    created_at=now,
                ).returning(tables.admin_tokens)
            )
        ).one()
        return _admin_token(row)

    async def admin_tokens(self, workspace_id: str) -> list[AdminToken]:
        tokens = TenantTable(tables.admin_tokens, workspace_id)
        rows = (
            await self.session.execute(tokens.select().order_by(tokens.c.created_at, tokens.c.id))
        ).all()
        return [_admin_token(row) for row in rows]

    async def delete_admin_token(self, workspace_id: str, token_id: str) -> AdminToken | None:
        tokens = TenantTable(tables.admin_tokens, workspace_id)
        row = (
            await self.session.execute(
                tokens.delete().where(tokens.c.id == token_id).returning(tables.admin_tokens)
            )
        ).first()
        return _admin_token(row) if row is not None else None

    async def admin_token_by_hash(self, secret_hash: str) -> tuple[AdminToken, str] | None:
        t, m = tables.admin_tokens, tables.memberships
        row = (
            await self.session.execute(
                select(t, m.c.role)
                .join(m, (m.c.tenant_id == t.c.tenant_id) & (m.c.account_id == t.c.created_by))
                .where(t.c.secret_hash == secret_hash)
            )
        ).first()
        return (_admin_token(row), row.role) if row is not None else None

    # Refresh tokens

    async def insert_refresh_token(
        self,
        *,
        token_hash: str,
        account_id: str,
        family_id: str,
        now: datetime,
        expires_at: datetime,
        scope: LoginScope | None = None,
    ) -> None:
        await self.session.execute(
            insert(tables.refresh_tokens).values(
                token_hash=token_hash,
                account_id=account_id,
                family_id=family_id,
                created_at=now,
                expires_at=expires_at,
                **_scope_columns(scope),
            )
        )

    async def refresh_token_for_update(self, token_hash: str) -> RefreshTokenState | None:
        """The token with its account, locked until the transaction ends: two clients
        presenting it at once take turns, and the second sees the first's rotation."""
        t, a = tables.refresh_tokens, tables.accounts
        row = (
            await self.session.execute(
                select(
                    a,
                    t.c.family_id,
                    t.c.created_at.label("token_created_at"),
                    t.c.expires_at,
                    t.c.revoked_at,
                    t.c.rotated_at,
                    t.c.successor_hash,
                    t.c.sealed_successor,
                    t.c.workspace_id.label("scope_workspace_id"),
                    t.c.sso_subject,
                    t.c.sso_sid,
                )
                .join(t, t.c.account_id == a.c.id)
                .where(t.c.token_hash == token_hash)
                .with_for_update(of=t)
            )
        ).first()
        if row is None:
            return None
        return RefreshTokenState(
            account=_account(row),
            family_id=row.family_id,
            created_at=row.token_created_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            rotated_at=row.rotated_at,
            successor_hash=row.successor_hash,
            sealed_successor=row.sealed_successor,
            scope=_login_scope(row.scope_workspace_id, row.sso_subject, row.sso_sid),
            tokens_valid_after=row.tokens_valid_after,
        )

    async def mark_rotated(
        self, token_hash: str, *, now: datetime, successor_hash: str, sealed_successor: bytes
    ) -> None:
        t = tables.refresh_tokens
        await self.session.execute(
            update(t)
            .where(t.c.token_hash == token_hash)
            .values(
                rotated_at=now, successor_hash=successor_hash, sealed_successor=sealed_successor
            )
        )

    async def refresh_token_live(self, token_hash: str, now: datetime) -> bool:
        t = tables.refresh_tokens
        found = await self.session.scalar(
            select(t.c.token_hash).where(
                t.c.token_hash == token_hash, t.c.revoked_at.is_(None), t.c.expires_at > now
            )
        )
        return found is not None

    async def revoke_refresh_family(self, family_id: str, now: datetime) -> None:
        t = tables.refresh_tokens
        await self.session.execute(
            update(t)
            .where(t.c.family_id == family_id, t.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    async def revoke_refresh_tokens_of(self, account_id: str, now: datetime) -> None:
        t = tables.refresh_tokens
        await self.session.execute(
            update(t)
            .where(t.c.account_id == account_id, t.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    async def refresh_family_of(self, token_hash: str) -> tuple[str, str] | None:
        """(family id, the single sign-on workspace it is scoped to or "")."""
        t = tables.refresh_tokens
        row = (
            await self.session.execute(
                select(t.c.family_id, t.c.workspace_id).where(t.c.token_hash == token_hash)
            )
        ).first()
        return (row.family_id, row.workspace_id or "") if row is not None else None

    # Sessions

    async def insert_session(
        self,
        *,
        id_hash: str,
        account_id: str,
        csrf_token: str,
        now: datetime,
        expires_at: datetime,
        scope: LoginScope | None = None,
    ) -> None:
        await self.session.execute(
            insert(tables.sessions).values(
                id_hash=id_hash,
                account_id=account_id,
                csrf_token=csrf_token,
                created_at=now,
                expires_at=expires_at,
                **_scope_columns(scope),
            )
        )

    async def live_session(self, id_hash: str, now: datetime) -> ResolvedSession | None:
        """The session's account, CSRF token and scope, if it has neither ended nor
        expired, nor was opened before the account's cutoff."""
        s, a = tables.sessions, tables.accounts
        row = (
            await self.session.execute(
                select(a, s.c.csrf_token, s.c.workspace_id.label("scope_workspace_id"))
                .join(s, s.c.account_id == a.c.id)
                .where(
                    s.c.id_hash == id_hash,
                    s.c.ended_at.is_(None),
                    s.c.expires_at > now,
                    or_(a.c.tokens_valid_after.is_(None), s.c.created_at >= a.c.tokens_valid_after),
                )
            )
        ).first()
        if row is None:
            return None
        return ResolvedSession(
            account=_account(row),
            csrf_token=row.csrf_token,
            workspace_id=row.scope_workspace_id or "",
        )

    async def end_sso_logins(
        self, workspace_id: str, *, subject: str, sid: str, now: datetime
    ) -> list[str]:
        """Ends the sessions and refresh tokens a provider's subject (and, given, its
        session id) opened in the workspace; the accounts they belonged to."""
        ended: set[str] = set()
        for table, column in (
            (tables.sessions, "ended_at"),
            (tables.refresh_tokens, "revoked_at"),
        ):
            conditions = [table.c.workspace_id == workspace_id, table.c[column].is_(None)]
            if subject:
                conditions.append(table.c.sso_subject == subject)
            if sid:
                conditions.append(table.c.sso_sid == sid)
            accounts = await self.session.scalars(
                update(table).where(*conditions).values({column: now}).returning(table.c.account_id)
            )
            ended.update(accounts)
        return sorted(ended)

    async def end_sessions_of(self, account_id: str, now: datetime) -> None:
        s = tables.sessions
        await self.session.execute(
            update(s)
            .where(s.c.account_id == account_id, s.c.ended_at.is_(None))
            .values(ended_at=now)
        )

    async def end_session(self, id_hash: str, now: datetime) -> tuple[str, str] | None:
        """Ends a session that was still open; returns its account id and the single
        sign-on workspace it was scoped to ("" for none)."""
        s = tables.sessions
        row = (
            await self.session.execute(
                update(s)
                .where(s.c.id_hash == id_hash, s.c.ended_at.is_(None))
                .values(ended_at=now)
                .returning(s.c.account_id, s.c.workspace_id)
            )
        ).first()
        return (row.account_id, row.workspace_id or "") if row is not None else None

    # Signing keys: one current key signs; the next is published ahead of its turn; the
    # ones it replaced stay published until what they signed has expired.

    async def lock_signing_keys(self) -> None:
        """Held until the transaction ends."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": SIGNING_KEY_LOCK}
        )

    async def current_signing_key(self) -> StoredKeyPair | None:
        """The key new tokens are signed with."""
        k = tables.signing_keys
        row = (
            await self.session.execute(
                select(k)
                .where(
                    k.c.activated_at.is_not(None),
                    k.c.superseded_at.is_(None),
                    k.c.retired_at.is_(None),
                )
                .order_by(k.c.activated_at.desc(), k.c.kid)
                .limit(1)
            )
        ).first()
        return _key_pair(row) if row is not None else None

    async def current_key_activated_at(self, kid: str) -> datetime | None:
        k = tables.signing_keys
        found: datetime | None = await self.session.scalar(
            select(k.c.activated_at).where(k.c.kid == kid)
        )
        return found

    async def next_signing_key(self) -> StoredKeyPair | None:
        k = tables.signing_keys
        row = (
            await self.session.execute(
                select(k)
                .where(k.c.activated_at.is_(None), k.c.retired_at.is_(None))
                .order_by(k.c.created_at, k.c.kid)
                .limit(1)
            )
        ).first()
        return _key_pair(row) if row is not None else None

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

    async def insert_signing_key(
        self, key: StoredKeyPair, *, now: datetime, activated: bool
    ) -> None:
        await self.session.execute(
            insert(tables.signing_keys).values(
                kid=key.kid,
                algorithm=key.algorithm,
                sealed_private_key=key.sealed_private_key,
                public_key_pem=key.public_key_pem,
                created_at=now,
                activated_at=now if activated else None,
            )
        )

    async def activate_signing_key(self, kid: str, now: datetime) -> None:
        k = tables.signing_keys
        await self.session.execute(update(k).where(k.c.kid == kid).values(activated_at=now))

    async def supersede_signing_key(self, kid: str, now: datetime) -> None:
        k = tables.signing_keys
        await self.session.execute(update(k).where(k.c.kid == kid).values(superseded_at=now))

    async def sealed_signing_keys(self, *, for_update: bool = False) -> list[tuple[str, str]]:
        """(kid, sealed private key) of every stored key, retired ones too."""
        k = tables.signing_keys
        statement = select(k.c.kid, k.c.sealed_private_key).order_by(k.c.created_at, k.c.kid)
        if for_update:
            statement = statement.with_for_update()
        rows = (await self.session.execute(statement)).all()
        return [(row.kid, row.sealed_private_key) for row in rows]

    async def reseal_signing_key(self, kid: str, *, replacing: str, sealed: str) -> bool:
        k = tables.signing_keys
        resealed = await self.session.scalar(
            update(k)
            .where(k.c.kid == kid, k.c.sealed_private_key == replacing)
            .values(sealed_private_key=sealed)
            .returning(k.c.kid)
        )
        return resealed is not None

    async def retire_signing_keys(self, *, superseded_before: datetime, now: datetime) -> list[str]:
        """Stops publishing keys replaced before the cut; their kids."""
        k = tables.signing_keys
        retired = await self.session.scalars(
            update(k)
            .where(k.c.superseded_at < superseded_before, k.c.retired_at.is_(None))
            .values(retired_at=now)
            .returning(k.c.kid)
        )
        return list(retired.all())

    # Login throttling (throttling.py): rows named by hashes, shared by every replica

    async def login_throttles(self, key_hashes: list[str]) -> dict[str, ThrottleState]:
        t = tables.login_throttles
        rows = (
            await self.session.execute(
                select(t.c.key_hash, t.c.blocked_until, t.c.last_success_at).where(
                    t.c.key_hash.in_(key_hashes)
                )
            )
        ).all()
        return {
            row.key_hash: ThrottleState(
                blocked_until=row.blocked_until, last_success_at=row.last_success_at
            )
            for row in rows
        }

    async def count_login_failure(
        self, key_hash: str, scope: str, *, now: datetime, forget_before: datetime
    ) -> int:
        """One more failure (counting afresh when the last is forgotten); the count."""
        t = tables.login_throttles
        forgotten = or_(t.c.last_failure_at.is_(None), t.c.last_failure_at < forget_before)
        statement = (
            insert(t)
            .values(key_hash=key_hash, scope=scope, failures=1, last_failure_at=now, updated_at=now)
            .on_conflict_do_update(
                index_elements=[t.c.key_hash],
                set_={
                    "failures": case((forgotten, 1), else_=t.c.failures + 1),
                    "last_failure_at": now,
                    "updated_at": now,
                },
            )
            .returning(t.c.failures)
        )
        failures: int = (await self.session.execute(statement)).scalar_one()
        return failures

    async def block_logins(self, key_hash: str, *, until: datetime) -> None:
        t = tables.login_throttles
        await self.session.execute(
            update(t).where(t.c.key_hash == key_hash).values(blocked_until=until)
        )

    async def login_succeeded(self, key_hash: str, scope: str, *, now: datetime) -> None:
        t = tables.login_throttles
        cleared = {"failures": 0, "last_failure_at": None, "blocked_until": None}
        statement = insert(t).values(
            key_hash=key_hash, scope=scope, last_success_at=now, updated_at=now, **cleared
        )
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[t.c.key_hash],
                set_={**cleared, "last_success_at": now, "updated_at": now},
            )
        )

    async def prune_login_throttles(
        self, *, untouched_since: datetime, known_since: datetime
    ) -> int:
        t = tables.login_throttles
        pruned = await self.session.execute(
            delete(t).where(
                t.c.updated_at < untouched_since,
                or_(t.c.last_success_at.is_(None), t.c.last_success_at < known_since),
            )
        )
        return int(cast(CursorResult[Any], pruned).rowcount)

    # App end-user sessions, looked up by the secret's hash

    async def live_app_session(self, secret_hash: str, now: datetime) -> LiveAppSession | None:
        s, u = tables.app_sessions, tables.app_users
        row = (
            await self.session.execute(
                select(
                    s.c.id.label("session_id"),
                    s.c.expires_at,
                    u.c.id,
                    u.c.tenant_id,
                    u.c.app_id,
                    u.c.app_role,
                )
                .join(u, u.c.id == s.c.app_user_id)
                .where(s.c.secret_hash == secret_hash, s.c.ended_at.is_(None), s.c.expires_at > now)
            )
        ).first()
        if row is None:
            return None
        return LiveAppSession(
            session_id=row.session_id,
            expires_at=row.expires_at,
            app_user_id=row.id,
            tenant_id=row.tenant_id,
            app_id=row.app_id,
            app_role=row.app_role,
        )


class AppUserRepository:
    """An app's end users and their sessions, in one workspace."""

    def __init__(self, session: AsyncSession, tenant_id: str) -> None:
        self.session = session
        self.users = TenantTable(tables.app_users, tenant_id)
        self.sessions = TenantTable(tables.app_sessions, tenant_id)

    async def insert(
        self,
        *,
        app_user_id: str,
        app_id: str,
        email: str,
        name: str,
        password_hash: str,
        app_role: str,
        now: datetime,
    ) -> AppUser | None:
        """None when the app already has a user with this email."""
        row = (
            await self.session.execute(
                insert(tables.app_users)
                .values(
                    id=app_user_id,
                    tenant_id=self.users.tenant_id,
                    app_id=app_id,
                    email=email,
                    name=name,
                    password_hash=password_hash,
                    app_role=app_role,
                    created_at=now,
                )
                .on_conflict_do_nothing(constraint="uq_app_users_app_id_email")
                .returning(tables.app_users)
            )
        ).first()
        return _app_user(row) if row is not None else None

    async def get(self, app_id: str, app_user_id: str) -> AppUser | None:
        c = self.users.c
        row = (
            await self.session.execute(
                self.users.select().where(c.app_id == app_id, c.id == app_user_id)
            )
        ).first()
        return _app_user(row) if row is not None else None

    async def credentials(self, app_id: str, email: str) -> AppUserCredentials | None:
        c = self.users.c
        row = (
            await self.session.execute(
                self.users.select().where(c.app_id == app_id, c.email == email)
            )
        ).first()
        if row is None:
            return None
        return AppUserCredentials(user=_app_user(row), password_hash=row.password_hash)

    async def email_taken(self, app_id: str, email: str) -> bool:
        c = self.users.c
        found = await self.session.scalar(
            self.users.select(c.id).where(c.app_id == app_id, c.email == email)
        )
        return found is not None

    async def page(self, app_id: str, *, offset: int, limit: int) -> tuple[list[AppUser], int]:
        c = self.users.c
        rows = (
            await self.session.execute(
                self.users.select()
                .where(c.app_id == app_id)
                .order_by(c.created_at, c.id)
                .offset(offset)
                .limit(limit)
            )
        ).all()
        total = await self.session.scalar(self.users.select(func.count()).where(c.app_id == app_id))
        return [_app_user(row) for row in rows], int(total or 0)

    async def update(self, app_id: str, app_user_id: str, **values: str) -> AppUser | None:
        """The changed user, or None when there is none; AppUserEmailTaken when the new
        email belongs to another user of the app."""
        c = self.users.c
        statement = (
            self.users.update()
            .where(c.app_id == app_id, c.id == app_user_id)
            .values(**values)
            .returning(tables.app_users)
        )
        try:
            async with self.session.begin_nested():
                row = (await self.session.execute(statement)).first()
        except IntegrityError as error:
            if getattr(error.orig, "sqlstate", None) == UNIQUE_VIOLATION:
                raise AppUserEmailTaken() from None
            raise
        return _app_user(row) if row is not None else None

    async def delete(self, app_id: str, app_user_id: str) -> bool:
        c = self.users.c
        deleted = await self.session.scalar(
            self.users.delete().where(c.app_id == app_id, c.id == app_user_id).returning(c.id)
        )
        return deleted is not None

    async def insert_session(
        self,
        *,
        session_id: str,
        app_user_id: str,
        secret_hash: str,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        await self.session.execute(
            self.sessions.insert(
                id=session_id,
                app_user_id=app_user_id,
                secret_hash=secret_hash,
                created_at=now,
                expires_at=expires_at,
            )
        )

    async def end_sessions(
        self, app_user_id: str, now: datetime, *, only: str | None = None, keep: str | None = None
    ) -> list[str]:
        """Ends the user's open sessions (just `only`, or all but `keep`); their ids."""
        c = self.sessions.c
        statement = self.sessions.update().where(
            c.app_user_id == app_user_id, c.ended_at.is_(None), c.expires_at > now
        )
        if only is not None:
            statement = statement.where(c.id == only)
        if keep is not None:
            statement = statement.where(c.id != keep)
        ended = await self.session.scalars(statement.values(ended_at=now).returning(c.id))
        return sorted(ended.all())


def _credentials(row: Row[Any]) -> Credentials:
    return Credentials(
        account=_account(row),
        password_hash=row.password_hash,
        tokens_valid_after=row.tokens_valid_after,
    )


def _scope_columns(scope: LoginScope | None) -> dict[str, str | None]:
    if scope is None:
        return {}
    return {
        "workspace_id": scope.workspace_id,
        "sso_subject": scope.subject or None,
        "sso_sid": scope.sid or None,
    }


def _login_scope(
    workspace_id: str | None, subject: str | None, sid: str | None
) -> LoginScope | None:
    if not workspace_id:
        return None
    return LoginScope(workspace_id=workspace_id, subject=subject or "", sid=sid or "")


def _account(row: Row[Any]) -> Account:
    return Account(id=row.id, name=row.name, email=row.email, created_at=row.created_at)


def _workspace(row: Row[Any]) -> Workspace:
    return Workspace(id=row.id, name=row.name, slug=row.slug, created_at=row.created_at)


def _member(row: Row[Any]) -> Member:
    return Member(account=_account(row), role=row.role, joined_at=row.joined_at)


def _api_token(row: Row[Any]) -> ApiToken:
    return ApiToken(
        id=row.id,
        name=row.name,
        workspace_id=row.tenant_id,
        account_id=row.account_id,
        # JSONB keeps its own key order; tokens show theirs in the operations' order.
        permissions={
            operation: _scope(row.permissions.get(operation, False))
            for operation in GRANT_OPERATIONS
        },
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
    )


def _scope(stored: Any) -> Permission:
    return stored if isinstance(stored, bool) else [tuple(item) for item in stored]


def _admin_token(row: Row[Any]) -> AdminToken:
    return AdminToken(
        id=row.id,
        name=row.name,
        workspace_id=row.tenant_id,
        created_by=row.created_by,
        bypass_privacy_rules=row.bypass_privacy_rules,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_TOUCHABLE = {
    "api_tokens": tables.api_tokens,
    "admin_tokens": tables.admin_tokens,
    "user_keys": tables.user_keys,
}


def _key_pair(row: Row[Any]) -> StoredKeyPair:
    return StoredKeyPair(
        kid=row.kid,
        algorithm=row.algorithm,
        sealed_private_key=row.sealed_private_key,
        public_key_pem=row.public_key_pem,
    )


def _app_user(row: Row[Any]) -> AppUser:
    return AppUser(
        id=row.id,
        app_id=row.app_id,
        email=row.email,
        name=row.name,
        app_role=row.app_role,
        created_at=row.created_at,
    )
