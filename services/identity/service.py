"""Identity's domain logic. Every function takes the caller's session and only flushes;
the servicer owns the transaction. Nothing here knows about gRPC."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from tessera.common.v1 import common_pb2
from tessera.identity.v1 import identity_pb2

from services.identity import audit, events, passwords, sso, validation
from services.identity.config import IdentitySettings
from services.identity.errors import (
    EmailTaken,
    InvalidCredentials,
    NoSigningKey,
    NotYourMemberships,
    RefreshTokenInvalid,
    RefreshTokenReused,
    SessionInvalid,
    WrongPassword,
)
from services.identity.models import (
    Account,
    AccountMemberships,
    CreatedAccount,
    Credentials,
    IssuedTokens,
    LoginScope,
    Membership,
    OpenedSession,
    PublicKeys,
    RefreshTokenState,
    ResolvedSession,
    Workspace,
)
from services.identity.repository import IdentityRepository
from services.identity.tokens import (
    AccessClaims,
    StoredKeyPair,
    generate_key_pair,
    hash_secret,
    issue_access_token,
    open_key_pair,
    seal_key_pair,
    seal_successor,
    unseal_successor,
)
from services.kit.audit import Action, AuditEntry, Detail, Outcome
from services.kit.clock import utcnow
from services.kit.db import act_in
from services.kit.ids import new_id, new_secret
from services.kit.secrets import SecretBox

OWNER = "owner"
# A four-character suffix collides rarely; a handful of fresh draws makes it negligible.
SLUG_ATTEMPTS = 8
CSRF_TOKEN_BYTES = 24
# Keys stay published this much longer than the tokens they signed live, for clock skew.
KEY_RETIREMENT_MARGIN = timedelta(minutes=5)


async def create_account(
    session: AsyncSession,
    *,
    name: str,
    email: str,
    password: str,
    ctx: common_pb2.RequestContext,
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
    await audit.record(
        session, workspace.id, audit.account_entry(ctx, Action.ACCOUNT_CREATED, account.id)
    )
    return CreatedAccount(account=account, workspace=workspace)


async def issue_tokens(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    settings: IdentitySettings,
    ctx: common_pb2.RequestContext,
    box: SecretBox,
) -> IssuedTokens:
    repo = IdentityRepository(session)
    started = utcnow()
    credentials = await _authenticate(repo, username, password)
    await sso.refuse_if_enforced(session, credentials.account.id)
    now = await _login_time(started, credentials.tokens_valid_after)
    return await open_token_login(
        session, credentials.account, now=now, settings=settings, ctx=ctx, box=box
    )


async def open_token_login(
    session: AsyncSession,
    account: Account,
    *,
    now: datetime,
    settings: IdentitySettings,
    ctx: common_pb2.RequestContext,
    box: SecretBox,
    scope: LoginScope | None = None,
) -> IssuedTokens:
    """An access JWT and a refresh token that starts a family; scoped, they open the
    scope's workspace only."""
    repo = IdentityRepository(session)
    refresh_token = new_secret()
    # A login starts a family; every rotation's successor joins it.
    family_id = new_id("rtf")
    await repo.insert_refresh_token(
        token_hash=hash_secret(refresh_token),
        account_id=account.id,
        family_id=family_id,
        now=now,
        expires_at=now + timedelta(seconds=settings.refresh_token_ttl_seconds),
        scope=scope,
    )
    login = audit.account_entry(
        ctx,
        Action.LOGIN,
        account.id,
        credential_id=family_id,
        details={"method": "sso", "response": "token"} if scope else {"method": "jwt"},
    )
    await _record_login(session, account.id, login, scope)
    return IssuedTokens(
        access_token=await _access_token(repo, account.id, now, settings, box, scope),
        refresh_token=refresh_token,
        account=account,
        expires_in=settings.access_token_ttl_seconds,
    )


async def _record_login(
    session: AsyncSession, account_id: str, entry: AuditEntry, scope: LoginScope | None
) -> None:
    """A scoped login concerns its workspace alone; the others learn nothing of it."""
    if scope is None:
        await audit.record_for_account(session, account_id, entry)
    else:
        await audit.record(session, scope.workspace_id, entry)


