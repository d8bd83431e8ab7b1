"""The API connector for workflows: an api_call step calls one of its app's connectors by
name. Private values are resolved here, at the moment of the call, so a run's journal
keeps only what the step's expressions gave."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tessera.common.v1 import common_pb2

from services.kit.clock import rfc3339
from services.kit.db import SessionMaker, transaction
from services.kit.errors import ServiceUnavailable, UpstreamFailed
from services.kit.json import holds_nul
from services.kit.secrets import SecretBox
from services.workflows import connectors
from services.workflows.connector_calls import ConnectorClient
from services.workflows.connector_oauth import UserAuthorizations, holder_of
from services.workflows.http_steps import HttpStatusFailed

# Statuses of an external API that may pass: the step is tried again.
PASSING = frozenset({408, 425, 429, 500, 502, 503, 504})


class AppConnectors:
    def __init__(self, sessionmaker: SessionMaker, box: SecretBox, client: ConnectorClient) -> None:
        self.sessionmaker = sessionmaker
        self.box = box
        self.client = client
        self.users = UserAuthorizations(sessionmaker, box, client)

    def of_app(
        self, tenant: str, app_id: str, caller: common_pb2.RequestContext
    ) -> ConnectorsOfApp:
        """The connectors of the run's app, acting for the run's caller where a connector
        acts for each user."""
        return ConnectorsOfApp(self, tenant, app_id, caller)


@dataclass(frozen=True, slots=True)
class ConnectorsOfApp:
    owner: AppConnectors
    tenant: str
    app_id: str
    caller: common_pb2.RequestContext

    async def call(self, connector: str, call: str, parameters: dict[str, Any]) -> dict[str, Any]:
        async with transaction(self.owner.sessionmaker, tenant=self.tenant) as session:
            stored = await connectors.find_by_name(session, self.tenant, self.app_id, connector)
        stored.initialized(call)
        whole = stored.whole(self.owner.box)
        user_tokens = None
        if whole.auth.type == "oauth2_user_agent":
            holder = holder_of(self.caller)
            user_tokens = self.owner.users.source(self.tenant, stored, holder)
        try:
            answer = await self.owner.client.run(
                stored.id,
                rfc3339(stored.updated_at),
                whole,
                whole.call(call),
                parameters,
                user_tokens=user_tokens,
            )
        except UpstreamFailed as failed:
            status = failed.details[0].get("status") if failed.details else None
            if status is None or status in PASSING:
                raise ServiceUnavailable(failed.message) from None
            raise
        if holds_nul(answer.body):
            # A run's journal keeps the result, and PostgreSQL's jsonb holds no NUL.
            raise HttpStatusFailed(f"{connector[:100]}: {call} answered text with a NUL character")
        return {"status": answer.status, "content_type": answer.content_type, "body": answer.body}
