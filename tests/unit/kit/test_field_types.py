from __future__ import annotations

import pytest
from tessera.schema.v1 import schema_pb2

from services.kit.field_types import TYPE_NAMES, type_name, type_value


def test_names_cover_every_type_but_unspecified() -> None:
    assert len(TYPE_NAMES) == len(schema_pb2.FieldType.values()) - 1
    assert "multi_select" in TYPE_NAMES
    assert "unspecified" not in TYPE_NAMES


@pytest.mark.parametrize("name", TYPE_NAMES)
def test_round_trip(name: str) -> None:
    value = type_value(name)
    assert value is not None
    assert type_name(value) == name


def test_unknown_names_and_numbers() -> None:
    assert type_name(999) == ""
    assert type_value("colour") is None
    assert type_value("unspecified") is None
    assert type_value("TEXT") == schema_pb2.FIELD_TYPE_TEXT
