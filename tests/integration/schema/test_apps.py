from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import grpc
from tessera.common.v1 import common_pb2
from tessera.schema.v1 import schema_pb2, schema_pb2_grpc

from tests.integration.schema.support import (
    TIMEOUT,
    SchemaService,
    count,
    fails,
    outbox_subjects,
)

Ctx = common_pb2.RequestContext
Stub = schema_pb2_grpc.SchemaServiceStub


def create_app(stub: Stub, ctx: Ctx, name: str, **kwargs: str) -> schema_pb2.App:
    request = schema_pb2.CreateAppRequest(ctx=ctx, name=name, **kwargs)
    reply: schema_pb2.App = stub.CreateApp(request, timeout=TIMEOUT)
    return reply


def test_create_get_and_list_apps(schema_service: SchemaService, stub: Stub, ctx: Ctx) -> None:
    first = create_app(stub, ctx, "  My CRM ", description="Customer relationship management")
    second = create_app(stub, ctx, "Inventory", slug="stock")

    # The records service uses the app id as a PostgreSQL schema name.
    assert re.fullmatch(r"app_[a-z2-7]{26}", first.id)
    assert (first.slug, first.name, first.description) == (
        "my-crm",
        "My CRM",
        "Customer relationship management",
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", first.created_at)
    assert (second.slug, second.description) == ("stock", "")

    got = stub.GetApp(schema_pb2.GetAppRequest(ctx=ctx, app_slug="my-crm"), timeout=TIMEOUT)
    assert got == first
    listed = stub.ListApps(schema_pb2.ListAppsRequest(ctx=ctx), timeout=TIMEOUT)
    assert list(listed.apps) == [first, second]

    tenant = ctx.tenant_id
    assert count(schema_service.database_url, "apps", tenant) == 2
    assert outbox_subjects(schema_service.database_url, tenant) == [
        f"schema.{tenant}.app.created",
        f"schema.{tenant}.app.created",
    ]


def test_derived_slugs_are_made_unique(stub: Stub, ctx: Ctx) -> None:
    slugs = [create_app(stub, ctx, "Sales Pipeline").slug for _ in range(3)]
    assert slugs == ["sales-pipeline", "sales-pipeline-2", "sales-pipeline-3"]
    assert create_app(stub, ctx, "!!!").slug == "app"
    assert create_app(stub, ctx, "???").slug == "app-2"


def test_derived_slug_skips_an_explicit_one(stub: Stub, ctx: Ctx) -> None:
    create_app(stub, ctx, "Other", slug="crm-2")
    assert create_app(stub, ctx, "CRM").slug == "crm"
    assert create_app(stub, ctx, "CRM").slug == "crm-3"


def test_duplicate_explicit_slug_conflicts_and_writes_nothing(
    schema_service: SchemaService, stub: Stub, ctx: Ctx
) -> None:
    create_app(stub, ctx, "CRM", slug="crm")
    failure = fails(
        stub.CreateApp, schema_pb2.CreateAppRequest(ctx=ctx, name="Another", slug="crm")
    )
    assert failure.code == grpc.StatusCode.ALREADY_EXISTS
    assert failure.error.code == "conflict"
    assert failure.error.field == "slug"
    assert failure.error.message == "An app with slug 'crm' already exists"
    assert count(schema_service.database_url, "apps", ctx.tenant_id) == 1
    assert len(outbox_subjects(schema_service.database_url, ctx.tenant_id)) == 1


def test_invalid_app_input(schema_service: SchemaService, stub: Stub, ctx: Ctx) -> None:
    cases = [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "CRM", "slug": "Not A Slug"}, "slug"),
        ({"name": "CRM", "slug": "x" * 51}, "slug"),
        ({"name": "CRM", "description": "x" * 1001}, "description"),
    ]
    for fields, field in cases:
        failure = fails(stub.CreateApp, schema_pb2.CreateAppRequest(ctx=ctx, **fields))
        assert failure.code == grpc.StatusCode.INVALID_ARGUMENT, fields
        assert (failure.error.code, failure.error.field) == ("validation_error", field)
    assert count(schema_service.database_url, "apps", ctx.tenant_id) == 0
    assert outbox_subjects(schema_service.database_url, ctx.tenant_id) == []


def test_tenants_are_isolated(stub: Stub, ctx: Ctx, other_ctx: Ctx) -> None:
    create_app(stub, ctx, "CRM", slug="crm")

    failure = fails(stub.GetApp, schema_pb2.GetAppRequest(ctx=other_ctx, app_slug="crm"))
    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert (failure.error.code, failure.error.message) == ("not_found", "App not found")
    listed = stub.ListApps(schema_pb2.ListAppsRequest(ctx=other_ctx), timeout=TIMEOUT)
    assert list(listed.apps) == []
    # The same slug is free in another workspace.
    assert create_app(stub, other_ctx, "Their CRM", slug="crm").slug == "crm"
    assert create_app(stub, other_ctx, "CRM").slug == "crm-2"


