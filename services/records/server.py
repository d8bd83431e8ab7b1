"""RecordsService over gRPC: proto in, one transaction around the domain call, proto out."""

from __future__ import annotations

import grpc
import orjson
from tessera.records.v1 import records_pb2, records_pb2_grpc

from services.kit.db import SessionMaker, transaction
from services.records.schemas import field_from_proto
from services.records.service import RecordsService


class RecordsServicer(records_pb2_grpc.RecordsServiceServicer):
    def __init__(self, sessionmaker: SessionMaker, service: RecordsService) -> None:
        self.sessionmaker = sessionmaker
        self.service = service

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


def register(server: grpc.aio.Server, servicer: RecordsServicer) -> None:
    records_pb2_grpc.add_RecordsServiceServicer_to_server(servicer, server)


__all__ = ["RecordsServicer", "register"]
