"""Single sign-on: each workspace's OpenID provider, and the browser login through it.

A workspace's owners and admins set the provider (`PUT /api/workspaces/{id}/sso`). A member
signs in at `/auth/sso/{workspace}/login`, which sends the browser to the provider with the
authorization code flow (PKCE, state and nonce); the provider sends it back to
`/auth/sso/callback`, where the code is exchanged, the ID token verified, the account made or
found and its role set from the provider's groups. The login ends in a session cookie (and
a redirect to `next`), or, with `response=token`, in Tessera tokens for an API client. Either
opens that workspace only. `/auth/sso/discover` says which workspace signs in an address."""

from __future__ import annotations

import asyncio
import hashlib
from http import HTTPStatus
from typing import Any, Literal

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from tessera.common.v1 import common_pb2
from tessera.identity.v1 import identity_pb2

from services.gateway import presenters, queries, saml, shapes
from services.gateway.auth import (
    SESSION_COOKIE,
    clear_session_cookies,
    public_base_url,
    request_origin,
    set_session_cookies,
)
from services.gateway.bodies import (
    StrictInput,
    encodable,
    parse,
    parse_json,
    read_form_or_json,
)
from services.gateway.config import GatewaySettings
from services.gateway.deps import (
    AuthenticatorDep,
    BackendsDep,
    CallerDep,
    SamlDep,
    SsoDep,
    WorkspaceContextDep,
)
from services.gateway.openapi import json_body, query_parameter, returns
from services.gateway.sso import OpenIdProviders
from services.kit.errors import (
    DomainError,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)

router = APIRouter(tags=["Single sign-on"])

CALLBACK_PATH = "/auth/sso/callback"
ACS_PATH = "/auth/sso/saml/acs"
LOGGED_OUT_PATH = "/auth/sso/logged-out"
# One cookie per login under way (named by its state), so two tabs do not trip each other.
BINDING_COOKIE_PREFIX = "tessera_sso_"
BINDING_COOKIE_PATH = "/auth/sso/"
LOGIN_PARAMETERS = frozenset({"response", "next"})
CALLBACK_PARAMETERS = frozenset(
    {"code", "state", "error", "error_description", "error_uri", "iss", "session_state"}
)
MAX_PARAMETER = 4096
MAX_SAML_RESPONSE = 1024 * 1024
# How long a logout token without an expiry is remembered as spent.
LOGOUT_TOKEN_SECONDS = 600
MAX_LOGOUT_TOKEN = 16_384
MAX_CLAIM = 1000


class SsoSettingsInput(StrictInput):
    protocol: str = "oidc"
    issuer: str = ""
    keycloak_server_url: str = ""
    keycloak_realm: str = ""
    client_id: str = ""
    # Write-only: left out, the stored one stays.
    client_secret: str | None = None
    allowed_domains: list[str]
    group_roles: dict[str, str] = {}
    default_role: str = ""
    groups_claim: str = "groups"
    enforce: bool = False
    break_glass_account_id: str = ""
    # SAML: the identity provider's metadata XML, and the attribute the email comes in.
    idp_metadata_xml: str = ""
    email_attribute: str = ""


class Discovery(StrictInput):
    email: str


class BackchannelLogout(StrictInput):
    logout_token: str


class SsoLogout(StrictInput):
    # A token client's refresh token, revoked with the login.
    refresh_token: str | None = None
    # Also end the session at the identity provider: the answer carries the URL to send
    # the browser to.
    end_provider_session: bool = False


def base_url(request: Request) -> str:
    return public_base_url(request, request.app.state.settings)


def _reachable_address(url: str, field: str) -> None:
    """An address the outgoing client can parse (a host it can put on the wire), or 400
    before anything is stored."""
    if not url.strip():
        return
    try:
        parsed = httpx.URL(url.strip())
        host = parsed.host
    except (httpx.InvalidURL, ValueError, TypeError):
        host = ""
    if not host:
        raise ValidationFailed(f"{field} is not an address Tessera can reach", field=field)


