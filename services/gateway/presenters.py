"""Proto messages rendered as the REST shapes the seed documents define."""

from __future__ import annotations

from typing import Any

from tessera.identity.v1 import identity_pb2
from tessera.schema.v1 import schema_pb2

from services.kit.field_types import type_name

CHOICE_TYPES = frozenset({"select", "multi_select"})


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
    kind = type_name(message.type)
    body: dict[str, Any] = {
        "slug": message.slug,
        "name": message.name,
        "type": kind,
        "required": message.required,
    }
    if kind in CHOICE_TYPES:
        body["options"] = list(message.options)
    return body


def schema(message: schema_pb2.Schema) -> dict[str, Any]:
    return {
        "slug": message.slug,
        "name": message.name,
        "fields": [field(f) for f in message.fields],
    }