async def refresh_tokens(
    session: AsyncSession, *, refresh_token: str, settings: IdentitySettings, box: SecretBox
) -> IssuedTokens:
    """A new access token and the refresh token's successor; the presented token is spent.
    Presented again within the grace (a client racing itself) it answers the same
    successor; later, it raises RefreshTokenReused and the caller revokes its family."""
    if not refresh_token:
        raise RefreshTokenInvalid()
    repo = IdentityRepository(session)
    now = utcnow()
    token_hash = hash_secret(refresh_token)
    state = await repo.refresh_token_for_update(token_hash)
    if state is None or state.revoked_at is not None or state.expires_at <= now:
        raise RefreshTokenInvalid()
    if state.tokens_valid_after is not None and state.created_at < state.tokens_valid_after:
        raise RefreshTokenInvalid()
    if state.rotated_at is None:
        successor = new_secret()
        await repo.insert_refresh_token(
            token_hash=hash_secret(successor),
            account_id=state.account.id,
            family_id=state.family_id,
            now=now,
            expires_at=now + timedelta(seconds=settings.refresh_token_ttl_seconds),
            scope=state.scope,
        )
        await repo.mark_rotated(
            token_hash,
            now=now,
            successor_hash=hash_secret(successor),
            sealed_successor=seal_successor(refresh_token, successor),
        )
    else:
        reissued = await _successor_in_grace(repo, refresh_token, state, now, settings)
        if reissued is None:
            raise RefreshTokenReused(family_id=state.family_id, account_id=state.account.id)
        successor = reissued
    return IssuedTokens(
        access_token=await _access_token(repo, state.account.id, now, settings, box, state.scope),
        refresh_token=successor,
        account=state.account,
        expires_in=settings.access_token_ttl_seconds,
    )


async def revoke_refresh_family(
    session: AsyncSession, reused: RefreshTokenReused, ctx: common_pb2.RequestContext
) -> None:
    await IdentityRepository(session).revoke_refresh_family(reused.family_id, utcnow())
    entry = audit.account_entry(
        ctx,
        Action.REFRESH_TOKEN_REUSED,
        reused.account_id,
        credential_id=reused.family_id,
        outcome=Outcome.FAILURE,
    )
    await audit.record_for_account(session, reused.account_id, entry)


async def revoke_refresh_token(
    session: AsyncSession,
    *,
    refresh_token: str,
    ctx: common_pb2.RequestContext,
) -> None:
    """Logging out ends the login: the token and every token of its family."""
    if not refresh_token:
        return
    repo = IdentityRepository(session)
    found = await repo.refresh_family_of(hash_secret(refresh_token))
    if found is not None:
        family_id, scope = found
        await repo.revoke_refresh_family(family_id, utcnow())
        account_id = await audit.account_of_refresh_family(session, family_id)
        logout = audit.account_entry(
            ctx,
            Action.LOGOUT,
            account_id,
            credential_id=family_id,
            details={"method": "sso" if scope else "jwt"},
        )
        await _record_login(
            session, account_id, logout, LoginScope(workspace_id=scope) if scope else None
        )


async def _successor_in_grace(
    repo: IdentityRepository,
    refresh_token: str,
    state: RefreshTokenState,
    now: datetime,
    settings: IdentitySettings,
) -> str | None:
    assert state.rotated_at is not None
    if (now - state.rotated_at).total_seconds() > settings.refresh_reuse_grace_seconds:
        return None
    if state.successor_hash is None or state.sealed_successor is None:
        return None
    if not await repo.refresh_token_live(state.successor_hash, now):
        return None
    return unseal_successor(refresh_token, state.sealed_successor)


async def create_session(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    settings: IdentitySettings,
    ctx: common_pb2.RequestContext,
) -> OpenedSession:
    repo = IdentityRepository(session)
    started = utcnow()
    credentials = await _authenticate(repo, username, password)
    await sso.refuse_if_enforced(session, credentials.account.id)
    now = await _login_time(started, credentials.tokens_valid_after)
    return await open_session(session, credentials.account, now=now, settings=settings, ctx=ctx)