def _sp_entity_id(request: Request, workspace_id: str) -> str:
    """Tessera as a SAML service provider of one workspace: its metadata's address."""
    return f"{base_url(request)}/auth/sso/{workspace_id}/saml/metadata"


def _binding_cookie(state: str) -> str:
    return BINDING_COOKIE_PREFIX + hashlib.sha256(state.encode()).hexdigest()[:16]


def _settings_body(
    request: Request, config: identity_pb2.SsoConfig, check: dict[str, Any] | None = None
) -> dict[str, Any]:
    base = base_url(request)
    body: dict[str, Any] = {
        "workspace_id": config.workspace_id,
        "protocol": config.protocol,
        "issuer": config.issuer,
        "keycloak_server_url": config.keycloak_server_url,
        "keycloak_realm": config.keycloak_realm,
        "client_id": config.client_id,
        "client_secret_set": config.client_secret_set,
        "allowed_domains": list(config.allowed_domains),
        "group_roles": dict(sorted(config.group_roles.items())),
        "default_role": config.default_role,
        "groups_claim": config.groups_claim,
        "enforce": config.enforce,
        "break_glass_account_id": config.break_glass_account_id,
        "created_at": config.created_at,
        "updated_at": config.updated_at,
        "login_url": f"{base}/auth/sso/{config.workspace_id}/login",
    }
    # What to register at the provider.
    if config.protocol == saml.SAML:
        body |= {
            "idp_metadata_xml": config.idp_metadata_xml,
            "email_attribute": config.email_attribute,
            "sp_entity_id": _sp_entity_id(request, config.workspace_id),
            "sp_metadata_url": _sp_entity_id(request, config.workspace_id),
            "acs_url": base + ACS_PATH,
        }
    else:
        body |= {
            "redirect_uri": base + CALLBACK_PATH,
            "post_logout_redirect_uri": base + LOGGED_OUT_PATH,
            "backchannel_logout_uri": f"{base}/auth/sso/{config.workspace_id}/backchannel-logout",
        }
    if check is not None:
        body["provider_check"] = check
    return body


async def _check_provider(providers: OpenIdProviders, issuer: str) -> dict[str, Any]:
    """Whether the provider answers its discovery document now: told, not required, so a
    provider can be set before it is up."""
    try:
        metadata = await providers.metadata(issuer)
    except DomainError as error:
        return {"ok": False, "message": error.message}
    return {
        "ok": True,
        "authorization_endpoint": metadata.authorization_endpoint,
        "end_session_endpoint": metadata.end_session_endpoint,
    }


# The configuration


@router.get("/api/workspaces/{workspace_id}/sso", **returns(shapes.SsoSettings))
async def get_sso(request: Request, ctx: WorkspaceContextDep, backends: BackendsDep) -> Any:
    reply = await backends.call(
        backends.identity.GetSsoConfig, identity_pb2.SsoConfigRequest(ctx=ctx)
    )
    return _settings_body(request, reply)


@router.put(
    "/api/workspaces/{workspace_id}/sso",
    **returns(shapes.SsoSettings),
    openapi_extra=json_body(SsoSettingsInput),
)
async def put_sso(
    request: Request, ctx: WorkspaceContextDep, backends: BackendsDep, providers: SsoDep
) -> Any:
    """Sets the workspace's provider (owners and admins). The client secret is stored
    sealed and never shown again; `provider_check` says whether the provider answered."""
    body = await parse_json(request, SsoSettingsInput)
    issuer, check = body.issuer, None
    if body.protocol == saml.SAML:
        # What the metadata names is the issuer; it must read as one provider's metadata.
        metadata = await asyncio.to_thread(saml.read_metadata, body.idp_metadata_xml)
        issuer = metadata.entity_id
        check = {"ok": True, "sso_url": metadata.sso_url}
    else:
        for field in ("issuer", "keycloak_server_url"):
            _reachable_address(getattr(body, field), field)
    config = identity_pb2.SsoConfig(
        protocol=body.protocol,
        issuer=issuer,
        keycloak_server_url=body.keycloak_server_url,
        keycloak_realm=body.keycloak_realm,
        client_id=body.client_id,
        allowed_domains=body.allowed_domains,
        group_roles=body.group_roles,
        default_role=body.default_role,
        groups_claim=body.groups_claim,
        enforce=body.enforce,
        break_glass_account_id=body.break_glass_account_id,
        idp_metadata_xml=body.idp_metadata_xml if body.protocol == saml.SAML else "",
        email_attribute=body.email_attribute,
    )
    put = identity_pb2.PutSsoConfigRequest(ctx=ctx, config=config)
    if body.client_secret is not None:
        put.client_secret = body.client_secret
    reply = await backends.call(backends.identity.PutSsoConfig, put)
    if check is None:
        check = await _check_provider(providers, reply.issuer)
    return _settings_body(request, reply, check)


