"""The gRPC servicer: proto in, one transaction around the service call, proto out."""

from __future__ import annotations

import grpc
from tessera.schema.v1 import schema_pb2, schema_pb2_grpc

from services.kit.clock import rfc3339
from services.kit.db import SessionMaker, transaction
from services.kit.field_types import type_name, type_value
from services.schema import rules, service
from services.schema.models import App, Field, Schema


class SchemaServicer(schema_pb2_grpc.SchemaServiceServicer):
    def __init__(self, sessionmaker: SessionMaker) -> None:
        self.sessionmaker = sessionmaker

    async def CreateApp(
        self, request: schema_pb2.CreateAppRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.App:
        data = service.AppInput(
            name=request.name, slug=request.slug, description=request.description
        )
        async with transaction(self.sessionmaker) as session:
            app = await service.create_app(session, request.ctx, data)
        return app_to_proto(app)

    async def ListApps(
        self, request: schema_pb2.ListAppsRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.ListAppsResponse:
        async with transaction(self.sessionmaker) as session:
            apps = await service.list_apps(session, request.ctx)
        return schema_pb2.ListAppsResponse(apps=[app_to_proto(app) for app in apps])

    async def GetApp(
        self, request: schema_pb2.GetAppRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.App:
        async with transaction(self.sessionmaker) as session:
            app = await service.get_app(session, request.ctx, request.app_slug)
        return app_to_proto(app)

    async def CreateSchema(
        self, request: schema_pb2.CreateSchemaRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.Schema:
        data = schema_input(request)
        async with transaction(self.sessionmaker) as session:
            schema = await service.create_schema(session, request.ctx, data)
        return schema_to_proto(schema)

    async def ListSchemas(
        self, request: schema_pb2.ListSchemasRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.ListSchemasResponse:
        async with transaction(self.sessionmaker) as session:
            schemas = await service.list_schemas(session, request.ctx, request.app_slug)
        return schema_pb2.ListSchemasResponse(schemas=[schema_to_proto(s) for s in schemas])

    async def GetSchema(
        self, request: schema_pb2.GetSchemaRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.Schema:
        async with transaction(self.sessionmaker) as session:
            schema = await service.get_schema(
                session, request.ctx, request.app_slug, request.schema_slug
            )
        return schema_to_proto(schema)


def schema_input(request: schema_pb2.CreateSchemaRequest) -> service.SchemaInput:
    return service.SchemaInput(
        app_slug=request.app_slug,
        name=request.name,
        slug=request.slug,
        fields=[
            rules.FieldInput(
                slug=field.slug,
                name=field.name,
                type=type_name(field.type),
                required=field.required,
                options=list(field.options),
            )
            for field in request.fields
        ],
    )


def app_to_proto(app: App) -> schema_pb2.App:
    return schema_pb2.App(
        id=app.id,
        slug=app.slug,
        name=app.name,
        description=app.description,
        created_at=rfc3339(app.created_at),
    )


def field_to_proto(field: Field) -> schema_pb2.Field:
    return schema_pb2.Field(
        id=field.id,
        slug=field.slug,
        name=field.name,
        type=type_value(field.type) or schema_pb2.FIELD_TYPE_UNSPECIFIED,
        required=field.required,
        options=field.options,
        position=field.position,
    )


def schema_to_proto(schema: Schema) -> schema_pb2.Schema:
    return schema_pb2.Schema(
        id=schema.id,
        app_id=schema.app_id,
        app_slug=schema.app_slug,
        slug=schema.slug,
        name=schema.name,
        fields=[field_to_proto(field) for field in schema.fields],
        version=schema.version,
        created_at=rfc3339(schema.created_at),
    )