async def open_session(
    session: AsyncSession,
    account: Account,
    *,
    now: datetime,
    settings: IdentitySettings,
    ctx: common_pb2.RequestContext,
    scope: LoginScope | None = None,
) -> OpenedSession:
    """A cookie session; scoped, it opens the scope's workspace only."""
    repo = IdentityRepository(session)
    session_id = new_secret()
    csrf_token = new_secret(CSRF_TOKEN_BYTES)
    expires_at = now + timedelta(seconds=settings.session_ttl_seconds)
    await repo.insert_session(
        id_hash=hash_secret(session_id),
        account_id=account.id,
        csrf_token=csrf_token,
        now=now,
        expires_at=expires_at,
        scope=scope,
    )
    workspace_id = scope.workspace_id if scope else await repo.first_workspace_id(account.id)
    if workspace_id is not None:
        await events.record(session, events.session_started(workspace_id, account.id))
    details: dict[str, Detail] = (
        {"method": "sso", "response": "session"} if scope else {"method": "session"}
    )
    login = audit.account_entry(ctx, Action.LOGIN, account.id, details=details)
    await _record_login(session, account.id, login, scope)
    return OpenedSession(
        session_id=session_id, csrf_token=csrf_token, account=account, expires_at=expires_at
    )


async def resolve_session(session: AsyncSession, *, session_id: str) -> ResolvedSession:
    if not session_id:
        raise SessionInvalid()
    found = await IdentityRepository(session).live_session(hash_secret(session_id), utcnow())
    if found is None:
        raise SessionInvalid()
    return found


async def end_session(
    session: AsyncSession, *, session_id: str, ctx: common_pb2.RequestContext
) -> None:
    """Ending an unknown or already ended session changes nothing and is not an error."""
    if not session_id:
        return
    repo = IdentityRepository(session)
    ended = await repo.end_session(hash_secret(session_id), utcnow())
    if ended is None:
        return
    account_id, scope = ended
    if scope:
        # A single sign-on session's logout concerns its workspace alone.
        logout = audit.account_entry(ctx, Action.LOGOUT, account_id, details={"method": "sso"})
        await audit.record(session, scope, logout)
        await events.record(session, events.session_ended(scope, account_id))
        await events.record(
            session,
            events.credential_revoked(scope, kind=events.ONE_SESSION, account_id=account_id),
        )
        return
    logout = audit.account_entry(ctx, Action.LOGOUT, account_id, details={"method": "session"})
    await audit.record_for_account(session, account_id, logout)
    workspace_id = await repo.first_workspace_id(account_id)
    if workspace_id is not None:
        await events.record(session, events.session_ended(workspace_id, account_id))
    await _announce_session_ended(session, repo, account_id)


async def _announce_session_ended(
    session: AsyncSession, repo: IdentityRepository, account_id: str
) -> None:
    """Gateways cache sessions and drop the account's on a revocation; each workspace of
    the account hears it, so whoever follows one workspace's events learns it too. Events
    are addressed by workspace: for an account in none, other gateways keep serving the
    ended session until their cached copy expires (GATEWAY_SESSION_CACHE_SECONDS)."""
    for membership in await repo.memberships_of_account(account_id):
        await events.record(
            session,
            events.credential_revoked(
                membership.workspace.id, kind=events.ONE_SESSION, account_id=account_id
            ),
        )


async def end_sso_logins(session: AsyncSession, request: identity_pb2.EndSsoSessionsRequest) -> int:
    """A provider's back-channel logout: the sessions and refresh tokens its subject or
    session id opened here end, and every gateway drops what it cached of them. A logout
    token is acted on once. Access JWTs already issued run out on their own (they live
    minutes); the account's other logins stay."""
    workspace_id = request.workspace_id
    if not request.subject and not request.sid:
        return 0
    for given in (request.subject, request.sid):
        if len(given) > sso.MAX_SUBJECT or not given.isprintable():
            return 0
    config = await sso.provider_of(session, workspace_id)
    if config.issuer != request.issuer:
        return 0
    if request.token_id and not await sso.spend_token(
        session, workspace_id, request.token_id, request.token_expires_at
    ):
        return 0
    repo = IdentityRepository(session)
    accounts = await repo.end_sso_logins(
        workspace_id, subject=request.subject, sid=request.sid, now=utcnow()
    )
    for account_id in accounts:
        await events.record(
            session,
            events.credential_revoked(workspace_id, kind=events.ONE_SESSION, account_id=account_id),
        )
        logout = audit.account_entry(
            request.ctx, Action.LOGOUT, account_id, details={"method": "sso_backchannel"}
        )
        await audit.record(session, workspace_id, logout)
    return len(accounts)


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
    created = AuditEntry.by(
        ctx,
        Action.WORKSPACE_CREATED,
        target_type="workspace",
        target_id=workspace.id,
        details={"name": workspace.name},
    )
    await audit.record(session, workspace.id, created)
    return Membership(workspace=workspace, role=OWNER)


