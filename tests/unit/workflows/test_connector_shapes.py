"""The JSON Schema an initialized call keeps of its sample answer."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from services.workflows.connectors import shape_of


@pytest.mark.parametrize(
    ("sample", "shape"),
    [
        (None, {"type": "null"}),
        (True, {"type": "boolean"}),
        (3, {"type": "integer"}),
        (Decimal("2.5"), {"type": "number"}),
        ("x", {"type": "string"}),
        ([], {"type": "array", "items": {"$comment": "no sample"}}),
        ([1, Decimal("1.5")], {"type": "array", "items": {"type": "number"}}),
        ([None, 1, None], {"type": "array", "items": {"type": ["integer", "null"]}}),
        ([1, None, Decimal("2.5")], {"type": "array", "items": {"type": ["number", "null"]}}),
        ([[], ["a"]], {"type": "array", "items": {"type": "array", "items": {"type": "string"}}}),
        ([1, "a"], {"type": "array", "items": {}}),
        # Values of different kinds: anything, whatever comes after.
        ([1, "a", True], {"type": "array", "items": {}}),
        (
            [{"a": 1}, {"a": "x"}, {"a": None}],
            {"type": "array", "items": {"type": "object", "properties": {"a": {}}}},
        ),
        (
            [{"a": 1}, {"b": None}, {"a": None}],
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"a": {"type": ["integer", "null"]}, "b": {"type": "null"}},
                },
            },
        ),
        (
            [None, {"a": 1}],
            {
                "type": "array",
                "items": {"type": ["object", "null"], "properties": {"a": {"type": "integer"}}},
            },
        ),
    ],
)
def test_a_sample_gives_the_schema_every_item_fits(sample: Any, shape: dict[str, Any]) -> None:
    assert shape_of(sample) == shape
