"""The API connector and saved queries as the gateway calls them: JSON in, JSON out, the
app resolved and the caller checked here. External calls happen outside any transaction:
the connector is read, the call made, and what it taught (a shape) stored after."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from tessera.common.v1 import common_pb2

from services.kit.access import APP_KINDS, APP_ROLES, Kind, Principal
from services.kit.clock import rfc3339, utcnow
from services.kit.db import SessionMaker, transaction
from services.kit.errors import (
    PermissionDenied,
    PreconditionFailed,
    Unauthenticated,
    UpstreamFailed,
    ValidationFailed,
)
from services.kit.secrets import SecretBox
from services.kit.tenancy import tenant_of
from services.workflows import connectors, saved_queries
from services.workflows.apps import AppRef, AppResolver
from services.workflows.bodies import json_object
from services.workflows.connector_calls import CallAnswer, ConnectorClient
from services.workflows.connector_oauth import UserAuthorizations, holder_of
from services.workflows.connectors import CallNotFound, StoredConnector, shape_of
from services.workflows.saved_queries import QueryInput, QueryNotFound, StoredQuery

APP_ROLE_RANK = {role: rank for rank, role in enumerate(APP_ROLES)}


def _parameters(raw: bytes) -> dict[str, Any]:
    body = json_object(raw, "The body")
    unknown = set(body) - {"parameters"}
    if unknown:
        field = sorted(unknown)[0][:100]
        raise ValidationFailed(f"Unknown field '{field}'", field=field)
    given = body.get("parameters", {})
    if not isinstance(given, dict):
        raise ValidationFailed(
            "'parameters' is an object of parameter name to value", field="parameters"
        )
    return given


def _answer(answer: CallAnswer) -> dict[str, Any]:
    return {"status": answer.status, "content_type": answer.content_type, "body": answer.body}


class ConnectorApi:
    def __init__(
        self,
        sessionmaker: SessionMaker,
        resolve_app: AppResolver,
        box: SecretBox,
        client: ConnectorClient,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.resolve_app = resolve_app
        self.box = box
        self.client = client
        self.users = UserAuthorizations(sessionmaker, box, client)

    async def _app(self, ctx: common_pb2.RequestContext, app_slug: str) -> AppRef:
        return await self.resolve_app(ctx, app_slug)

    # --- connectors ------------------------------------------------------------------

    async def create(
        self, ctx: common_pb2.RequestContext, app_slug: str, raw: bytes
    ) -> dict[str, Any]:
        app = await self._app(ctx, app_slug)
        async with transaction(self.sessionmaker, tenant=tenant_of(ctx)) as session:
            stored = await connectors.create_connector(
                session,
                tenant_of(ctx),
                app.id,
                f"{ctx.principal_kind}:{ctx.principal_id}",
                raw,
                box=self.box,
            )
        return stored.shown(self.box)

    async def list(self, ctx: common_pb2.RequestContext, app_slug: str) -> dict[str, Any]:
        app = await self._app(ctx, app_slug)
        async with transaction(self.sessionmaker, tenant=tenant_of(ctx)) as session:
            found = await connectors.list_connectors(session, tenant_of(ctx), app.id)
        return {"connectors": [each.shown(self.box) for each in found]}

    async def get(
        self, ctx: common_pb2.RequestContext, app_slug: str, connector_id: str
    ) -> dict[str, Any]:
        return (await self._connector(ctx, app_slug, connector_id)).shown(self.box)

    async def _connector(
        self, ctx: common_pb2.RequestContext, app_slug: str, connector_id: str
    ) -> StoredConnector:
        app = await self._app(ctx, app_slug)
        async with transaction(self.sessionmaker, tenant=tenant_of(ctx)) as session:
            return await connectors.find(session, tenant_of(ctx), app.id, connector_id)

    async def update(
        self, ctx: common_pb2.RequestContext, app_slug: str, connector_id: str, raw: bytes
    ) -> dict[str, Any]:
        app = await self._app(ctx, app_slug)
        async with transaction(self.sessionmaker, tenant=tenant_of(ctx)) as session:
            stored = await connectors.update_connector(
                session, tenant_of(ctx), app.id, connector_id, raw, box=self.box
            )
        return stored.shown(self.box)

    async def delete(
        self, ctx: common_pb2.RequestContext, app_slug: str, connector_id: str
    ) -> None:
        app = await self._app(ctx, app_slug)
        async with transaction(self.sessionmaker, tenant=tenant_of(ctx)) as session:
            await connectors.delete_connector(session, tenant_of(ctx), app.id, connector_id)

    async def _run(
        self,
        ctx: common_pb2.RequestContext,
        stored: StoredConnector,
        call_name: str,
        given: dict[str, Any],
    ) -> CallAnswer:
        connector = stored.whole(self.box)
        user_tokens = None
        if connector.auth.type == "oauth2_user_agent":
            user_tokens = self.users.source(tenant_of(ctx), stored, holder_of(ctx))
        return await self.client.run(
            stored.id,
            rfc3339(stored.updated_at),
            connector,
            connector.call(call_name),
            given,
            user_tokens=user_tokens,
        )

    # --- each user's own account (OAuth2 user-agent flow) --------------------------------

    async def _reachable(
        self, session: AsyncSession, ctx: common_pb2.RequestContext, app: AppRef, connector_id: str
    ) -> tuple[StoredConnector, str]:
        """The connector, and whose tokens the caller's are (an anonymous caller has none:
        401, once the connector is known to exist)."""
        caller = Principal.of(ctx)
        if caller.kind in APP_KINDS and caller.app_id != app.id:
            raise connectors.ConnectorNotFound()
        stored = await connectors.find(session, tenant_of(ctx), app.id, connector_id)
        return stored, holder_of(ctx)

    async def authorize(
        self, ctx: common_pb2.RequestContext, app_slug: str, connector_id: str, raw: bytes
    ) -> dict[str, Any]:
        """Where to send the caller to connect their account: {"authorize_url",
        "expires_at"}. The body names the callback the server must send them back to."""
        app = await self._app(ctx, app_slug)
        body = json_object(raw, "The body")
        redirect_uri, browser = body.get("redirect_uri"), body.get("browser")
        if not isinstance(redirect_uri, str):
            raise ValidationFailed("'redirect_uri' is required", field="redirect_uri")
        if not isinstance(browser, str) or len(browser) < 32:
            raise ValidationFailed("'browser' is required", field="browser")
        async with transaction(self.sessionmaker, tenant=tenant_of(ctx)) as session:
            stored, holder = await self._reachable(session, ctx, app, connector_id)
            return await self.users.start(
                session, tenant_of(ctx), stored, holder, redirect_uri[:2000], browser[:200]
            )

    async def disconnect(
        self, ctx: common_pb2.RequestContext, app_slug: str, connector_id: str
    ) -> None:
        """Forgets the caller's tokens for the connector."""
        app = await self._app(ctx, app_slug)
        async with transaction(self.sessionmaker, tenant=tenant_of(ctx)) as session:
            stored, holder = await self._reachable(session, ctx, app, connector_id)
            await self.users.disconnect(session, tenant_of(ctx), stored.id, holder)

    async def complete_authorization(self, raw: bytes) -> dict[str, Any]:
        """The authorization server's answer, as its redirect brought it back."""
        body = json_object(raw, "The body")
        values = [body.get(name, "") for name in ("state", "code", "error", "browser")]
        if not all(isinstance(value, str) for value in values):
            raise ValidationFailed("state, code, error and browser are text")
        state, code, error, browser = (str(value)[:2000] for value in values)
        connected = await self.users.complete(state, code, error, browser)
        return {
            "connected": True,
            "connector_id": connected.connector_id,
            "connector": connected.connector_name,
        }

    async def initialize(
        self,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        connector_id: str,
        call_name: str,
        raw: bytes,
    ) -> dict[str, Any]:
        """Runs the call with sample values (the stored ones unless given) and keeps the
        shape of its answer, which types the call from then on."""
        given = _parameters(raw)
        stored = await self._connector(ctx, app_slug, connector_id)
        answer = await self._run(ctx, stored, call_name, given)
        initialized = {"shape": shape_of(answer.body), "at": rfc3339(utcnow())}
        async with transaction(self.sessionmaker, tenant=tenant_of(ctx)) as session:
            await connectors.store_shape(session, stored, call_name, initialized)
        return {**_answer(answer), "initialized": initialized}

    async def run_call(
        self,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        connector_id: str,
        call_name: str,
        raw: bytes,
    ) -> dict[str, Any]:
        given = _parameters(raw)
        stored = await self._connector(ctx, app_slug, connector_id)
        stored.initialized(call_name)
        return _answer(await self._run(ctx, stored, call_name, given))

    # --- saved queries ---------------------------------------------------------------

    async def create_query(
        self, ctx: common_pb2.RequestContext, app_slug: str, raw: bytes
    ) -> dict[str, Any]:
        app = await self._app(ctx, app_slug)
        query = saved_queries.query_input(raw)
        async with transaction(self.sessionmaker, tenant=tenant_of(ctx)) as session:
            await _checked_query(session, tenant_of(ctx), app.id, query)
            stored = await saved_queries.create_query(session, tenant_of(ctx), app.id, query)
        return stored.shown()

    async def list_queries(self, ctx: common_pb2.RequestContext, app_slug: str) -> dict[str, Any]:
        app = await self._app(ctx, app_slug)
        async with transaction(self.sessionmaker, tenant=tenant_of(ctx)) as session:
            found = await saved_queries.list_queries(session, tenant_of(ctx), app.id)
        return {"queries": [each.shown() for each in found]}

    async def get_query(
        self, ctx: common_pb2.RequestContext, app_slug: str, name: str
    ) -> dict[str, Any]:
        app = await self._app(ctx, app_slug)
        async with transaction(self.sessionmaker, tenant=tenant_of(ctx)) as session:
            return (await saved_queries.find(session, tenant_of(ctx), app.id, name)).shown()

    async def update_query(
        self, ctx: common_pb2.RequestContext, app_slug: str, name: str, raw: bytes
    ) -> dict[str, Any]:
        app = await self._app(ctx, app_slug)
        async with transaction(self.sessionmaker, tenant=tenant_of(ctx)) as session:
            earlier = await saved_queries.find(session, tenant_of(ctx), app.id, name)
            query = saved_queries.query_input(raw, earlier)
            await _checked_query(session, tenant_of(ctx), app.id, query)
            stored = await saved_queries.update_query(
                session, tenant_of(ctx), app.id, earlier, query
            )
        return stored.shown()

    async def delete_query(self, ctx: common_pb2.RequestContext, app_slug: str, name: str) -> None:
        app = await self._app(ctx, app_slug)
        async with transaction(self.sessionmaker, tenant=tenant_of(ctx)) as session:
            await saved_queries.delete_query(session, tenant_of(ctx), app.id, name)

    async def describe_queries(
        self, ctx: common_pb2.RequestContext, app_slug: str
    ) -> dict[str, Any]:
        """The initialized queries the caller may run, each with its parameters and the
        schema of its data: what the app's OpenAPI document shows of them."""
        app = await self._app(ctx, app_slug)
        caller = Principal.of(ctx)
        if caller.kind in APP_KINDS and caller.app_id != app.id:
            return {"queries": []}
        async with transaction(self.sessionmaker, tenant=tenant_of(ctx)) as session:
            found = await saved_queries.list_queries(session, tenant_of(ctx), app.id)
            stored = {
                each.id: each
                for each in await connectors.list_connectors(session, tenant_of(ctx), app.id)
            }
        described = [
            _description(query, stored[query.connector_id])
            for query in found
            if _admits(caller, query)
        ]
        return {"queries": [each for each in described if each is not None]}

    async def execute(
        self, ctx: common_pb2.RequestContext, app_slug: str, name: str, raw: bytes
    ) -> dict[str, Any]:
        """Runs the query's call with the caller's parameters over its defaults; answers
        the external API's data and the schema its initialization found."""
        app = await self._app(ctx, app_slug)
        caller = Principal.of(ctx)
        if caller.kind in APP_KINDS and caller.app_id != app.id:
            raise QueryNotFound()
        given = _parameters(raw)
        async with transaction(self.sessionmaker, tenant=tenant_of(ctx)) as session:
            query = await saved_queries.find(session, tenant_of(ctx), app.id, name)
            _may_execute(caller, query)
            stored = await connectors.find(session, tenant_of(ctx), app.id, query.connector_id)
        initialized = stored.initialized(query.call)
        if stored.stored_call(query.call)["use_as"] != "data":
            raise PreconditionFailed(
                "The query's call has become an action: a saved query runs a data call"
            )
        try:
            answer = await self._run(ctx, stored, query.call, {**query.parameters, **given})
        except UpstreamFailed as failed:
            if caller.kind in APP_KINDS:
                # What the API said of the request may repeat its private values back:
                # end users are told its status only.
                failed.details = [
                    {"status": each.get("status")} for each in failed.details if "status" in each
                ]
            raise
        return {"data": answer.body, "schema": initialized["shape"]}