async def list_memberships(
    session: AsyncSession, ctx: common_pb2.RequestContext, *, account_id: str
) -> AccountMemberships:
    """The account's workspaces, and the cutoff its access JWTs are checked against (the
    gateway keeps both together, so a restarted gateway knows the cutoff too)."""
    if not ctx.principal_id or ctx.principal_id != account_id:
        raise NotYourMemberships()
    repo = IdentityRepository(session)
    memberships = await repo.memberships_of_account(account_id)
    enforced = await sso.enforced_for(session, account_id)
    return AccountMemberships(
        memberships=[
            dataclasses.replace(m, sso_required=m.workspace.id in enforced) for m in memberships
        ],
        tokens_valid_after=await repo.tokens_valid_after(account_id),
    )


async def change_password(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    *,
    old_password: str,
    new_password: str,
) -> None:
    """Replaces the password, given the current one, and ends every login of the
    account, the caller's own included; API tokens and the per-user key are other
    credentials and stay."""
    account_id = ctx.account_id or ctx.principal_id
    validation.check_password(new_password, field="new_password")
    repo = IdentityRepository(session)
    credentials = await repo.credentials_for_update(account_id)
    if credentials is None or not await _password_matches(credentials.password_hash, old_password):
        raise WrongPassword()
    await repo.set_password(account_id, await passwords.hash_password(new_password))
    await end_every_login(session, account_id)
    changed = audit.account_entry(ctx, Action.PASSWORD_CHANGED, account_id)
    await audit.record_for_account(session, account_id, changed)


async def password_change_refused(session: AsyncSession, ctx: common_pb2.RequestContext) -> None:
    """Recorded in a transaction of its own, after the refusal rolled the change back."""
    account_id = ctx.account_id or ctx.principal_id
    refused = audit.account_entry(ctx, Action.PASSWORD_CHANGED, account_id, outcome=Outcome.FAILURE)
    await audit.record_for_account(session, account_id, refused)


async def end_every_login(session: AsyncSession, account_id: str) -> None:
    """Sessions and refresh tokens end, and access JWTs issued until now are refused by
    every gateway within a second (the event drops what they cached of the account)."""
    repo = IdentityRepository(session)
    now = utcnow()
    await repo.set_tokens_valid_after(account_id, _next_whole_second(now))
    await repo.end_sessions_of(account_id, now)
    await repo.revoke_refresh_tokens_of(account_id, now)
    # Gateways hear every workspace's identity events; one is enough. An account in no
    # workspace reaches nothing with its JWTs but its own account routes, where the
    # cutoff applies once the gateway's cached memberships expire.
    workspace_id = await repo.first_workspace_id(account_id)
    if workspace_id is not None:
        await events.record(
            session,
            events.credential_revoked(workspace_id, kind=events.EVERY_LOGIN, account_id=account_id),
        )


