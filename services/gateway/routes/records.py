"""Records of a schema. Bodies pass through as JSON bytes: the records service validates
them against the schema's field types and returns ready-made JSON."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from tessera.records.v1 import records_pb2

from services.gateway.bodies import read_body
from services.gateway.deps import BackendsDep, ContextDep
from services.kit.errors import ValidationFailed

router = APIRouter(prefix="/api/apps/{app_slug}/schemas/{schema_slug}/records")

JSON = "application/json"
MAX_SORT_KEYS = 10
MAX_FILTERS = 50


def _integer(request: Request, name: str) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return 0  # the records service applies the default
    if not raw.isdigit() or len(raw) > 9:
        raise ValidationFailed(f"'{name}' must be a positive integer", field=name)
    value = int(raw)
    if value < 1:
        raise ValidationFailed(f"'{name}' must be a positive integer", field=name)
    return value


def _sort_keys(raw: str | None) -> list[records_pb2.SortKey]:
    if not raw:
        return []
    keys = []
    for part in raw.split(","):
        name = part.strip()
        descending = name.startswith("-")
        name = name.removeprefix("-")
        if not name:
            raise ValidationFailed("'sort' has an empty key", field="sort")
        keys.append(records_pb2.SortKey(field=name, descending=descending))
    if len(keys) > MAX_SORT_KEYS:
        raise ValidationFailed(f"'sort' takes at most {MAX_SORT_KEYS} keys", field="sort")
    return keys


def _filters(request: Request) -> list[records_pb2.Filter]:
    filters = []
    for key, value in request.query_params.multi_items():
        if not key.startswith("filter"):
            continue
        if not (key.startswith("filter[") and key.endswith("]")) or len(key) <= len("filter[]"):
            raise ValidationFailed(f"Malformed filter parameter '{key}'", field=key)
        filters.append(records_pb2.Filter(field=key[len("filter[") : -1], op="eq", value=value))
    if len(filters) > MAX_FILTERS:
        raise ValidationFailed(f"At most {MAX_FILTERS} filters", field="filter")
    return filters


def _ref(app_slug: str, schema_slug: str) -> records_pb2.SchemaRef:
    return records_pb2.SchemaRef(app_slug=app_slug, schema_slug=schema_slug)


@router.get("")
async def list_records(
    app_slug: str, schema_slug: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> Response:
    page = _integer(request, "page")
    per_page = _integer(request, "per_page")
    reply = await backends.call(
        backends.records.ListRecords,
        records_pb2.ListRecordsRequest(
            ctx=ctx,
            schema=_ref(app_slug, schema_slug),
            page=page,
            per_page=per_page,
            sort=_sort_keys(request.query_params.get("sort")),
            filters=_filters(request),
        ),
    )
    body = b'{"records":%s,"page":%d,"per_page":%d,"total":%d}' % (
        reply.records_json,
        page or 1,
        per_page or 50,
        reply.total,
    )
    return Response(body, media_type=JSON)


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
