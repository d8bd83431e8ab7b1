"""The records service as a run's caller: every call carries the context the run acts as
(whoever started it), signed with this service's own context key, so records applies that
caller's role, grants and privacy rules and nothing more (services.kit.grpc.trust)."""

from __future__ import annotations

from typing import Any

import grpc
import orjson
from tessera.common.v1 import common_pb2
from tessera.records.v1 import records_pb2, records_pb2_grpc

from services.kit.filter_tree import tree_node
from services.kit.grpc.client import call
from services.kit.json import dumps_exact

DEADLINE_SECONDS = 10.0


class RecordsClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = records_pb2_grpc.RecordsServiceStub(channel)

    def acting_as(self, caller: common_pb2.RequestContext, app_ref: str) -> CallerRecords:
        return CallerRecords(self._stub, caller, app_ref)


class CallerRecords:
    """One run's view of the records service (services.workflows.engine.Records)."""

    def __init__(
        self,
        stub: records_pb2_grpc.RecordsServiceStub,
        caller: common_pb2.RequestContext,
        app_ref: str,
    ) -> None:
        self._stub = stub
        self._caller = caller
        self._app_ref = app_ref

    def _ctx(self, key: str = "") -> common_pb2.RequestContext:
        ctx = common_pb2.RequestContext()
        ctx.CopyFrom(self._caller)
        ctx.idempotency_key = key
        return ctx

    def _schema(self, slug: str) -> records_pb2.SchemaRef:
        return records_pb2.SchemaRef(app_slug=self._app_ref, schema_slug=slug)

    async def get(self, schema: str, record_id: str) -> dict[str, Any]:
        reply = await call(
            self._stub.GetRecord,
            records_pb2.GetRecordRequest(
                ctx=self._ctx(), schema=self._schema(schema), record_id=record_id
            ),
            deadline_seconds=DEADLINE_SECONDS,
        )
        return _record(reply.record_json)

    async def create(self, schema: str, values: dict[str, Any], key: str) -> dict[str, Any]:
        reply = await call(
            self._stub.CreateRecord,
            records_pb2.CreateRecordRequest(
                ctx=self._ctx(key), schema=self._schema(schema), values_json=dumps_exact(values)
            ),
            deadline_seconds=DEADLINE_SECONDS,
        )
        return _record(reply.record_json)

    async def update(
        self, schema: str, record_id: str, values: dict[str, Any], key: str
    ) -> dict[str, Any]:
        reply = await call(
            self._stub.UpdateRecord,
            records_pb2.UpdateRecordRequest(
                ctx=self._ctx(key),
                schema=self._schema(schema),
                record_id=record_id,
                values_json=dumps_exact(values),
            ),
            deadline_seconds=DEADLINE_SECONDS,
        )
        return _record(reply.record_json)

    async def delete(self, schema: str, record_id: str, key: str) -> None:
        await call(
            self._stub.DeleteRecord,
            records_pb2.DeleteRecordRequest(
                ctx=self._ctx(key), schema=self._schema(schema), record_id=record_id
            ),
            deadline_seconds=DEADLINE_SECONDS,
        )

    async def find(
        self, schema: str, filter: dict[str, Any] | None, sort: list[str], limit: int
    ) -> list[dict[str, Any]]:
        request = records_pb2.ListRecordsRequest(
            ctx=self._ctx(),
            schema=self._schema(schema),
            per_page=limit,
            skip_count=True,
            sort=[
                records_pb2.SortKey(field=key.lstrip("-"), descending=key.startswith("-"))
                for key in sort
            ],
        )
        if filter is not None:
            request.filter.CopyFrom(tree_node(filter, "filter", depth=0))
        reply = await call(self._stub.ListRecords, request, deadline_seconds=DEADLINE_SECONDS)
        found: list[dict[str, Any]] = orjson.loads(reply.records_json)
        return found


def _record(raw: bytes) -> dict[str, Any]:
    # Numbers as floats: expressions compute with them (CEL knows no decimals).
    record: dict[str, Any] = orjson.loads(raw)
    return record