def test_missing_app_is_not_found(stub: Stub, ctx: Ctx) -> None:
    for slug in ("nope", ""):
        failure = fails(stub.GetApp, schema_pb2.GetAppRequest(ctx=ctx, app_slug=slug))
        assert failure.code == grpc.StatusCode.NOT_FOUND


def test_call_without_a_tenant_is_refused(stub: Stub) -> None:
    failure = fails(stub.ListApps, schema_pb2.ListAppsRequest())
    assert failure.code == grpc.StatusCode.UNAUTHENTICATED
    assert failure.error.code == "unauthenticated"


def test_concurrent_creates_with_one_name_all_get_a_slug(stub: Stub, ctx: Ctx) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        apps = list(pool.map(lambda _: create_app(stub, ctx, "Race"), range(4)))
    assert sorted(app.slug for app in apps) == ["race", "race-2", "race-3", "race-4"]


def test_concurrent_creates_with_one_explicit_slug_conflict(stub: Stub, ctx: Ctx) -> None:
    request = schema_pb2.CreateAppRequest(ctx=ctx, name="Race", slug="race")

    def attempt(_: int) -> grpc.StatusCode:
        try:
            stub.CreateApp(request, timeout=TIMEOUT)
        except grpc.RpcError as error:
            return error.code()
        return grpc.StatusCode.OK

    with ThreadPoolExecutor(max_workers=3) as pool:
        codes = sorted(pool.map(attempt, range(3)), key=str)
    assert codes.count(grpc.StatusCode.OK) == 1
    assert codes.count(grpc.StatusCode.ALREADY_EXISTS) == 2


def test_every_app_has_a_public_id_accepted_wherever_its_slug_is(
    stub: Stub, ctx: Ctx, other_ctx: Ctx
) -> None:
    app = create_app(stub, ctx, "Public CRM")
    other = create_app(stub, ctx, "Other")

    assert re.fullmatch(r"app_[a-z2-7]{26}", app.public_id)
    assert app.public_id not in (app.id, other.public_id)
    assert app.settings.default_app_role == "basic"
    by_public_id = stub.GetApp(
        schema_pb2.GetAppRequest(ctx=ctx, app_slug=app.public_id), timeout=TIMEOUT
    )
    assert by_public_id == app
    schema = stub.CreateSchema(
        schema_pb2.CreateSchemaRequest(ctx=ctx, app_slug=app.public_id, name="Contacts"),
        timeout=TIMEOUT,
    )
    # The schema names its app by slug, however the call named it.
    assert schema.app_slug == app.slug
    got = stub.GetSchema(
        schema_pb2.GetSchemaRequest(ctx=ctx, app_slug=app.public_id, schema_slug="contacts"),
        timeout=TIMEOUT,
    )
    assert (got.id, got.app_slug) == (schema.id, app.slug)

    # Another workspace's public id is no app of this one.
    failure = fails(stub.GetApp, schema_pb2.GetAppRequest(ctx=other_ctx, app_slug=app.public_id))
    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert failure.error.message == "App not found"


def test_a_public_id_resolves_without_a_workspace_until_the_app_is_deleted(
    stub: Stub, ctx: Ctx
) -> None:
    app = create_app(stub, ctx, "Shop")
    stub.UpdateApp(
        schema_pb2.UpdateAppRequest(ctx=ctx, app_slug=app.slug, default_app_role="power"),
        timeout=TIMEOUT,
    )

    found = stub.ResolvePublicApp(
        schema_pb2.ResolvePublicAppRequest(public_id=app.public_id), timeout=TIMEOUT
    )

    assert found == schema_pb2.PublicApp(
        tenant_id=ctx.tenant_id,
        app_id=app.id,
        app_slug=app.slug,
        settings=schema_pb2.AppSettings(default_app_role="power"),
    )
    for unknown in ("app_" + "a" * 26, app.id, app.slug, ""):
        failure = fails(
            stub.ResolvePublicApp, schema_pb2.ResolvePublicAppRequest(public_id=unknown)
        )
        assert failure.code == grpc.StatusCode.NOT_FOUND
    stub.DeleteApp(schema_pb2.DeleteAppRequest(ctx=ctx, app_slug=app.public_id), timeout=TIMEOUT)
    failure = fails(
        stub.ResolvePublicApp, schema_pb2.ResolvePublicAppRequest(public_id=app.public_id)
    )
    assert failure.code == grpc.StatusCode.NOT_FOUND


def test_the_default_app_role_must_be_an_app_role(stub: Stub, ctx: Ctx) -> None:
    app = create_app(stub, ctx, "Roles")

    failure = fails(
        stub.UpdateApp,
        schema_pb2.UpdateAppRequest(ctx=ctx, app_slug=app.slug, default_app_role="owner"),
    )

    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.error.field == "default_app_role"
    got = stub.GetApp(schema_pb2.GetAppRequest(ctx=ctx, app_slug=app.slug), timeout=TIMEOUT)
    assert got.settings.default_app_role == "basic"
