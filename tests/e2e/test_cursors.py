"""Keyset cursors: every list hands one out, following them visits each record once in the
requested order, and a cursor only works for the list it was made for."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.factories.accounts import Tenant
from tests.factories.tables import Table, invalid, new_table

FIELDS: list[dict[str, Any]] = [
    {"slug": "name", "type": "text"},
    {"slug": "score", "type": "number"},
    {"slug": "group", "type": "select", "options": ["a", "b", "c"]},
    {"slug": "day", "type": "date"},
    {"slug": "at", "type": "datetime"},
    {"slug": "flag", "type": "boolean"},
]
COUNT = 23


def row(i: int) -> dict[str, Any]:
    """Record i: names out of creation order, repeated and missing scores and days."""
    return {
        "name": f"r{(i * 7) % COUNT:02d}",
        "score": None if i % 4 == 0 else i % 5,
        "group": "abc"[i % 3],
        "day": None if i % 6 == 0 else f"2024-01-{1 + i % 4:02d}",
        "at": f"2024-02-01T{i % 24:02d}:00:00Z",
        "flag": i % 2 == 0,
    }


@pytest.fixture(scope="module")
def ranked(shared_tenant: Tenant) -> Table:
    table = new_table(shared_tenant, FIELDS, slug="ranked")
    for i in range(COUNT):
        table.insert(**row(i))
    return table


def ids(records: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in records]


def test_every_list_hands_out_a_cursor_until_its_last_page(ranked: Table) -> None:
    first = ranked.page({"per_page": 10})
    assert isinstance(first["next_cursor"], str)
    second = ranked.page({"per_page": 10, "cursor": first["next_cursor"]})
    assert isinstance(second["next_cursor"], str)
    last = ranked.page({"per_page": 10, "cursor": second["next_cursor"]})
    assert len(last["records"]) == COUNT - 20
    assert last["next_cursor"] is None
    # Numbered pages hand out a cursor too, and a page holding the rest none.
    assert isinstance(ranked.page({"per_page": 10, "page": 2})["next_cursor"], str)
    assert ranked.page({"per_page": 10, "page": 3})["next_cursor"] is None
    assert ranked.page({"per_page": COUNT})["next_cursor"] is None
    assert ranked.page({"filter[name]": "nobody"})["next_cursor"] is None


WALKS = [
    pytest.param({}, id="default-order"),
    pytest.param({"sort": "name"}, id="text"),
    pytest.param({"sort": "-name"}, id="text-descending"),
    pytest.param({"sort": "-score"}, id="number-descending-with-nulls"),
    pytest.param({"sort": "score"}, id="number-with-nulls"),
    pytest.param({"sort": "day"}, id="date-with-nulls"),
    pytest.param({"sort": "-at"}, id="datetime-descending"),
    pytest.param({"sort": "flag,name"}, id="boolean-then-text"),
    pytest.param({"sort": "group,-score"}, id="mixed-directions"),
    pytest.param({"sort": "-group,-score,-day"}, id="three-descending"),
    pytest.param({"sort": "-score", "filter[group]": "a"}, id="filtered"),
    pytest.param(
        {"sort": "name", "filter[score][gte]": "2", "filter[flag]": "true"}, id="two-filters"
    ),
    pytest.param({"sort": "group,score"}, id="ascending-keys-with-nulls"),
]


@pytest.mark.parametrize("params", WALKS)
@pytest.mark.parametrize("per_page", [4, 7])
def test_cursors_visit_every_record_once_in_order(
    ranked: Table, params: dict[str, str], per_page: int
) -> None:
    everything = ranked.page({**params, "per_page": 100})["records"]
    walked = ranked.walk(params, per_page=per_page)
    assert ids(walked) == ids(everything)


def test_the_orders_walked_are_the_ones_asked_for(ranked: Table) -> None:
    by_name = ranked.walk({"sort": "name"}, per_page=5)
    assert [r["name"] for r in by_name] == sorted(r["name"] for r in by_name)
    assert len(by_name) == COUNT
    by_score = [r["score"] for r in ranked.walk({"sort": "-score"}, per_page=5)]
    # Descending puts the records without a score first.
    nulls = by_score.count(None)
    assert by_score[:nulls] == [None] * nulls
    assert by_score[nulls:] == sorted(by_score[nulls:], reverse=True)
    created = ranked.walk({}, per_page=6)
    assert [r["created_at"] for r in created] == sorted(r["created_at"] for r in created)
    assert [r["name"] for r in created] == [row(i)["name"] for i in range(COUNT)]


def test_per_page_may_change_between_pages(ranked: Table) -> None:
    first = ranked.page({"sort": "name", "per_page": 3})
    rest = ranked.page({"sort": "name", "per_page": 100, "cursor": first["next_cursor"]})
    assert ids(first["records"] + rest["records"]) == ids(
        ranked.page({"sort": "name", "per_page": 100})["records"]
    )


@pytest.mark.parametrize("params", [{"sort": "name"}, {"sort": "-score"}, {}])
def test_records_inserted_between_pages_are_never_seen_twice_nor_push_others_out(
    shared_tenant: Tenant, params: dict[str, str]
) -> None:
    table = new_table(shared_tenant, FIELDS)
    before = {table.insert(name=f"m{i:02d}", score=i % 3)["id"] for i in range(12)}
    behind: set[str] = set()
    ahead: set[str] = set()
    seen: list[str] = []
    page = table.page({**params, "per_page": 4})
    while True:
        seen.extend(ids(page["records"]))
        if page["next_cursor"] is None:
            break
        # One record that sorts first, one that sorts last (created last, too).
        first = table.insert(name=f"a{len(seen)}", score=99)["id"]
        ahead.add(table.insert(name=f"z{len(seen)}", score=-1)["id"])
        (ahead if not params else behind).add(first)
        assert len(seen) < 100, "the walk does not end"
        page = table.page({**params, "per_page": 4, "cursor": page["next_cursor"]})
    assert len(seen) == len(set(seen))
    assert before <= set(seen)
    assert ahead <= set(seen)
    assert not behind & set(seen)


def test_a_tampered_cursor_is_400(ranked: Table) -> None:
    cursor = ranked.page({"sort": "name", "per_page": 2})["next_cursor"]
    assert isinstance(cursor, str)
    payload = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    forged = base64.urlsafe_b64encode(payload.replace(b'"i":"rec_', b'"i":"rec-'))
    for bad in (
        cursor[:-3],
        cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:],
        forged.decode().rstrip("="),
        base64.urlsafe_b64encode(b"x" * 40).decode(),
        "not a cursor!",
        "é" * 10,
    ):
        invalid(ranked.query({"sort": "name", "per_page": 2, "cursor": bad}), "cursor")


@pytest.mark.parametrize(
    "other",
    [
        {"sort": "-name"},
        {"sort": "name,score"},
        {"sort": "score"},
        {},
        {"sort": "name", "filter[group]": "a"},
    ],
)
def test_a_cursor_used_with_another_sort_or_filter_is_400(
    ranked: Table, other: dict[str, str]
) -> None:
    cursor = ranked.page({"sort": "name", "per_page": 2})["next_cursor"]
    error = invalid(ranked.query({**other, "cursor": cursor}), "cursor")
    assert "another sort or filter" in error["message"]
    filtered = ranked.page({"filter[group]": "b", "per_page": 2})["next_cursor"]
    invalid(ranked.query({"filter[group]": "c", "cursor": filtered}), "cursor")


def test_cursor_and_page_together_are_400(ranked: Table) -> None:
    cursor = ranked.page({"per_page": 2})["next_cursor"]
    invalid(ranked.query({"per_page": 2, "page": 2, "cursor": cursor}), "cursor")


def test_count_false_leaves_total_null(ranked: Table) -> None:
    first = ranked.page({"per_page": 5, "count": "false"})
    assert first["total"] is None
    assert len(first["records"]) == 5
    assert (
        ranked.page({"per_page": 5, "count": "false", "cursor": first["next_cursor"]})["total"]
        is None
    )
    assert ranked.page({"per_page": 5})["total"] == COUNT
    assert ranked.page({"per_page": 5, "cursor": first["next_cursor"]})["total"] == COUNT
    assert ranked.page({"per_page": 5, "filter[group]": "a", "count": "0"})["total"] is None


def test_a_cursor_from_another_schema_is_400(ranked: Table, shared_tenant: Tenant) -> None:
    other = new_table(shared_tenant, FIELDS)
    for i in range(3):
        other.insert(**row(i))
    cursor = other.page({"per_page": 1})["next_cursor"]
    invalid(ranked.query({"per_page": 1, "cursor": cursor}), "cursor")


def test_a_cursor_made_before_a_type_change_is_400(shared_tenant: Tenant) -> None:
    table = new_table(shared_tenant, FIELDS)
    for i in range(4):
        table.insert(**row(i + 1))
    cursor = table.page({"sort": "score", "per_page": 2})["next_cursor"]
    assert table.change_field("score", {"type": "text"}).status_code == 200
    table.settled(
        table.page({"per_page": 1})["records"][0]["id"], lambda r: isinstance(r["score"], str)
    )
    invalid(table.query({"sort": "score", "per_page": 2, "cursor": cursor}), "cursor")