@router.delete("/api/workspaces/{workspace_id}/sso", status_code=204)
async def delete_sso(ctx: WorkspaceContextDep, backends: BackendsDep) -> Response:
    """Members made by single sign-on stay members; they can no longer sign in until
    a provider is set again."""
    await backends.call(backends.identity.DeleteSsoConfig, identity_pb2.SsoConfigRequest(ctx=ctx))
    return Response(status_code=204)


# Discovery


@router.post(
    "/auth/sso/discover", **returns(shapes.SsoDiscovery), openapi_extra=json_body(Discovery)
)
async def discover_sso(request: Request, backends: BackendsDep) -> Any:
    body = await parse_json(request, Discovery)
    reply = await backends.call(
        backends.identity.DiscoverSso,
        identity_pb2.DiscoverSsoRequest(email=body.email, ctx=request_origin(request)),
    )
    if not reply.workspace_id:
        return {"sso": False}
    return {
        "sso": True,
        "workspace_id": reply.workspace_id,
        "workspace_name": reply.workspace_name,
        "enforce": reply.enforce,
        "login_url": f"{base_url(request)}/auth/sso/{reply.workspace_id}/login",
    }


# The login


def _only(
    request: Request, known: frozenset[str], *, ignore_unknown: bool = False
) -> dict[str, str]:
    """The known query parameters, once each; others refused, or (`ignore_unknown`, for
    what a provider sends back and may add to) passed over."""
    given: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if ignore_unknown and key not in known:
            continue
        if key not in known or key in given:
            raise ValidationFailed(
                f"Unknown or repeated parameter {key[:50]!r}; this takes "
                + ", ".join(sorted(known)),
                field=key[:50],
            )
        given[key] = queries.text(value, key, MAX_PARAMETER)
    return given


def _redirects(description: str, *, otherwise: Any = None) -> dict[str, Any]:
    """A route that answers 302 (or, given, 200 with `otherwise`), and may find the
    provider's answer unusable (502)."""
    documented = returns(otherwise, fails_with=(409, 502)) if otherwise else returns(None)
    documented["responses"][302] = {"description": description}
    documented["responses"][502] = {"description": HTTPStatus(502).phrase}
    if otherwise is None:
        documented["status_code"] = 302
        documented["responses"].pop(200, None)
    return documented


@router.get(
    "/auth/sso/{workspace}/login",
    **_redirects("To the workspace's identity provider"),
    openapi_extra={
        "parameters": [
            *query_parameter(
                "response", "'session' (a cookie; the default) or 'token' (Tessera tokens)"
            )["parameters"],
            *query_parameter("next", "A path here to go to after a session login")["parameters"],
        ]
    },
)
async def sso_login(
    workspace: str,
    request: Request,
    backends: BackendsDep,
    providers: SsoDep,
    service_providers: SamlDep,
) -> Response:
    """Sends the browser to the workspace's provider (workspace by id or slug)."""
    given = _only(request, LOGIN_PARAMETERS)
    started = await backends.call(
        backends.identity.StartSsoLogin,
        identity_pb2.StartSsoLoginRequest(
            workspace=workspace[:200],
            response=given.get("response", "session"),
            return_to=given.get("next", ""),
            ctx=request_origin(request),
        ),
    )
    url = await _login_address(request, started, providers, service_providers)
    return _bound(RedirectResponse(url, status_code=302), request, started)


