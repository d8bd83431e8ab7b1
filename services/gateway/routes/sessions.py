"""Session login as AppBuilder documents it: POST /auth/login/ sets an HttpOnly sessionid
cookie; POST /auth/logout/ ends the session server-side."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from tessera.identity.v1 import identity_pb2

from services.gateway import presenters, shapes
from services.gateway.auth import (
    SESSION_COOKIE,
    clear_session_cookies,
    request_origin,
    set_session_cookies,
)
from services.gateway.bodies import StrictInput, parse, read_form_or_json
from services.gateway.config import GatewaySettings
from services.gateway.deps import AuthenticatorDep, BackendsDep
from services.gateway.openapi import json_body, returns

router = APIRouter(prefix="/auth", tags=["Accounts"])


class Login(StrictInput):
    username: str
    password: str


@router.post("/login/", **returns(shapes.Session), openapi_extra=json_body(Login, form=True))
async def login(
    request: Request, backends: BackendsDep, authenticator: AuthenticatorDep
) -> JSONResponse:
    authenticator.refuse_cross_site(request)
    body = parse(Login, await read_form_or_json(request))
    reply = await backends.call(
        backends.identity.CreateSession,
        identity_pb2.CreateSessionRequest(
            username=body.username, password=body.password, ctx=request_origin(request)
        ),
    )
    settings: GatewaySettings = request.app.state.settings
    response = JSONResponse(
        {"user": presenters.user(reply.account), "csrf_token": reply.csrf_token}
    )
    set_session_cookies(response, settings, reply.session_id, reply.csrf_token)
    return response


@router.post("/logout/", **returns(shapes.LoggedOut))
async def logout(
    request: Request, backends: BackendsDep, authenticator: AuthenticatorDep
) -> JSONResponse:
    authenticator.refuse_cross_site(request)
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        await authenticator.end_session(request, session_id)
    response = JSONResponse({"detail": "Logged out"})
    clear_session_cookies(response)
    return response
