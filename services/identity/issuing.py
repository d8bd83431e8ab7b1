"""The credentials members make: API tokens (`tsr_tok_…`), per-user API keys
(`tsr_key_…`) and admin tokens (`tsr_adm_…`), and the resolvers that turn their secrets
back into principals (registered in credentials.RESOLVERS).

A token never holds more than its member: its role is read from the membership every time
it is resolved, so a demotion lowers it and a removal ends it. Every revocation is an
`identity.<tenant>.credential.revoked` event, which gateways hear and drop at once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from tessera.common.v1 import common_pb2

from services.identity import audit, events, validation
from services.identity.credentials import RESOLVERS, Resolved, new_credential_secret
from services.identity.errors import NoUserKey, TokenNotFound
from services.identity.models import (
    AdminToken,
    ApiToken,
    IssuedAdminToken,
    IssuedApiToken,
    IssuedUserKey,
    Permission,
    Scope,
)
from services.identity.repository import IdentityRepository
from services.identity.tokens import hash_secret
from services.kit.access import GRANT_OPERATIONS, Kind, Principal, grant_strings
from services.kit.audit import Action, AuditEntry, Detail
from services.kit.clock import rfc3339, utcnow
from services.kit.errors import ValidationFailed
from services.kit.ids import new_id

API_TOKEN = "tok"  # noqa: S105 (the kind in a secret's prefix, not a secret)
USER_KEY = "key"
ADMIN_TOKEN = "adm"  # noqa: S105
# last_used_at is written at most this often per credential.
LAST_USED_GRANULARITY = timedelta(minutes=1)
MAX_SCOPES = 500
# Admin tokens work only while their creator holds one of these roles.
ADMIN_TOKEN_ROLES = frozenset({"owner", "admin"})


# API tokens


async def create_api_token(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    *,
    name: str,
    permissions: dict[str, Permission],
    expires_at: str,
) -> IssuedApiToken:
    caller = Principal.of(ctx)
    now = utcnow()
    secret = new_credential_secret(API_TOKEN)
    token = await IdentityRepository(session).insert_api_token(
        workspace_id=caller.tenant_id,
        token_id=new_id(API_TOKEN),
        account_id=caller.account_id,
        name=validation.clean_name(name),
        secret_hash=hash_secret(secret),
        permissions=clean_permissions(permissions),
        now=now,
        expires_at=_expiry(expires_at, now),
    )
    await events.record(
        session,
        events.credential_issued(caller.tenant_id, token.id, Kind.API_TOKEN, caller.account_id),
    )
    await _audit(
        session,
        ctx,
        Action.API_TOKEN_CREATED,
        "api_token",
        token.id,
        {
            "name": token.name,
            "permissions": grants(token.permissions),
            "expires_at": rfc3339(token.expires_at) if token.expires_at else None,
        },
    )
    return IssuedApiToken(token=token, secret=secret)


async def list_api_tokens(session: AsyncSession, ctx: common_pb2.RequestContext) -> list[ApiToken]:
    caller = Principal.of(ctx)
    return await IdentityRepository(session).api_tokens_of(caller.tenant_id, caller.account_id)


async def get_api_token(
    session: AsyncSession, ctx: common_pb2.RequestContext, *, token_id: str
) -> ApiToken:
    caller = Principal.of(ctx)
    token = await IdentityRepository(session).api_token(
        caller.tenant_id, caller.account_id, token_id
    )
    if token is None:
        raise TokenNotFound()
    return token


async def update_api_token(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    *,
    token_id: str,
    name: str | None,
    permissions: dict[str, Permission] | None,
) -> ApiToken:
    caller = Principal.of(ctx)
    values: dict[str, object] = {}
    if name is not None:
        values["name"] = validation.clean_name(name)
    if permissions is not None:
        values["permissions"] = clean_permissions(permissions)
    repo = IdentityRepository(session)
    if not values:
        return await get_api_token(session, ctx, token_id=token_id)
    token = await repo.update_api_token(caller.tenant_id, caller.account_id, token_id, **values)
    if token is None:
        raise TokenNotFound()
    if permissions is not None:
        # Fewer grants must hold at once, not when the gateways' caches expire.
        await _revoked(session, caller.tenant_id, token.id, Kind.API_TOKEN, token.account_id)
    changed: dict[str, Detail] = {"name": token.name}
    if permissions is not None:
        changed["permissions"] = grants(token.permissions)
    await _audit(session, ctx, Action.API_TOKEN_UPDATED, "api_token", token.id, changed)
    return token


async def rotate_api_token(
    session: AsyncSession, ctx: common_pb2.RequestContext, *, token_id: str
) -> IssuedApiToken:
    caller = Principal.of(ctx)
    secret = new_credential_secret(API_TOKEN)
    token = await IdentityRepository(session).update_api_token(
        caller.tenant_id, caller.account_id, token_id, secret_hash=hash_secret(secret)
    )
    if token is None:
        raise TokenNotFound()
    await _revoked(session, caller.tenant_id, token.id, Kind.API_TOKEN, token.account_id)
    await _audit(
        session, ctx, Action.API_TOKEN_ROTATED, "api_token", token.id, {"name": token.name}
    )
    return IssuedApiToken(token=token, secret=secret)


async def delete_api_token(
    session: AsyncSession, ctx: common_pb2.RequestContext, *, token_id: str
) -> None:
    caller = Principal.of(ctx)
    repo = IdentityRepository(session)
    if not await repo.delete_api_token(caller.tenant_id, caller.account_id, token_id):
        raise TokenNotFound()
    await _revoked(session, caller.tenant_id, token_id, Kind.API_TOKEN, caller.account_id)
    await _audit(session, ctx, Action.API_TOKEN_REVOKED, "api_token", token_id)


def clean_permissions(permissions: dict[str, Permission]) -> dict[str, Permission]:
    """Every operation present (missing ones grant nothing), scopes well formed and
    without repeats."""
    unknown = sorted(set(permissions) - set(GRANT_OPERATIONS))
    if unknown:
        raise ValidationFailed(
            f"Unknown permission '{unknown[0]}'; use {', '.join(GRANT_OPERATIONS)}",
            field=f"permissions.{unknown[0]}",
        )
    cleaned: dict[str, Permission] = {}
    for operation in GRANT_OPERATIONS:
        scope = permissions.get(operation, False)
        if isinstance(scope, bool):
            cleaned[operation] = scope
            continue
        field = f"permissions.{operation}"
        if len(scope) > MAX_SCOPES:
            raise ValidationFailed(f"At most {MAX_SCOPES} apps and schemas", field=field)
        unique: list[Scope] = []
        for item in scope:
            if not _well_formed(item):
                raise ValidationFailed(
                    'Each scope is ["app", app] or ["schema", app, schema]', field=field
                )
            if item not in unique:
                unique.append(item)
        cleaned[operation] = unique
    return cleaned


def grants(permissions: dict[str, Permission]) -> list[str]:
    """The grant strings a RequestContext carries (services.kit.access.grant_strings)."""
    result: list[str] = []
    for operation in GRANT_OPERATIONS:
        scope = permissions.get(operation, False)
        if isinstance(scope, bool):
            result.extend(grant_strings(operation, scope))
        else:
            result.extend(grant_strings(operation, [(item[0], item[-1]) for item in scope]))
    return result


def _well_formed(item: Scope) -> bool:
    if not all(isinstance(part, str) and part for part in item):
        return False
    return (len(item) == 2 and item[0] == "app") or (len(item) == 3 and item[0] == "schema")


def _expiry(raw: str, now: datetime) -> datetime | None:
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(
            "expires_at must be an RFC 3339 time, e.g. 2030-01-31T12:00:00Z", field="expires_at"
        ) from None
    if moment.tzinfo is None:
        raise ValidationFailed(
            "expires_at needs a time zone offset, e.g. Z or +02:00", field="expires_at"
        )
    if moment <= now:
        raise ValidationFailed("expires_at must be in the future", field="expires_at")
    return moment


async def _resolve_api_token(
    session: AsyncSession, secret_hash: str, now: datetime
) -> Resolved | None:
    repo = IdentityRepository(session)
    found = await repo.api_token_by_hash(secret_hash)
    if found is None:
        return None
    token, role = found
    if token.expires_at is not None and token.expires_at <= now:
        return None
    await _touch(repo, "api_tokens", token.id, token.last_used_at, now)
    ctx = common_pb2.RequestContext(
        tenant_id=token.workspace_id,
        principal_id=token.id,
        principal_kind=Kind.API_TOKEN,
        account_id=token.account_id,
        role=role,
        permissions=grants(token.permissions),
        credential_id=token.id,
    )
    return Resolved(ctx=ctx, expires_at=token.expires_at)


# Per-user API keys


async def create_user_key(session: AsyncSession, ctx: common_pb2.RequestContext) -> IssuedUserKey:
    account_id = _account_of(ctx)
    repo = IdentityRepository(session)
    now = utcnow()
    secret = new_credential_secret(USER_KEY)
    key_id = new_id(USER_KEY)
    previous = await repo.replace_user_key(
        account_id=account_id, key_id=key_id, secret_hash=hash_secret(secret), now=now
    )
    if previous is not None:
        await _key_revoked(session, repo, account_id, previous)
        replaced = AuditEntry.by(
            ctx,
            Action.USER_KEY_REVOKED,
            target_type="user_key",
            target_id=previous,
            details={"replaced_by": key_id},
        )
        await audit.record_for_account(session, account_id, replaced)
    created = AuditEntry.by(ctx, Action.USER_KEY_CREATED, target_type="user_key", target_id=key_id)
    await audit.record_for_account(session, account_id, created)
    return IssuedUserKey(id=key_id, secret=secret, created_at=now)


async def delete_user_key(session: AsyncSession, ctx: common_pb2.RequestContext) -> None:
    account_id = _account_of(ctx)
    repo = IdentityRepository(session)
    deleted = await repo.delete_user_key(account_id)
    if deleted is None:
        raise NoUserKey()
    await _key_revoked(session, repo, account_id, deleted)
    revoked = AuditEntry.by(ctx, Action.USER_KEY_REVOKED, target_type="user_key", target_id=deleted)
    await audit.record_for_account(session, account_id, revoked)


def _account_of(ctx: common_pb2.RequestContext) -> str:
    # A user's principal is the account; a key's principal is the key, its account beside.
    return ctx.account_id or ctx.principal_id


async def _key_revoked(
    session: AsyncSession, repo: IdentityRepository, account_id: str, key_id: str
) -> None:
    # A key belongs to no workspace; the event goes out under the account's first one,
    # and an account in none has no workspace its key could still reach.
    workspace_id = await repo.first_workspace_id(account_id)
    if workspace_id is not None:
        await _revoked(session, workspace_id, key_id, Kind.USER_KEY, account_id)


async def _resolve_user_key(
    session: AsyncSession, secret_hash: str, now: datetime
) -> Resolved | None:
    repo = IdentityRepository(session)
    key = await repo.user_key_by_hash(secret_hash)
    if key is None:
        return None
    key_id, account_id, last_used_at = key
    await _touch(repo, "user_keys", key_id, last_used_at, now)
    # No workspace: the gateway picks one from the account's memberships, as for a JWT.
    ctx = common_pb2.RequestContext(
        principal_id=key_id,
        principal_kind=Kind.USER_KEY,
        account_id=account_id,
        credential_id=key_id,
    )
    return Resolved(ctx=ctx, expires_at=None)


# Admin tokens


async def create_admin_token(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    *,
    name: str,
    bypass_privacy_rules: bool,
) -> IssuedAdminToken:
    caller = Principal.of(ctx)
    secret = new_credential_secret(ADMIN_TOKEN)
    token = await IdentityRepository(session).insert_admin_token(
        workspace_id=caller.tenant_id,
        token_id=new_id(ADMIN_TOKEN),
        created_by=caller.account_id,
        name=validation.clean_name(name),
        secret_hash=hash_secret(secret),
        bypass_privacy_rules=bypass_privacy_rules,
        now=utcnow(),
    )
    await events.record(
        session,
        events.credential_issued(caller.tenant_id, token.id, Kind.ADMIN_TOKEN, caller.account_id),
    )
    await _audit(
        session,
        ctx,
        Action.ADMIN_TOKEN_CREATED,
        "admin_token",
        token.id,
        {"name": token.name, "bypass_privacy_rules": token.bypass_privacy_rules},
    )
    return IssuedAdminToken(token=token, secret=secret)


async def list_admin_tokens(
    session: AsyncSession, ctx: common_pb2.RequestContext
) -> list[AdminToken]:
    return await IdentityRepository(session).admin_tokens(Principal.of(ctx).tenant_id)


async def delete_admin_token(
    session: AsyncSession, ctx: common_pb2.RequestContext, *, token_id: str
) -> None:
    caller = Principal.of(ctx)
    token = await IdentityRepository(session).delete_admin_token(caller.tenant_id, token_id)
    if token is None:
        raise TokenNotFound()
    await _revoked(session, caller.tenant_id, token.id, Kind.ADMIN_TOKEN, token.created_by)
    await _audit(
        session,
        ctx,
        Action.ADMIN_TOKEN_REVOKED,
        "admin_token",
        token.id,
        {"name": token.name, "bypass_privacy_rules": token.bypass_privacy_rules},
    )


async def _resolve_admin_token(
    session: AsyncSession, secret_hash: str, now: datetime
) -> Resolved | None:
    repo = IdentityRepository(session)
    found = await repo.admin_token_by_hash(secret_hash)
    if found is None or found[1] not in ADMIN_TOKEN_ROLES:
        return None
    token, role = found
    await _touch(repo, "admin_tokens", token.id, token.last_used_at, now)
    ctx = common_pb2.RequestContext(
        tenant_id=token.workspace_id,
        principal_id=token.id,
        principal_kind=Kind.ADMIN_TOKEN,
        account_id=token.created_by,
        role=role,
        bypass_privacy_rules=token.bypass_privacy_rules,
        credential_id=token.id,
    )
    return Resolved(ctx=ctx, expires_at=None)


async def _touch(
    repo: IdentityRepository,
    table: str,
    credential_id: str,
    last_used_at: datetime | None,
    now: datetime,
) -> None:
    older_than = now - LAST_USED_GRANULARITY
    if last_used_at is None or last_used_at < older_than:
        await repo.touch(table, credential_id, now, older_than=older_than)


RESOLVERS[API_TOKEN] = _resolve_api_token
RESOLVERS[USER_KEY] = _resolve_user_key
RESOLVERS[ADMIN_TOKEN] = _resolve_admin_token


async def _revoked(
    session: AsyncSession, workspace_id: str, credential_id: str, kind: str, account_id: str
) -> None:
    """Tells every gateway to drop the credential from its cache."""
    await events.record(
        session,
        events.credential_revoked(
            workspace_id, credential_id=credential_id, kind=kind, account_id=account_id
        ),
    )


async def _audit(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    action: Action,
    target_type: str,
    target_id: str,
    details: dict[str, Detail] | None = None,
) -> None:
    entry = AuditEntry.by(
        ctx, action, target_type=target_type, target_id=target_id, details=details
    )
    await audit.record(session, Principal.of(ctx).tenant_id, entry)
