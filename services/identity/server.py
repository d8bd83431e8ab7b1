"""The gRPC face of identity: one transaction per call, the service does the work, and
its results are mapped to protobuf here. Errors travel as DomainErrors to the kit
interceptor."""

from __future__ import annotations

import grpc
from tessera.identity.v1 import identity_pb2, identity_pb2_grpc

from services.identity import credentials, models, service
from services.identity.config import IdentitySettings
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
        async with transaction(self.sessionmaker) as session:
            issued = await service.refresh_tokens(
                session, refresh_token=request.refresh_token, settings=self.settings
            )
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
