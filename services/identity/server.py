"""The gRPC face of identity: one transaction per call, the service does the work, and
its results are mapped to protobuf here. Errors travel as DomainErrors to the kit
interceptor."""

from __future__ import annotations

import grpc
from tessera.identity.v1 import identity_pb2, identity_pb2_grpc

from services.identity import app_users, credentials, models, service
from services.identity.config import IdentitySettings
from services.identity.errors import RefreshTokenReused
from services.kit.clock import rfc3339
from services.kit.db import SessionMaker, transaction


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, sessionmaker: SessionMaker, settings: IdentitySettings) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings

    async def CreateAccount(
        self, request: identity_pb2.CreateAccountRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.CreateAccountResponse:
        async with transaction(self.sessionmaker) as session:
            created = await service.create_account(
                session, name=request.name, email=request.email, password=request.password
            )
        return identity_pb2.CreateAccountResponse(
            account=_account(created.account), workspace=_workspace(created.workspace)
        )

    async def IssueTokens(
        self, request: identity_pb2.IssueTokensRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.IssueTokensResponse:
        async with transaction(self.sessionmaker) as session:
            issued = await service.issue_tokens(
                session,
                username=request.username,
                password=request.password,
                settings=self.settings,
            )
        return _tokens(issued)

    async def RefreshTokens(
        self, request: identity_pb2.RefreshTokensRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.IssueTokensResponse:
        try:
            async with transaction(self.sessionmaker) as session:
                issued = await service.refresh_tokens(
                    session, refresh_token=request.refresh_token, settings=self.settings
                )
        except RefreshTokenReused as reused:
            # The refusal rolled its transaction back; the revocation must outlive it.
            async with transaction(self.sessionmaker) as session:
                await service.revoke_refresh_family(session, family_id=reused.family_id)
            raise
        return _tokens(issued)

    async def RevokeRefreshToken(
        self, request: identity_pb2.RevokeRefreshTokenRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.RevokeRefreshTokenResponse:
        async with transaction(self.sessionmaker) as session:
            await service.revoke_refresh_token(session, refresh_token=request.refresh_token)
        return identity_pb2.RevokeRefreshTokenResponse()

    async def CreateSession(
        self, request: identity_pb2.CreateSessionRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.CreateSessionResponse:
        async with transaction(self.sessionmaker) as session:
            opened = await service.create_session(
                session,
                username=request.username,
                password=request.password,
                settings=self.settings,
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
            account=_account(resolved.account), csrf_token=resolved.csrf_token
        )

    async def EndSession(
        self, request: identity_pb2.EndSessionRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.EndSessionResponse:
        async with transaction(self.sessionmaker) as session:
            await service.end_session(session, session_id=request.session_id)
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
        async with transaction(self.sessionmaker) as session:
            memberships = await service.list_memberships(
                session, request.ctx, account_id=request.account_id
            )
        return identity_pb2.ListMembershipsResponse(
            memberships=[
                identity_pb2.Membership(workspace=_workspace(m.workspace), role=m.role)
                for m in memberships
            ]
        )

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
        async with transaction(self.sessionmaker) as session:
            resolved = await credentials.resolve(session, request.secret)
        expires_at = resolved.expires_at
        return identity_pb2.ResolvedCredential(
            ctx=resolved.ctx, expires_at=int(expires_at.timestamp()) if expires_at else 0
        )

    async def SignUpAppUser(
        self, request: identity_pb2.SignUpAppUserRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.AppSession:
        async with transaction(self.sessionmaker) as session:
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
        async with transaction(self.sessionmaker) as session:
            opened = await app_users.log_in(
                session,
                request.ctx,
                email=request.email,
                password=request.password,
                keep_logged_in=request.keep_logged_in,
                settings=self.settings,
            )
        return _app_session(opened)

    async def EndAppSession(
        self, request: identity_pb2.EndAppSessionRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.EndAppSessionResponse:
        async with transaction(self.sessionmaker) as session:
            ended = await app_users.end_session(session, request.ctx)
        return identity_pb2.EndAppSessionResponse(session_ids=ended)

    async def EndOtherAppSessions(
        self, request: identity_pb2.EndAppSessionRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.EndAppSessionResponse:
        async with transaction(self.sessionmaker) as session:
            ended = await app_users.end_other_sessions(session, request.ctx)
        return identity_pb2.EndAppSessionResponse(session_ids=ended)

    async def ListAppUsers(
        self, request: identity_pb2.ListAppUsersRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListAppUsersResponse:
        async with transaction(self.sessionmaker) as session:
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
        async with transaction(self.sessionmaker) as session:
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
        async with transaction(self.sessionmaker) as session:
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
        async with transaction(self.sessionmaker) as session:
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
        async with transaction(self.sessionmaker) as session:
            await app_users.delete_user(
                session, request.ctx, app_id=request.app_id, app_user_id=request.app_user_id
            )
        return identity_pb2.DeleteAppUserResponse()


def register(server: grpc.aio.Server, servicer: IdentityServicer) -> None:
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
