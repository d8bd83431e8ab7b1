"""Schema definitions as the records service sees them, and where they come from.

The schema service owns apps, schemas and fields; this service pulls a definition over
gRPC on a cache miss (`SchemaSource` is the seam; tests use an in-memory fake) and drops a
tenant's cached definitions whenever a `schema.<tenant>.…` event goes by."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from tessera.common.v1 import common_pb2
from tessera.schema.v1 import schema_pb2

from services.kit.errors import InternalError, ServiceUnavailable
from services.kit.fields import COLUMN, JOIN, REGISTRY, RESERVED_SLUGS, FieldType
from services.kit.grpc.client import call
from services.kit.json import dumps_exact, loads_exact
from services.kit.tenancy import tenant_of

log = logging.getLogger(__name__)

# A field without a default.
NO_DEFAULT: Any = None


class UnknownFieldType(InternalError):
    """The schema service knows a field type this build does not: every call on the
    schema fails until this service is upgraded, rather than silently losing the field."""


@dataclass(frozen=True, slots=True)
class FieldDef:
    id: str
    slug: str
    name: str
    type: FieldType
    required: bool = False
    options: tuple[str, ...] = ()
    position: int = 0
    unique: bool = False
    primary: bool = False
    # The default as JSON text, or "" for none; kept as text so definitions compare and
    # hash by value.
    default_json: str = ""
    config_json: str = ""
    option_set: frozenset[str] = field(init=False, repr=False, compare=False)
    config: Mapping[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "option_set", frozenset(self.options))
        object.__setattr__(
            self, "config", orjson.loads(self.config_json) if self.config_json else {}
        )

    @property
    def has_column(self) -> bool:
        return self.type.storage == COLUMN

    @property
    def is_link(self) -> bool:
        return self.type.storage == JOIN

    @property
    def target(self) -> str:
        """A link's target schema slug."""
        return str(self.config.get("target") or "")

    @property
    def target_id(self) -> str:
        return str(self.config.get("target_id") or "")

    @property
    def default(self) -> Any:
        return loads_exact(self.default_json) if self.default_json else None


@dataclass(frozen=True, slots=True)
class SchemaDef:
    id: str
    app_id: str
    app_slug: str
    slug: str
    name: str
    version: int
    # In position order, which is also the order of keys in a record.
    fields: tuple[FieldDef, ...]
    # Fields in the trash: their columns stay until the purge.
    trashed_field_ids: tuple[str, ...] = ()
    # The privacy rules in stored form (services.kit.privacy) as JSON; "" for none.
    privacy_rules_json: str = ""
    by_slug: Mapping[str, FieldDef] = field(init=False, repr=False, compare=False)
    by_id: Mapping[str, FieldDef] = field(init=False, repr=False, compare=False)
    privacy_rules: Mapping[str, Any] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.fields, key=lambda f: (f.position, f.slug)))
        object.__setattr__(self, "fields", ordered)
        object.__setattr__(self, "by_slug", {f.slug: f for f in ordered})
        object.__setattr__(self, "by_id", {f.id: f for f in ordered})
        rules = loads_exact(self.privacy_rules_json) if self.privacy_rules_json else None
        object.__setattr__(self, "privacy_rules", rules)


def make_schema(
    *,
    id: str,
    app_id: str,
    app_slug: str,
    slug: str,
    version: int,
    fields: Iterable[FieldDef],
    name: str = "",
    trashed_field_ids: Iterable[str] = (),
    privacy_rules_json: str = "",
) -> SchemaDef:
    kept = list(fields)
    for f in kept:
        if f.slug in RESERVED_SLUGS:
            # The schema service refuses these; one arriving means the contract broke.
            raise InternalError(f"field {f.id} of schema {id} uses the reserved slug {f.slug!r}")
    return SchemaDef(
        id=id,
        app_id=app_id,
        app_slug=app_slug,
        slug=slug,
        name=name or slug,
        version=version,
        fields=tuple(kept),
        trashed_field_ids=tuple(sorted(trashed_field_ids)),
        privacy_rules_json=privacy_rules_json,
    )