class SsoLink(StrictInput):
    # The account's own email and password: who asks for the link.
    email: str
    password: str
    response: str = "session"
    next: str = ""


@router.post(
    "/auth/sso/{workspace}/link",
    **returns(shapes.SsoLinkStarted),
    openapi_extra=json_body(SsoLink, form=True),
)
async def sso_link(
    workspace: str,
    request: Request,
    backends: BackendsDep,
    providers: SsoDep,
    service_providers: SamlDep,
) -> Response:
    """Links an existing account to the workspace's provider, its holder proving its
    password (checked and throttled like a login, and allowed where the workspace
    enforces single sign-on): the answer's `authorization_url` is where to send the
    browser, and the provider login that comes back, for the account's own address, is
    linked to the account (and makes it a member, with the role its groups give). The only
    way an existing account is signed in by a provider: never by its email alone."""
    body = parse(SsoLink, await read_form_or_json(request))
    started = await backends.call(
        backends.identity.StartSsoLogin,
        identity_pb2.StartSsoLoginRequest(
            workspace=workspace[:200],
            response=body.response,
            return_to=body.next,
            link_username=body.email,
            link_password=body.password,
            ctx=request_origin(request),
        ),
    )
    url = await _login_address(request, started, providers, service_providers)
    answer = JSONResponse({"authorization_url": url, "expires_in": started.expires_in})
    return _bound(answer, request, started)


async def _login_address(
    request: Request,
    started: identity_pb2.StartedSsoLogin,
    providers: OpenIdProviders,
    service_providers: saml.SamlServiceProviders,
) -> str:
    """Where the browser goes to sign in."""
    if started.protocol == saml.SAML:
        return await service_providers.login_url(
            sp_entity_id=_sp_entity_id(request, started.workspace_id),
            acs_url=base_url(request) + ACS_PATH,
            idp_metadata_xml=started.idp_metadata_xml,
            request_id=saml.request_id(started.nonce),
            relay_state=started.state,
        )
    return await providers.authorization_url(started, base_url(request) + CALLBACK_PATH)


def _bound(answer: Response, request: Request, started: identity_pb2.StartedSsoLogin) -> Response:
    """`answer` with the cookie that ties the login to this browser, which only the
    callback reads."""
    settings: GatewaySettings = request.app.state.settings
    # An OpenID provider's redirect back is a top-level navigation, which carries a Lax
    # cookie; a SAML provider posts its answer from its own site, which does not (over
    # plain HTTP, in development, browsers refuse None and Lax serves).
    same_site: Literal["lax", "none"] = (
        "none" if started.protocol == saml.SAML and settings.cookie_secure else "lax"
    )
    answer.set_cookie(
        _binding_cookie(started.state),
        started.binding,
        max_age=int(started.expires_in),
        path=BINDING_COOKIE_PATH,
        httponly=True,
        samesite=same_site,
        secure=settings.cookie_secure,
    )
    answer.headers["Cache-Control"] = "no-store"
    return answer


