from __future__ import annotations

from typing import Any

import pytest

from services.kit.errors import ValidationFailed
from services.workflows.expressions import ExpressionFailed, compile_expression

VALUES: dict[str, Any] = {
    "params": {"name": "Ada", "score": 12, "tags": ["a", "b"], "price": 2.5},
    "steps": {"lead": {"id": "rec_1", "status": "new"}},
    "vars": {},
    "current_user": "usr_1",
}


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("params.score > 10 && size(params.tags) < 3", True),
        ('"Welcome, " + params.name', "Welcome, Ada"),
        ("steps.lead.id", "rec_1"),
        ("params.tags.map(t, t + t)", ["aa", "bb"]),
        ("params.price * 2.0", 5.0),
        ("$current_user", "usr_1"),
        ("'$current_user stays text'", "$current_user stays text"),
        ("$current_user == 'usr_1' ? 'me' : 'other'", "me"),
        ('timestamp("2024-01-01T00:00:00Z") + duration("1h")', "2024-01-01T01:00:00Z"),
        ("{'a': [1, null]}", {"a": [1, None]}),
    ],
)
def test_expressions_compute_json_values(source: str, value: Any) -> None:
    assert compile_expression(source, where="value").evaluate(VALUES) == value


@pytest.mark.parametrize(
    "source", ["params.x +", "", "   ", 5, None, "a" * 2001, "params.\x00", "import os"]
)
def test_what_is_not_an_expression_is_refused_naming_its_place(source: Any) -> None:
    with pytest.raises(ValidationFailed) as refused:
        compile_expression(source, where="steps[0].values.name")
    assert refused.value.field == "steps[0].values.name"


@pytest.mark.parametrize("source", ["params.missing", "1 / 0", "params.score * 2.5"])
def test_an_expression_that_cannot_be_computed_fails_with_its_source(source: str) -> None:
    expression = compile_expression(source, where="value")
    with pytest.raises(ExpressionFailed) as failed:
        expression.evaluate(VALUES)
    # The message quotes the expression, so a run's log says which one failed.
    assert repr(source) in str(failed.value)


@pytest.mark.parametrize("source", [r"'a\x00b'", r"{'k': 'x' + '\x00'}", r"{'\x00': 1}"])
def test_an_expression_giving_a_nul_fails_before_anything_stores_it(source: str) -> None:
    with pytest.raises(ExpressionFailed, match="NUL"):
        compile_expression(source, where="steps[0].value").evaluate({})
