"""Privacy rules, and the one answer to "what may this principal see and do in this
schema" that every surface asks: record reads and writes, counts, search and export now;
the per-app OpenAPI spec, realtime, webhooks and workflows later.

A schema's rules are ordered; each has a condition and what callers it holds for may do:
`find` (the record appears in gets, lists and searches), `read_fields` (all, or a list),
`create`, `update`, `delete`. The `default` ("everyone else") applies to a record no rule's
condition holds for. Rules bind every caller but designers (workspace owners, admins and
builders) and admin tokens made to bypass them. A schema without rules is open to members
by their role and closed to app end users and anonymous callers.

Rules are stored with field ids (renames cost nothing). A condition is the records
engine's filter language, `{"field", "op", "value"}` in `{"and": [...]}`/`{"or": [...]}`
groups, where a value may be "$current_user", plus caller conditions
`{"role": "in"|"nin", "value": [roles]}`. `schema_access` evaluates everything about the
caller up front and leaves a residual tree about the record only, which the records
service compiles into SQL and realtime can evaluate in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from services.kit.access import Kind, Principal

CURRENT_USER = "$current_user"
ACTIONS = ("find", "create", "update", "delete")
ROLE_OPERATORS = ("in", "nin")

# Always, never, or a tree about the record alone.
Always = Literal[True]
Never = Literal[False]


@dataclass(frozen=True, slots=True)
class FieldTest:
    field_id: str
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class AnyOf:
    members: tuple[Residual, ...]


@dataclass(frozen=True, slots=True)
class AllOf:
    members: tuple[Residual, ...]


@dataclass(frozen=True, slots=True)
class NoneOf:
    """Holds when no member does: the default's condition (no rule matched)."""

    members: tuple[Residual, ...]


Residual = FieldTest | AnyOf | AllOf | NoneOf
Condition = bool | Residual


@dataclass(frozen=True, slots=True)
class Branch:
    """One way a record comes into view: where `when` holds, `fields` are readable
    (None: all of them)."""

    when: Condition
    fields: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class SchemaAccess:
    """What one principal may see and do in one schema. `bound` False: everything (the
    role table has already said whether the operation itself is allowed)."""

    bound: bool
    find: tuple[Branch, ...] = ()
    create: Condition = True
    update: Condition = True
    delete: Condition = True

    @property
    def readable(self) -> frozenset[str] | None:
        """Field ids that can appear in some record this principal finds; None: all."""
        if not self.bound:
            return None
        union: set[str] = set()
        for branch in self.find:
            if branch.fields is None:
                return None
            union |= branch.fields
        return frozenset(union)

    @property
    def usable(self) -> frozenset[str] | None:
        """Field ids readable in every record this principal finds: the only ones it may
        filter, sort or search on (anything else would leak through what matches)."""
        if not self.bound:
            return None
        common: frozenset[str] | None = None
        for branch in self.find:
            if branch.fields is None:
                continue
            common = branch.fields if common is None else common & branch.fields
        return common

    @property
    def uniform_fields(self) -> bool:
        """Whether every found record shows the same fields (no per-record masking)."""
        return len({branch.fields for branch in self.find}) <= 1

    @property
    def finds_nothing(self) -> bool:
        return self.bound and not self.find


OPEN = SchemaAccess(bound=False)
CLOSED = SchemaAccess(bound=True, find=(), create=False, update=False, delete=False)


def schema_access(principal: Principal, rules: Mapping[str, Any] | None) -> SchemaAccess:
    """The one decision: what `principal` may see and do in a schema with these stored
    rules (None: the schema has none)."""
    if not principal.bound_by_privacy_rules:
        return OPEN
    if rules is None:
        if principal.kind in (Kind.APP_USER, Kind.ANONYMOUS):
            return CLOSED
        return OPEN
    evaluated = [
        (_evaluate(rule.get("condition"), principal), rule) for rule in rules.get("rules", ())
    ]
    live = [(condition, rule) for condition, rule in evaluated if condition is not False]
    default = rules.get("default") or {}
    # The default holds where no rule's condition does.
    if any(condition is True for condition, _ in live):
        otherwise: Condition = False
    else:
        otherwise = _none_of([condition for condition, _ in live])  # type: ignore[misc]
    find: list[Branch] = [
        Branch(condition, _fields(rule.get("read_fields")))
        for condition, rule in live
        if rule.get("find")
    ]
    if default.get("find") and otherwise is not False:
        find.append(Branch(otherwise, _fields(default.get("read_fields"))))

    def allowed(action: str) -> Condition:
        ways: list[Condition] = [condition for condition, rule in live if rule.get(action)]
        if default.get(action):
            ways.append(otherwise)
        return _any_of(ways)

    return SchemaAccess(
        bound=True,
        find=tuple(find),
        create=allowed("create"),
        update=allowed("update"),
        delete=allowed("delete"),
    )


def _fields(given: Any) -> frozenset[str] | None:
    if given is None or given == "all":
        return None
    return frozenset(str(item) for item in given)


def _evaluate(node: Any, principal: Principal) -> Condition:
    """The condition with everything about the caller decided."""
    if node is None:
        return True
    if "and" in node:
        return _all_of([_evaluate(member, principal) for member in node["and"]])
    if "or" in node:
        return _any_of([_evaluate(member, principal) for member in node["or"]])
    if "role" in node:
        role = (
            principal.app_role
            if principal.kind in (Kind.APP_USER, Kind.ANONYMOUS)
            else principal.role
        )
        held = role in set(node.get("value") or ())
        return held if node["role"] == "in" else not held
    value = node.get("value")
    user = principal.current_user
    if _mentions_current_user(value):
        if user is None:
            # Nobody is signed in: a test against the current user holds for no record.
            return False
        value = _substitute(value, user)
    return FieldTest(field_id=str(node["field"]), op=str(node.get("op", "eq")), value=value)


def _mentions_current_user(value: Any) -> bool:
    if isinstance(value, list):
        return any(item == CURRENT_USER for item in value)
    return value == CURRENT_USER


def _substitute(value: Any, user: str) -> Any:
    if isinstance(value, list):
        return [user if item == CURRENT_USER else item for item in value]
    return user


def _all_of(members: Sequence[Condition]) -> Condition:
    if any(member is False for member in members):
        return False
    rest = tuple(member for member in members if member is not True)
    if not rest:
        return True
    return rest[0] if len(rest) == 1 else AllOf(rest)  # type: ignore[arg-type]


def _any_of(members: Sequence[Condition]) -> Condition:
    if any(member is True for member in members):
        return True
    rest = tuple(member for member in members if member is not False)
    if not rest:
        return False
    return rest[0] if len(rest) == 1 else AnyOf(rest)  # type: ignore[arg-type]


def _none_of(members: Sequence[Residual]) -> Condition:
    return NoneOf(tuple(members)) if members else True


def field_ids(node: Any) -> Iterable[str]:
    """Every field id a stored condition tests."""
    if node is None:
        return
    if "and" in node or "or" in node:
        for member in node.get("and") or node.get("or"):
            yield from field_ids(member)
    elif "field" in node:
        yield str(node["field"])
