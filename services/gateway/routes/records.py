"""Records of a schema. Bodies pass through as JSON bytes: the records service validates
them against the schema's field types and returns ready-made JSON.

Addressed by the app's public id, these routes also take callers without a credential
(the app's anonymous callers); the records service decides what they may see."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from tessera.records.v1 import records_pb2

from services.gateway import queries, shapes
from services.gateway.bodies import expected_version, read_body, read_json
from services.gateway.deps import AppContextDep, BackendsDep
from services.gateway.openapi import json_body, list_parameters, query_parameter, returns
from services.kit.errors import ValidationFailed
from services.kit.json import dumps_exact

router = APIRouter(prefix="/api/apps/{app_slug}/schemas/{schema_slug}/records", tags=["Records"])

JSON = "application/json"


def _ref(app_slug: str, schema_slug: str) -> records_pb2.SchemaRef:
    return records_pb2.SchemaRef(app_slug=app_slug, schema_slug=schema_slug)


async def _list(
    backends: BackendsDep, ctx: AppContextDep, ref: records_pb2.SchemaRef, request_message: Any
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


@router.get("", **returns(shapes.RecordPage), openapi_extra=list_parameters())
async def list_records(
    app_slug: str, schema_slug: str, request: Request, ctx: AppContextDep, backends: BackendsDep
) -> Response:
    message = queries.list_request(request.query_params.multi_items())
    return await _list(backends, ctx, _ref(app_slug, schema_slug), message)


@router.post("/search", **returns(shapes.RecordPage), openapi_extra=json_body(queries.RecordSearch))
async def search_records(
    app_slug: str, schema_slug: str, request: Request, ctx: AppContextDep, backends: BackendsDep
) -> Response:
    """The list with its parameters in a JSON body, and a filter tree of AND/OR groups."""
    message = queries.search_request(await read_json(request))
    return await _list(backends, ctx, _ref(app_slug, schema_slug), message)


# A batch of 1000 records outgrows the ordinary body limit.
BATCH_BODY_BYTES = 16 * 1024 * 1024


def _record(reply: records_pb2.RecordResponse, status_code: int = 200) -> Response:
    return Response(
        reply.record_json,
        status_code=status_code,
        media_type=JSON,
        headers={"ETag": f'"{reply.version}"'},
    )


async def _batch_body(request: Request, key: str, allowed: frozenset[str]) -> dict[str, Any]:
    body = await read_json(request, limit=BATCH_BODY_BYTES)
    if not isinstance(body, dict):
        raise ValidationFailed("Request body must be a JSON object")
    for name in body:
        if name not in allowed:
            raise ValidationFailed(f"Unknown key {name[:64]!r}", field=name[:100])
    if not isinstance(body.get(key), list):
        raise ValidationFailed(f"'{key}' must be a list", field=key)
    return body


@router.post(
    "/batch", **returns(shapes.Records, status=201), openapi_extra=json_body(shapes.RecordsToCreate)
)
async def create_records(
    app_slug: str, schema_slug: str, request: Request, ctx: AppContextDep, backends: BackendsDep
) -> Response:
    """{"records": [...], "upsert_on"?: "<unique field>"}: all or none."""
    body = await _batch_body(request, "records", shapes.keys_of(shapes.RecordsToCreate))
    upsert_on = body.get("upsert_on") or ""
    if not isinstance(upsert_on, str):
        raise ValidationFailed("'upsert_on' must be a field slug", field="upsert_on")
    reply = await backends.call(
        backends.records.CreateRecords,
        records_pb2.CreateRecordsRequest(
            ctx=ctx,
            schema=_ref(app_slug, schema_slug),
            records_json=dumps_exact(body["records"]),
            upsert_on=upsert_on,
        ),
    )
    return Response(b'{"records":%s}' % reply.records_json, status_code=201, media_type=JSON)


@router.patch("/batch", **returns(shapes.Records), openapi_extra=json_body(shapes.RecordsToUpdate))
async def update_records(
    app_slug: str, schema_slug: str, request: Request, ctx: AppContextDep, backends: BackendsDep
) -> Response:
    """{"records": [{"id": ..., <fields to change>}, ...]}: all or none."""
    body = await _batch_body(request, "records", shapes.keys_of(shapes.RecordsToUpdate))
    reply = await backends.call(
        backends.records.UpdateRecords,
        records_pb2.UpdateRecordsRequest(
            ctx=ctx,
            schema=_ref(app_slug, schema_slug),
            records_json=dumps_exact(body["records"]),
        ),
    )
    return Response(b'{"records":%s}' % reply.records_json, media_type=JSON)


@router.delete("/batch", status_code=204, openapi_extra=json_body(shapes.RecordIds))
async def delete_records(
    app_slug: str, schema_slug: str, request: Request, ctx: AppContextDep, backends: BackendsDep
) -> Response:
    """{"ids": [...]}: every record, or none when one does not exist."""
    body = await _batch_body(request, "ids", shapes.keys_of(shapes.RecordIds))
    ids = body["ids"]
    if not all(isinstance(i, str) for i in ids):
        raise ValidationFailed("'ids' must be a list of record ids", field="ids")
    await backends.call(
        backends.records.DeleteRecords,
        records_pb2.DeleteRecordsRequest(
            ctx=ctx, schema=_ref(app_slug, schema_slug), record_ids=ids
        ),
    )
    return Response(status_code=204)


@router.put(
    "",
    **returns(shapes.Record, also=(201,)),
    openapi_extra=json_body(shapes.RecordValues)
    | query_parameter(
        "upsert_on", "The unique field whose value finds the record to update", required=True
    ),
)
async def upsert_record(
    app_slug: str, schema_slug: str, request: Request, ctx: AppContextDep, backends: BackendsDep
) -> Response:
    """PUT …/records?upsert_on=<unique field>: updates the record holding the body's value
    of that field, or creates one (201)."""
    params = dict(request.query_params)
    upsert_on = params.pop("upsert_on", "")
    if params or not upsert_on:
        raise ValidationFailed(
            "PUT on the records takes one parameter, upsert_on=<unique field>",
            field="upsert_on",
        )
    body = await read_body(request)
    reply = await backends.call(
        backends.records.UpsertRecord,
        records_pb2.UpsertRecordRequest(
            ctx=ctx, schema=_ref(app_slug, schema_slug), values_json=body, upsert_on=upsert_on
        ),
    )
    return _record(reply, 201 if reply.created else 200)


@router.post("", **returns(shapes.Record, status=201), openapi_extra=json_body(shapes.RecordValues))
async def create_record(
    app_slug: str, schema_slug: str, request: Request, ctx: AppContextDep, backends: BackendsDep
) -> Response:
    body = await read_body(request)
    reply = await backends.call(
        backends.records.CreateRecord,
        records_pb2.CreateRecordRequest(
            ctx=ctx, schema=_ref(app_slug, schema_slug), values_json=body
        ),
    )
    return _record(reply, 201)


@router.get("/{record_id}", **returns(shapes.Record))
async def get_record(
    app_slug: str,
    schema_slug: str,
    record_id: str,
    request: Request,
    ctx: AppContextDep,
    backends: BackendsDep,
) -> Response:
    expand = queries.expand_only(request.query_params.multi_items())
    reply = await backends.call(
        backends.records.GetRecord,
        records_pb2.GetRecordRequest(
            ctx=ctx, schema=_ref(app_slug, schema_slug), record_id=record_id, expand=expand
        ),
    )
    return _record(reply)


async def _update(
    app_slug: str,
    schema_slug: str,
    record_id: str,
    request: Request,
    ctx: AppContextDep,
    backends: BackendsDep,
) -> Response:
    if_match = expected_version(request)
    body = await read_body(request)
    message = records_pb2.UpdateRecordRequest(
        ctx=ctx, schema=_ref(app_slug, schema_slug), record_id=record_id, values_json=body
    )
    if if_match is not None:
        message.if_match = if_match
    reply = await backends.call(backends.records.UpdateRecord, message)
    return _record(reply)


# AppBuilder documents PUT with only the fields to change, so PUT and PATCH are the same
# partial update.
for method, name in (("PUT", "replace_record"), ("PATCH", "update_record")):
    router.add_api_route(
        "/{record_id}",
        _update,
        methods=[method],
        name=name,
        **returns(shapes.Record),
        openapi_extra=json_body(shapes.RecordValues),
    )


@router.delete("/{record_id}", status_code=204)
async def delete_record(
    app_slug: str,
    schema_slug: str,
    record_id: str,
    request: Request,
    ctx: AppContextDep,
    backends: BackendsDep,
) -> Response:
    message = records_pb2.DeleteRecordRequest(
        ctx=ctx, schema=_ref(app_slug, schema_slug), record_id=record_id
    )
    if_match = expected_version(request)
    if if_match is not None:
        message.if_match = if_match
    await backends.call(backends.records.DeleteRecord, message)
    return Response(status_code=204)
