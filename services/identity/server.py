"""The gRPC face of identity: one transaction per call, the service does the work, and
its results are mapped to protobuf here. Errors travel as DomainErrors to the kit's error
guard (services.kit.grpc.handlers)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import datetime

import grpc
from sqlalchemy.ext.asyncio import AsyncSession
from tessera.common.v1 import common_pb2
from tessera.identity.v1 import identity_pb2, identity_pb2_grpc

from services.identity import (
    app_users,
    audit,
    credentials,
    issuing,
    members,
    models,
    passwords,
    service,
    sso,
    throttling,
)
from services.identity.audit_repository import StoredEntry
from services.identity.config import IdentitySettings
from services.identity.errors import InvalidCredentials, RefreshTokenReused, WrongPassword
from services.identity.throttling import LoginAttempt, ThrottlePolicy
from services.kit.clock import rfc3339, utcnow
from services.kit.db import ALL_TENANTS, SessionMaker, TenantScope, transaction
from services.kit.errors import ValidationFailed
from services.kit.grpc.server import HandlerRegistry
from services.kit.json import dumps_exact
from services.kit.secrets import SecretBox

# Records a refused password check in its own transaction: (session, the id of the account
# or app end user whose password was wrong, "" when the login names none).
RefusalRecorder = Callable[[AsyncSession, str], Awaitable[None]]


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    """Each call's transaction acts in the workspace its context names. Accounts, their
    logins, login throttles and the signing keys belong to no workspace, so calls on them
    act in none (creating a workspace binds the transaction to it); the calls that reach an
    account's memberships across its workspaces (to list them, or to audit what the
    account did as itself in each of them), or resolve a credential by its hash before its
    workspace is known, act in all of them."""

    def __init__(
        self, sessionmaker: SessionMaker, settings: IdentitySettings, box: SecretBox
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.box = box
        self.throttle_policy = ThrottlePolicy.from_settings(settings)

    @asynccontextmanager
    async def _password_check(
        self, attempt: LoginAttempt, *, tenant: TenantScope, refused: RefusalRecorder
    ) -> AsyncIterator[AsyncSession]:
        """The transaction (in `tenant`) of a call that checks a password. A throttled
        attempt is refused before any hashing; the others wait for a hashing slot before
        their transaction opens (passwords.CheckLine). A wrong password rolls that
        transaction back, so its audit entry (`refused`) and its count go into one of
        their own; a success clears its login and address, in the call's own transaction."""
        async with transaction(self.sessionmaker) as session:
            await throttling.refuse_if_throttled(session, attempt, self.throttle_policy, utcnow())
        try:
            async with (
                passwords.check_admitted(),
                transaction(self.sessionmaker, tenant=tenant) as session,
            ):
                yield session
                await throttling.record_success(session, attempt, utcnow())
        except (InvalidCredentials, WrongPassword) as error:
            whose = error.account_id if isinstance(error, InvalidCredentials) else ""
            async with transaction(self.sessionmaker, tenant=tenant) as session:
                await refused(session, whose)
                await throttling.record_failure(session, attempt, self.throttle_policy, utcnow())
            raise

    async def CreateAccount(
        self, request: identity_pb2.CreateAccountRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.CreateAccountResponse:
        # A new password is hashed like a checked one: through the hashing line, holding
        # no pooled connection while it waits.
        async with passwords.check_admitted(), transaction(self.sessionmaker) as session:
            created = await service.create_account(
                session,
                name=request.name,
                email=request.email,
                password=request.password,
                ctx=request.ctx,
            )
        return identity_pb2.CreateAccountResponse(
            account=_account(created.account), workspace=_workspace(created.workspace)
        )

    async def IssueTokens(
        self, request: identity_pb2.IssueTokensRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.IssueTokensResponse:
        attempt = LoginAttempt.member(request.username, request.ctx.client_ip)
        async with self._password_check(
            attempt, tenant=ALL_TENANTS, refused=_member_login_refused(request.ctx, "jwt")
        ) as session:
            issued = await service.issue_tokens(
                session,
                username=request.username,
                password=request.password,
                settings=self.settings,
                ctx=request.ctx,
                box=self.box,
            )
        return _tokens(issued)

    async def RefreshTokens(
        self, request: identity_pb2.RefreshTokensRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.IssueTokensResponse:
        try:
            async with transaction(self.sessionmaker) as session:
                issued = await service.refresh_tokens(
                    session,
                    refresh_token=request.refresh_token,
                    settings=self.settings,
                    box=self.box,
                )
        except RefreshTokenReused as reused:
            # The refusal rolled its transaction back; the revocation must outlive it.
            async with transaction(self.sessionmaker, tenant=ALL_TENANTS) as session:
                await service.revoke_refresh_family(session, reused, request.ctx)
            raise
        return _tokens(issued)

    async def RevokeRefreshToken(
        self, request: identity_pb2.RevokeRefreshTokenRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.RevokeRefreshTokenResponse:
        async with transaction(self.sessionmaker, tenant=ALL_TENANTS) as session:
            await service.revoke_refresh_token(
                session, refresh_token=request.refresh_token, ctx=request.ctx
            )
        return identity_pb2.RevokeRefreshTokenResponse()

    async def CreateSession(
        self, request: identity_pb2.CreateSessionRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.CreateSessionResponse:
        attempt = LoginAttempt.member(request.username, request.ctx.client_ip)
        async with self._password_check(
            attempt, tenant=ALL_TENANTS, refused=_member_login_refused(request.ctx, "session")
        ) as session:
            opened = await service.create_session(
                session,
                username=request.username,
                password=request.password,
                settings=self.settings,
                ctx=request.ctx,
            )
        return identity_pb2.CreateSessionResponse(
            session_id=opened.session_id,
            csrf_token=opened.csrf_token,
            account=_account(opened.account),
            expires_at=rfc3339(opened.expires_at),
        )

    async def ResolveSession(
        self, request: identity_pb2.ResolveSessionRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ResolveSessionResponse:
        async with transaction(self.sessionmaker) as session:
            resolved = await service.resolve_session(session, session_id=request.session_id)
        return identity_pb2.ResolveSessionResponse(
            account=_account(resolved.account),
            csrf_token=resolved.csrf_token,
            workspace_id=resolved.workspace_id,
        )

    async def EndSession(
        self, request: identity_pb2.EndSessionRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.EndSessionResponse:
        async with transaction(self.sessionmaker, tenant=ALL_TENANTS) as session:
            await service.end_session(session, session_id=request.session_id, ctx=request.ctx)
        return identity_pb2.EndSessionResponse()

    async def CreateWorkspace(
        self, request: identity_pb2.CreateWorkspaceRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Membership:
        async with transaction(self.sessionmaker) as session:
            membership = await service.create_workspace(session, request.ctx, name=request.name)
        return identity_pb2.Membership(
            workspace=_workspace(membership.workspace), role=membership.role
        )

    async def ListMemberships(
        self, request: identity_pb2.ListMembershipsRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListMembershipsResponse:
        async with transaction(self.sessionmaker, tenant=ALL_TENANTS) as session:
            memberships = await service.list_memberships(
                session, request.ctx, account_id=request.account_id
            )
        cutoff = memberships.tokens_valid_after
        return identity_pb2.ListMembershipsResponse(
            memberships=[
                identity_pb2.Membership(
                    workspace=_workspace(m.workspace), role=m.role, sso_required=m.sso_required
                )
                for m in memberships.memberships
            ],
            tokens_valid_after=int(cutoff.timestamp()) if cutoff is not None else 0,
        )

    async def ChangePassword(
        self, request: identity_pb2.ChangePasswordRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ChangePasswordResponse:
        ctx = request.ctx
        attempt = LoginAttempt.password_change(ctx.account_id or ctx.principal_id, ctx.client_ip)

        async def refused(session: AsyncSession, _: str) -> None:
            await service.password_change_refused(session, ctx)

        async with self._password_check(attempt, tenant=ALL_TENANTS, refused=refused) as session:
            await service.change_password(
                session, ctx, old_password=request.old_password, new_password=request.new_password
            )
        return identity_pb2.ChangePasswordResponse()

    async def GetSigningKeys(
        self, request: identity_pb2.GetSigningKeysRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.GetSigningKeysResponse:
        async with transaction(self.sessionmaker) as session:
            published = await service.get_signing_keys(session, settings=self.settings)
        return identity_pb2.GetSigningKeysResponse(
            keys=[
                identity_pb2.SigningKey(
                    kid=key.kid, algorithm=key.algorithm, public_key_pem=key.public_key_pem
                )
                for key in published.keys
            ],
            issuer=published.issuer,
            audience=published.audience,
        )

    async def ResolveCredential(
        self, request: identity_pb2.ResolveCredentialRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ResolvedCredential:
        async with transaction(self.sessionmaker, tenant=ALL_TENANTS) as session:
            resolved = await credentials.resolve(session, request.secret)
        expires_at = resolved.expires_at
        return identity_pb2.ResolvedCredential(
            ctx=resolved.ctx, expires_at=int(expires_at.timestamp()) if expires_at else 0
        )

    # Members

    async def ListMembers(
        self, request: identity_pb2.ListMembersRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListMembersResponse:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            found = await members.list_members(session, request.ctx, prefix=request.prefix)
        return identity_pb2.ListMembersResponse(members=[_member(m) for m in found])

    async def GetMember(
        self, request: identity_pb2.GetMemberRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Member:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            member = await members.get_member(session, request.ctx, account_id=request.account_id)
        return _member(member)

    async def AddMember(
        self, request: identity_pb2.AddMemberRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Member:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            member = await members.add_member(
                session, request.ctx, email=request.email, role=request.role
            )
        return _member(member)

    async def UpdateMember(
        self, request: identity_pb2.UpdateMemberRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Member:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            member = await members.update_member(
                session,
                request.ctx,
                account_id=request.account_id,
                role=request.role if request.HasField("role") else None,
            )
        return _member(member)

    async def RemoveMember(
        self, request: identity_pb2.RemoveMemberRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.RemoveMemberResponse:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            await members.remove_member(session, request.ctx, account_id=request.account_id)
        return identity_pb2.RemoveMemberResponse()

    # The users API: the same members, for owners and admins (see policy.py)

    async def ListUsers(
        self, request: identity_pb2.ListMembersRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListMembersResponse:
        return await self.ListMembers(request, context)

    async def GetUser(
        self, request: identity_pb2.GetMemberRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Member:
        return await self.GetMember(request, context)

    async def CreateUser(
        self, request: identity_pb2.CreateUserRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Member:
        async with (
            passwords.check_admitted(),
            transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session,
        ):
            member = await members.create_user(
                session,
                request.ctx,
                email=request.email,
                role=request.role,
                name=request.name,
                password=request.password,
            )
        return _member(member)

    async def UpdateUser(
        self, request: identity_pb2.UpdateMemberRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Member:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            member = await members.update_member(
                session,
                request.ctx,
                account_id=request.account_id,
                role=request.role if request.HasField("role") else None,
                name=request.name if request.HasField("name") else None,
            )
        return _member(member)

    async def RemoveUser(
        self, request: identity_pb2.RemoveMemberRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.RemoveMemberResponse:
        return await self.RemoveMember(request, context)

    # API tokens

    async def CreateApiToken(
        self, request: identity_pb2.CreateApiTokenRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.IssuedApiToken:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            issued = await issuing.create_api_token(
                session,
                request.ctx,
                name=request.name,
                permissions=_permissions_from(request.permissions),
                expires_at=request.expires_at,
            )
        return identity_pb2.IssuedApiToken(token=_api_token(issued.token), secret=issued.secret)

    async def ListApiTokens(
        self, request: identity_pb2.ListApiTokensRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListApiTokensResponse:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            tokens = await issuing.list_api_tokens(session, request.ctx)
        return identity_pb2.ListApiTokensResponse(tokens=[_api_token(t) for t in tokens])

    async def GetApiToken(
        self, request: identity_pb2.ApiTokenRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ApiToken:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            token = await issuing.get_api_token(session, request.ctx, token_id=request.token_id)
        return _api_token(token)

    async def UpdateApiToken(
        self, request: identity_pb2.UpdateApiTokenRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ApiToken:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            token = await issuing.update_api_token(
                session,
                request.ctx,
                token_id=request.token_id,
                name=request.name if request.HasField("name") else None,
                permissions=(
                    _permissions_from(request.permissions) if request.replace_permissions else None
                ),
            )
        return _api_token(token)

    async def RotateApiToken(
        self, request: identity_pb2.ApiTokenRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.IssuedApiToken:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            issued = await issuing.rotate_api_token(session, request.ctx, token_id=request.token_id)
        return identity_pb2.IssuedApiToken(token=_api_token(issued.token), secret=issued.secret)

    async def DeleteApiToken(
        self, request: identity_pb2.ApiTokenRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.DeleteCredentialResponse:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            await issuing.delete_api_token(session, request.ctx, token_id=request.token_id)
        return identity_pb2.DeleteCredentialResponse()

    # Per-user API keys

    async def CreateUserKey(
        self, request: identity_pb2.CreateUserKeyRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.IssuedUserKey:
        async with transaction(self.sessionmaker, tenant=ALL_TENANTS) as session:
            issued = await issuing.create_user_key(session, request.ctx)
        return identity_pb2.IssuedUserKey(
            id=issued.id, secret=issued.secret, created_at=rfc3339(issued.created_at)
        )

    async def DeleteUserKey(
        self, request: identity_pb2.DeleteUserKeyRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.DeleteCredentialResponse:
        async with transaction(self.sessionmaker, tenant=ALL_TENANTS) as session:
            await issuing.delete_user_key(session, request.ctx)
        return identity_pb2.DeleteCredentialResponse()

    # Admin tokens

    async def CreateAdminToken(
        self, request: identity_pb2.CreateAdminTokenRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.IssuedAdminToken:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            issued = await issuing.create_admin_token(
                session,
                request.ctx,
                name=request.name,
                bypass_privacy_rules=request.bypass_privacy_rules,
            )
        return identity_pb2.IssuedAdminToken(token=_admin_token(issued.token), secret=issued.secret)

    async def ListAdminTokens(
        self, request: identity_pb2.ListAdminTokensRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListAdminTokensResponse:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            tokens = await issuing.list_admin_tokens(session, request.ctx)
        return identity_pb2.ListAdminTokensResponse(tokens=[_admin_token(t) for t in tokens])

    async def DeleteAdminToken(
        self, request: identity_pb2.DeleteAdminTokenRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.DeleteCredentialResponse:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            await issuing.delete_admin_token(session, request.ctx, token_id=request.token_id)
        return identity_pb2.DeleteCredentialResponse()

    async def SignUpAppUser(
        self, request: identity_pb2.SignUpAppUserRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.AppSession:
        async with (
            passwords.check_admitted(),
            transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session,
        ):
            opened = await app_users.sign_up(
                session,
                request.ctx,
                email=request.email,
                password=request.password,
                name=request.name,
                default_app_role=request.default_app_role,
                settings=self.settings,
            )
        return _app_session(opened)

    async def LogInAppUser(
        self, request: identity_pb2.LogInAppUserRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.AppSession:
        ctx = request.ctx
        attempt = LoginAttempt.app_user(ctx.app_id, request.email, ctx.client_ip)

        async def refused(session: AsyncSession, app_user_id: str) -> None:
            await app_users.log_in_failed(session, ctx, app_user_id)

        async with self._password_check(attempt, tenant=ctx.tenant_id, refused=refused) as session:
            opened = await app_users.log_in(
                session,
                ctx,
                email=request.email,
                password=request.password,
                keep_logged_in=request.keep_logged_in,
                settings=self.settings,
            )
        return _app_session(opened)

    async def EndAppSession(
        self, request: identity_pb2.EndAppSessionRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.EndAppSessionResponse:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            ended = await app_users.end_session(session, request.ctx)
        return identity_pb2.EndAppSessionResponse(session_ids=ended)

    async def EndOtherAppSessions(
        self, request: identity_pb2.EndAppSessionRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.EndAppSessionResponse:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            ended = await app_users.end_other_sessions(session, request.ctx)
        return identity_pb2.EndAppSessionResponse(session_ids=ended)

    async def ListAppUsers(
        self, request: identity_pb2.ListAppUsersRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListAppUsersResponse:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            found = await app_users.list_users(
                session,
                request.ctx,
                app_id=request.app_id,
                page=request.page,
                per_page=request.per_page,
            )
        return identity_pb2.ListAppUsersResponse(
            users=[_app_user(user) for user in found.users], total=found.total
        )

    async def CreateAppUser(
        self, request: identity_pb2.CreateAppUserRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.AppUser:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            user = await app_users.create_user(
                session,
                request.ctx,
                app_id=request.app_id,
                email=request.email,
                name=request.name,
                password=request.password,
                app_role=request.app_role,
                default_app_role=request.default_app_role,
            )
        return _app_user(user)

    async def GetAppUser(
        self, request: identity_pb2.AppUserRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.AppUser:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            user = await app_users.get_user(
                session, request.ctx, app_id=request.app_id, app_user_id=request.app_user_id
            )
        return _app_user(user)

    async def UpdateAppUser(
        self, request: identity_pb2.UpdateAppUserRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.AppUser:
        change = app_users.AppUserChange(
            **{
                key: getattr(request, key)
                for key in ("name", "email", "app_role", "password")
                if request.HasField(key)
            }
        )
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            user = await app_users.update_user(
                session,
                request.ctx,
                app_id=request.app_id,
                app_user_id=request.app_user_id,
                change=change,
            )
        return _app_user(user)

    async def DeleteAppUser(
        self, request: identity_pb2.AppUserRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.DeleteAppUserResponse:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            await app_users.delete_user(
                session, request.ctx, app_id=request.app_id, app_user_id=request.app_user_id
            )
        return identity_pb2.DeleteAppUserResponse()

    # The audit log

    async def ListAuditLog(
        self, request: identity_pb2.ListAuditLogRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListAuditLogResponse:
        query = audit.AuditQuery(
            actions=list(request.actions),
            actor=request.actor,
            outcome=request.outcome,
            since=request.since,
            until=request.until,
            target_id=request.target_id,
            cursor=request.cursor,
            per_page=request.per_page,
        )
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            page = await audit.list_entries(session, request.ctx, query)
        return identity_pb2.ListAuditLogResponse(
            entries=[_audit_entry(stored) for stored in page.entries],
            next_cursor=page.next_cursor,
        )

    # Single sign-on

    async def PutSsoConfig(
        self, request: identity_pb2.PutSsoConfigRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.SsoConfig:
        secret = request.client_secret if request.HasField("client_secret") else None
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            stored = await sso.put_config(session, request.ctx, request.config, secret, self.box)
        return stored.to_proto()

    async def GetSsoConfig(
        self, request: identity_pb2.SsoConfigRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.SsoConfig:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            stored = await sso.get_config(session, request.ctx)
        return stored.to_proto()

    async def DeleteSsoConfig(
        self, request: identity_pb2.SsoConfigRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.DeleteSsoConfigResponse:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            await sso.delete_config(session, request.ctx)
        return identity_pb2.DeleteSsoConfigResponse()

    async def GetSsoProvider(
        self, request: identity_pb2.SsoConfigRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.SsoProvider:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            stored = await sso.provider_of(session, request.ctx.tenant_id)
        return stored.provider()

    async def DiscoverSso(
        self, request: identity_pb2.DiscoverSsoRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.DiscoveredSso:
        async with transaction(self.sessionmaker, tenant=ALL_TENANTS) as session:
            return await sso.discover(session, request.email)

    async def StartSsoLogin(
        self, request: identity_pb2.StartSsoLoginRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.StartedSsoLogin:
        if not request.link_username:
            async with transaction(self.sessionmaker, tenant=ALL_TENANTS) as session:
                return await sso.start_login(session, request, self.box)
        # A link: the holder's password, checked and throttled as a login's.
        attempt = LoginAttempt.member(request.link_username, request.ctx.client_ip)
        async with self._password_check(
            attempt, tenant=ALL_TENANTS, refused=_member_login_refused(request.ctx, "sso_link")
        ) as session:
            credentials = await service.authenticate(
                session, request.link_username, request.link_password
            )
            return await sso.start_login(
                session, request, self.box, link_account_id=credentials.account.id
            )

    async def ClaimSsoLogin(
        self, request: identity_pb2.ClaimSsoLoginRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ClaimedSsoLogin:
        async with transaction(self.sessionmaker, tenant=ALL_TENANTS) as session:
            return await sso.claim_login(session, request, self.box)

    async def CompleteSsoLogin(
        self, request: identity_pb2.CompleteSsoLoginRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.CompletedSsoLogin:
        if request.response not in sso.RESPONSES:
            raise ValidationFailed("response is 'session' or 'token'", field="response")
        reply = identity_pb2.CompletedSsoLogin()
        async with transaction(self.sessionmaker, tenant=request.workspace_id) as session:
            completed = await sso.complete_login(session, request)
            if completed.membership is not None:
                scope = models.LoginScope(
                    workspace_id=request.workspace_id, subject=request.subject, sid=request.sid
                )
                reply.membership.CopyFrom(
                    identity_pb2.Membership(
                        workspace=_workspace(completed.membership.workspace),
                        role=completed.membership.role,
                    )
                )
                await self._open_sso_login(session, request, completed, scope, reply)
        # Refused after the commit: the role the provider no longer grants is gone.
        if completed.refusal:
            raise sso.SsoRefused(completed.refusal)
        reply.account.CopyFrom(_account(completed.account))
        reply.provisioned = completed.provisioned
        return reply

    async def _open_sso_login(
        self,
        session: AsyncSession,
        request: identity_pb2.CompleteSsoLoginRequest,
        completed: sso.CompletedLogin,
        scope: models.LoginScope,
        reply: identity_pb2.CompletedSsoLogin,
    ) -> None:
        now = utcnow()
        if request.response == sso.SESSION:
            opened = await service.open_session(
                session,
                completed.account,
                now=now,
                settings=self.settings,
                ctx=request.ctx,
                scope=scope,
            )
            reply.session_id, reply.csrf_token = opened.session_id, opened.csrf_token
            reply.session_expires_at = rfc3339(opened.expires_at)
        else:
            issued = await service.open_token_login(
                session,
                completed.account,
                now=now,
                settings=self.settings,
                ctx=request.ctx,
                box=self.box,
                scope=scope,
            )
            reply.access_token, reply.refresh_token = issued.access_token, issued.refresh_token
            reply.expires_in = issued.expires_in

    async def EndSsoSessions(
        self, request: identity_pb2.EndSsoSessionsRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.EndSsoSessionsResponse:
        async with transaction(self.sessionmaker, tenant=request.workspace_id) as session:
            ended = await service.end_sso_logins(session, request)
        return identity_pb2.EndSsoSessionsResponse(ended=ended)


def register(server: HandlerRegistry, servicer: IdentityServicer) -> None:
    identity_pb2_grpc.add_IdentityServiceServicer_to_server(servicer, server)


def _account(account: models.Account) -> identity_pb2.Account:
    return identity_pb2.Account(
        id=account.id,
        name=account.name,
        email=account.email,
        created_at=rfc3339(account.created_at),
    )


def _workspace(workspace: models.Workspace) -> identity_pb2.Workspace:
    return identity_pb2.Workspace(
        id=workspace.id,
        name=workspace.name,
        slug=workspace.slug,
        created_at=rfc3339(workspace.created_at),
    )


def _tokens(issued: models.IssuedTokens) -> identity_pb2.IssueTokensResponse:
    return identity_pb2.IssueTokensResponse(
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        account=_account(issued.account),
        expires_in=issued.expires_in,
    )


def _member(member: models.Member) -> identity_pb2.Member:
    return identity_pb2.Member(
        account=_account(member.account), role=member.role, joined_at=rfc3339(member.joined_at)
    )


def _optional_time(moment: datetime | None) -> str:
    return rfc3339(moment) if moment is not None else ""


def _api_token(token: models.ApiToken) -> identity_pb2.ApiToken:
    return identity_pb2.ApiToken(
        id=token.id,
        name=token.name,
        workspace_id=token.workspace_id,
        permissions=[
            _permission_to(operation, scope) for operation, scope in token.permissions.items()
        ],
        created_at=rfc3339(token.created_at),
        expires_at=_optional_time(token.expires_at),
        last_used_at=_optional_time(token.last_used_at),
    )


def _permission_to(operation: str, scope: models.Permission) -> identity_pb2.TokenPermission:
    if isinstance(scope, bool):
        return identity_pb2.TokenPermission(operation=operation, all=scope)
    return identity_pb2.TokenPermission(
        operation=operation,
        scopes=[
            identity_pb2.TokenScope(app_id=item[1], schema_id=item[2] if len(item) > 2 else "")
            for item in scope
        ],
    )


def _permissions_from(
    permissions: Iterable[identity_pb2.TokenPermission],
) -> dict[str, models.Permission]:
    result: dict[str, models.Permission] = {}
    for permission in permissions:
        if permission.all:
            result[permission.operation] = True
        elif permission.scopes:
            result[permission.operation] = [
                ("schema", s.app_id, s.schema_id) if s.schema_id else ("app", s.app_id)
                for s in permission.scopes
            ]
        else:
            result[permission.operation] = False
    return result


def _admin_token(token: models.AdminToken) -> identity_pb2.AdminToken:
    return identity_pb2.AdminToken(
        id=token.id,
        name=token.name,
        workspace_id=token.workspace_id,
        bypass_privacy_rules=token.bypass_privacy_rules,
        created_by=token.created_by,
        created_at=rfc3339(token.created_at),
        last_used_at=_optional_time(token.last_used_at),
    )


def _app_user(user: models.AppUser) -> identity_pb2.AppUser:
    return identity_pb2.AppUser(
        id=user.id,
        app_id=user.app_id,
        email=user.email,
        name=user.name,
        app_role=user.app_role,
        created_at=rfc3339(user.created_at),
    )


def _app_session(opened: models.OpenedAppSession) -> identity_pb2.AppSession:
    return identity_pb2.AppSession(
        token=opened.token, expires_at=rfc3339(opened.expires_at), user=_app_user(opened.user)
    )


def _audit_entry(stored: StoredEntry) -> identity_pb2.AuditEntry:
    entry = stored.entry
    return identity_pb2.AuditEntry(
        id=stored.id,
        occurred_at=rfc3339(stored.occurred_at),
        action=entry.action,
        outcome=entry.outcome,
        principal_kind=entry.principal_kind,
        principal_id=entry.principal_id,
        account_id=entry.account_id,
        credential_id=entry.credential_id,
        target_type=entry.target_type,
        target_id=entry.target_id,
        details_json=dumps_exact(dict(entry.details)).decode(),
        client_ip=entry.client_ip,
        user_agent=entry.user_agent,
    )


def _member_login_refused(ctx: common_pb2.RequestContext, method: str) -> RefusalRecorder:
    async def record(session: AsyncSession, account_id: str) -> None:
        await audit.login_failed(session, ctx, account_id, method=method)

    return record
