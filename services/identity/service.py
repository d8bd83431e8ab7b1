"""Identity's domain logic. Every function takes the caller's session and only flushes;
the servicer owns the transaction. Nothing here knows about gRPC."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from tessera.common.v1 import common_pb2

from services.identity import events, passwords, validation
from services.identity.config import IdentitySettings
from services.identity.errors import (
    EmailTaken,
    InvalidCredentials,
    NoSigningKey,
    NotYourMemberships,
    RefreshTokenInvalid,
    SessionInvalid,
)
from services.identity.models import (
    Account,
    CreatedAccount,
    IssuedTokens,
    Membership,
    OpenedSession,
    PublicKeys,
    ResolvedSession,
    Workspace,
)
from services.identity.repository import IdentityRepository
from services.identity.tokens import (
    AccessClaims,
    KeyPair,
    generate_key_pair,
    hash_secret,
    issue_access_token,
)
from services.kit.clock import utcnow
from services.kit.ids import new_id, new_secret

OWNER = "owner"
# A four-character suffix collides rarely; a handful of fresh draws makes it negligible.
SLUG_ATTEMPTS = 8
CSRF_TOKEN_BYTES = 24


async def create_account(
    session: AsyncSession, *, name: str, email: str, password: str
) -> CreatedAccount:
    name = validation.clean_name(name)
    email = validation.clean_email(email)
    validation.check_password(password)
    repo = IdentityRepository(session)
    if await repo.email_taken(email):
        raise EmailTaken()
    password_hash = await passwords.hash_password(password)
    now = utcnow()
    account = await repo.insert_account(
        account_id=new_id("acc"), name=name, email=email, password_hash=password_hash, now=now
    )
    if account is None:
        # Another request registered the same email between our check and our insert.
        raise EmailTaken()
    workspace = await _create_workspace(repo, name=f"{name}'s workspace", slug_from=name, now=now)
    await repo.add_member(workspace_id=workspace.id, account_id=account.id, role=OWNER, now=now)
    await events.record(session, events.account_created(workspace.id, account))
    await events.record(session, events.workspace_created(workspace))
    await events.record(session, events.member_added(workspace.id, account.id, OWNER))
    return CreatedAccount(account=account, workspace=workspace)


async def issue_tokens(
    session: AsyncSession, *, username: str, password: str, settings: IdentitySettings
) -> IssuedTokens:
    repo = IdentityRepository(session)
    account = await _authenticate(repo, username, password)
    now = utcnow()
    refresh_token = new_secret()
    await repo.insert_refresh_token(
        token_hash=hash_secret(refresh_token),
        account_id=account.id,
        now=now,
        expires_at=now + timedelta(seconds=settings.refresh_token_ttl_seconds),
    )
    return IssuedTokens(
        access_token=await _access_token(repo, account.id, now, settings),
        refresh_token=refresh_token,
        account=account,
        expires_in=settings.access_token_ttl_seconds,
    )


async def refresh_tokens(
    session: AsyncSession, *, refresh_token: str, settings: IdentitySettings
) -> IssuedTokens:
    """A new access token for a live refresh token. The refresh token is not rotated:
    Baserow's clients keep reusing the one they were given."""
    if not refresh_token:
        raise RefreshTokenInvalid()
    repo = IdentityRepository(session)
    now = utcnow()
    account = await repo.live_refresh_token_account(hash_secret(refresh_token), now)
    if account is None:
        raise RefreshTokenInvalid()
    return IssuedTokens(
        access_token=await _access_token(repo, account.id, now, settings),
        refresh_token=refresh_token,
        account=account,
        expires_in=settings.access_token_ttl_seconds,
    )


async def revoke_refresh_token(session: AsyncSession, *, refresh_token: str) -> None:
    if refresh_token:
        await IdentityRepository(session).revoke_refresh_token(hash_secret(refresh_token), utcnow())


async def create_session(
    session: AsyncSession, *, username: str, password: str, settings: IdentitySettings
) -> OpenedSession:
    repo = IdentityRepository(session)
    account = await _authenticate(repo, username, password)
    now = utcnow()
    session_id = new_secret()
    csrf_token = new_secret(CSRF_TOKEN_BYTES)
    expires_at = now + timedelta(seconds=settings.session_ttl_seconds)
    await repo.insert_session(
        id_hash=hash_secret(session_id),
        account_id=account.id,
        csrf_token=csrf_token,
        now=now,
        expires_at=expires_at,
    )
    workspace_id = await repo.first_workspace_id(account.id)
    if workspace_id is not None:
        await events.record(session, events.session_started(workspace_id, account.id))
    return OpenedSession(
        session_id=session_id, csrf_token=csrf_token, account=account, expires_at=expires_at
    )


