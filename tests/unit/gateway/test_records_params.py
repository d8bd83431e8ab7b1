from __future__ import annotations

import pytest
from starlette.requests import Request

from services.gateway.routes.records import _filters, _integer, _sort_keys
from services.kit.errors import ValidationFailed


def request(query: str) -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/",
            "headers": [],
            "query_string": query.encode(),
        }
    )


def test_sort_keys_parse_direction_and_order() -> None:
    keys = _sort_keys("name,-score, created_at")
    assert [(k.field, k.descending) for k in keys] == [
        ("name", False),
        ("score", True),
        ("created_at", False),
    ]
    assert _sort_keys(None) == []


@pytest.mark.parametrize("raw", [",", "name,", "-", ",".join(["a"] * 11)])
def test_bad_sort_is_rejected(raw: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _sort_keys(raw)
    assert caught.value.field == "sort"


def test_filters_are_equality_and_repeatable() -> None:
    filters = _filters(request("filter[status]=lead&filter[score]=2&page=1"))
    assert [(f.field, f.op, f.value) for f in filters] == [
        ("status", "eq", "lead"),
        ("score", "eq", "2"),
    ]


@pytest.mark.parametrize("query", ["filter=x", "filter[]=x", "filterstatus=x"])
def test_malformed_filters_are_rejected(query: str) -> None:
    with pytest.raises(ValidationFailed):
        _filters(request(query))


@pytest.mark.parametrize(("query", "value"), [("", 0), ("page=3", 3)])
def test_integers(query: str, value: int) -> None:
    assert _integer(request(query), "page") == value


@pytest.mark.parametrize("query", ["page=0", "page=-2", "page=x", "page=1.5", "page=9999999999"])
def test_bad_integers(query: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _integer(request(query), "page")
    assert caught.value.field == "page"
