"""A records filter as a JSON tree, the records API's contract for filters given as data
(a search body, a workflow's find step): groups {"and": [...]} and {"or": [...]} of
conditions {"field": "<slug>", "op": "<operator>", "value": ...}, turned into the
FilterNode the records service reads. The field's type parses each value there."""

from __future__ import annotations

from typing import Any

from tessera.records.v1 import records_pb2

from services.kit.errors import ValidationFailed
from services.kit.json import dumps_exact

# Longer than any operator; a tree's operators are cut to it.
MAX_OPERATOR_LENGTH = 32
# Keys are echoed in errors at most this long.
MAX_KEY_SHOWN = 100
MAX_TREE_DEPTH = 8


def tree_node(node: Any, where: str, *, depth: int) -> records_pb2.FilterNode:
    if not isinstance(node, dict):
        raise ValidationFailed("A filter is an object", field=where)
    if depth > MAX_TREE_DEPTH:
        raise ValidationFailed(f"Filter groups nest at most {MAX_TREE_DEPTH} deep", field=where)
    groups = [key for key in ("and", "or") if key in node]
    if groups:
        key = groups[0]
        if len(node) != 1 or not isinstance(node[key], list):
            raise ValidationFailed(
                f'A filter group is {{"{key}": [filters]}} and nothing else', field=where
            )
        members = [
            tree_node(item, f"{where}.{key}[{index}]", depth=depth + 1)
            for index, item in enumerate(node[key])
        ]
        group = records_pb2.FilterGroup(nodes=members, source=where)
        if key == "and":
            return records_pb2.FilterNode(all_of=group)
        return records_pb2.FilterNode(any_of=group)
    unknown = set(node) - {"field", "op", "value"}
    if unknown or not isinstance(node.get("field"), str):
        raise ValidationFailed(
            'A condition is {"field", "op", "value"}; a group is {"and": [...]} or {"or": [...]}',
            field=where,
        )
    op = node.get("op", "eq")
    if not isinstance(op, str):
        raise ValidationFailed("'op' must be a string", field=where)
    condition = records_pb2.Condition(
        field=node["field"][:MAX_KEY_SHOWN],
        op=op[:MAX_OPERATOR_LENGTH],
        source=where,
        json=dumps_exact(node.get("value")),
    )
    return records_pb2.FilterNode(condition=condition)
