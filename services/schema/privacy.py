"""Privacy rules as builders write them (field slugs) checked against the schema and turned
into the stored form (field ids), and back. Pure: no I/O. What the rules mean is
services.kit.privacy's to say."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.kit.access import APP_ROLES, ROLES
from services.kit.errors import ValidationFailed
from services.kit.fields import ALL_OPERATORS, REGISTRY
from services.kit.privacy import ACTIONS, CURRENT_USER, ROLE_OPERATORS
from services.schema.models import Field, Schema
from services.schema.rules import clean_name

MAX_RULES = 50
MAX_CONDITION_NODES = 100
MAX_CONDITION_DEPTH = 6
RULE_KEYS = frozenset({"name", "condition", "read_fields", *ACTIONS})
DEFAULT_KEYS = frozenset({"read_fields", *ACTIONS})
# Operators whose operand may be (or hold) the current user's id.
CURRENT_USER_OPERATORS = frozenset({"eq", "neq", "in", "nin", "has_any", "has_all", "has_none"})
KNOWN_ROLES = frozenset(ROLES) | frozenset(APP_ROLES)


def parse_rules(body: Any, schema: Schema) -> dict[str, Any] | None:
    """`{"rules": [...], "default": {...}}` checked and stored with field ids; `{"rules":
    null}` or `null` removes them (the schema is then open to members by role)."""
    if body is None:
        return None
    if not isinstance(body, dict) or set(body) - {"rules", "default"}:
        raise ValidationFailed(
            'Privacy rules are {"rules": [...], "default": {...}}', field="rules"
        )
    if body.get("rules") is None and body.get("default") is None:
        return None
    rules = body.get("rules") or []
    if not isinstance(rules, list):
        raise ValidationFailed("'rules' must be a list", field="rules")
    if len(rules) > MAX_RULES:
        raise ValidationFailed(f"A schema has at most {MAX_RULES} rules", field="rules")
    by_slug = {f.slug: f for f in schema.fields}
    stored = [_rule(rule, f"rules[{index}]", by_slug) for index, rule in enumerate(rules)]
    names = [rule["name"] for rule in stored]
    if len(set(names)) != len(names):
        raise ValidationFailed("Rule names must differ", field="rules")
    default = body.get("default") or {}
    return {"rules": stored, "default": _permissions(default, "default", by_slug, DEFAULT_KEYS)}


def present_rules(stored: Mapping[str, Any] | None, schema: Schema) -> dict[str, Any]:
    """The stored rules with field slugs, as builders wrote them. A field deleted since
    shows as its id; a condition on it holds for no record."""
    if stored is None:
        return {"rules": [], "default": None}
    by_id = {f.id: f.slug for f in schema.fields}

    def slugs(permissions: Mapping[str, Any]) -> dict[str, Any]:
        shown: dict[str, Any] = {action: bool(permissions.get(action)) for action in ACTIONS}
        fields = permissions.get("read_fields")
        shown["read_fields"] = "all" if fields is None else [by_id.get(i, i) for i in fields]
        return shown

    return {
        "rules": [
            {
                "name": rule["name"],
                "condition": _condition_slugs(rule.get("condition"), by_id),
                **slugs(rule),
            }
            for rule in stored.get("rules", ())
        ],
        "default": slugs(stored.get("default") or {}),
    }


def _condition_slugs(node: Any, by_id: Mapping[str, str]) -> Any:
    if node is None:
        return None
    for group in ("and", "or"):
        if group in node:
            return {group: [_condition_slugs(member, by_id) for member in node[group]]}
    if "role" in node:
        return dict(node)
    # JSONB keeps keys in its own order; builders wrote field, op, value.
    return {
        "field": by_id.get(node["field"], node["field"]),
        "op": node["op"],
        "value": node.get("value"),
    }


def _rule(rule: Any, where: str, by_slug: Mapping[str, Field]) -> dict[str, Any]:
    if not isinstance(rule, dict):
        raise ValidationFailed("A rule is an object", field=where)
    unknown = set(rule) - RULE_KEYS
    if unknown:
        raise ValidationFailed(
            f"Unknown key {sorted(unknown)[0]!r} in a rule", field=f"{where}.{sorted(unknown)[0]}"
        )
    name = rule.get("name")
    if not isinstance(name, str):
        raise ValidationFailed("A rule needs a name", field=f"{where}.name")
    budget = [0]
    condition = rule.get("condition")
    return {
        "name": clean_name(name),
        "condition": None
        if condition is None
        else _node(condition, f"{where}.condition", by_slug, depth=0, budget=budget),
        **_permissions(rule, where, by_slug, RULE_KEYS),
    }


def _permissions(
    given: Any, where: str, by_slug: Mapping[str, Field], allowed: frozenset[str]
) -> dict[str, Any]:
    if not isinstance(given, dict):
        raise ValidationFailed("Permissions are an object", field=where)
    unknown = set(given) - allowed
    if unknown:
        key = sorted(unknown)[0]
        raise ValidationFailed(f"Unknown key {key!r}", field=f"{where}.{key}")
    stored: dict[str, Any] = {}
    for action in ACTIONS:
        value = given.get(action, False)
        if not isinstance(value, bool):
            raise ValidationFailed(f"'{action}' must be true or false", field=f"{where}.{action}")
        stored[action] = value
    fields = given.get("read_fields", "all")
    if fields == "all":
        stored["read_fields"] = None
    elif isinstance(fields, list) and all(isinstance(slug, str) for slug in fields):
        missing = [slug for slug in fields if slug not in by_slug]
        if missing:
            raise ValidationFailed(
                f"Unknown field {missing[0][:64]!r} in read_fields", field=f"{where}.read_fields"
            )
        stored["read_fields"] = list(dict.fromkeys(by_slug[slug].id for slug in fields))
    else:
        raise ValidationFailed(
            "'read_fields' is \"all\" or a list of field slugs", field=f"{where}.read_fields"
        )
    return stored


def _node(
    node: Any, where: str, by_slug: Mapping[str, Field], *, depth: int, budget: list[int]
) -> dict[str, Any]:
    budget[0] += 1
    if budget[0] > MAX_CONDITION_NODES:
        raise ValidationFailed(f"A condition has at most {MAX_CONDITION_NODES} parts", field=where)
    if not isinstance(node, dict):
        raise ValidationFailed("A condition is an object", field=where)
    for group in ("and", "or"):
        if group in node:
            if len(node) != 1 or not isinstance(node[group], list) or not node[group]:
                raise ValidationFailed(
                    f'A group is {{"{group}": [conditions]}} with at least one', field=where
                )
            if depth >= MAX_CONDITION_DEPTH:
                raise ValidationFailed(
                    f"Groups nest at most {MAX_CONDITION_DEPTH} deep", field=where
                )
            return {
                group: [
                    _node(member, f"{where}.{group}[{i}]", by_slug, depth=depth + 1, budget=budget)
                    for i, member in enumerate(node[group])
                ]
            }
    if "role" in node:
        return _role_condition(node, where)
    return _field_condition(node, where, by_slug)


def _role_condition(node: dict[str, Any], where: str) -> dict[str, Any]:
    roles = node.get("value")
    if (
        set(node) != {"role", "value"}
        or node["role"] not in ROLE_OPERATORS
        or not isinstance(roles, list)
        or not all(isinstance(role, str) for role in roles)
    ):
        raise ValidationFailed(
            'A role condition is {"role": "in" or "nin", "value": [roles]}', field=where
        )
    unknown = [role for role in roles if role not in KNOWN_ROLES]
    if unknown:
        raise ValidationFailed(f"Unknown role {unknown[0][:32]!r}", field=where)
    return {"role": node["role"], "value": sorted(set(roles))}


def _field_condition(
    node: dict[str, Any], where: str, by_slug: Mapping[str, Field]
) -> dict[str, Any]:
    if set(node) - {"field", "op", "value"} or not isinstance(node.get("field"), str):
        raise ValidationFailed(
            'A condition is {"field", "op", "value"}, {"role", "value"} or a group',
            field=where,
        )
    field = by_slug.get(node["field"])
    if field is None:
        raise ValidationFailed(f"Unknown field {node['field'][:64]!r}", field=where)
    op = node.get("op", "eq")
    field_type = REGISTRY[field.type]
    if not isinstance(op, str) or op not in ALL_OPERATORS or op not in field_type.operators:
        supported = ", ".join(sorted(field_type.operators))
        raise ValidationFailed(
            f"Fields of type {field.type} support {supported}", field=f"{where}.op"
        )
    value = node.get("value")
    mentions_user = value == CURRENT_USER or (isinstance(value, list) and CURRENT_USER in value)
    if mentions_user:
        if op not in CURRENT_USER_OPERATORS:
            raise ValidationFailed(
                f"'{CURRENT_USER}' can be compared with eq, neq, in, nin or has_*",
                field=f"{where}.op",
            )
    else:
        try:
            field_type.operand(field, op, value, text=False)
        except ValueError:
            raise ValidationFailed(
                f"The value does not fit a {field.type} field with '{op}'", field=f"{where}.value"
            ) from None
    return {"field": field.id, "op": op, "value": value}
