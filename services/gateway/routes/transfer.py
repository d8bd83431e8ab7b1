"""Streaming import and export of a schema's records, CSV or NDJSON of any size. Bodies
stream through in both directions: an upload goes to the records service chunk by chunk
as it arrives (the JSON body limit does not apply), an export goes out batch by batch.
Registered before the records routes, whose `/{record_id}` would take `import` and
`export` for ids."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable

import grpc
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.requests import ClientDisconnect
from tessera.records.v1 import records_pb2

from services.gateway import presenters, queries, shapes
from services.gateway.bodies import media_type
from services.gateway.deps import BackendsDep, ContextDep
from services.gateway.openapi import list_parameters, query_parameter, returns
from services.kit.errors import InternalError, UnsupportedMediaType, ValidationFailed
from services.kit.grpc.client import to_domain_error
from services.kit.grpc.server import UPLOAD_ACCEPTED

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/apps/{app_slug}/schemas/{schema_slug}", tags=["Import and export"])

IMPORT_FORMATS = {
    "text/csv": records_pb2.IMPORT_FORMAT_CSV,
    "application/x-ndjson": records_pb2.IMPORT_FORMAT_NDJSON,
}
IMPORT_MODES = {
    "best_effort": records_pb2.IMPORT_MODE_BEST_EFFORT,
    "all_or_nothing": records_pb2.IMPORT_MODE_ALL_OR_NOTHING,
}
EXPORT_FORMATS = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
# List parameters that make no sense for an export, which has every matching record.
NOT_FOR_EXPORT = frozenset({"page", "per_page", "cursor", "count"})
# An upload's context is in its first message, written after the call has started: the
# signature goes with the call's metadata, made here.
IMPORT_METHOD = (
    f"/{records_pb2.DESCRIPTOR.services_by_name['RecordsService'].full_name}/ImportRecords"
)
_CHARSET = re.compile(r";\s*charset\s*=\s*\"?([^\";\s]+)", re.IGNORECASE)
_FILE_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def _ref(app_slug: str, schema_slug: str) -> records_pb2.SchemaRef:
    return records_pb2.SchemaRef(app_slug=app_slug, schema_slug=schema_slug)


def _import_format(request: Request) -> records_pb2.ImportFormat:
    kind = media_type(request)
    if kind not in IMPORT_FORMATS:
        raise UnsupportedMediaType(
            f"Unsupported media type '{kind[:100]}'; import text/csv or application/x-ndjson"
        )
    charset = _CHARSET.search(request.headers.get("content-type", ""))
    if charset is not None and charset.group(1).lower() not in ("utf-8", "utf8", "us-ascii"):
        raise UnsupportedMediaType("Imports are UTF-8")
    # Compressed bytes would be read as rows of garbage.
    if request.headers.get("content-encoding", "identity").strip().lower() != "identity":
        raise UnsupportedMediaType("Send the file uncompressed (no Content-Encoding)")
    return IMPORT_FORMATS[kind]


def _import_mode(items: list[tuple[str, str]]) -> records_pb2.ImportMode:
    mode = "best_effort"
    for index, (key, value) in enumerate(items):
        if key != "mode":
            raise ValidationFailed(
                f"Unknown parameter {key[:64]!r}; an import takes 'mode'", field=key[:100]
            )
        if index:
            raise ValidationFailed("'mode' is given more than once", field="mode")
        mode = value
    if mode not in IMPORT_MODES:
        raise ValidationFailed(
            "'mode' is best_effort (the default) or all_or_nothing", field="mode"
        )
    return IMPORT_MODES[mode]


@router.post(
    "/records/import",
    **returns(shapes.ImportJob, status=202),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A CSV file with a header row of field slugs, or one JSON object "
            "per line",
            "content": {kind: {"schema": {"type": "string"}} for kind in IMPORT_FORMATS},
        },
        **query_parameter(
            "mode",
            "best_effort (rejected rows are listed, the others kept) or all_or_nothing",
            schema={"type": "string", "enum": list(IMPORT_MODES), "default": "best_effort"},
        ),
    },
)
async def import_records(
    app_slug: str, schema_slug: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> Response:
    """Streams the body to the records service and answers its finished job: done, or
    failed with the reasons; rejected rows are in `errors` with their line."""
    start = records_pb2.ImportStart(
        ctx=ctx,
        schema=_ref(app_slug, schema_slug),
        mode=_import_mode(request.query_params.multi_items()),
        format=_import_format(request),
    )
    timeout = request.app.state.settings.transfer_timeout_seconds
    call = backends.records.ImportRecords(
        timeout=timeout, metadata=backends.signer.metadata(IMPORT_METHOD, start.ctx)
    )
    try:
        await _upload(call, start, request)
        job = await call
    except grpc.aio.AioRpcError as error:
        raise to_domain_error(error) from None
    except ClientDisconnect:
        # Nobody is left to answer; the service marks the job failed.
        call.cancel()
        return Response(status_code=499)
    except BaseException:
        call.cancel()
        raise
    return JSONResponse(presenters.import_job(job), status_code=202)


async def _upload(
    call: grpc.aio.StreamUnaryCall[records_pb2.ImportChunk, records_pb2.ImportJob],
    start: records_pb2.ImportStart,
    request: Request,
) -> None:
    """The body, chunk by chunk as it arrives; gRPC's flow control paces the reading. The
    data follows once the service has accepted the start (its headers come): a refused
    start ends the call first, and the call's status says why."""
    try:
        await call.write(records_pb2.ImportChunk(start=start))
        headers = await call.initial_metadata()
        if UPLOAD_ACCEPTED not in tuple(headers or ()):
            return
        async for data in request.stream():
            if data:
                await call.write(records_pb2.ImportChunk(data=data))
        await call.done_writing()
    except (asyncio.InvalidStateError, grpc.aio.AioRpcError):
        # The service answered before the end (a header that does not fit the schema):
        # the call's status says why, and the rest of the body is not read.
        return


