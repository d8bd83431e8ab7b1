from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from services.gateway.queries import list_request, search_request
from services.kit.errors import ValidationFailed


def items(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def test_sort_keys_parse_direction_and_order() -> None:
    request = list_request(items("sort=name,-score, created_at"))
    assert [(k.field, k.descending) for k in request.sort] == [
        ("name", False),
        ("score", True),
        ("created_at", False),
    ]
    assert list(list_request([]).sort) == []


@pytest.mark.parametrize("raw", [",", "name,", "-", ",".join(["a"] * 11), "x" * 9000])
def test_bad_sort_is_rejected(raw: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        list_request([("sort", raw)])
    assert caught.value.field == "sort"


def test_filters_with_and_without_operators_and_together() -> None:
    request = list_request(items("filter[status]=lead&filter[score][gte]=2&page=1"))
    nodes = request.filter.all_of.nodes
    assert [(n.condition.field, n.condition.op, n.condition.text) for n in nodes] == [
        ("status", "eq", "lead"),
        ("score", "gte", "2"),
    ]
    assert nodes[1].condition.source == "filter[score][gte]"


@pytest.mark.parametrize(
    "query", ["filter=x", "filter[]=x", "filterstatus=x", "filter[a][b][c]=x", "filter[a]x=1"]
)
def test_malformed_filters_are_rejected(query: str) -> None:
    with pytest.raises(ValidationFailed):
        list_request(items(query))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=5", "limit"),
        ("q=x", "q"),
        ("cursr=abc", "cursr"),
        ("page=1&page=2", "page"),
        ("count=maybe", "count"),
        ("fields=", "fields"),
    ],
)
def test_unknown_repeated_and_malformed_parameters_are_named(query: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        list_request(items(query))
    assert caught.value.field == field


@pytest.mark.parametrize(("query", "value"), [("", 0), ("page=3", 3)])
def test_integers(query: str, value: int) -> None:
    assert list_request(items(query)).page == value


@pytest.mark.parametrize(
    "query", ["page=0", "page=-2", "page=x", "page=1.5", "page=9999999999", "page=\u0663"]
)
def test_bad_integers(query: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        list_request(items(query))
    assert caught.value.field == "page"


def test_count_false_skips_the_total() -> None:
    assert list_request(items("count=false")).skip_count
    assert not list_request([]).skip_count


def test_search_body_builds_a_tree() -> None:
    request = search_request(
        {
            "filter": {
                "or": [
                    {"field": "status", "op": "eq", "value": "lead"},
                    {"and": [{"field": "score", "op": "gt", "value": 5}]},
                ]
            },
            "sort": ["-score"],
            "fields": ["name"],
        }
    )
    first, second = request.filter.any_of.nodes
    assert first.condition.json == b'"lead"'
    assert second.all_of.nodes[0].condition.source == "filter.or[1].and[0]"
    assert [k.field for k in request.sort] == ["score"]
    assert list(request.fields) == ["name"]


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"limit": 5},
        {"filter": []},
        {"filter": {"and": {}}},
        {"filter": {"field": "a", "opp": "eq"}},
        {"filter": {"and": [], "or": []}},
        {"page": "2"},
        {"page": True},
    ],
)
def test_bad_search_bodies(body: object) -> None:
    with pytest.raises(ValidationFailed):
        search_request(body)
