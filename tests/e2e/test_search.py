"""Ranked full-text search over a schema's text-like fields, with prefix matching."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories.accounts import Tenant
from tests.factories.apps import create_app, create_schema, records_path

ARTICLE_FIELDS: list[dict[str, Any]] = [
    {"slug": "title", "type": "text", "required": True},
    {"slug": "body", "type": "long_text"},
    {"slug": "author", "type": "email"},
    {"slug": "words", "type": "integer"},
]


@pytest.fixture
def articles(tenant: Tenant) -> str:
    app = create_app(tenant)
    create_schema(tenant, app["slug"], name="Articles", slug="articles", fields=ARTICLE_FIELDS)
    path = records_path(app["slug"], "articles")
    rows = [
        {"title": "Analytical engines", "body": "Notes on the engine " * 50, "words": 1000},
        {"title": "Engines of war", "body": "A history", "words": 20},
        {"title": "Poetical science", "author": "ada@lovelace.example", "words": 300},
        {"title": "Compilers", "body": "Grace Hopper's first compiler", "words": 450},
        {"title": "x" * 10_000, "body": "y " * 200_000, "words": 1},
    ]
    response = tenant.post(f"{path}/batch", json={"records": rows})
    assert response.status_code == 201, response.text
    return path


def titles(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["title"] for r in response.json()["records"]]


def test_partial_words_find_records_best_match_first(tenant: Tenant, articles: str) -> None:
    found = titles(tenant.get(articles, params={"search": "engin"}))
    # The record that says "engine" fifty times ranks first.
    assert found == ["Analytical engines", "Engines of war"]
    assert titles(tenant.get(articles, params={"search": "grace comp"})) == ["Compilers"]
    assert titles(tenant.get(articles, params={"search": "lovelace"})) == ["Poetical science"]
    assert titles(tenant.get(articles, params={"search": "nothing-like-this"})) == []


def test_search_with_filters_sort_and_cursor(tenant: Tenant, articles: str) -> None:
    filtered = tenant.get(articles, params={"search": "engines", "filter[words][lt]": "100"})
    assert titles(filtered) == ["Engines of war"]
    sorted_by_words = tenant.get(articles, params={"search": "engines", "sort": "words"})
    assert titles(sorted_by_words) == ["Engines of war", "Analytical engines"]

    first = tenant.get(articles, params={"search": "engine", "per_page": 1})
    assert titles(first) == ["Analytical engines"]
    cursor = first.json()["next_cursor"]
    second = tenant.get(articles, params={"search": "engine", "per_page": 1, "cursor": cursor})
    assert titles(second) == ["Engines of war"]
    assert second.json()["next_cursor"] is None
    other = tenant.get(articles, params={"search": "war", "per_page": 1, "cursor": cursor})
    assert other.status_code == 400
    assert other.json()["error"]["field"] == "cursor"

    body = {"search": "engines", "filter": {"field": "words", "op": "gte", "value": 100}}
    assert titles(tenant.post(f"{articles}/search", json=body)) == ["Analytical engines"]


@pytest.mark.parametrize("search", ["!!!", "x" * 201, "\x00"])
def test_a_search_without_words_is_400(tenant: Tenant, articles: str, search: str) -> None:
    response = tenant.get(articles, params={"search": search})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "search"


def test_a_schema_without_text_finds_nothing(tenant: Tenant) -> None:
    app = create_app(tenant)
    create_schema(
        tenant, app["slug"], name="N", slug="n", fields=[{"slug": "n", "type": "integer"}]
    )
    path = records_path(app["slug"], "n")
    assert tenant.post(path, json={"n": 1}).status_code == 201
    assert tenant.get(path, params={"search": "1"}).json()["records"] == []
