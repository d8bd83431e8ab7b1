"""Proto messages rendered as the REST shapes the seed documents define."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Response
from tessera.identity.v1 import identity_pb2
from tessera.schema.v1 import schema_pb2

from services.kit.json import dumps_exact, loads_exact


def exact_json(body: Any, status_code: int = 200) -> Response:
    """A JSON response that keeps every digit of exact numbers (field defaults)."""
    return Response(dumps_exact(body), status_code=status_code, media_type="application/json")


def user(account: identity_pb2.Account) -> dict[str, Any]:
    # first_name and username keep Baserow clients working.
    return {
        "id": account.id,
        "name": account.name,
        "email": account.email,
        "first_name": account.name,
        "username": account.email,
    }


def workspace(ws: identity_pb2.Workspace, role: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": ws.id,
        "name": ws.name,
        "slug": ws.slug,
        "created_at": ws.created_at,
    }
    if role is not None:
        body["role"] = role
    return body


def app(message: schema_pb2.App) -> dict[str, Any]:
    return {
        "slug": message.slug,
        "name": message.name,
        "description": message.description,
        "created_at": message.created_at,
    }


def field(message: schema_pb2.Field) -> dict[str, Any]:
    body: dict[str, Any] = {
        "slug": message.slug,
        "name": message.name,
        "type": message.type,
        "required": message.required,
        "unique": message.unique,
        "primary": message.primary,
    }
    # Only choice types have options, and they always have at least one.
    if message.options:
        body["options"] = list(message.options)
    if message.default_json:
        body["default"] = loads_exact(message.default_json)
    if message.config_json:
        # The type's own settings sit beside the common ones, as clients send them.
        body.update(orjson.loads(message.config_json))
    return body


def schema(message: schema_pb2.Schema) -> dict[str, Any]:
    return {
        "slug": message.slug,
        "name": message.name,
        "fields": [field(f) for f in message.fields],
    }
