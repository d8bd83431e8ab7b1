"""The field-type base class and the filter operators every type chooses from."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Column, Index, and_, not_, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from services.kit.errors import ValidationFailed


class FieldLike(Protocol):
    """What a type needs to know about the field it checks a value for."""

    @property
    def slug(self) -> str: ...

    @property
    def option_set(self) -> frozenset[str]: ...

    @property
    def options(self) -> tuple[str, ...]: ...

    @property
    def config(self) -> Mapping[str, Any]: ...


class NoConfig(BaseModel):
    """Type-specific settings of a field; most types take none."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# Turns a stored (non-null) value into JSON; None means the stored value already is JSON.
Serializer = Callable[[Any], Any] | None

# Where a field's values live.
COLUMN = "column"  # one typed column named by the field id
SYSTEM = "system"  # a column every record table has (created_at, created_by, ...)
JOIN = "join"  # a table of its own pairing records with the records they link to

# Operators of the filter language. Lists are comma-separated in a query string.
LIST_OPERATORS = frozenset({"in", "nin", "has_any", "has_all", "has_none"})
PAIR_OPERATORS = frozenset({"between"})
NULLARY_OPERATORS = frozenset({"empty", "nempty"})
ALL_OPERATORS = frozenset(
    {
        "eq",
        "neq",
        "lt",
        "lte",
        "gt",
        "gte",
        "in",
        "nin",
        "contains",
        "ncontains",
        "icontains",
        "starts_with",
        "ends_with",
        "empty",
        "nempty",
        "between",
        "before",
        "after",
        "on",
        "has_any",
        "has_all",
        "has_none",
    }
)
MAX_LIST_OPERANDS = 100
EQUALITY = frozenset({"eq", "neq", "in", "nin", "empty", "nempty"})
ORDERING = EQUALITY | {"lt", "lte", "gt", "gte", "between"}
TEXTUAL = ORDERING | {"contains", "ncontains", "icontains", "starts_with", "ends_with"}
DATES = ORDERING | {"before", "after", "on"}


def escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class FieldType:
    """Base class of every field type. Values reaching validate() are never None: the
    caller handles null and `required` before asking the type."""

    name: ClassVar[str]
    # Human wording of what a value must be, used in error messages.
    expected: ClassVar[str]
    storage: ClassVar[str] = COLUMN
    # For SYSTEM storage: the record table's column holding the value.
    system_column: ClassVar[str] = ""
    # Values come from the system, never from a client.
    read_only: ClassVar[bool] = False
    sortable: ClassVar[bool] = True
    # Takes a list of choices (`options`), like select.
    takes_choices: ClassVar[bool] = False
    config_model: ClassVar[type[BaseModel]] = NoConfig
    # Its text is part of the record's full-text search.
    searchable: ClassVar[bool] = False
    can_be_unique: ClassVar[bool] = True
    can_be_primary: ClassVar[bool] = True
    operators: ClassVar[frozenset[str]] = EQUALITY

    # --- storage -------------------------------------------------------------------------

    def column_type(self, config: Mapping[str, Any]) -> TypeEngine[Any]:
        raise NotImplementedError

    def sort_key(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        """What a sort (and its index) orders by; text-like types bound it."""
        return column

    def sort_value(self, value: Any) -> Any:
        """A stored value as sort_key() orders it, for keyset cursors."""
        return value

    def index(self, name: str, column: Column[Any], id_column: Column[Any]) -> Index | None:
        """The index serving this field's sort and filter; (key, id) matches the tie-break
        by id, so a sorted page is read straight off the index."""
        if not self.sortable:
            return None
        return Index(name, self.sort_key(column), id_column)

    def unique_index(self, name: str, column: Column[Any]) -> Index:
        return Index(name, column, unique=True)

    # --- values --------------------------------------------------------------------------

    def validate(self, field: FieldLike, value: Any) -> Any:
        """JSON input -> the value to store; ValidationFailed(field=slug) when unfit."""
        raise NotImplementedError

    def parse_cell(self, field: FieldLike, raw: str) -> Any:
        """A non-empty CSV cell -> the value to store, as validate() makes it from JSON;
        ValidationFailed(field=slug) when unfit. Text-like types keep the text as it is;
        the others read what an export writes for their values (and a little more)."""
        return self.validate(field, raw)

    def serializer(self, config: Mapping[str, Any]) -> Serializer:
        """A function turning a stored (non-null) value into JSON, or None for identity."""
        return None

    def value_schema(self, field: FieldLike) -> dict[str, Any]:
        """The JSON Schema of a (non-null) value as the API answers with it; any JSON
        value unless the type says more."""
        return {}

    def input_schema(self, field: FieldLike) -> dict[str, Any]:
        """The JSON Schema of a value a client may write; most types take what they
        answer with."""
        return self.value_schema(field)

    def fail(self, field: FieldLike) -> ValidationFailed:
        return ValidationFailed(f"Field '{field.slug}' must be {self.expected}", field=field.slug)

    # --- filters -------------------------------------------------------------------------

    def parse_text(self, field: FieldLike, raw: str) -> Any:
        """A query-string operand -> a stored-form value; ValueError when unfit."""
        try:
            return self.validate(field, raw)
        except ValidationFailed:
            raise ValueError(raw) from None

    def parse_json(self, field: FieldLike, value: Any) -> Any:
        """A JSON operand (from a search body) -> a stored-form value; ValueError."""
        if isinstance(value, str):
            return self.parse_text(field, value)
        try:
            return self.validate(field, value)
        except ValidationFailed:
            raise ValueError(value) from None

    def operand(self, field: FieldLike, op: str, value: Any, *, text: bool) -> Any:
        """The operand of `op` in stored form: a scalar, a list (in, has_*), a pair
        (between) or None (empty, nempty); ValueError when it is unfit."""
        if op in NULLARY_OPERATORS:
            return None
        parse = self.parse_text if text else self.parse_json
        if op in LIST_OPERATORS or op in PAIR_OPERATORS:
            items: Sequence[Any]
            if text:
                items = [part.strip() for part in str(value).split(",")]
            elif isinstance(value, list):
                items = value
            else:
                raise ValueError(value)
            if op in PAIR_OPERATORS and len(items) != 2:
                raise ValueError(value)
            if not items or len(items) > MAX_LIST_OPERANDS:
                raise ValueError(value)
            return [parse(field, item) for item in items]
        if op in {"contains", "ncontains", "icontains", "starts_with", "ends_with"}:
            if not isinstance(value, str) or "\x00" in value or len(value) > 1000:
                raise ValueError(value)
            return value
        return parse(field, value)

    def compile(self, column: ColumnElement[Any], op: str, operand: Any) -> ColumnElement[bool]:
        """`column op operand` as SQL; the operand came from operand()."""
        # "on" a date is that date; DatetimeType makes it a calendar day.
        if op in ("eq", "on"):
            return column == operand
        if op == "neq":
            return or_(column != operand, column.is_(None))
        if op == "in":
            return column.in_(operand)
        if op == "nin":
            return or_(column.not_in(operand), column.is_(None))
        if op == "empty":
            return column.is_(None)
        if op == "nempty":
            return column.is_not(None)
        if op in ("lt", "before"):
            return column < operand
        if op == "lte":
            return column <= operand
        if op in ("gt", "after"):
            return column > operand
        if op == "gte":
            return column >= operand
        if op == "between":
            low, high = operand
            return and_(column >= low, column <= high)
        if op == "contains":
            return column.like(f"%{escape_like(operand)}%", escape="\\")
        if op == "ncontains":
            return or_(
                not_(column.like(f"%{escape_like(operand)}%", escape="\\")), column.is_(None)
            )
        if op == "icontains":
            return column.ilike(f"%{escape_like(operand)}%", escape="\\")
        if op == "starts_with":
            return column.like(f"{escape_like(operand)}%", escape="\\")
        if op == "ends_with":
            return column.like(f"%{escape_like(operand)}", escape="\\")
        raise ValueError(op)

    # --- conversions ---------------------------------------------------------------------

    def to_text_sql(self, column: str, config: Mapping[str, Any]) -> str:
        """SQL turning this type's column into text, the common ground of conversions."""
        return f"({column})::text"

    def from_text_sql(self, text: str, field: FieldLike) -> str:
        """SQL turning text into this type's value, NULL where it cannot be one."""
        raise NotImplementedError


__all__ = [
    "ALL_OPERATORS",
    "COLUMN",
    "DATES",
    "EQUALITY",
    "JOIN",
    "LIST_OPERATORS",
    "NULLARY_OPERATORS",
    "ORDERING",
    "PAIR_OPERATORS",
    "SYSTEM",
    "TEXTUAL",
    "FieldLike",
    "FieldType",
    "NoConfig",
    "Serializer",
]
