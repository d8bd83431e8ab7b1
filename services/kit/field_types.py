"""The name of each proto FieldType in REST bodies, events and storage:
FIELD_TYPE_MULTI_SELECT <-> "multi_select". The gateway, the schema service and the
records service's type registry all speak these names, so the mapping lives once."""

from __future__ import annotations

from typing import cast

from tessera.schema.v1 import schema_pb2

_PREFIX = "FIELD_TYPE_"


def type_name(value: int) -> str:
    """FIELD_TYPE_MULTI_SELECT -> "multi_select"; a number the enum lacks -> ""."""
    try:
        return schema_pb2.FieldType.Name(value).removeprefix(_PREFIX).lower()
    except ValueError:
        return ""


def type_value(name: str) -> schema_pb2.FieldType | None:
    """ "multi_select" -> FIELD_TYPE_MULTI_SELECT; None for unknown names and "unspecified"."""
    try:
        value = schema_pb2.FieldType.Value(_PREFIX + name.upper())
    except ValueError:
        return None
    if value == schema_pb2.FIELD_TYPE_UNSPECIFIED:
        return None
    return cast(schema_pb2.FieldType, value)


TYPE_NAMES: tuple[str, ...] = tuple(
    type_name(v) for v in schema_pb2.FieldType.values() if v != schema_pb2.FIELD_TYPE_UNSPECIFIED
)
