"""RecordsService over gRPC: proto in, one transaction around the domain call, proto out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import orjson
from tessera.records.v1 import records_pb2, records_pb2_grpc

from services.kit.clock import rfc3339
from services.kit.db import SessionMaker, transaction
from services.kit.errors import ValidationFailed
from services.records.imports import (
    ALL_OR_NOTHING,
    BEST_EFFORT,
    CSV,
    NDJSON,
    Importer,
    ImportJob,
)
from services.records.schemas import field_from_proto
from services.records.service import RecordsService

FORMATS = {records_pb2.IMPORT_FORMAT_CSV: CSV, records_pb2.IMPORT_FORMAT_NDJSON: NDJSON}
FORMAT_OF = {name: value for value, name in FORMATS.items()}
MODES = {
    records_pb2.IMPORT_MODE_BEST_EFFORT: BEST_EFFORT,
    records_pb2.IMPORT_MODE_ALL_OR_NOTHING: ALL_OR_NOTHING,
}
MODE_OF = {name: value for value, name in MODES.items()}
# An export's message carries at most about this much: records are cut into several
# messages rather than one message growing with the records' size.
EXPORT_CHUNK_BYTES = 1024 * 1024


class RecordsServicer(records_pb2_grpc.RecordsServiceServicer):
    def __init__(
        self, sessionmaker: SessionMaker, service: RecordsService, importer: Importer
    ) -> None:
        self.sessionmaker = sessionmaker
        self.service = service
        self.importer = importer

    async def CreateRecord(
        self, request: records_pb2.CreateRecordRequest, context: grpc.aio.ServicerContext
    ) -> records_pb2.RecordResponse:
        async with transaction(self.sessionmaker) as session:
            record = await self.service.create_record(
                session,
                request.ctx,
                request.schema.app_slug,
                request.schema.schema_slug,
                request.values_json,
            )
        return records_pb2.RecordResponse(record_json=orjson.dumps(record))

    async def GetRecord(
        self, request: records_pb2.GetRecordRequest, context: grpc.aio.ServicerContext
    ) -> records_pb2.RecordResponse:
        async with transaction(self.sessionmaker) as session:
            record = await self.service.get_record(
                session,
                request.ctx,
                request.schema.app_slug,
                request.schema.schema_slug,
                request.record_id,
            )
        return records_pb2.RecordResponse(record_json=orjson.dumps(record))

    async def UpdateRecord(
        self, request: records_pb2.UpdateRecordRequest, context: grpc.aio.ServicerContext
    ) -> records_pb2.RecordResponse:
        async with transaction(self.sessionmaker) as session:
            record = await self.service.update_record(
                session,
                request.ctx,
                request.schema.app_slug,
                request.schema.schema_slug,
                request.record_id,
                request.values_json,
            )
        return records_pb2.RecordResponse(record_json=orjson.dumps(record))

    async def DeleteRecord(
        self, request: records_pb2.DeleteRecordRequest, context: grpc.aio.ServicerContext
    ) -> records_pb2.DeleteRecordResponse:
        async with transaction(self.sessionmaker) as session:
            await self.service.delete_record(
                session,
                request.ctx,
                request.schema.app_slug,
                request.schema.schema_slug,
                request.record_id,
            )
        return records_pb2.DeleteRecordResponse()

    async def ListRecords(
        self, request: records_pb2.ListRecordsRequest, context: grpc.aio.ServicerContext
    ) -> records_pb2.ListRecordsResponse:
        async with transaction(self.sessionmaker) as session:
            page = await self.service.list_records(
                session,
                request.ctx,
                request.schema.app_slug,
                request.schema.schema_slug,
                page=request.page,
                per_page=request.per_page,
                sort=request.sort,
                filter=request.filter if request.HasField("filter") else None,
                cursor=request.cursor,
                count=not request.skip_count,
                fields=request.fields,
            )
        return records_pb2.ListRecordsResponse(
            records_json=orjson.dumps(page.records),
            total=page.total or 0,
            has_total=page.total is not None,
            next_cursor=page.next_cursor,
        )

    async def PreviewFieldChange(
        self, request: records_pb2.PreviewFieldChangeRequest, context: grpc.aio.ServicerContext
    ) -> records_pb2.PreviewFieldChangeResponse:
        changed = field_from_proto(request.field, schema_id="")
        async with transaction(self.sessionmaker) as session:
            lost, ids = await self.service.preview_field_change(
                session,
                request.ctx,
                request.schema.app_slug,
                request.schema.schema_slug,
                request.field_slug,
                changed,
            )
        return records_pb2.PreviewFieldChangeResponse(lost=lost, record_ids=ids)

    async def ImportRecords(
        self,
        request_iterator: AsyncIterator[records_pb2.ImportChunk],
        context: grpc.aio.ServicerContext,
    ) -> records_pb2.ImportJob:
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("part") != "start":
            raise ValidationFailed("An import's first chunk says what to import")
        start = first.start
        if start.format not in FORMATS:
            raise ValidationFailed("An import is CSV or NDJSON", field="format")
        job = await self.importer.run(
            start.ctx,
            start.schema.app_slug,
            start.schema.schema_slug,
            format=FORMATS[start.format],
            mode=MODES.get(start.mode, ""),
            data=_data(request_iterator),
        )
        return _job(job)

    async def GetImport(
        self, request: records_pb2.GetImportRequest, context: grpc.aio.ServicerContext
    ) -> records_pb2.ImportJob:
        async with transaction(self.sessionmaker) as session:
            row = await self.service.get_import(
                session,
                request.ctx,
                request.schema.app_slug,
                request.schema.schema_slug,
                request.import_id,
            )
        return _job(ImportJob.from_row(row))

    async def ExportRecords(
        self, request: records_pb2.ListRecordsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[records_pb2.ExportChunk]:
        if request.page or request.per_page or request.cursor:
            raise ValidationFailed("An export has no pages: no page, per_page or cursor")
        plan = await self.service.export_plan(
            request.ctx,
            request.schema.app_slug,
            request.schema.schema_slug,
            sort=request.sort,
            filter=request.filter if request.HasField("filter") else None,
            fields=request.fields,
        )
        # The keys go out before any record, so a client can write a header even for
        # an export of nothing.
        yield records_pb2.ExportChunk(keys=plan.keys)
        after = None
        while True:
            # A transaction per batch: a slow reader holds no snapshot and no connection.
            async with transaction(self.sessionmaker) as session:
                batch = await self.service.export_batch(session, plan, after)
            lines: list[bytes] = []
            size = 0
            for record in batch.records:
                line = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
                lines.append(line)
                size += len(line)
                if size >= EXPORT_CHUNK_BYTES:
                    yield records_pb2.ExportChunk(records_ndjson=b"".join(lines))
                    lines, size = [], 0
            if lines:
                yield records_pb2.ExportChunk(records_ndjson=b"".join(lines))
            if batch.after is None:
                return
            after = batch.after


async def _data(chunks: AsyncIterator[records_pb2.ImportChunk]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        if chunk.WhichOneof("part") != "data":
            raise ValidationFailed("Only an import's first chunk says what to import")
        yield chunk.data


def _job(job: ImportJob) -> records_pb2.ImportJob:
    return records_pb2.ImportJob(
        id=job.id,
        state=job.state,
        rows_done=job.rows_done,
        rows_rejected=job.rows_rejected,
        errors=[
            records_pb2.ImportError(
                line=error["line"], field=error.get("field", ""), message=error["message"]
            )
            for error in job.errors
        ],
        mode=MODE_OF[job.mode],
        format=FORMAT_OF[job.format],
        created_at=rfc3339(job.created_at),
        finished_at=rfc3339(job.finished_at) if job.finished_at else "",
    )


def register(server: grpc.aio.Server, servicer: RecordsServicer) -> None:
    records_pb2_grpc.add_RecordsServiceServicer_to_server(servicer, server)


__all__ = ["RecordsServicer", "register"]
