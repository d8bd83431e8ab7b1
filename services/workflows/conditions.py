"""A workflow's condition written in the records filter language, over its parameters and
the current user, as the records API takes filters as data:

    {"and": [{"field": "params.score", "op": "gte", "value": 0},
             {"field": "$current_user", "op": "nempty"}]}

`field` names a parameter (`params.score`, or a key inside one: `params.address.city`) or
`$current_user`; `value` is a literal. The operators are the records engine's
(services.kit.fields), with its meaning: a comparison with a missing value does not hold,
`empty` holds for null, "" and [], `in` and the `has_*` operators take a list, `between`
two bounds. Checked whole when the workflow is saved; evaluated like an expression
(services.workflows.expressions), so a run skips what its condition rules out."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from services.kit.errors import ValidationFailed
from services.kit.fields import ALL_OPERATORS, LIST_OPERATORS, NULLARY_OPERATORS
from services.kit.filter_tree import MAX_TREE_DEPTH
from services.workflows.expressions import CURRENT_USER_MARK

_FIELD = re.compile(r"params(\.[A-Za-z_][A-Za-z0-9_]{0,63}){1,8}|\$current_user")
MAX_CONDITIONS = 100


@dataclass(frozen=True, slots=True)
class _Test:
    path: tuple[str, ...]
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class _Group:
    every: bool
    members: tuple[_Test | _Group, ...]


@dataclass(frozen=True, slots=True)
class FilterCondition:
    """A filter tree, checked once; evaluate() tells whether it holds for a run's values."""

    tree: _Test | _Group

    def members(self, root: str) -> frozenset[str]:
        return frozenset(test.path[1] for test in _tests(self.tree) if test.path[0] == root)

    def evaluate(self, values: Mapping[str, Any]) -> bool:
        return _holds(self.tree, values)


def parse_filter_condition(tree: Any, *, where: str) -> FilterCondition:
    """`tree` checked; ValidationFailed naming its place (`condition.and[1]`) otherwise."""
    count = [0]
    parsed = _node(tree, where, 0, count)
    return FilterCondition(parsed)


def _node(node: Any, where: str, depth: int, count: list[int]) -> _Test | _Group:
    if not isinstance(node, dict):
        raise ValidationFailed("A filter is an object", field=where)
    if depth > MAX_TREE_DEPTH:
        raise ValidationFailed(f"Filter groups nest at most {MAX_TREE_DEPTH} deep", field=where)
    for key in ("and", "or"):
        if key in node:
            if len(node) != 1 or not isinstance(node[key], list):
                raise ValidationFailed(
                    f'A filter group is {{"{key}": [filters]}} and nothing else', field=where
                )
            members = tuple(
                _node(item, f"{where}.{key}[{index}]", depth + 1, count)
                for index, item in enumerate(node[key])
            )
            return _Group(key == "and", members)
    count[0] += 1
    if count[0] > MAX_CONDITIONS:
        raise ValidationFailed(f"A filter has at most {MAX_CONDITIONS} conditions", field=where)
    if set(node) - {"field", "op", "value"} or not isinstance(node.get("field"), str):
        raise ValidationFailed(
            'A condition is {"field", "op", "value"}; a group is {"and": [...]} or {"or": [...]}',
            field=where,
        )
    field, op, value = node["field"], node.get("op", "eq"), node.get("value")
    if not _FIELD.fullmatch(field):
        raise ValidationFailed(
            f"'{where}.field' names a parameter (params.<name>) or $current_user",
            field=f"{where}.field",
        )
    if not isinstance(op, str) or op not in ALL_OPERATORS:
        shown = op[:32] if isinstance(op, str) else op
        raise ValidationFailed(f"Unknown filter operator {shown!r}", field=f"{where}.op")
    if op in LIST_OPERATORS and not isinstance(value, list):
        raise ValidationFailed(f"'{op}' takes a list of values", field=f"{where}.value")
    if op == "between" and not (isinstance(value, list) and len(value) == 2):
        raise ValidationFailed("'between' takes two values, [low, high]", field=f"{where}.value")
    if op in NULLARY_OPERATORS and value is not None:
        raise ValidationFailed(f"'{op}' takes no value", field=f"{where}.value")
    path = ("current_user",) if field == CURRENT_USER_MARK else tuple(field.split("."))
    return _Test(path, op, value)