@router.get(
    CALLBACK_PATH,
    **_redirects("Signed in: to `next`, with the session cookie", otherwise=shapes.SsoTokens),
    openapi_extra={
        "parameters": [
            *query_parameter("state", "The state the login started with")["parameters"],
            *query_parameter("code", "The authorization code")["parameters"],
            *query_parameter("error", "Why the provider did not sign in")["parameters"],
        ]
    },
)
async def sso_callback(request: Request, backends: BackendsDep, providers: SsoDep) -> Response:
    given = _only(request, CALLBACK_PARAMETERS, ignore_unknown=True)
    state = given.get("state", "")
    if not state:
        raise ValidationFailed("The provider's answer carries no state", field="state")
    cookie = _binding_cookie(state)
    claimed = await backends.call(
        backends.identity.ClaimSsoLogin,
        identity_pb2.ClaimSsoLoginRequest(
            state=state,
            binding=request.cookies.get(cookie, "")[:200],
            ctx=request_origin(request),
        ),
    )
    provider = claimed.provider
    if provider.protocol == saml.SAML:
        raise Unauthenticated("This sign-in went to a SAML identity provider, not OpenID")
    if "error" in given:
        reason = given["error"][:100]
        described = given.get("error_description", "")[:300]
        raise Unauthenticated(
            f"The identity provider did not sign you in ({reason}"
            + (f": {described})" if described else ")")
        )
    # RFC 9207: a provider that names itself must name the one the login went to.
    if "iss" in given and given["iss"] != provider.issuer:
        raise Unauthenticated("The answer comes from another identity provider (iss)")
    code = given.get("code", "")
    if not code:
        raise ValidationFailed("The provider's answer carries no code", field="code")
    redirect_uri = base_url(request) + CALLBACK_PATH
    tokens = await providers.exchange_code(
        provider, code=code, code_verifier=claimed.code_verifier, redirect_uri=redirect_uri
    )
    claims = await providers.verify_id_token(provider, tokens["id_token"], nonce=claimed.nonce)
    completed = await backends.call(
        backends.identity.CompleteSsoLogin,
        identity_pb2.CompleteSsoLoginRequest(
            workspace_id=provider.workspace_id,
            issuer=provider.issuer,
            subject=_text_claim(claims, "sub"),
            email=_text_claim(claims, "email"),
            # Absent, the provider vouches for its addresses; false, it says it does not.
            email_verified=_email_verified(claims),
            name=_text_claim(claims, "name"),
            groups=_groups(claims.get(provider.groups_claim)),
            sid=_text_claim(claims, "sid"),
            response=claimed.response,
            link_account_id=claimed.link_account_id,
            ctx=request_origin(request),
        ),
    )
    return _completed(request, claimed, completed, cookie)


class SamlAnswer(StrictInput):
    SAMLResponse: str
    RelayState: str


@router.post(
    ACS_PATH,
    **_redirects("Signed in: to `next`, with the session cookie", otherwise=shapes.SsoTokens),
    openapi_extra=json_body(SamlAnswer, form=True),
)
async def saml_acs(request: Request, backends: BackendsDep, service_providers: SamlDep) -> Response:
    """SAML's assertion consumer service: the identity provider's signed answer, posted by
    the browser (HTTP-POST binding). The relay state names the login it answers."""
    answer = parse(SamlAnswer, await read_form_or_json(request))
    if len(answer.SAMLResponse) > MAX_SAML_RESPONSE or len(answer.RelayState) > MAX_PARAMETER:
        raise ValidationFailed("The SAML answer is too large", field="SAMLResponse")
    cookie = _binding_cookie(answer.RelayState)
    claimed = await backends.call(
        backends.identity.ClaimSsoLogin,
        identity_pb2.ClaimSsoLoginRequest(
            state=answer.RelayState,
            binding=request.cookies.get(cookie, "")[:200],
            ctx=request_origin(request),
        ),
    )
    provider = claimed.provider
    if provider.protocol != saml.SAML:
        raise Unauthenticated("This sign-in did not go to a SAML identity provider")
    assertion = await service_providers.verify(
        sp_entity_id=_sp_entity_id(request, provider.workspace_id),
        acs_url=base_url(request) + ACS_PATH,
        idp_metadata_xml=provider.idp_metadata_xml,
        saml_response=answer.SAMLResponse,
        request_id=saml.request_id(claimed.nonce),
        email_attribute=provider.email_attribute,
        groups_attribute=provider.groups_claim,
    )
    completed = await backends.call(
        backends.identity.CompleteSsoLogin,
        identity_pb2.CompleteSsoLoginRequest(
            workspace_id=provider.workspace_id,
            issuer=provider.issuer,
            subject=assertion.subject,
            email=assertion.email,
            # A SAML provider asserts the addresses it signs.
            email_verified=True,
            name=assertion.name,
            groups=_groups(assertion.groups),
            sid=assertion.session_index,
            response=claimed.response,
            assertion_id=assertion.assertion_id,
            assertion_expires_at=assertion.expires_at,
            link_account_id=claimed.link_account_id,
            ctx=request_origin(request),
        ),
    )
    return _completed(request, claimed, completed, cookie)