async def resolve_session(session: AsyncSession, *, session_id: str) -> ResolvedSession:
    if not session_id:
        raise SessionInvalid()
    found = await IdentityRepository(session).live_session(hash_secret(session_id), utcnow())
    if found is None:
        raise SessionInvalid()
    account, csrf_token = found
    return ResolvedSession(account=account, csrf_token=csrf_token)


async def end_session(session: AsyncSession, *, session_id: str) -> None:
    """Ending an unknown or already ended session changes nothing and is not an error."""
    if not session_id:
        return
    repo = IdentityRepository(session)
    account_id = await repo.end_session(hash_secret(session_id), utcnow())
    if account_id is None:
        return
    workspace_id = await repo.first_workspace_id(account_id)
    if workspace_id is not None:
        await events.record(session, events.session_ended(workspace_id, account_id))


async def create_workspace(
    session: AsyncSession, ctx: common_pb2.RequestContext, *, name: str
) -> Membership:
    if not ctx.principal_id:
        raise NotYourMemberships()
    name = validation.clean_name(name)
    repo = IdentityRepository(session)
    now = utcnow()
    workspace = await _create_workspace(repo, name=name, slug_from=name, now=now)
    await repo.add_member(
        workspace_id=workspace.id, account_id=ctx.principal_id, role=OWNER, now=now
    )
    await events.record(session, events.workspace_created(workspace))
    await events.record(session, events.member_added(workspace.id, ctx.principal_id, OWNER))
    return Membership(workspace=workspace, role=OWNER)


async def list_memberships(
    session: AsyncSession, ctx: common_pb2.RequestContext, *, account_id: str
) -> list[Membership]:
    if not ctx.principal_id or ctx.principal_id != account_id:
        raise NotYourMemberships()
    return await IdentityRepository(session).memberships_of_account(account_id)


async def get_signing_keys(session: AsyncSession, *, settings: IdentitySettings) -> PublicKeys:
    return PublicKeys(
        keys=await IdentityRepository(session).public_keys(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )


async def ensure_signing_key(session: AsyncSession) -> KeyPair:
    """Run at startup: provisions the first key. The advisory lock makes replicas that
    start together agree on one key instead of each inserting their own."""
    repo = IdentityRepository(session)
    await repo.lock_signing_keys()
    key = await repo.current_signing_key()
    if key is None:
        key = generate_key_pair()
        await repo.insert_signing_key(key)
    return key


async def _authenticate(repo: IdentityRepository, username: str, password: str) -> Account:
    """The same error, after the same amount of hashing work, for an unknown email and a
    wrong password."""
    email = validation.normalize_email(username)
    plausible = validation.is_valid_email(email) and len(password) <= validation.PASSWORD_MAX
    credentials = await repo.credentials_by_email(email) if plausible else None
    if credentials is None:
        await passwords.burn_verification(password[: validation.PASSWORD_MAX])
        raise InvalidCredentials()
    verification = await passwords.verify_password(credentials.password_hash, password)
    if not verification.ok:
        raise InvalidCredentials()
    if verification.needs_rehash:
        new_hash = await passwords.hash_password(password)
        await repo.update_password_hash(credentials.account.id, new_hash)
    return credentials.account


async def _create_workspace(
    repo: IdentityRepository, *, name: str, slug_from: str, now: datetime
) -> Workspace:
    for _ in range(SLUG_ATTEMPTS):
        workspace = await repo.insert_workspace(
            workspace_id=new_id("ws"),
            name=name,
            slug=validation.workspace_slug(slug_from),
            now=now,
        )
        if workspace is not None:
            return workspace
    raise RuntimeError(f"no free workspace slug after {SLUG_ATTEMPTS} tries")


async def _access_token(
    repo: IdentityRepository, account_id: str, now: datetime, settings: IdentitySettings
) -> str:
    key = await repo.current_signing_key()
    if key is None:
        raise NoSigningKey("no active signing key; the service provisions one at startup")
    claims = AccessClaims(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        subject=account_id,
        issued_at=int(now.timestamp()),
        ttl_seconds=settings.access_token_ttl_seconds,
    )
    return issue_access_token(key, claims)
