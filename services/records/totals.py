"""Exact totals of filtered lists without a count on every page.

Counting the records a filter selects scans every one of them: a third of a 100,000-record
table is 33,000 index entries per page, and more once updates have left dead tuples. Yet
most pages ask for a total nothing has changed since the last page asked. So each record
table keeps a change counter beside its row counters (the same statement-level triggers
add one for every insert, update, delete or truncate, see repository.count_trigger_sql),
and a total is remembered with the counter value it was counted at. A page reads the
counter (a sum over a few rows) and reuses the total while the counter has not moved.

Exact, not approximate: the total and its counter value are read by one statement, so
from one snapshot; every committed write raises the counter and snapshots only ever see
more commits, so two snapshots showing the same counter value saw the same rows.

What a statement selects is keyed by SQLAlchemy's own cache key of the count statement
(its structure, without bound values) together with those values: exactly the SQL that
would run, whoever asks. A statement that reads another table (a link field's join
table, whose writes do not move this table's counter) is never remembered."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, Final

from sqlalchemy import Select, Table
from sqlalchemy.sql.visitors import iterate

# Totals remembered per records process, the least recently used going first.
TOTALS_KEPT: Final = 4096


def _frozen(value: Any) -> Hashable | None:
    """A bound value as part of a key; None when it cannot be one (a JSON object)."""
    if isinstance(value, list | tuple):
        items = [_frozen(item) for item in value]
        return None if any(item is None for item in items) else (type(value).__name__, *items)
    if isinstance(value, dict):
        return None
    try:
        hash(value)
    except TypeError:
        return None
    return (type(value).__name__, value)


class Totals:
    """Totals of count statements, each with the change counter it was counted at; and
    the statements whose totals may not be kept."""

    def __init__(self, capacity: int = TOTALS_KEPT) -> None:
        self._capacity = capacity
        # key -> (counter, total), or None for a statement that reads other tables.
        self._kept: OrderedDict[Hashable, tuple[int, int] | None] = OrderedDict()

    @staticmethod
    def key(statement: Select[Any]) -> Hashable | None:
        """What identifies the statement's SQL and values; None when nothing does."""
        cache_key = statement._generate_cache_key()
        if cache_key is None:
            return None
        values = []
        for bind in cache_key.bindparams:
            value = _frozen(bind.effective_value)
            if value is None and bind.effective_value is not None:
                return None
            values.append(value)
        return (cache_key.key, tuple(values))

    def refused(self, key: Hashable) -> bool:
        return key in self._kept and self._kept[key] is None

    def total(self, key: Hashable, changes: int) -> int | None:
        """The total counted when the counter stood at `changes`, if it is kept."""
        kept = self._kept.get(key)
        if kept is None:
            return None
        self._kept.move_to_end(key)
        counted_at, total = kept
        return total if counted_at == changes else None

    def keep(self, key: Hashable, changes: int, total: int) -> None:
        self._put(key, (changes, total))

    def refuse(self, key: Hashable) -> None:
        self._put(key, None)

    def _put(self, key: Hashable, value: tuple[int, int] | None) -> None:
        self._kept[key] = value
        self._kept.move_to_end(key)
        while len(self._kept) > self._capacity:
            self._kept.popitem(last=False)


def reads_only(statement: Select[Any], table: Table) -> bool:
    """Whether `statement` reads no table but `table` (its counter covers nothing else)."""
    return all(element is table for element in iterate(statement) if isinstance(element, Table))