@router.get(
    "/auth/sso/{workspace_id}/saml/metadata",
    response_class=Response,
    responses={
        200: {
            "description": "Tessera's SAML service provider metadata",
            "content": {"application/samlmetadata+xml": {"schema": {"type": "string"}}},
        }
    },
)
async def saml_metadata(
    workspace_id: str, request: Request, backends: BackendsDep, service_providers: SamlDep
) -> Response:
    """What the workspace's SAML identity provider registers: Tessera's entity id (this
    address) and its assertion consumer service."""
    provider = await backends.call(
        backends.identity.GetSsoProvider,
        identity_pb2.SsoConfigRequest(
            ctx=_with_tenant(request_origin(request), workspace_id[:200])
        ),
    )
    if provider.protocol != saml.SAML:
        raise NotFound("This workspace signs in with OpenID Connect, not SAML")
    xml = await service_providers.metadata(
        _sp_entity_id(request, provider.workspace_id), base_url(request) + ACS_PATH
    )
    return Response(xml, media_type="application/samlmetadata+xml")


def _completed(
    request: Request,
    claimed: identity_pb2.ClaimedSsoLogin,
    completed: identity_pb2.CompletedSsoLogin,
    binding_cookie: str,
) -> Response:
    """The login's end: Tessera tokens, or the session cookies and a redirect to `next`;
    the binding cookie, spent, goes."""
    answer: Response
    if claimed.response == "token":
        workspace = presenters.workspace(completed.membership.workspace, completed.membership.role)
        answer = JSONResponse(
            {
                **presenters.tokens(
                    completed.access_token, completed.refresh_token, completed.account
                ),
                "expires_in": completed.expires_in,
                "workspace": workspace,
                "provisioned": completed.provisioned,
            }
        )
    else:
        answer = RedirectResponse(claimed.return_to or "/", status_code=302)
        set_session_cookies(
            answer, request.app.state.settings, completed.session_id, completed.csrf_token
        )
    answer.delete_cookie(binding_cookie, path=BINDING_COOKIE_PATH)
    answer.headers["Cache-Control"] = "no-store"
    return answer


def _text_claim(claims: dict[str, Any], name: str) -> str:
    """A claim's text, or "" for none or for what no service could store (not a string, a
    NUL, a lone surrogate, past MAX_CLAIM characters): the checks downstream then refuse
    a missing subject or email."""
    value = claims.get(name)
    return value if isinstance(value, str) and _storable(value) else ""


def _storable(text: str) -> bool:
    return len(text) <= MAX_CLAIM and "\x00" not in text and encodable(text)


def _email_verified(claims: dict[str, Any]) -> bool:
    """A provider that sends no email_verified vouches for its addresses (Entra ID sends
    none); one that sends it must say true."""
    if "email_verified" not in claims:
        return True
    value = claims["email_verified"]
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _groups(value: Any) -> list[str]:
    """The groups claim as strings. Keycloak's group mapper sends full paths ("/staff") by
    default: each group counts by its path and by its name without the leading slash."""
    if not isinstance(value, list):
        return []
    groups: list[str] = []
    for item in value:
        if isinstance(item, str) and item and _storable(item):
            groups.append(item)
            if item.startswith("/"):
                groups.append(item.lstrip("/"))
    return groups


# Logout