async def _checked_query(
    session: AsyncSession, tenant: str, app_id: str, query: QueryInput
) -> None:
    """The query's call exists, is a data call, and its defaults name public parameters."""
    try:
        stored = await connectors.find(session, tenant, app_id, query.connector_id)
    except connectors.ConnectorNotFound:
        raise ValidationFailed("The app has no such connector", field="connector_id") from None
    try:
        call = stored.stored_call(query.call)
    except CallNotFound:
        raise ValidationFailed("The connector has no such call", field="call") from None
    if call["use_as"] != "data":
        raise ValidationFailed(
            "A saved query runs a data call; this one is an action", field="call"
        )
    public = {each["name"] for each in call["parameters"] if not each["private"]}
    for name in query.parameters:
        if name not in public:
            raise ValidationFailed(
                f"The call has no public parameter {name[:100]!r}",
                field=f"parameters.{name[:100]}",
            )


_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (Decimal, "number"), (str, "string"))


# Defaults a JSON reader takes as they are: integers within a double's exact range, other
# numbers of a few digits.
SAFE_INTEGER = 2**53


def _parameter_schema(value: Any) -> dict[str, Any]:
    """What a parameter takes, told by its sample: its type, and the sample as default."""
    for kind, name in _JSON_TYPES:
        if isinstance(value, kind):
            schema: dict[str, Any] = {"type": name}
            if not (
                (
                    isinstance(value, int)
                    and not isinstance(value, bool)
                    and abs(value) >= SAFE_INTEGER
                )
                or (isinstance(value, Decimal) and abs(value.adjusted()) > 15)
            ):
                schema["default"] = value
            return schema
    return {}


def _description(query: StoredQuery, stored: StoredConnector) -> dict[str, Any] | None:
    """How the query is run and what it answers, for the app's OpenAPI document; None
    until its call is initialized."""
    initialized = stored.shapes.get(query.call)
    if initialized is None:
        return None
    call = stored.stored_call(query.call)
    parameters = {
        each["name"]: _parameter_schema(query.parameters.get(each["name"], each["value"]))
        for each in call["parameters"]
        if not each["private"]
    }
    return {
        "name": query.name,
        "description": query.description,
        "parameters": parameters,
        "schema": initialized["shape"],
    }


def _admits(caller: Principal, query: StoredQuery) -> bool:
    try:
        _may_execute(caller, query)
    except (PermissionDenied, Unauthenticated):
        return False
    return True


def _may_execute(caller: Principal, query: StoredQuery) -> None:
    if caller.kind not in APP_KINDS:
        return
    if APP_ROLE_RANK.get(caller.app_role, -1) >= APP_ROLE_RANK[query.app_role]:
        return
    if caller.kind == Kind.ANONYMOUS:
        raise Unauthenticated("This query runs only for signed-in users")
    raise PermissionDenied(f"This query needs the app role {query.app_role!r} or a stronger one")