def _type_named(name: str, *, schema_id: str, field_id: str) -> FieldType:
    kind = REGISTRY.get(name)
    if kind is None:
        log.error(
            "unknown field type %r; this build cannot serve the schema",
            name,
            extra={"schema_id": schema_id, "field_id": field_id},
        )
        raise UnknownFieldType()
    return kind


def field_from_proto(item: schema_pb2.Field, *, schema_id: str) -> FieldDef:
    return FieldDef(
        id=item.id,
        slug=item.slug,
        name=item.name,
        type=_type_named(item.type, schema_id=schema_id, field_id=item.id),
        required=item.required,
        options=tuple(item.options),
        position=item.position,
        unique=item.unique,
        primary=item.primary,
        default_json=item.default_json.decode(),
        config_json=item.config_json.decode(),
    )


def schema_from_proto(message: schema_pb2.Schema) -> SchemaDef:
    return make_schema(
        id=message.id,
        app_id=message.app_id,
        app_slug=message.app_slug,
        slug=message.slug,
        name=message.name,
        version=message.version,
        fields=[field_from_proto(item, schema_id=message.id) for item in message.fields],
        trashed_field_ids=message.trashed_field_ids,
        privacy_rules_json=message.privacy_rules_json.decode(),
    )


def schema_from_event(data: Mapping[str, Any]) -> SchemaDef:
    """The definition carried by a schema event's data ({"schema": {...}}); KeyError,
    TypeError or ValueError when it is not one, UnknownFieldType for a type this build
    does not know."""
    body = data["schema"]
    fields = [
        schema_pb2.Field(
            id=str(item["id"]),
            slug=str(item["slug"]),
            name=str(item.get("name") or item["slug"]),
            type=str(item["type"]),
            required=bool(item.get("required", False)),
            options=[str(o) for o in item.get("options") or ()],
            position=int(item.get("position", 0)),
            unique=bool(item.get("unique", False)),
            primary=bool(item.get("primary", False)),
            default_json=dumps_exact(item["default"]) if "default" in item else b"",
            config_json=dumps_exact(item["config"]) if item.get("config") else b"",
        )
        for item in body["fields"]
    ]
    message = schema_pb2.Schema(
        id=str(body["id"]),
        app_id=str(body["app_id"]),
        app_slug=str(body["app_slug"]),
        slug=str(body["slug"]),
        name=str(body.get("name") or body["slug"]),
        version=int(body["version"]),
        fields=fields,
        trashed_field_ids=[str(i) for i in body.get("trashed_field_ids") or ()],
        privacy_rules_json=b""
        if body.get("privacy_rules") is None
        else dumps_exact(body["privacy_rules"]),
    )
    return schema_from_proto(message)


class SchemaSource(Protocol):
    async def get(
        self,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        schema_slug: str,
        *,
        fresh: bool = False,
    ) -> SchemaDef:
        """The definition of one of the caller's tenant's schemas; NotFound when there is
        none. `fresh` bypasses any cache."""
        ...

    async def by_id(self, ctx: common_pb2.RequestContext, schema_id: str) -> SchemaDef:
        """The definition of one of the caller's tenant's schemas by id; NotFound."""
        ...


class GetSchemaMethod(Protocol):
    def __call__(
        self,
        request: schema_pb2.GetSchemaRequest,
        *,
        timeout: float | None = ...,
        metadata: Any = ...,
    ) -> Awaitable[schema_pb2.Schema]: ...


class SchemaStub(Protocol):
    @property
    def GetSchema(self) -> GetSchemaMethod: ...


_Key = tuple[str, str]


