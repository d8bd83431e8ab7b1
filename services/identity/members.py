"""Members of a workspace and the users API over them. Every function takes the caller's
session and context and only flushes; the servicer owns the transaction.

What the role table cannot say is decided here: only an owner makes, changes or removes
an owner, and a workspace always keeps one (the owners are locked while that is checked,
so two demotions at once cannot both pass)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from tessera.common.v1 import common_pb2

from services.identity import audit, events, passwords, validation
from services.identity.errors import (
    AlreadyMember,
    EmailTaken,
    LastOwner,
    MemberNotFound,
    NoAccountWithEmail,
    OwnersOnly,
)
from services.identity.models import Account, Member
from services.identity.repository import IdentityRepository
from services.kit.access import ROLES, Principal
from services.kit.audit import Action, AuditEntry, Detail
from services.kit.clock import utcnow
from services.kit.errors import ValidationFailed
from services.kit.ids import new_id, new_secret

OWNER = "owner"
SEARCH_PREFIX_MAX = 254


def clean_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationFailed(f"Role must be one of: {', '.join(ROLES)}", field="role")
    return role


async def list_members(
    session: AsyncSession, ctx: common_pb2.RequestContext, *, prefix: str = ""
) -> list[Member]:
    caller = Principal.of(ctx)
    prefix = prefix.strip()
    if len(prefix) > SEARCH_PREFIX_MAX:
        raise ValidationFailed(
            f"Search must be at most {SEARCH_PREFIX_MAX} characters", field="name"
        )
    return await IdentityRepository(session).members(caller.tenant_id, prefix=prefix)


async def get_member(
    session: AsyncSession, ctx: common_pb2.RequestContext, *, account_id: str
) -> Member:
    caller = Principal.of(ctx)
    member = await IdentityRepository(session).member(caller.tenant_id, account_id)
    if member is None:
        raise MemberNotFound()
    return member


async def add_member(
    session: AsyncSession, ctx: common_pb2.RequestContext, *, email: str, role: str
) -> Member:
    caller = Principal.of(ctx)
    role = clean_role(role)
    _check_may_grant(caller, role)
    repo = IdentityRepository(session)
    account = await repo.account_by_email(validation.clean_email(email))
    if account is None:
        raise NoAccountWithEmail()
    return await _join(session, ctx, repo, account, role)


async def create_user(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    *,
    email: str,
    role: str,
    name: str,
    password: str,
) -> Member:
    """Adds the account with this email, creating it first when there is none. An
    existing account keeps its name and password: a workspace admin may not set them."""
    caller = Principal.of(ctx)
    role = clean_role(role)
    _check_may_grant(caller, role)
    email = validation.clean_email(email)
    repo = IdentityRepository(session)
    account = await repo.account_by_email(email)
    created = account is None
    if account is None:
        account = await _create_account(session, repo, caller, email, name, password)
    return await _join(session, ctx, repo, account, role, account_created=created)


async def update_member(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    *,
    account_id: str,
    role: str | None,
    name: str | None = None,
) -> Member:
    caller = Principal.of(ctx)
    repo = IdentityRepository(session)
    if role is not None:
        role = clean_role(role)
    if name is not None:
        name = validation.clean_name(name)
    member = await repo.member(caller.tenant_id, account_id, for_update=True)
    if member is None:
        raise MemberNotFound()
    if role is not None and role != member.role:
        if OWNER in (role, member.role) and caller.role != OWNER:
            raise OwnersOnly()
        if member.role == OWNER:
            await _keep_an_owner(repo, caller.tenant_id, account_id)
        await repo.set_role(caller.tenant_id, account_id, role)
        await events.record(
            session, events.member_role_changed(caller.tenant_id, account_id, role, member.role)
        )
        changed = member_entry(
            ctx,
            Action.MEMBER_ROLE_CHANGED,
            account_id,
            {"role": role, "previous_role": member.role},
        )
        await audit.record(session, caller.tenant_id, changed)
    if name is not None and name != member.account.name:
        await repo.rename_account(account_id, name)
    updated = await repo.member(caller.tenant_id, account_id)
    assert updated is not None
    return updated


async def remove_member(
    session: AsyncSession, ctx: common_pb2.RequestContext, *, account_id: str
) -> None:
    """Removes the membership (the account stays) and the tokens the member made here."""
    caller = Principal.of(ctx)
    repo = IdentityRepository(session)
    member = await repo.member(caller.tenant_id, account_id, for_update=True)
    if member is None:
        raise MemberNotFound()
    if member.role == OWNER:
        if caller.role != OWNER:
            raise OwnersOnly()
        await _keep_an_owner(repo, caller.tenant_id, account_id)
    await repo.remove_member(caller.tenant_id, account_id)
    await events.record(session, events.member_removed(caller.tenant_id, account_id))
    removed = member_entry(ctx, Action.MEMBER_REMOVED, account_id, {"role": member.role})
    await audit.record(session, caller.tenant_id, removed)


def _check_may_grant(caller: Principal, role: str) -> None:
    if role == OWNER and caller.role != OWNER:
        raise OwnersOnly()


async def _keep_an_owner(repo: IdentityRepository, workspace_id: str, leaving: str) -> None:
    owners = await repo.lock_owners(workspace_id)
    if not [owner for owner in owners if owner != leaving]:
        raise LastOwner()


async def _join(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    repo: IdentityRepository,
    account: Account,
    role: str,
    *,
    account_created: bool = False,
) -> Member:
    caller = Principal.of(ctx)
    if not await repo.insert_member(
        workspace_id=caller.tenant_id, account_id=account.id, role=role, now=utcnow()
    ):
        raise AlreadyMember()
    await events.record(session, events.member_added(caller.tenant_id, account.id, role))
    details: dict[str, Detail] = {"role": role, "email": account.email}
    if account_created:
        details["account_created"] = True
    await audit.record(
        session, caller.tenant_id, member_entry(ctx, Action.MEMBER_ADDED, account.id, details)
    )
    member = await repo.member(caller.tenant_id, account.id)
    assert member is not None
    return member


async def _create_account(
    session: AsyncSession,
    repo: IdentityRepository,
    caller: Principal,
    email: str,
    name: str,
    password: str,
) -> Account:
    name = validation.clean_name(name or email.partition("@")[0])
    if password:
        validation.check_password(password)
    else:
        # Nobody knows it: the user signs in another way (SSO) or is given a password later.
        password = new_secret()
    account = await repo.insert_account(
        account_id=new_id("acc"),
        name=name,
        email=email,
        password_hash=await passwords.hash_password(password),
        now=utcnow(),
    )
    if account is None:
        # Registered by someone else between our read and our insert.
        raise EmailTaken()
    await events.record(session, events.account_created(caller.tenant_id, account))
    return account


def member_entry(
    ctx: common_pb2.RequestContext, action: Action, account_id: str, details: dict[str, Detail]
) -> AuditEntry:
    return AuditEntry.by(ctx, action, target_type="account", target_id=account_id, details=details)