def _tests(node: _Test | _Group) -> list[_Test]:
    if isinstance(node, _Test):
        return [node]
    return [test for member in node.members for test in _tests(member)]


def _holds(node: _Test | _Group, values: Mapping[str, Any]) -> bool:
    if isinstance(node, _Group):
        found = (_holds(member, values) for member in node.members)
        return all(found) if node.every else any(found)
    return _test(node.op, _resolve(node.path, values), node.value)


def _resolve(path: tuple[str, ...], values: Mapping[str, Any]) -> Any:
    current: Any = values
    for key in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def _comparable(value: Any) -> Any:
    """Numbers as numbers; dates and date-times as moments when the text is one."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    if isinstance(value, str):
        for parse in (datetime.fromisoformat, date.fromisoformat):
            try:
                return parse(value)
            except ValueError:
                continue
    return value


def _compare(field: Any, value: Any, check: Callable[[Any, Any], bool]) -> bool:
    if field is None or value is None:
        return False
    try:
        return check(_comparable(field), _comparable(value))
    except TypeError:
        # Different kinds (a number and a text, a date and a date-time with its offset).
        return False


def _equal(field: Any, value: Any) -> bool:
    return _compare(field, value, lambda a, b: bool(a == b)) or (field is None and value is None)


def _text(field: Any, value: Any, check: Callable[[str, str], bool]) -> bool:
    return isinstance(field, str) and isinstance(value, str) and check(field, value)


def _empty(field: Any) -> bool:
    return field is None or field == "" or field == [] or field == {}


def _items(field: Any) -> list[Any]:
    return field if isinstance(field, list) else ([] if field is None else [field])


_OPERATIONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": _equal,
    "neq": lambda f, v: not _equal(f, v),
    "lt": lambda f, v: _compare(f, v, lambda a, b: bool(a < b)),
    "lte": lambda f, v: _compare(f, v, lambda a, b: bool(a <= b)),
    "gt": lambda f, v: _compare(f, v, lambda a, b: bool(a > b)),
    "gte": lambda f, v: _compare(f, v, lambda a, b: bool(a >= b)),
    "before": lambda f, v: _compare(f, v, lambda a, b: bool(a < b)),
    "after": lambda f, v: _compare(f, v, lambda a, b: bool(a > b)),
    "on": _equal,
    "between": lambda f, v: (
        _compare(f, v[0], lambda a, b: bool(a >= b))
        and _compare(f, v[1], lambda a, b: bool(a <= b))
    ),
    "in": lambda f, v: any(_equal(f, item) for item in v),
    "nin": lambda f, v: not any(_equal(f, item) for item in v),
    "contains": lambda f, v: _text(f, v, lambda a, b: b in a),
    "ncontains": lambda f, v: not _text(f, v, lambda a, b: b in a),
    "icontains": lambda f, v: _text(f, v, lambda a, b: b.casefold() in a.casefold()),
    "starts_with": lambda f, v: _text(f, v, str.startswith),
    "ends_with": lambda f, v: _text(f, v, str.endswith),
    "empty": lambda f, _: _empty(f),
    "nempty": lambda f, _: not _empty(f),
    "has_any": lambda f, v: any(_equal(i, w) for i in _items(f) for w in v),
    "has_all": lambda f, v: all(any(_equal(i, w) for i in _items(f)) for w in v),
    "has_none": lambda f, v: not any(_equal(i, w) for i in _items(f) for w in v),
}


def _test(op: str, field: Any, value: Any) -> bool:
    return _OPERATIONS[op](field, value)