@router.get("/imports/{import_id}", **returns(shapes.ImportJob))
async def get_import(
    app_slug: str, schema_slug: str, import_id: str, ctx: ContextDep, backends: BackendsDep
) -> Response:
    reply = await backends.call(
        backends.records.GetImport,
        records_pb2.GetImportRequest(
            ctx=ctx, schema=_ref(app_slug, schema_slug), import_id=import_id
        ),
    )
    return JSONResponse(presenters.import_job(reply))


def _export_request(items: list[tuple[str, str]]) -> tuple[str, records_pb2.ListRecordsRequest]:
    fmt: str | None = None
    rest = []
    for key, value in items:
        if key == "format":
            if fmt is not None:
                raise ValidationFailed("'format' is given more than once", field="format")
            fmt = value
        elif key in NOT_FOR_EXPORT:
            raise ValidationFailed(
                f"'{key}' does not apply to an export, which has every matching record",
                field=key,
            )
        else:
            rest.append((key, value))
    fmt = fmt or "ndjson"
    if fmt not in EXPORT_FORMATS:
        raise ValidationFailed("'format' is ndjson (the default) or csv", field="format")
    return fmt, queries.list_request(rest)


@router.get(
    "/records/export",
    responses={
        200: {
            "description": "Every matching record: one JSON object per line, or CSV rows",
            "content": {kind: {"schema": {"type": "string"}} for kind in EXPORT_FORMATS.values()},
        }
    },
    openapi_extra={
        "parameters": [
            {
                "name": "format",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": list(EXPORT_FORMATS), "default": "ndjson"},
            },
            *(
                parameter
                for parameter in list_parameters()["parameters"]
                if parameter["name"] not in NOT_FOR_EXPORT
            ),
        ]
    },
)
async def export_records(
    app_slug: str, schema_slug: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> Response:
    """Every record the filter and sort select, streamed as they are read."""
    fmt, message = _export_request(request.query_params.multi_items())
    message.ctx.CopyFrom(ctx)
    message.schema.CopyFrom(_ref(app_slug, schema_slug))
    timeout = request.app.state.settings.transfer_timeout_seconds
    call = backends.records.ExportRecords(message, timeout=timeout)
    try:
        # The service checks everything before its first message, so a bad filter or an
        # unknown schema is an error response, not a broken download.
        first = await call.read()
    except grpc.aio.AioRpcError as error:
        raise to_domain_error(error) from None
    except BaseException:
        call.cancel()
        raise
    if first is grpc.aio.EOF:
        raise InternalError()
    assert isinstance(first, records_pb2.ExportChunk)
    if fmt == "csv":
        table = presenters.RecordsCsv(list(first.keys))
        body = _stream(call, table.rows, head=table.header())
    else:
        body = _stream(call, bytes)
    name = _FILE_NAME_UNSAFE.sub("_", schema_slug)[:100] or "records"
    return StreamingResponse(
        body,
        media_type=EXPORT_FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
    )


async def _stream(
    call: grpc.aio.UnaryStreamCall[records_pb2.ListRecordsRequest, records_pb2.ExportChunk],
    render: Callable[[bytes], bytes],
    *,
    head: bytes = b"",
) -> AsyncIterator[bytes]:
    try:
        if head:
            yield head
        while True:
            chunk = await call.read()
            if chunk is grpc.aio.EOF:
                return
            assert isinstance(chunk, records_pb2.ExportChunk)
            if chunk.records_ndjson:
                yield render(chunk.records_ndjson)
    except grpc.aio.AioRpcError as error:
        # The response has begun: all that is left is to cut it short, which the client
        # sees as a body that ends without its last chunk.
        log.warning("export failed mid-way: %s", to_domain_error(error).code)
        raise
    finally:
        call.cancel()