async def get_signing_keys(session: AsyncSession, *, settings: IdentitySettings) -> PublicKeys:
    return PublicKeys(
        keys=await IdentityRepository(session).public_keys(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )


async def ensure_signing_key(session: AsyncSession, box: SecretBox) -> StoredKeyPair:
    """Run at startup: provisions the current key and the next one. The advisory lock
    makes replicas that start together agree on one of each instead of inserting their
    own."""
    repo = IdentityRepository(session)
    await repo.lock_signing_keys()
    now = utcnow()
    key = await repo.current_signing_key()
    if key is None:
        key = seal_key_pair(generate_key_pair(), box)
        await repo.insert_signing_key(key, now=now, activated=True)
    if await repo.next_signing_key() is None:
        await repo.insert_signing_key(
            seal_key_pair(generate_key_pair(), box), now=now, activated=False
        )
    return key


async def rotate_signing_keys(
    session: AsyncSession, *, settings: IdentitySettings, box: SecretBox, force: bool = False
) -> StoredKeyPair:
    """When the current key has signed for the rotation period (or at once, forced), the
    next key takes over and a new next key is published. The next key was published
    ahead, so gateways already know it when it starts signing; the replaced key stays
    published until every access token it signed has expired, so nobody is logged out.
    Replaced keys past that are retired. Answers the current key."""
    repo = IdentityRepository(session)
    await repo.lock_signing_keys()
    now = utcnow()
    current = await repo.current_signing_key()
    rotation = timedelta(seconds=settings.signing_key_rotation_seconds)
    activated_at = await repo.current_key_activated_at(current.kid) if current else None
    if force or current is None or activated_at is None or activated_at <= now - rotation:
        successor = await repo.next_signing_key()
        if successor is None:
            successor = seal_key_pair(generate_key_pair(), box)
            await repo.insert_signing_key(successor, now=now, activated=False)
        if current is not None:
            await repo.supersede_signing_key(current.kid, now)
        await repo.activate_signing_key(successor.kid, now)
        await repo.insert_signing_key(
            seal_key_pair(generate_key_pair(), box), now=now, activated=False
        )
        current = successor
    lifetime = timedelta(seconds=settings.access_token_ttl_seconds) + KEY_RETIREMENT_MARGIN
    await repo.retire_signing_keys(superseded_before=now - lifetime, now=now)
    return current


async def authenticate(session: AsyncSession, username: str, password: str) -> Credentials:
    """A password check, as a login's (for single sign-on links, which enforcement does not
    stop: the holder proves the account is theirs)."""
    return await _authenticate(IdentityRepository(session), username, password)


async def _authenticate(repo: IdentityRepository, username: str, password: str) -> Credentials:
    """The same error, after the same amount of hashing work, for an unknown email and a
    wrong password."""
    email = validation.normalize_email(username)
    plausible = validation.is_valid_email(email) and len(password) <= validation.PASSWORD_MAX
    credentials = await repo.credentials_by_email(email) if plausible else None
    if credentials is None or credentials.password_hash == sso.UNUSABLE_PASSWORD:
        await passwords.burn_verification(password[: validation.PASSWORD_MAX])
        raise InvalidCredentials()
    verification = await passwords.verify_password(credentials.password_hash, password)
    if not verification.ok:
        raise InvalidCredentials(account_id=credentials.account.id)
    if verification.needs_rehash:
        new_hash = await passwords.hash_password(password)
        await repo.rehash_password(
            credentials.account.id, replacing=credentials.password_hash, password_hash=new_hash
        )
    return credentials


async def _password_matches(password_hash: str, password: str) -> bool:
    """As costly as a login's check, whatever the input."""
    if len(password) > validation.PASSWORD_MAX:
        await passwords.burn_verification(password[: validation.PASSWORD_MAX])
        return False
    return (await passwords.verify_password(password_hash, password)).ok


def _next_whole_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0) + timedelta(seconds=1)


async def _login_time(started: datetime, cutoff: datetime | None) -> datetime:
    """When a login's JWT, refresh token or session counts as made. A cutoff is the whole
    second after a password change, so everything made before the change (JWTs carry
    whole seconds in iat) falls before it. A login that read the password before the
    change keeps its start time and is refused; one with the new password, in the
    change's own second, waits for the cutoff (at most a second) rather than be refused."""
    if cutoff is None or started >= cutoff:
        return started
    wait = (cutoff - utcnow()).total_seconds()
    if wait > 0:
        await asyncio.sleep(wait)
    return cutoff


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
            # The transaction knew no workspace until now; its memberships are this one's.
            await act_in(repo.session, workspace.id)
            return workspace
    raise RuntimeError(f"no free workspace slug after {SLUG_ATTEMPTS} tries")


async def _access_token(
    repo: IdentityRepository,
    account_id: str,
    now: datetime,
    settings: IdentitySettings,
    box: SecretBox,
    scope: LoginScope | None = None,
) -> str:
    stored = await repo.current_signing_key()
    if stored is None:
        raise NoSigningKey("no active signing key; the service provisions one at startup")
    claims = AccessClaims(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        subject=account_id,
        issued_at=int(now.timestamp()),
        ttl_seconds=settings.access_token_ttl_seconds,
        workspace_id=scope.workspace_id if scope else "",
    )
    return issue_access_token(open_key_pair(stored, box), claims)
