"""FastAPI dependencies: the backing-service clients and the caller's request context."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from tessera.common.v1 import common_pb2

from services.gateway.auth import Authenticator, Caller
from services.gateway.clients import Backends
from services.gateway.saml import SamlServiceProviders
from services.gateway.sso import OpenIdProviders

# Every dependency is async: FastAPI runs a plain `def` one in its thread pool, a thread
# hand-off per request for what is an attribute lookup.


async def get_backends(request: Request) -> Backends:
    backends: Backends = request.app.state.backends
    return backends


def _authenticator(request: Request) -> Authenticator:
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator


async def get_authenticator(request: Request) -> Authenticator:
    return _authenticator(request)


async def get_sso(request: Request) -> OpenIdProviders:
    providers: OpenIdProviders = request.app.state.sso
    return providers


async def get_saml(request: Request) -> SamlServiceProviders:
    providers: SamlServiceProviders = request.app.state.saml
    return providers


async def get_caller(request: Request) -> Caller:
    return await _authenticator(request).caller(request)


async def get_context(request: Request) -> common_pb2.RequestContext:
    return await _authenticator(request).context(request)


async def get_workspace_context(request: Request, workspace_id: str) -> common_pb2.RequestContext:
    """For routes under /api/workspaces/{workspace_id}/: the caller in that workspace."""
    return await _authenticator(request).context(request, workspace=workspace_id)


async def get_account_caller(request: Request) -> Caller:
    """A caller that stands for the account itself (not an API or admin token)."""
    caller = await get_caller(request)
    caller.require_account()
    return caller


async def get_account_context(request: Request) -> common_pb2.RequestContext:
    authenticator = _authenticator(request)
    caller = await authenticator.caller(request)
    caller.require_account()
    return await authenticator.context(request, caller=caller)


async def get_app_context(request: Request) -> common_pb2.RequestContext:
    """For routes under /api/apps/{app_slug}/ that an app's anonymous callers may reach."""
    app = str(request.path_params.get("app_slug", ""))
    return await _authenticator(request).app_context(request, app)


BackendsDep = Annotated[Backends, Depends(get_backends)]
AuthenticatorDep = Annotated[Authenticator, Depends(get_authenticator)]
CallerDep = Annotated[Caller, Depends(get_caller)]
ContextDep = Annotated[common_pb2.RequestContext, Depends(get_context)]
WorkspaceContextDep = Annotated[common_pb2.RequestContext, Depends(get_workspace_context)]
AccountCallerDep = Annotated[Caller, Depends(get_account_caller)]
AccountContextDep = Annotated[common_pb2.RequestContext, Depends(get_account_context)]
SsoDep = Annotated[OpenIdProviders, Depends(get_sso)]
SamlDep = Annotated[SamlServiceProviders, Depends(get_saml)]
AppContextDep = Annotated[common_pb2.RequestContext, Depends(get_app_context)]
