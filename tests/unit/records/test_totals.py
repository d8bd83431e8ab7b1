"""Which count statements share a remembered total: exactly those with the same SQL and
the same values."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, MetaData, Select, Table, Text, exists, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

from services.records.totals import Totals, reads_only

metadata = MetaData(schema="app")
records = Table(
    "records", metadata, Column("id", Text), Column("stage", Text), Column("n", BigInteger)
)
links = Table("lnk", metadata, Column("record_id", Text), Column("target_id", Text))
documents = Table("documents", metadata, Column("id", Text), Column("meta", JSONB))


def count(*conditions: ColumnElement[bool]) -> Select[Any]:
    return select(func.count()).select_from(records).where(*conditions)


def test_the_same_sql_with_the_same_values_shares_a_key() -> None:
    key = Totals.key(count(records.c.stage == "won", records.c.n.in_([1, 2])))

    assert key == Totals.key(count(records.c.stage == "won", records.c.n.in_([1, 2])))
    assert key != Totals.key(count(records.c.stage == "lost", records.c.n.in_([1, 2])))
    assert key != Totals.key(count(records.c.stage == "won", records.c.n.in_([1, 2, 3])))
    assert key != Totals.key(count(records.c.stage == "won", records.c.n > 2))
    # A value that is not hashable (a JSON object) leaves the statement without a key.
    json_filter = select(func.count()).where(documents.c.meta == {"k": 1})
    assert Totals.key(json_filter) is None


def test_a_total_holds_for_its_counter_value_only() -> None:
    totals = Totals()
    key = Totals.key(count(records.c.stage == "won"))
    assert key is not None

    assert totals.total(key, 7) is None
    totals.keep(key, 7, 42)
    assert totals.total(key, 7) == 42
    assert totals.total(key, 8) is None
    totals.refuse(key)
    assert totals.refused(key)
    assert totals.total(key, 7) is None


def test_the_least_recently_used_go_first() -> None:
    totals = Totals(capacity=2)
    keys = [Totals.key(count(records.c.n == n)) for n in range(3)]
    totals.keep(keys[0], 1, 10)
    totals.keep(keys[1], 1, 11)
    assert totals.total(keys[0], 1) == 10
    totals.keep(keys[2], 1, 12)

    assert totals.total(keys[1], 1) is None
    assert (totals.total(keys[0], 1), totals.total(keys[2], 1)) == (10, 12)


def test_a_statement_reading_another_table_is_told_apart() -> None:
    assert reads_only(count(records.c.stage == "won"), records)
    linked = exists().where(links.c.record_id == records.c.id, links.c.target_id == "acme")
    assert not reads_only(count(linked), records)
