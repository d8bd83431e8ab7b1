"""An app's own OpenAPI document: its schemas as typed records, and the record
operations the caller may perform on each, nothing more.

What the caller may do is decided by the same policy the records service applies
(services.kit.access for the role table and a token's grants, services.kit.privacy for
privacy rules): a schema the caller cannot reach is absent, an operation it may not
perform is absent, a field it may never read is absent. The field types describe their
own values (services.kit.fields: value_schema, input_schema)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tessera.schema.v1 import schema_pb2

from services.gateway import openapi, queries
from services.gateway.clients import Backends, as_gateway
from services.kit.access import Op, Principal
from services.kit.expiring import ExpiringCache
from services.kit.fields import REGISTRY
from services.kit.json import loads_exact
from services.kit.privacy import schema_access

# Keys every record has besides its fields.
SYSTEM_KEYS: dict[str, dict[str, Any]] = {
    "id": {"type": "string", "readOnly": True, "examples": ["rec_4q2vx8k3m1n7p0s5t9w2y6z3ab"]},
    "created_at": {"type": "string", "format": "date-time", "readOnly": True},
    "updated_at": {"type": "string", "format": "date-time", "readOnly": True},
    "version": {
        "type": "integer",
        "readOnly": True,
        "description": "Grows with every change; send it as If-Match to update only this one",
    },
}
_EXAMPLES_BY_FORMAT = {
    "email": "ada@example.com",
    "uri": "https://example.com/",
    "date": "2024-05-01",
    "date-time": "2024-05-01T12:00:00Z",
}
_EXAMPLES_BY_TYPE = {"string": "Example", "integer": 42, "number": 3.5, "boolean": True}


@dataclass(frozen=True, slots=True)
class _Field:
    slug: str
    type: str
    required: bool
    options: tuple[str, ...]
    config: Mapping[str, Any]
    has_default: bool

    @property
    def option_set(self) -> frozenset[str]:
        return frozenset(self.options)


@dataclass(frozen=True, slots=True)
class SchemaView:
    """One schema as the caller sees it."""

    slug: str
    name: str
    component: str
    fields: tuple[_Field, ...]
    read: bool
    create: bool
    update: bool
    delete: bool


def view_of(schema: schema_pb2.Schema, principal: Principal) -> SchemaView | None:
    """The schema as `principal` may use it; None when it may do nothing there."""

    def may(op: Op) -> bool:
        return principal.may_on(op, app_id=schema.app_id, schema_id=schema.id)

    rules = loads_exact(schema.privacy_rules_json) if schema.privacy_rules_json else None
    access = schema_access(principal, rules)
    read = may(Op.RECORDS_READ) and not access.finds_nothing
    create = may(Op.RECORDS_CREATE) and access.create is not False
    update = may(Op.RECORDS_UPDATE) and access.update is not False
    delete = may(Op.RECORDS_DELETE) and access.delete is not False
    if not (read or create or update or delete):
        return None
    readable = access.readable
    fields = tuple(
        _Field(
            slug=f.slug,
            type=f.type,
            required=f.required,
            options=tuple(f.options),
            config=loads_exact(f.config_json) if f.config_json else {},
            has_default=bool(f.default_json),
        )
        for f in schema.fields
        if f.type in REGISTRY and (readable is None or f.id in readable)
    )
    return SchemaView(
        slug=schema.slug,
        name=schema.name,
        component=_component_name(schema.slug),
        fields=fields,
        read=read,
        create=create,
        update=update,
        delete=delete,
    )


def _component_name(slug: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", slug) if part)


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]} if schema else {}


def _example(schema: dict[str, Any]) -> Any:
    if "enum" in schema:
        return schema["enum"][0] if schema["enum"] else None
    if "anyOf" in schema:
        return _example(schema["anyOf"][0])
    if schema.get("type") == "array":
        item = _example(schema.get("items", {}))
        return [] if item is None else [item]
    if "format" in schema:
        return _EXAMPLES_BY_FORMAT.get(schema["format"], "Example")
    return _EXAMPLES_BY_TYPE.get(schema.get("type", ""))


def _components(view: SchemaView) -> dict[str, dict[str, Any]]:
    record: dict[str, Any] = {"id": SYSTEM_KEYS["id"]}
    writable: dict[str, Any] = {}
    required: list[str] = []
    example: dict[str, Any] = {}
    for f in view.fields:
        kind = REGISTRY[f.type]
        shown = _nullable(kind.value_schema(f))
        if kind.read_only:
            shown = {**shown, "readOnly": True}
        record[f.slug] = shown
        if kind.read_only:
            continue
        written = kind.input_schema(f)
        writable[f.slug] = written if f.required else _nullable(written)
        if f.required and not f.has_default:
            required.append(f.slug)
        sample = _example(written)
        if sample is not None:
            example[f.slug] = sample
    record.update({key: value for key, value in SYSTEM_KEYS.items() if key != "id"})
    name = view.component
    return {
        name: {
            "type": "object",
            "title": view.name,
            "required": ["id"],
            "properties": record,
        },
        f"{name}Input": {
            "type": "object",
            "description": f"A new record of {view.name}",
            "properties": writable,
            "required": required,
            "additionalProperties": False,
            "example": example,
        },
        f"{name}Change": {
            "type": "object",
            "description": f"The fields of a {view.name} record to change",
            "properties": writable,
            "additionalProperties": False,
            "example": dict(list(example.items())[:1]),
        },
        f"{name}ChangeOf": {
            "type": "object",
            "description": f"A {view.name} record's id and the fields to change",
            "properties": {"id": {"type": "string"}, **writable},
            "required": ["id"],
            "additionalProperties": False,
        },
        f"{name}Page": {
            "type": "object",
            "required": ["records", "per_page", "total", "next_cursor"],
            "properties": {
                "records": {"type": "array", "items": _ref(name)},
                "page": {"type": "integer"},
                "per_page": {"type": "integer"},
                "total": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                "next_cursor": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            },
        },
        f"{name}List": {
            "type": "object",
            "required": ["records"],
            "properties": {"records": {"type": "array", "items": _ref(name)}},
        },
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"content": {"application/json": {"schema": schema}}}
    if description:
        body["description"] = description
    return body


def _list_parameters(view: SchemaView) -> list[dict[str, Any]]:
    parameters = openapi.list_parameters()["parameters"]
    slugs = ", ".join(f.slug for f in view.fields)
    for parameter in parameters:
        if parameter["name"] == "filter":
            parameter["schema"] = {
                "type": "object",
                "properties": {f.slug: {"type": "string"} for f in view.fields},
                "additionalProperties": {"type": "string"},
            }
        elif parameter["name"] in ("sort", "fields"):
            parameter["description"] += f". Fields: {slugs}"
    return parameters


def _operations(
    view: SchemaView, base: str, errors: Mapping[str, Any], security: list[Any]
) -> dict[str, dict[str, Any]]:
    name, slug = view.component, view.slug.replace("-", "_")
    record_id = {
        "name": "record_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "maxLength": 64},
    }
    batch = {"records": {"type": "array", "minItems": 1}}

    def operation(
        operation_id: str,
        summary: str,
        status: int,
        response: dict[str, Any] | None,
        *,
        body: dict[str, Any] | None = None,
        parameters: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        found: dict[str, Any] = {
            "operationId": operation_id,
            "summary": summary,
            "tags": [view.name],
            "security": security,
            "parameters": list(parameters),
            "responses": {
                str(status): _json(response, "OK")
                if response is not None
                else {"description": "Done"},
                **errors,
            },
        }
        if body is not None:
            found["requestBody"] = {"required": True, **_json(body)}
        return found

    paths: dict[str, dict[str, Any]] = {base: {}, f"{base}/{{record_id}}": {}}
    if view.read:
        paths[base]["get"] = operation(
            f"list_{slug}",
            f"List {view.name}",
            200,
            _ref(f"{name}Page"),
            parameters=_list_parameters(view),
        )
        paths[f"{base}/search"] = {
            "post": operation(
                f"search_{slug}",
                f"Search {view.name} with a filter tree",
                200,
                _ref(f"{name}Page"),
                body=_ref("RecordSearch"),
            )
        }
        paths[f"{base}/{{record_id}}"]["get"] = operation(
            f"get_{slug}", f"Get a {view.name} record", 200, _ref(name), parameters=[record_id]
        )
    batches: dict[str, Any] = {}
    if view.create:
        paths[base]["post"] = operation(
            f"create_{slug}",
            f"Create a {view.name} record",
            201,
            _ref(name),
            body=_ref(f"{name}Input"),
        )
        batches["post"] = operation(
            f"create_many_{slug}",
            f"Create {view.name} records, all or none",
            201,
            _ref(f"{name}List"),
            body={
                "type": "object",
                "required": ["records"],
                "additionalProperties": False,
                "properties": {
                    "records": {**batch["records"], "items": _ref(f"{name}Input")},
                    "upsert_on": {"type": "string"},
                },
            },
        )
    if view.update:
        paths[f"{base}/{{record_id}}"]["patch"] = operation(
            f"update_{slug}",
            f"Change a {view.name} record",
            200,
            _ref(name),
            body=_ref(f"{name}Change"),
            parameters=[record_id],
        )
        changes = _ref(f"{name}ChangeOf")
        batches["patch"] = operation(
            f"update_many_{slug}",
            f"Change {view.name} records, all or none",
            200,
            _ref(f"{name}List"),
            body={
                "type": "object",
                "required": ["records"],
                "properties": {"records": {**batch["records"], "items": changes}},
            },
        )
    if view.delete:
        paths[f"{base}/{{record_id}}"]["delete"] = operation(
            f"delete_{slug}",
            f"Delete a {view.name} record (to the trash)",
            204,
            None,
            parameters=[record_id],
        )
        batches["delete"] = operation(
            f"delete_many_{slug}",
            f"Delete {view.name} records, all or none",
            204,
            None,
            body={
                "type": "object",
                "required": ["ids"],
                "additionalProperties": False,
                "properties": {"ids": {"type": "array", "items": {"type": "string"}}},
            },
        )
    if batches:
        paths[f"{base}/batch"] = batches
    return {path: methods for path, methods in paths.items() if methods}


SAVED_QUERIES_TAG = "Saved queries"


def _query_operations(
    saved: Sequence[Mapping[str, Any]], address: str, security: list[Any]
) -> dict[str, Any]:
    """POST …/queries/{name}/execute of each saved query the caller may run: its public
    parameters as its call's samples type them, its data as its call's initialization
    found it."""
    paths: dict[str, Any] = {}
    for query in saved:
        body = {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "parameters": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": query["parameters"],
                }
            },
        }
        answer = {
            "type": "object",
            "required": ["data", "schema"],
            "properties": {"data": query["schema"], "schema": {"type": "object"}},
        }
        paths[f"/api/apps/{address}/queries/{query['name']}/execute"] = {
            "post": {
                "operationId": f"execute_{query['name']}",
                "summary": query["description"] or f"Run the saved query {query['name']}",
                "tags": [SAVED_QUERIES_TAG],
                "security": security,
                "requestBody": {"required": False, **_json(body)},
                "responses": {
                    "200": _json(answer, "What the external API answered"),
                    **{
                        str(status): {"$ref": f"#/components/responses/Error{status}"}
                        for status in (400, 401, 403, 404, 412, 429, 500, 502, 503)
                    },
                },
            }
        }
    return paths


def app_document(
    app: schema_pb2.App,
    address: str,
    views: Sequence[SchemaView],
    saved: Sequence[Mapping[str, Any]] = (),
    *,
    anonymous: bool,
) -> dict[str, Any]:
    """The document of `app`, addressed in its paths as `address` (its slug, or the public
    id an anonymous caller used), with the schemas `views` as the caller sees them and the
    `saved` queries it may run (services.workflows.connector_api, describe_queries)."""
    security: list[Any] = [{name: []} for name in openapi.SECURITY_SCHEMES]
    if anonymous:
        security = [{}]
    errors = {
        status: {"$ref": f"#/components/responses/Error{status}"}
        for status in openapi.error_responses()
    }
    schemas: dict[str, Any] = {
        "Error": openapi.error_schema(),
        "RecordSearch": queries.RecordSearch.model_json_schema(
            ref_template="#/components/schemas/{model}"
        ),
    }
    paths: dict[str, Any] = {}
    for view in views:
        schemas.update(_components(view))
        base = f"/api/apps/{address}/schemas/{view.slug}/records"
        paths.update(_operations(view, base, errors, security))
    paths.update(_query_operations(saved, address, security))
    tags = [{"name": view.name} for view in views]
    if saved:
        tags.append({"name": SAVED_QUERIES_TAG})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{app.name} ({openapi.TITLE})",
            "version": "1",
            "description": (app.description + "\n\n" if app.description else "")
            + "The records of this app's schemas and its saved queries, as your credential"
            " may use them.",
        },
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {
                f"Error{status}": response for status, response in openapi.error_responses().items()
            },
            "securitySchemes": openapi.SECURITY_SCHEMES,
        },
    }


# How long an app's definitions are held without a schema event: the events drop them
# at once; this bounds what a lost event could leave behind.
DEFINITIONS_SECONDS = 300
DEFINITIONS_HELD = 1024


@dataclass(frozen=True, slots=True)
class Definitions:
    tenant_id: str
    app: schema_pb2.App
    schemas: tuple[schema_pb2.Schema, ...]


class AppDefinitions:
    """Apps and their schemas, read from the schema service by the gateway as itself (it
    shows each caller only its part) and held until a schema event of their workspace."""

    def __init__(self, backends: Backends) -> None:
        self.backends = backends
        self._held: ExpiringCache[tuple[str, str], Definitions] = ExpiringCache(DEFINITIONS_HELD)

    async def of(self, tenant_id: str, app_slug: str) -> Definitions:
        key = (tenant_id, app_slug)
        held = self._held.get(key)
        if held is not None:
            return held
        generation = self._held.generation
        ctx = as_gateway(tenant_id)
        app = await self.backends.call(
            self.backends.schema.GetApp, schema_pb2.GetAppRequest(ctx=ctx, app_slug=app_slug)
        )
        listed = await self.backends.call(
            self.backends.schema.ListSchemas,
            schema_pb2.ListSchemasRequest(ctx=ctx, app_slug=app_slug),
        )
        found = Definitions(tenant_id, app, tuple(listed.schemas))
        self._held.put(key, found, seconds=DEFINITIONS_SECONDS, fetched_at=generation)
        return found

    def forget(self, tenant_id: str) -> None:
        """Everything held of a workspace: an app renamed or a schema changed."""
        self._held.drop_where(lambda held: held.tenant_id == tenant_id)
