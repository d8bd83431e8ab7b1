from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from services.kit.errors import ValidationFailed
from services.workflows.definitions import Parameter
from services.workflows.parameters import typed_parameters


def declared(*specs: dict[str, Any]) -> list[Parameter]:
    return [Parameter.model_validate(spec) for spec in specs]


PARAMETERS = declared(
    {"name": "email", "type": "text", "required": True},
    {"name": "score", "type": "number"},
    {"name": "seats", "type": "integer"},
    {"name": "vip", "type": "boolean"},
    {"name": "born", "type": "date"},
    {"name": "seen", "type": "datetime"},
    {"name": "company", "type": "record", "schema": "companies"},
    {"name": "tags", "type": "text", "list": True},
    {"name": "extra", "type": "json"},
)


def test_json_values_become_the_declared_types() -> None:
    values = typed_parameters(
        PARAMETERS,
        {
            "email": "ada@example.com",
            "score": Decimal("2.5"),
            "seats": 3,
            "vip": True,
            "born": "1815-12-10",
            "seen": "2024-05-01T12:00:00Z",
            "company": "rec_1",
            "tags": ["a", "b"],
            "extra": {"any": [1]},
        },
    )
    assert values == {
        "email": "ada@example.com",
        "score": 2.5,
        "seats": 3,
        "vip": True,
        "born": "1815-12-10",
        "seen": "2024-05-01T12:00:00+00:00",
        "company": "rec_1",
        "tags": ["a", "b"],
        "extra": {"any": [1]},
    }


def test_form_fields_are_text_and_repeat_for_lists() -> None:
    values = typed_parameters(
        PARAMETERS,
        {
            "email": ["ada@example.com"],
            "score": ["7"],
            "seats": ["2"],
            "vip": ["on"],
            "tags": ["a", "b"],
        },
        from_form=True,
    )
    assert values["score"] == 7
    assert values["seats"] == 2
    assert values["vip"] is True
    assert values["tags"] == ["a", "b"]
    assert values["born"] is None
    assert values["extra"] is None


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({}, "email"),
        ({"email": None}, "email"),
        ({"email": 5}, "email"),
        ({"email": "a\x00"}, "email"),
        ({"email": "x", "score": "7"}, "score"),
        ({"email": "x", "score": True}, "score"),
        ({"email": "x", "score": float("inf")}, "score"),
        ({"email": "x", "seats": 2.5}, "seats"),
        ({"email": "x", "seats": 2**63}, "seats"),
        ({"email": "x", "vip": "yes"}, "vip"),
        ({"email": "x", "born": "10/12/1815"}, "born"),
        ({"email": "x", "seen": "2024-05-01T12:00:00"}, "seen"),
        ({"email": "x", "company": ""}, "company"),
        ({"email": "x", "tags": "a"}, "tags"),
        ({"email": "x", "tags": ["a", 1]}, "tags"),
        ({"email": ["x", "y"]}, "email"),
        ({"email": "x", "nope": 1}, "nope"),
        # PostgreSQL's jsonb holds no NUL, in a value or a key.
        ({"email": "x", "extra": {"note": "a\x00"}}, "extra"),
        ({"email": "x", "extra": {"a\x00": 1}}, "extra"),
    ],
)
def test_a_bad_parameter_is_refused_by_name(given: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        typed_parameters(PARAMETERS, given)
    assert refused.value.field == field


@pytest.mark.parametrize("text", ["٣", "1e999", "NaN", "seven"])
def test_form_numbers_are_ascii_and_finite(text: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        typed_parameters(PARAMETERS, {"email": "x", "score": [text]}, from_form=True)
    assert refused.value.field == "score"
