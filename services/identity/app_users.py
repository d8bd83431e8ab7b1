"""App end users (Bubble's "log the user in", Budibase's app users): people who sign up
to one app, not workspace members. They log in with a password and present the session
secret `tsr_apu_...`; workspace builders and up, and app-role admins, manage them.

Like service.py: every function takes the caller's session and only flushes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from tessera.common.v1 import common_pb2

from services.identity import audit, credentials, events, passwords, validation
from services.identity.config import IdentitySettings
from services.identity.credentials import Resolved
from services.identity.errors import (
    AppNotFound,
    AppUserEmailTaken,
    AppUserNotFound,
    InvalidCredentials,
)
from services.identity.models import AppUser, AppUserPage, OpenedAppSession
from services.identity.repository import AppUserRepository, IdentityRepository
from services.identity.tokens import hash_secret
from services.kit.access import APP_KINDS, APP_ROLES, DEFAULT_APP_ROLE, Kind, Principal
from services.kit.audit import Action, AuditEntry, Detail, Outcome
from services.kit.clock import utcnow
from services.kit.errors import ValidationFailed
from services.kit.ids import new_id
from services.kit.paging import DEFAULT_PER_PAGE, MAX_PER_PAGE

SESSION_KIND = "apu"


async def sign_up(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    *,
    email: str,
    password: str,
    name: str,
    default_app_role: str,
    settings: IdentitySettings,
) -> OpenedAppSession:
    tenant_id, app_id = _app_of_visitor(ctx)
    repo = AppUserRepository(session, tenant_id)
    user = await _create(
        session,
        repo,
        tenant_id,
        app_id=app_id,
        email=email,
        name=name,
        password=password,
        app_role=default_app_role if default_app_role in APP_ROLES else DEFAULT_APP_ROLE,
    )
    opened = await _open_session(repo, user, ttl_seconds=settings.app_session_ttl_seconds)
    await _record_as_user(session, ctx, Action.APP_USER_SIGNED_UP, user, opened)
    return opened


async def log_in(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    *,
    email: str,
    password: str,
    keep_logged_in: bool,
    settings: IdentitySettings,
) -> OpenedAppSession:
    tenant_id, app_id = _app_of_visitor(ctx)
    repo = AppUserRepository(session, tenant_id)
    user = await _authenticate(repo, app_id, email, password)
    ttl = (
        settings.app_session_long_ttl_seconds
        if keep_logged_in
        else settings.app_session_ttl_seconds
    )
    opened = await _open_session(repo, user, ttl_seconds=ttl)
    await _record_as_user(session, ctx, Action.APP_USER_LOGIN, user, opened)
    return opened


async def log_in_failed(
    session: AsyncSession, ctx: common_pb2.RequestContext, app_user_id: str
) -> None:
    """A refused log-in to an app, in the app's workspace: the app is its own, and so is
    any end user whose password was wrong ("": no end user has the email)."""
    tenant_id, app_id = _app_of_visitor(ctx)
    refused = AuditEntry.by(
        ctx,
        Action.APP_USER_LOGIN,
        target_type="app_user" if app_user_id else "app",
        target_id=app_user_id or app_id,
        details={"app_id": app_id},
        outcome=Outcome.FAILURE,
    )
    await audit.record(session, tenant_id, refused)


async def end_session(session: AsyncSession, ctx: common_pb2.RequestContext) -> list[str]:
    """Ends the session the app end user presented (logout)."""
    return await _end_sessions(session, ctx, only=ctx.credential_id or "-")


async def end_other_sessions(session: AsyncSession, ctx: common_pb2.RequestContext) -> list[str]:
    """Ends every session of the app end user but the one presented."""
    return await _end_sessions(session, ctx, keep=ctx.credential_id or "-")


async def list_users(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    *,
    app_id: str,
    page: int,
    per_page: int,
) -> AppUserPage:
    tenant_id = _managed_app(ctx, app_id)
    page = page or 1
    per_page = per_page or DEFAULT_PER_PAGE
    if page < 1:
        raise ValidationFailed("page must be 1 or more", field="page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValidationFailed(f"per_page must be between 1 and {MAX_PER_PAGE}", field="per_page")
    users, total = await AppUserRepository(session, tenant_id).page(
        app_id, offset=(page - 1) * per_page, limit=per_page
    )
    return AppUserPage(users=users, total=total)


async def create_user(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    *,
    app_id: str,
    email: str,
    name: str,
    password: str,
    app_role: str,
    default_app_role: str,
) -> AppUser:
    tenant_id = _managed_app(ctx, app_id)
    user = await _create(
        session,
        AppUserRepository(session, tenant_id),
        tenant_id,
        app_id=app_id,
        email=email,
        name=name,
        password=password,
        app_role=_check_app_role(app_role or default_app_role or DEFAULT_APP_ROLE),
    )
    await _record_on_user(session, ctx, Action.APP_USER_CREATED, user)
    return user


async def get_user(
    session: AsyncSession, ctx: common_pb2.RequestContext, *, app_id: str, app_user_id: str
) -> AppUser:
    tenant_id = _managed_app(ctx, app_id)
    user = await AppUserRepository(session, tenant_id).get(app_id, app_user_id)
    if user is None:
        raise AppUserNotFound()
    return user


@dataclass(frozen=True)
class AppUserChange:
    name: str | None = None
    email: str | None = None
    app_role: str | None = None
    password: str | None = None


async def update_user(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    *,
    app_id: str,
    app_user_id: str,
    change: AppUserChange,
) -> AppUser:
    """A new role reaches the gateways at once (their cached sessions are dropped); a new
    password ends every session of the user."""
    tenant_id = _managed_app(ctx, app_id)
    repo = AppUserRepository(session, tenant_id)
    values: dict[str, str] = {}
    if change.name is not None:
        values["name"] = _clean_optional_name(change.name)
    if change.email is not None:
        values["email"] = validation.clean_email(change.email)
    if change.app_role is not None:
        values["app_role"] = _check_app_role(change.app_role)
    if change.password is not None:
        values["password_hash"] = await passwords.hash_password(
            validation.check_password(change.password)
        )
    if not values:
        return await get_user(session, ctx, app_id=app_id, app_user_id=app_user_id)
    before = await repo.get(app_id, app_user_id)
    user = await repo.update(app_id, app_user_id, **values)
    if before is None or user is None:
        raise AppUserNotFound()
    if user.app_role != before.app_role:
        await _record_on_user(
            session, ctx, Action.APP_USER_ROLE_CHANGED, user, previous_app_role=before.app_role
        )
    if change.password is not None:
        await _record_on_user(session, ctx, Action.APP_USER_PASSWORD_SET, user)
    now = utcnow()
    await events.record(session, events.app_user_changed(tenant_id, "updated", user))
    if change.password is not None:
        await repo.end_sessions(user.id, now)
    if change.password is not None or change.app_role is not None:
        await events.record(session, events.credential_revoked(tenant_id, account_id=user.id))
    return user


async def delete_user(
    session: AsyncSession, ctx: common_pb2.RequestContext, *, app_id: str, app_user_id: str
) -> None:
    """Deleting a user ends their sessions with them (the rows go by cascade)."""
    tenant_id = _managed_app(ctx, app_id)
    repo = AppUserRepository(session, tenant_id)
    user = await repo.get(app_id, app_user_id)
    if user is None or not await repo.delete(app_id, app_user_id):
        raise AppUserNotFound()
    await events.record(session, events.app_user_changed(tenant_id, "deleted", user))
    await events.record(session, events.credential_revoked(tenant_id, account_id=user.id))
    await _record_on_user(session, ctx, Action.APP_USER_DELETED, user)


async def resolve_session(
    session: AsyncSession, secret_hash: str, now: datetime
) -> Resolved | None:
    """The principal behind a `tsr_apu_` secret. account_id is the app user too, so a
    gateway drops every cached session of theirs on one event naming them."""
    live = await IdentityRepository(session).live_app_session(secret_hash, now)
    if live is None:
        return None
    ctx = common_pb2.RequestContext(
        tenant_id=live.tenant_id,
        principal_id=live.app_user_id,
        principal_kind=Kind.APP_USER,
        account_id=live.app_user_id,
        app_id=live.app_id,
        app_role=live.app_role,
        credential_id=live.session_id,
    )
    return Resolved(ctx=ctx, expires_at=live.expires_at)


credentials.RESOLVERS[SESSION_KIND] = resolve_session


def _app_of_visitor(ctx: common_pb2.RequestContext) -> tuple[str, str]:
    """The app the gateway resolved from its public id for someone not yet signed in."""
    if not ctx.tenant_id or not ctx.app_id:
        raise AppNotFound()
    return ctx.tenant_id, ctx.app_id


def _managed_app(ctx: common_pb2.RequestContext, app_id: str) -> str:
    """The tenant, once the caller is known to manage this app: the policy has let in
    builders and up and app-role admins; an app-role admin manages their own app only,
    and any other does not exist for them."""
    principal = Principal.of(ctx)
    if not app_id or (principal.kind in APP_KINDS and principal.app_id != app_id):
        raise AppNotFound()
    return principal.tenant_id


async def _create(
    session: AsyncSession,
    repo: AppUserRepository,
    tenant_id: str,
    *,
    app_id: str,
    email: str,
    name: str,
    password: str,
    app_role: str,
) -> AppUser:
    email = validation.clean_email(email)
    name = _clean_optional_name(name)
    validation.check_password(password)
    if await repo.email_taken(app_id, email):
        raise AppUserEmailTaken()
    user = await repo.insert(
        app_user_id=new_id("apu"),
        app_id=app_id,
        email=email,
        name=name,
        password_hash=await passwords.hash_password(password),
        app_role=app_role,
        now=utcnow(),
    )
    if user is None:
        # Another request signed the same email up between our check and our insert.
        raise AppUserEmailTaken()
    await events.record(session, events.app_user_changed(tenant_id, "created", user))
    return user


async def _authenticate(repo: AppUserRepository, app_id: str, email: str, password: str) -> AppUser:
    """The same error, after the same hashing work, for an unknown email and a wrong
    password."""
    email = validation.normalize_email(email)
    plausible = validation.is_valid_email(email) and len(password) <= validation.PASSWORD_MAX
    found = await repo.credentials(app_id, email) if plausible else None
    if found is None:
        await passwords.burn_verification(password[: validation.PASSWORD_MAX])
        raise InvalidCredentials()
    verification = await passwords.verify_password(found.password_hash, password)
    if not verification.ok:
        raise InvalidCredentials(account_id=found.user.id)
    if verification.needs_rehash:
        await repo.update(
            app_id, found.user.id, password_hash=await passwords.hash_password(password)
        )
    return found.user


async def _open_session(
    repo: AppUserRepository, user: AppUser, *, ttl_seconds: int
) -> OpenedAppSession:
    now = utcnow()
    secret = credentials.new_credential_secret(SESSION_KIND)
    expires_at = now + timedelta(seconds=ttl_seconds)
    session_id = new_id("aps")
    await repo.insert_session(
        session_id=session_id,
        app_user_id=user.id,
        secret_hash=hash_secret(secret),
        now=now,
        expires_at=expires_at,
    )
    return OpenedAppSession(token=secret, expires_at=expires_at, user=user, session_id=session_id)


async def _end_sessions(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    *,
    only: str | None = None,
    keep: str | None = None,
) -> list[str]:
    principal = Principal.of(ctx)
    repo = AppUserRepository(session, principal.tenant_id)
    ended = await repo.end_sessions(principal.id, utcnow(), only=only, keep=keep)
    for session_id in ended:
        revoked = events.credential_revoked(
            principal.tenant_id,
            credential_id=session_id,
            kind=Kind.APP_USER,
            account_id=principal.id,
        )
        await events.record(session, revoked)
    if ended:
        logout = AuditEntry.by(
            ctx,
            Action.APP_USER_LOGOUT,
            target_type="app_user",
            target_id=principal.id,
            details={
                "app_id": principal.app_id,
                "sessions_ended": len(ended),
                "others": keep is not None,
            },
        )
        await audit.record(session, principal.tenant_id, logout)
    return ended


def _check_app_role(role: str) -> str:
    if role not in APP_ROLES:
        raise ValidationFailed(f"app_role must be one of: {', '.join(APP_ROLES)}", field="app_role")
    return role


def _clean_optional_name(raw: str) -> str:
    """A name is optional for an end user; given, it follows the account rules."""
    return validation.clean_name(raw) if raw.strip() else ""


async def _record_as_user(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    action: Action,
    user: AppUser,
    opened: OpenedAppSession,
) -> None:
    """The end user acting themself (signing up, logging in) through the session they
    opened; the visitor's context says from where."""
    entry = AuditEntry(
        action=action,
        principal_kind=Kind.APP_USER,
        principal_id=user.id,
        account_id=user.id,
        credential_id=opened.session_id,
        target_type="app_user",
        target_id=user.id,
        details={"app_id": user.app_id, "app_role": user.app_role},
        client_ip=ctx.client_ip,
        user_agent=ctx.user_agent,
    )
    await audit.record(session, ctx.tenant_id, entry)


async def _record_on_user(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    action: Action,
    user: AppUser,
    **extra: Detail,
) -> None:
    """A manager (a member, an admin token or an app-role admin) acting on an end user."""
    entry = AuditEntry.by(
        ctx,
        action,
        target_type="app_user",
        target_id=user.id,
        details={"app_id": user.app_id, "app_role": user.app_role, **extra},
    )
    await audit.record(session, Principal.of(ctx).tenant_id, entry)
