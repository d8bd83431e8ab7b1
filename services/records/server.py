"""RecordsService over gRPC: proto in, one transaction around the domain call, proto out.
Writes honour the caller's Idempotency-Key inside that same transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import grpc
from google.protobuf.message import Message
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from tessera.records.v1 import records_pb2, records_pb2_grpc

from services.kit.access import Kind
from services.kit.clock import rfc3339
from services.kit.db import SessionMaker, read, transaction
from services.kit.errors import PermissionDenied, ValidationFailed
from services.kit.grpc.server import UPLOAD_ACCEPTED, HandlerRegistry
from services.kit.grpc.trust import GATEWAY
from services.kit.idempotency import IdempotencyKeys
from services.kit.json import dumps_exact
from services.records import repository, tables
from services.records.imports import (
    ALL_OR_NOTHING,
    BEST_EFFORT,
    CSV,
    NDJSON,
    Importer,
    ImportJob,
)
from services.records.schemas import field_from_proto
from services.records.service import VERSION, RecordsService

Reply = TypeVar("Reply", bound=Message)


def _record_reply(record: dict[str, Any], *, created: bool = False) -> records_pb2.RecordResponse:
    return records_pb2.RecordResponse(
        record_json=dumps_exact(record), version=record[VERSION], created=created
    )


def _if_match(request: Any) -> int | None:
    return request.if_match if request.HasField("if_match") else None


DEADLOCK_DETECTED = "40P01"
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
        self,
        sessionmaker: SessionMaker,
        read_engine: AsyncEngine,
        service: RecordsService,
        importer: Importer,
    ) -> None:
        self.sessionmaker = sessionmaker
        # A get or a page reads outside any transaction (see kit.db.create_read_engine).
        self.read_engine = read_engine
        self.service = service
        self.idempotency = IdempotencyKeys(tables.idempotency_keys)
        self.importer = importer

    async def _write(
        self,
        method: str,
        request: Any,
        reply_type: type[Reply],
        work: Callable[[AsyncSession], Awaitable[Reply]],
    ) -> Reply:
        """`work` in one transaction. One that PostgreSQL rolled back whole to break a
        deadlock (writers of the same records can meet on a table's counter row, see
        repository.count_trigger_sql) runs once more: nothing of it was kept."""
        for attempt in range(2):
            try:
                return await self._write_once(method, request, reply_type, work)
            except (DBAPIError, asyncpg.PostgresError) as error:
                if attempt or repository.sqlstate(error) != DEADLOCK_DETECTED:
                    raise
        raise AssertionError("unreachable")

    async def _write_once(
        self,
        method: str,
        request: Any,
        reply_type: type[Reply],
        work: Callable[[AsyncSession], Awaitable[Reply]],
    ) -> Reply:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            stored = await self.idempotency.replay(session, request.ctx, method, request)
            if stored is not None:
                return reply_type.FromString(stored)
            reply = await work(session)
            await self.idempotency.store(session, request.ctx, reply)
        return reply

    async def CreateRecord(
        self, request: records_pb2.CreateRecordRequest, context: grpc.aio.ServicerContext
    ) -> records_pb2.RecordResponse:
        async def work(session: AsyncSession) -> records_pb2.RecordResponse:
            record = await self.service.create_record(
                session,
                request.ctx,
                request.schema.app_slug,
                request.schema.schema_slug,
                request.values_json,
            )
            return _record_reply(record)

        return await self._write("CreateRecord", request, records_pb2.RecordResponse, work)

    async def GetRecord(
        self, request: records_pb2.GetRecordRequest, context: grpc.aio.ServicerContext
    ) -> records_pb2.RecordResponse:
        record = await read(
            self.read_engine,
            lambda conn: self.service.get_record(
                conn,
                request.ctx,
                request.schema.app_slug,
                request.schema.schema_slug,
                request.record_id,
                expand=request.expand,
            ),
        )
        return _record_reply(record)

    async def UpdateRecord(
        self, request: records_pb2.UpdateRecordRequest, context: grpc.aio.ServicerContext
    ) -> records_pb2.RecordResponse:
        async def work(session: AsyncSession) -> records_pb2.RecordResponse:
            record = await self.service.update_record(
                session,
                request.ctx,
                request.schema.app_slug,
                request.schema.schema_slug,
                request.record_id,
                request.values_json,
                if_match=_if_match(request),
            )
            return _record_reply(record)

        return await self._write("UpdateRecord", request, records_pb2.RecordResponse, work)

    async def DeleteRecord(
        self, request: records_pb2.DeleteRecordRequest, context: grpc.aio.ServicerContext
    ) -> records_pb2.DeleteRecordResponse:
        async def work(session: AsyncSession) -> records_pb2.DeleteRecordResponse:
            await self.service.delete_record(
                session,
                request.ctx,
                request.schema.app_slug,
                request.schema.schema_slug,
                request.record_id,
                if_match=_if_match(request),
            )
            return records_pb2.DeleteRecordResponse()

        return await self._write("DeleteRecord", request, records_pb2.DeleteRecordResponse, work)

    async def CreateRecords(
        self, request: records_pb2.CreateRecordsRequest, context: grpc.aio.ServicerContext
    ) -> records_pb2.RecordsResponse:
        async def work(session: AsyncSession) -> records_pb2.RecordsResponse:
            records = await self.service.create_records(
                session,
                request.ctx,
                request.schema.app_slug,
                request.schema.schema_slug,
                request.records_json,
                upsert_on=request.upsert_on,
            )
            return records_pb2.RecordsResponse(records_json=dumps_exact(records))

        return await self._write("CreateRecords", request, records_pb2.RecordsResponse, work)

    async def UpdateRecords(
        self, request: records_pb2.UpdateRecordsRequest, context: grpc.aio.ServicerContext
    ) -> records_pb2.RecordsResponse:
        async def work(session: AsyncSession) -> records_pb2.RecordsResponse:
            records = await self.service.update_records(
                session,
                request.ctx,
                request.schema.app_slug,
                request.schema.schema_slug,
                request.records_json,
            )
            return records_pb2.RecordsResponse(records_json=dumps_exact(records))

        return await self._write("UpdateRecords", request, records_pb2.RecordsResponse, work)

    async def DeleteRecords(
        self, request: records_pb2.DeleteRecordsRequest, context: grpc.aio.ServicerContext
    ) -> records_pb2.DeleteRecordResponse:
        async def work(session: AsyncSession) -> records_pb2.DeleteRecordResponse:
            await self.service.delete_records(
                session,
                request.ctx,
                request.schema.app_slug,
                request.schema.schema_slug,
                list(request.record_ids),
            )
            return records_pb2.DeleteRecordResponse()

        return await self._write("DeleteRecords", request, records_pb2.DeleteRecordResponse, work)

    async def UpsertRecord(
        self, request: records_pb2.UpsertRecordRequest, context: grpc.aio.ServicerContext
    ) -> records_pb2.RecordResponse:
        async def work(session: AsyncSession) -> records_pb2.RecordResponse:
            record, created = await self.service.upsert_record(
                session,
                request.ctx,
                request.schema.app_slug,
                request.schema.schema_slug,
                request.values_json,
                request.upsert_on,
            )
            return _record_reply(record, created=created)

        return await self._write("UpsertRecord", request, records_pb2.RecordResponse, work)

    async def ListTrash(
        self, request: records_pb2.ListTrashRequest, context: grpc.aio.ServicerContext
    ) -> records_pb2.ListTrashResponse:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            items = await self.service.list_trash(session, request.ctx)
        return records_pb2.ListTrashResponse(items_json=dumps_exact(items))

    async def RestoreTrash(
        self, request: records_pb2.RestoreTrashRequest, context: grpc.aio.ServicerContext
    ) -> records_pb2.RestoreTrashResponse:
        async def work(session: AsyncSession) -> records_pb2.RestoreTrashResponse:
            schema, record = await self.service.restore(session, request.ctx, request.trash_id)
            item = {
                "id": request.trash_id,
                "type": "record",
                "app": schema.app_slug,
                "schema": schema.slug,
                "record": record,
            }
            return records_pb2.RestoreTrashResponse(item_json=dumps_exact(item))

        return await self._write("RestoreTrash", request, records_pb2.RestoreTrashResponse, work)

    async def ListRecords(
        self, request: records_pb2.ListRecordsRequest, context: grpc.aio.ServicerContext
    ) -> records_pb2.ListRecordsResponse:
        page = await read(
            self.read_engine,
            lambda conn: self.service.list_records(
                conn,
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
                search=request.search,
                expand=request.expand,
            ),
        )
        return records_pb2.ListRecordsResponse(
            records_json=dumps_exact(page.records),
            total=page.total or 0,
            has_total=page.total is not None,
            next_cursor=page.next_cursor,
        )

    async def PreviewFieldChange(
        self, request: records_pb2.PreviewFieldChangeRequest, context: grpc.aio.ServicerContext
    ) -> records_pb2.PreviewFieldChangeResponse:
        changed = field_from_proto(request.field, schema_id="")
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            lost, ids, duplicates = await self.service.preview_field_change(
                session,
                request.ctx,
                request.schema.app_slug,
                request.schema.schema_slug,
                request.field_slug,
                changed,
            )
        return records_pb2.PreviewFieldChangeResponse(
            lost=lost, record_ids=ids, duplicates=duplicates
        )

    async def ViewChanges(
        self, request: records_pb2.ViewChangesRequest, context: grpc.aio.ServicerContext
    ) -> records_pb2.ViewChangesResponse:
        ctx = request.ctx
        if ctx.principal_kind != Kind.SERVICE or ctx.principal_id != GATEWAY:
            raise PermissionDenied("Only the gateway asks what its subscribers see")
        return await read(
            self.read_engine, lambda conn: self.service.view_changes(conn, ctx, request)
        )

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
            data=_data(request_iterator, context),
        )
        return _job(job)

    async def GetImport(
        self, request: records_pb2.GetImportRequest, context: grpc.aio.ServicerContext
    ) -> records_pb2.ImportJob:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
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
            search=request.search,
            expand=request.expand,
        )
        # The keys go out before any record, so a client can write a header even for
        # an export of nothing.
        yield records_pb2.ExportChunk(keys=plan.keys)
        # One transaction for the whole export: its cursor reads one snapshot, in order, a
        # batch at a time, as fast as the client takes them (a slow client keeps the
        # transaction and a connection for as long; the call's deadline bounds it).
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            async for records in self.service.export_records(session, request.ctx, plan):
                lines: list[bytes] = []
                size = 0
                for record in records:
                    line = dumps_exact(record) + b"\n"
                    lines.append(line)
                    size += len(line)
                    if size >= EXPORT_CHUNK_BYTES:
                        yield records_pb2.ExportChunk(records_ndjson=b"".join(lines))
                        lines, size = [], 0
                if lines:
                    yield records_pb2.ExportChunk(records_ndjson=b"".join(lines))


async def _data(
    chunks: AsyncIterator[records_pb2.ImportChunk], context: grpc.aio.ServicerContext
) -> AsyncIterator[bytes]:
    """The import's data. Asking for it first sends the headers, which tell the client its
    start was accepted: until then the client writes nothing more, so a refusal of the
    start never races its writes (grpc's asyncio client can report such a race as an
    internal error and lose the refusal: grpc/grpc#36066)."""
    await context.send_initial_metadata((UPLOAD_ACCEPTED,))
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


def register(server: HandlerRegistry, servicer: RecordsServicer) -> None:
    records_pb2_grpc.add_RecordsServiceServicer_to_server(servicer, server)


__all__ = ["RecordsServicer", "register"]