class CachedSchemaSource:
    """Definitions from SchemaService.GetSchema, cached per (tenant, app, schema) for a TTL
    and dropped per tenant when a schema event says something changed. Concurrent misses
    of one key share a single call."""

    def __init__(
        self,
        stub: SchemaStub,
        *,
        ttl_seconds: float,
        timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stub = stub
        self._ttl = ttl_seconds
        self._timeout = timeout_seconds
        self._clock = clock
        self._entries: dict[str, dict[_Key, tuple[float, SchemaDef]]] = {}
        # Bumped by every invalidation, so a call that started before it cannot store
        # what it read into the cache afterwards.
        self._generations: dict[str, int] = {}
        self._inflight: dict[tuple[str, str, str], asyncio.Future[SchemaDef]] = {}

    async def get(
        self,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        schema_slug: str,
        *,
        fresh: bool = False,
    ) -> SchemaDef:
        tenant = tenant_of(ctx)
        key = (app_slug, schema_slug)
        entry = self._entries.get(tenant, {}).get(key)
        if not fresh and entry is not None and entry[0] > self._clock():
            return entry[1]
        try:
            pending = None if fresh else self._inflight.get((tenant, app_slug, schema_slug))
            if pending is not None:
                return await asyncio.shield(pending)
            return await self._fetch(ctx, tenant, key)
        except ServiceUnavailable:
            # An expired (never an invalidated) copy beats failing while the schema
            # service is briefly away.
            if entry is None or self._entries.get(tenant, {}).get(key) is not entry:
                raise
            log.warning("schema service unavailable; serving an expired definition")
            return entry[1]

    async def by_id(self, ctx: common_pb2.RequestContext, schema_id: str) -> SchemaDef:
        """The current definition of one of the tenant's schemas by id, never cached
        (for rare calls that hold an id, not slugs)."""
        request = schema_pb2.GetSchemaRequest(ctx=_as_service(ctx), schema_id=schema_id)
        reply = await call(self._stub.GetSchema, request, deadline_seconds=self._timeout)
        return schema_from_proto(reply)

    def invalidate_tenant(self, tenant: str) -> None:
        self._generations[tenant] = self._generations.get(tenant, 0) + 1
        self._entries.pop(tenant, None)

    async def _fetch(self, ctx: common_pb2.RequestContext, tenant: str, key: _Key) -> SchemaDef:
        flight = (tenant, *key)
        # Read now, not when the task first runs: an invalidation in between must count.
        generation = self._generations.get(tenant, 0)
        task = asyncio.ensure_future(self._load(ctx, tenant, key, generation))
        self._inflight[flight] = task

        def done(finished: asyncio.Future[SchemaDef]) -> None:
            if self._inflight.get(flight) is finished:
                del self._inflight[flight]
            if not finished.cancelled():
                finished.exception()  # retrieved here, so a shared failure is never "unseen"

        task.add_done_callback(done)
        # Shielded: one caller giving up must not cancel the call the others wait on.
        return await asyncio.shield(task)

    async def _load(
        self, ctx: common_pb2.RequestContext, tenant: str, key: _Key, generation: int
    ) -> SchemaDef:
        request = schema_pb2.GetSchemaRequest(
            ctx=_as_service(ctx), app_slug=key[0], schema_slug=key[1]
        )
        reply = await call(self._stub.GetSchema, request, deadline_seconds=self._timeout)
        definition = schema_from_proto(reply)
        if self._generations.get(tenant, 0) == generation:
            expires = self._clock() + self._ttl
            self._entries.setdefault(tenant, {})[key] = (expires, definition)
        return definition


def _as_service(ctx: common_pb2.RequestContext) -> common_pb2.RequestContext:
    """The definition is read for this service, whoever its caller: the caller may be
    an app end user who may not read schemas, and the definition is cached for everyone."""
    return common_pb2.RequestContext(
        tenant_id=tenant_of(ctx),
        principal_kind="service",
        principal_id="records",
        request_id=ctx.request_id,
    )


__all__ = [
    "CachedSchemaSource",
    "FieldDef",
    "SchemaDef",
    "SchemaSource",
    "UnknownFieldType",
    "field_from_proto",
    "make_schema",
    "schema_from_event",
    "schema_from_proto",
]
