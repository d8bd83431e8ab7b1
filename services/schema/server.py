"""The gRPC servicer: proto in, one transaction around the service call, proto out."""

from __future__ import annotations

from typing import Any

import grpc
from tessera.schema.v1 import schema_pb2, schema_pb2_grpc

from services.kit.clock import rfc3339
from services.kit.db import ALL_TENANTS, SessionMaker, transaction
from services.kit.errors import ValidationFailed
from services.kit.json import dumps_exact, loads_exact
from services.schema import rules, service
from services.schema.models import NO_DEFAULT, App, Field, Schema


class SchemaServicer(schema_pb2_grpc.SchemaServiceServicer):
    """Each call's transaction acts in the workspace its context names, but resolving an
    app's public id, which is how a caller without a workspace finds the app's."""

    def __init__(self, sessionmaker: SessionMaker) -> None:
        self.sessionmaker = sessionmaker

    async def CreateApp(
        self, request: schema_pb2.CreateAppRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.App:
        data = service.AppInput(
            name=request.name, slug=request.slug, description=request.description
        )
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            app = await service.create_app(session, request.ctx, data)
        return app_to_proto(app)

    async def ListApps(
        self, request: schema_pb2.ListAppsRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.ListAppsResponse:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            apps = await service.list_apps(session, request.ctx)
        return schema_pb2.ListAppsResponse(apps=[app_to_proto(app) for app in apps])

    async def GetApp(
        self, request: schema_pb2.GetAppRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.App:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            app = await service.get_app(session, request.ctx, request.app_slug)
        return app_to_proto(app)

    async def ResolvePublicApp(
        self, request: schema_pb2.ResolvePublicAppRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.PublicApp:
        async with transaction(self.sessionmaker, tenant=ALL_TENANTS) as session:
            found = await service.resolve_public_app(session, request.public_id)
        return schema_pb2.PublicApp(
            tenant_id=found.tenant_id,
            app_id=found.app.id,
            app_slug=found.app.slug,
            settings=schema_pb2.AppSettings(default_app_role=found.app.settings.default_app_role),
        )

    async def CreateSchema(
        self, request: schema_pb2.CreateSchemaRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.Schema:
        data = schema_input(request)
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            schema = await service.create_schema(session, request.ctx, data)
        return schema_to_proto(schema)

    async def ListSchemas(
        self, request: schema_pb2.ListSchemasRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.ListSchemasResponse:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            schemas = await service.list_schemas(session, request.ctx, request.app_slug)
        return schema_pb2.ListSchemasResponse(schemas=[schema_to_proto(s) for s in schemas])

    async def GetSchema(
        self, request: schema_pb2.GetSchemaRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.Schema:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            if request.schema_id:
                schema = await service.get_schema_by_id(session, request.ctx, request.schema_id)
            else:
                schema = await service.get_schema(
                    session, request.ctx, request.app_slug, request.schema_slug
                )
        return schema_to_proto(schema)

    async def UpdateApp(
        self, request: schema_pb2.UpdateAppRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.App:
        change = service.AppChange(
            name=request.name if request.HasField("name") else None,
            slug=request.slug if request.HasField("slug") else None,
            description=request.description if request.HasField("description") else None,
            default_app_role=(
                request.default_app_role if request.HasField("default_app_role") else None
            ),
        )
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            app = await service.update_app(session, request.ctx, request.app_slug, change)
        return app_to_proto(app)

    async def UpdateSchema(
        self, request: schema_pb2.UpdateSchemaRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.Schema:
        change = service.SchemaChange(
            name=request.name if request.HasField("name") else None,
            slug=request.slug if request.HasField("slug") else None,
        )
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            schema = await service.update_schema(
                session, request.ctx, request.app_slug, request.schema_slug, change
            )
        return schema_to_proto(schema)

    async def AddField(
        self, request: schema_pb2.AddFieldRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.Schema:
        given = field_input(request.field)
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            schema = await service.add_field(
                session, request.ctx, request.app_slug, request.schema_slug, given
            )
        return schema_to_proto(schema)

    async def UpdateField(
        self, request: schema_pb2.UpdateFieldRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.Schema:
        change = field_change(request)
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            schema = await service.update_field(
                session,
                request.ctx,
                request.app_slug,
                request.schema_slug,
                request.field_slug,
                change,
                validate_only=request.validate_only,
            )
        return schema_to_proto(schema)

    async def DeleteField(
        self, request: schema_pb2.DeleteFieldRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.Schema:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            schema = await service.delete_field(
                session, request.ctx, request.app_slug, request.schema_slug, request.field_slug
            )
        return schema_to_proto(schema)

    async def DeleteApp(
        self, request: schema_pb2.DeleteAppRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.TrashEntry:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            entry = await service.delete_app(session, request.ctx, request.app_slug)
        return trash_entry_to_proto(entry)

    async def DeleteSchema(
        self, request: schema_pb2.DeleteSchemaRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.TrashEntry:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            entry = await service.delete_schema(
                session, request.ctx, request.app_slug, request.schema_slug
            )
        return trash_entry_to_proto(entry)

    async def ListTrash(
        self, request: schema_pb2.ListTrashRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.ListTrashResponse:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            entries = await service.list_trash(session, request.ctx)
        return schema_pb2.ListTrashResponse(entries=[trash_entry_to_proto(e) for e in entries])

    async def RestoreTrash(
        self, request: schema_pb2.RestoreTrashRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.TrashEntry:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            entry = await service.restore(session, request.ctx, request.trash_id)
        return trash_entry_to_proto(entry)

    async def GetPrivacyRules(
        self, request: schema_pb2.GetPrivacyRulesRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.PrivacyRules:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            schema, shown = await service.get_privacy_rules(
                session, request.ctx, request.app_slug, request.schema_slug
            )
        return schema_pb2.PrivacyRules(rules_json=dumps_exact(shown), version=schema.version)

    async def SetPrivacyRules(
        self, request: schema_pb2.SetPrivacyRulesRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.PrivacyRules:
        try:
            body = loads_exact(request.rules_json)
        except ValueError:
            raise ValidationFailed("Privacy rules must be JSON", field="rules") from None
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            schema, shown = await service.set_privacy_rules(
                session, request.ctx, request.app_slug, request.schema_slug, body
            )
        return schema_pb2.PrivacyRules(rules_json=dumps_exact(shown), version=schema.version)


def trash_entry_to_proto(entry: service.TrashEntry) -> schema_pb2.TrashEntry:
    return schema_pb2.TrashEntry(
        id=entry.id,
        type=entry.type,
        app=entry.app,
        schema=entry.schema,
        field=entry.field,
        name=entry.name,
        deleted_at=rfc3339(entry.deleted_at),
        expires_at=rfc3339(entry.expires_at),
    )


def _json_object(raw: bytes, *, field: str) -> dict[str, Any]:
    if not raw:
        return {}
    value = _json(raw, field=field)
    if not isinstance(value, dict):
        raise ValidationFailed("Field settings must be a JSON object", field=field)
    return value


def _json(raw: bytes, *, field: str) -> Any:
    try:
        return loads_exact(raw)
    except ValueError:
        raise ValidationFailed("Not valid JSON", field=field) from None


def field_input(message: schema_pb2.FieldInput) -> rules.FieldInput:
    return rules.FieldInput(
        slug=message.slug,
        name=message.name,
        type=message.type,
        required=message.required,
        options=list(message.options),
        unique=message.unique,
        primary=message.primary,
        default=_json(message.default_json, field=message.slug or "default")
        if message.default_json
        else NO_DEFAULT,
        config=_json_object(message.config_json, field=message.slug or "config"),
    )


def field_change(request: schema_pb2.UpdateFieldRequest) -> service.FieldChange:
    def given(name: str) -> Any:
        return getattr(request, name) if request.HasField(name) else None

    return service.FieldChange(
        name=given("name"),
        slug=given("slug"),
        type=given("type"),
        required=given("required"),
        unique=given("unique"),
        primary=given("primary"),
        options=list(request.options) if request.has_options else None,
        default=_json(request.default_json, field="default")
        if request.HasField("default_json")
        else service.UNCHANGED,
        config=_json_object(request.config_json, field="config")
        if request.HasField("config_json")
        else None,
    )


def schema_input(request: schema_pb2.CreateSchemaRequest) -> service.SchemaInput:
    return service.SchemaInput(
        app_slug=request.app_slug,
        name=request.name,
        slug=request.slug,
        fields=[field_input(field) for field in request.fields],
    )


def app_to_proto(app: App) -> schema_pb2.App:
    return schema_pb2.App(
        id=app.id,
        slug=app.slug,
        name=app.name,
        description=app.description,
        created_at=rfc3339(app.created_at),
        public_id=app.public_id,
        settings=schema_pb2.AppSettings(default_app_role=app.settings.default_app_role),
    )


def field_to_proto(field: Field) -> schema_pb2.Field:
    return schema_pb2.Field(
        id=field.id,
        slug=field.slug,
        name=field.name,
        type=field.type,
        required=field.required,
        options=field.options,
        position=field.position,
        unique=field.unique,
        primary=field.primary,
        default_json=b"" if field.default is NO_DEFAULT else dumps_exact(field.default),
        config_json=dumps_exact(field.config) if field.config else b"",
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
        trashed_field_ids=schema.trashed_field_ids,
        privacy_rules_json=b""
        if schema.privacy_rules is None
        else dumps_exact(schema.privacy_rules),
    )