@router.post(
    "/auth/sso/logout",
    **returns(shapes.SsoLoggedOut, fails_with=(502,)),
    openapi_extra=json_body(SsoLogout, required=False),
)
async def sso_logout(
    request: Request,
    caller: CallerDep,
    backends: BackendsDep,
    authenticator: AuthenticatorDep,
    providers: SsoDep,
) -> Response:
    """Ends the single sign-on login (the session cookie, or a token client's refresh
    token), and, asked to, answers where to send the browser to end the provider's
    session too (RP-initiated logout)."""
    authenticator.refuse_cross_site(request)
    raw = await read_form_or_json(request) if await request.body() else {}
    body = parse(SsoLogout, raw)
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id and caller.via == "session":
        await authenticator.end_session(request, session_id)
    if body.refresh_token:
        await backends.call(
            backends.identity.RevokeRefreshToken,
            identity_pb2.RevokeRefreshTokenRequest(
                refresh_token=body.refresh_token, ctx=request_origin(request)
            ),
        )
    provider_logout_url = None
    if body.end_provider_session:
        if not caller.workspace_scope:
            raise ValidationFailed(
                "This is not a single sign-on login", field="end_provider_session"
            )
        provider = await backends.call(
            backends.identity.GetSsoProvider,
            identity_pb2.SsoConfigRequest(
                ctx=common_pb2.RequestContext(tenant_id=caller.workspace_scope)
            ),
        )
        if provider.protocol != saml.SAML:
            provider_logout_url = (
                await providers.logout_url(provider, base_url(request) + LOGGED_OUT_PATH) or None
            )
    answer = JSONResponse({"detail": "Logged out", "provider_logout_url": provider_logout_url})
    if caller.via == "session":
        clear_session_cookies(answer)
    return answer


@router.get(LOGGED_OUT_PATH, **returns(shapes.LoggedOut))
async def sso_logged_out() -> Any:
    """Where the provider sends the browser after its own logout."""
    return {"detail": "Signed out at the identity provider"}


@router.post(
    "/auth/sso/{workspace_id}/backchannel-logout",
    **returns(shapes.SsoBackchannel, fails_with=(502,)),
    openapi_extra=json_body(BackchannelLogout, form=True),
)
async def backchannel_logout(
    workspace_id: str, request: Request, backends: BackendsDep, providers: SsoDep
) -> Any:
    """OpenID Connect Back-Channel Logout: the provider posts a signed logout token, and the
    logins it names end at every gateway within a second."""
    token = parse(BackchannelLogout, await read_form_or_json(request)).logout_token
    if not token or len(token) > MAX_LOGOUT_TOKEN:
        raise ValidationFailed("Post the logout_token", field="logout_token")
    provider = await backends.call(
        backends.identity.GetSsoProvider,
        identity_pb2.SsoConfigRequest(
            ctx=_with_tenant(request_origin(request), workspace_id[:200])
        ),
    )
    if provider.protocol == saml.SAML:
        raise NotFound("This workspace signs in with SAML: it takes no OpenID logout token")
    claims = await providers.verify_logout_token(provider, token)
    for name in ("sub", "sid", "jti"):
        if name in claims and not _text_claim(claims, name):
            raise ValidationFailed(f"The logout token's {name} is not usable", field=name)
    # A logout token is spent once, for as long as it could be presented.
    expires = claims.get("exp") or claims["iat"] + LOGOUT_TOKEN_SECONDS
    expires = min(expires, claims["iat"] + LOGOUT_TOKEN_SECONDS)
    reply = await backends.call(
        backends.identity.EndSsoSessions,
        identity_pb2.EndSsoSessionsRequest(
            workspace_id=provider.workspace_id,
            issuer=provider.issuer,
            subject=_text_claim(claims, "sub"),
            sid=_text_claim(claims, "sid"),
            token_id=_text_claim(claims, "jti"),
            token_expires_at=int(expires) if isinstance(expires, int | float) else 0,
            ctx=request_origin(request),
        ),
    )
    return JSONResponse({"ended": reply.ended}, headers={"Cache-Control": "no-store"})


def _with_tenant(ctx: common_pb2.RequestContext, tenant_id: str) -> common_pb2.RequestContext:
    ctx.tenant_id = tenant_id
    return ctx
