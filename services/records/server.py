"""RecordsService over gRPC: proto in, one transaction around the domain call, proto out."""

from __future__ import annotations

import grpc
import orjson
from tessera.records.v1 import records_pb2, records_pb2_grpc

from services.kit.db import SessionMaker, transaction
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
                filters=request.filters,
            )
        return records_pb2.ListRecordsResponse(
            records_json=orjson.dumps(page.records), total=page.total
        )


def register(server: grpc.aio.Server, servicer: RecordsServicer) -> None:
    records_pb2_grpc.add_RecordsServiceServicer_to_server(servicer, server)


__all__ = ["RecordsServicer", "register"]
