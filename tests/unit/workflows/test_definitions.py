from __future__ import annotations

from typing import Any

import pytest

from services.kit.errors import ValidationFailed
from services.workflows.definitions import Definition, Loop, compiled, parse_definition

NEW_LEAD: dict[str, Any] = {
    "name": "new-lead",
    "public": True,
    "parameters": [
        {"name": "email", "type": "text", "required": True},
        {"name": "score", "type": "number"},
        {"name": "tags", "type": "text", "list": True},
        {"name": "company", "type": "record", "schema": "companies"},
        {"name": "when", "type": "datetime"},
        {"name": "items", "type": "json", "list": True},
    ],
    "condition": "params.score >= 0",
    "steps": [
        {
            "id": "lead",
            "type": "create_record",
            "schema": "leads",
            "values": {"email": "params.email", "score": "params.score"},
        },
        {
            "id": "similar",
            "type": "find_records",
            "schema": "leads",
            "filter": {"and": [{"field": "email", "op": "eq", "value": "params.email"}]},
        },
        {
            "type": "loop",
            "over": "steps.similar.records",
            "steps": [{"type": "set", "name": "last", "value": "item.id"}],
        },
        {
            "id": "hot",
            "type": "update_record",
            "schema": "leads",
            "record": "steps.lead.id",
            "values": {"status": "'hot'"},
            "only_when": "params.score > 50",
        },
        {"type": "schedule", "workflow": "follow-up", "at": "params.when", "parameters": {}},
        {"type": "return", "value": {"lead": "steps.lead.id"}},
    ],
}


def test_a_whole_definition_is_checked_and_its_expressions_parsed() -> None:
    definition = parse_definition(NEW_LEAD)
    assert isinstance(definition, Definition)
    assert definition.parameters[3].schema_slug == "companies"
    assert isinstance(definition.steps[2], Loop)
    places = set(compiled(definition))
    assert {
        "condition",
        "steps[0].values.email",
        "steps[1].filter.and[0].value",
        "steps[2].over",
        "steps[2].steps[0].value",
        "steps[3].only_when",
        "steps[3].record",
        "steps[5].value.lead",
    } <= places


def with_step(step: dict[str, Any]) -> dict[str, Any]:
    return {"name": "w", "steps": [step]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**NEW_LEAD, "name": "Not A Slug"}, "name"),
        ({**NEW_LEAD, "steps": []}, "steps"),
        ({**NEW_LEAD, "unknown": 1}, "unknown"),
        ({**NEW_LEAD, "condition": "params.score >"}, "condition"),
        ({**NEW_LEAD, "parameters": [{"name": "a", "type": "colour"}]}, "parameters[0].type"),
        ({**NEW_LEAD, "parameters": [{"name": "a", "type": "text"}] * 2}, "parameters"),
        (with_step({"type": "teleport"}), "steps[0]"),
        (
            with_step({"type": "create_record", "schema": "s", "values": {"a": "1 +"}}),
            "steps[0].values.a",
        ),
        (with_step({"type": "set", "name": "x", "value": 5}), "steps[0].value"),
        (with_step({"type": "delete_record", "schema": "s"}), "steps[0].record"),
        (
            {"name": "w", "steps": [{"id": "a", "type": "set", "name": "x", "value": "1"}] * 2},
            "steps[1].id",
        ),
        (
            {"name": "w", "run_without_authentication": True, "steps": [{"type": "return"}]},
            "run_without_authentication",
        ),
    ],
)
def test_a_bad_definition_is_refused_naming_the_place(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_definition(body)
    assert refused.value.field == field, refused.value.message


def test_loops_nest_three_deep_at_most() -> None:
    step: dict[str, Any] = {"type": "return"}
    for _ in range(4):
        step = {"type": "loop", "over": "params.items", "steps": [step]}
    with pytest.raises(ValidationFailed, match="nest"):
        parse_definition({**with_step(step), "parameters": NEW_LEAD["parameters"]})


@pytest.mark.parametrize(
    ("source", "field", "missing"),
    [
        ("steps.later.id", "steps[1].value.x", "steps.later"),
        ("params.nope", "steps[1].value.x", "params.nope"),
        ("vars.unset + vars.x", "steps[1].value.x", "vars.unset"),
        ("size(steps.first) + steps.nothing", "steps[1].value.x", "steps.nothing"),
    ],
)
def test_an_expression_names_only_what_exists_before_it(
    source: str, field: str, missing: str
) -> None:
    body = {
        **NEW_LEAD,
        "steps": [
            {"type": "set", "name": "x", "value": "1", "id": "first"},
            {"type": "return", "value": {"x": source}, "id": "later"},
        ],
    }
    with pytest.raises(ValidationFailed) as refused:
        parse_definition(body)
    assert refused.value.field == field
    assert missing in refused.value.message


def test_text_that_looks_like_a_name_is_not_one() -> None:
    body = {**NEW_LEAD, "steps": [{"type": "return", "value": {"x": "'steps.later.id'"}}]}
    assert parse_definition(body).steps[0].type == "return"
