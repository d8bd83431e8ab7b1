"""A workflow condition in the records filter language: checked when it is saved, and
holding or not for a run's parameters and current user as the records engine's operators
would for a record."""

from __future__ import annotations

from typing import Any

import pytest

from services.kit.errors import ValidationFailed
from services.kit.fields import ALL_OPERATORS
from services.workflows.conditions import parse_filter_condition
from services.workflows.definitions import compiled, parse_definition

VALUES: dict[str, Any] = {
    "params": {
        "score": 42,
        "ratio": 0.5,
        "name": "Ada Lovelace",
        "tags": ["math", "poetry"],
        "born": "1815-12-10",
        "seen": "2024-05-01T12:00:00+00:00",
        "nothing": None,
        "blank": "",
        "address": {"city": "London"},
    },
    "current_user": "acc_1",
}

# (field, op, value, holds): at least one holding and one not for every operator.
CASES: list[tuple[str, str, Any, bool]] = [
    ("params.score", "eq", 42, True),
    ("params.score", "eq", 42.0, True),
    ("params.score", "eq", "42", False),
    ("params.nothing", "eq", None, True),
    ("params.score", "neq", 41, True),
    ("params.score", "neq", 42, False),
    ("params.score", "lt", 43, True),
    ("params.score", "lt", 42, False),
    ("params.score", "lte", 42, True),
    ("params.ratio", "lte", 0.25, False),
    ("params.score", "gt", 41.5, True),
    ("params.nothing", "gt", 0, False),
    ("params.score", "gte", 42, True),
    ("params.name", "gte", 1, False),
    ("params.score", "in", [1, 42], True),
    ("params.score", "in", [], False),
    ("params.score", "nin", [1, 2], True),
    ("params.score", "nin", [42], False),
    ("params.name", "contains", "Love", True),
    ("params.name", "contains", "love", False),
    ("params.name", "ncontains", "Byron", True),
    ("params.name", "ncontains", "Ada", False),
    ("params.name", "icontains", "LOVE", True),
    ("params.score", "icontains", "4", False),
    ("params.name", "starts_with", "Ada", True),
    ("params.name", "starts_with", "Lovelace", False),
    ("params.name", "ends_with", "lace", True),
    ("params.name", "ends_with", "Ada", False),
    ("params.nothing", "empty", None, True),
    ("params.blank", "empty", None, True),
    ("params.tags", "empty", None, False),
    ("params.missing", "empty", None, True),
    ("params.name", "nempty", None, True),
    ("params.blank", "nempty", None, False),
    ("params.score", "between", [40, 50], True),
    ("params.score", "between", [43, 50], False),
    ("params.born", "before", "1900-01-01", True),
    ("params.seen", "before", "2024-05-01T11:00:00+00:00", False),
    ("params.seen", "after", "2024-05-01T13:00:00+02:00", True),
    ("params.born", "after", "1815-12-10", False),
    ("params.born", "on", "1815-12-10", True),
    ("params.born", "on", "1815-12-11", False),
    ("params.tags", "has_any", ["poetry", "x"], True),
    ("params.tags", "has_any", ["x"], False),
    ("params.tags", "has_all", ["math", "poetry"], True),
    ("params.tags", "has_all", ["math", "x"], False),
    ("params.tags", "has_none", ["x"], True),
    ("params.tags", "has_none", ["math"], False),
    ("params.address.city", "eq", "London", True),
    ("$current_user", "eq", "acc_1", True),
    ("$current_user", "empty", None, False),
]


@pytest.mark.parametrize(("field", "op", "value", "holds"), CASES)
def test_each_operator_holds_as_the_records_engine_would(
    field: str, op: str, value: Any, holds: bool
) -> None:
    condition = {"field": field, "op": op}
    if value is not None or op == "eq":
        condition["value"] = value
    assert parse_filter_condition(condition, where="condition").evaluate(VALUES) is holds


def test_every_operator_of_the_filter_language_is_covered() -> None:
    covered = {op for _, op, _, holds in CASES if holds} & {
        op for _, op, _, holds in CASES if not holds
    }
    assert covered == ALL_OPERATORS


def test_groups_combine_and_nest() -> None:
    tree = {
        "and": [
            {"field": "params.score", "op": "gte", "value": 0},
            {
                "or": [
                    {"field": "params.name", "value": "Bo"},
                    {"field": "$current_user", "op": "nempty"},
                ]
            },
        ]
    }
    assert parse_filter_condition(tree, where="condition").evaluate(VALUES) is True
    assert parse_filter_condition({"or": []}, where="condition").evaluate(VALUES) is False
    assert parse_filter_condition({"and": []}, where="condition").evaluate(VALUES) is True


@pytest.mark.parametrize(
    ("tree", "field"),
    [
        ([], "condition"),
        ({"field": "score", "op": "eq", "value": 1}, "condition.field"),
        ({"field": "steps.x", "op": "eq", "value": 1}, "condition.field"),
        ({"field": "params.score", "op": "like", "value": 1}, "condition.op"),
        ({"field": "params.score", "op": 7, "value": 1}, "condition.op"),
        ({"field": "params.score", "op": "in", "value": 1}, "condition.value"),
        ({"field": "params.score", "op": "between", "value": [1]}, "condition.value"),
        ({"field": "params.score", "op": "empty", "value": 1}, "condition.value"),
        ({"field": "params.score", "extra": 1}, "condition"),
        ({"and": [{"field": "params.score"}], "or": []}, "condition"),
        ({"and": [{"or": [{"field": "bad"}]}]}, "condition.and[0].or[0].field"),
    ],
)
def test_a_malformed_condition_is_refused_by_place(tree: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_filter_condition(tree, where="condition")
    assert refused.value.field == field


def test_a_workflow_condition_names_only_declared_parameters() -> None:
    workflow = {
        "name": "gated",
        "parameters": [{"name": "score", "type": "integer"}],
        "condition": {"field": "params.score", "op": "gte", "value": 0},
        "steps": [{"type": "return", "value": {"ok": "true"}}],
    }
    assert compiled(parse_definition(workflow))["condition"].evaluate(VALUES) is True
    workflow["condition"] = {"field": "params.nope", "op": "empty"}
    with pytest.raises(ValidationFailed) as refused:
        parse_definition(workflow)
    assert refused.value.field == "condition"
