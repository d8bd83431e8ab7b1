"""Records of a schema. Bodies pass through as JSON bytes: the records service validates
them against the schema's field types and returns ready-made JSON."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from tessera.records.v1 import records_pb2

from services.gateway import queries
from services.gateway.bodies import read_body, read_json
from services.gateway.deps import BackendsDep, ContextDep

router = APIRouter(prefix="/api/apps/{app_slug}/schemas/{schema_slug}/records")

JSON = "application/json"


def _ref(app_slug: str, schema_slug: str) -> records_pb2.SchemaRef:
    return records_pb2.SchemaRef(app_slug=app_slug, schema_slug=schema_slug)


async def _list(
    backends: BackendsDep, ctx: ContextDep, ref: records_pb2.SchemaRef, request_message: Any
) -> Response:
    request_message.ctx.CopyFrom(ctx)
    request_message.schema.CopyFrom(ref)
    reply = await backends.call(backends.records.ListRecords, request_message)
    total = b"%d" % reply.total if reply.has_total else b"null"
    cursor = orjson.dumps(reply.next_cursor or None)
    if request_message.cursor:
        body = b'{"records":%s,"per_page":%d,"total":%s,"next_cursor":%s}' % (
            reply.records_json,
            request_message.per_page or 50,
            total,
            cursor,
        )
    else:
        body = b'{"records":%s,"page":%d,"per_page":%d,"total":%s,"next_cursor":%s}' % (
            reply.records_json,
            request_message.page or 1,
            request_message.per_page or 50,
            total,
            cursor,
        )
    return Response(body, media_type=JSON)


@router.get("")
async def list_records(
    app_slug: str, schema_slug: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> Response:
    message = queries.list_request(request.query_params.multi_items())
    return await _list(backends, ctx, _ref(app_slug, schema_slug), message)


@router.post("/search")
async def search_records(
    app_slug: str, schema_slug: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> Response:
    """The list with its parameters in a JSON body, and a filter tree of AND/OR groups."""
    message = queries.search_request(await read_json(request))
    return await _list(backends, ctx, _ref(app_slug, schema_slug), message)


@router.post("")
async def create_record(
    app_slug: str, schema_slug: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> Response:
    body = await read_body(request)
    reply = await backends.call(
        backends.records.CreateRecord,
        records_pb2.CreateRecordRequest(
            ctx=ctx, schema=_ref(app_slug, schema_slug), values_json=body
        ),
    )
    return Response(reply.record_json, status_code=201, media_type=JSON)


@router.get("/{record_id}")
async def get_record(
    app_slug: str, schema_slug: str, record_id: str, ctx: ContextDep, backends: BackendsDep
) -> Response:
    reply = await backends.call(
        backends.records.GetRecord,
        records_pb2.GetRecordRequest(
            ctx=ctx, schema=_ref(app_slug, schema_slug), record_id=record_id
        ),
    )
    return Response(reply.record_json, media_type=JSON)


async def _update(
    app_slug: str,
    schema_slug: str,
    record_id: str,
    request: Request,
    ctx: ContextDep,
    backends: BackendsDep,
) -> Response:
    body = await read_body(request)
    reply = await backends.call(
        backends.records.UpdateRecord,
        records_pb2.UpdateRecordRequest(
            ctx=ctx, schema=_ref(app_slug, schema_slug), record_id=record_id, values_json=body
        ),
    )
    return Response(reply.record_json, media_type=JSON)


# AppBuilder documents PUT with only the fields to change, so PUT and PATCH are the same
# partial update.
router.add_api_route("/{record_id}", _update, methods=["PUT"], name="replace_record")
router.add_api_route("/{record_id}", _update, methods=["PATCH"], name="update_record")


@router.delete("/{record_id}", status_code=204)
async def delete_record(
    app_slug: str, schema_slug: str, record_id: str, ctx: ContextDep, backends: BackendsDep
) -> Response:
    await backends.call(
        backends.records.DeleteRecord,
        records_pb2.DeleteRecordRequest(
            ctx=ctx, schema=_ref(app_slug, schema_slug), record_id=record_id
        ),
    )
    return Response(status_code=204)
