"""The records query language at the edge: list parameters from a query string, and the
JSON body of a search, both turned into one ListRecordsRequest. Only the shape is checked
here (known parameters, well-formed values, bounded sizes); what a field and an operator
accept is the records service's business, through the field-type catalogue."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from tessera.records.v1 import records_pb2

from services.kit.errors import ValidationFailed
from services.kit.fields import ALL_OPERATORS
from services.kit.filter_tree import MAX_KEY_SHOWN, MAX_OPERATOR_LENGTH, tree_node
from services.kit.paging import DEFAULT_PER_PAGE, MAX_PER_PAGE

MAX_SORT_KEYS = 10
MAX_FILTERS = 50
MAX_FIELDS = 200
MAX_NAME_LENGTH = 63
MAX_SEARCH_LENGTH = 200
MAX_CURSOR_LENGTH = 4096
# Digits in page/per_page: more cannot be a page anyone has.
MAX_INTEGER_DIGITS = 9

# The parameters of a records list, and what each does (the OpenAPI documents say it).
LIST_PARAMETER_DOCS: dict[str, tuple[dict[str, Any], str]] = {
    "page": ({"type": "integer", "minimum": 1}, "Page number, from 1"),
    "per_page": (
        {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
        f"Records per page ({DEFAULT_PER_PAGE} by default, at most {MAX_PER_PAGE})",
    ),
    "sort": (
        {"type": "string", "maxLength": 1000},
        "Field slugs, comma-separated; `-` before one sorts it descending: `-score,name`",
    ),
    "search": (
        {"type": "string", "maxLength": MAX_SEARCH_LENGTH},
        "Words every record found contains, in any of its text fields",
    ),
    "fields": ({"type": "string"}, "Only these field slugs, comma-separated"),
    "cursor": (
        {"type": "string", "maxLength": MAX_CURSOR_LENGTH},
        "The `next_cursor` of the previous page: the next page, however deep",
    ),
    "count": (
        {"type": "boolean", "default": True},
        "false leaves `total` null and saves counting the matches",
    ),
    "expand": ({"type": "string"}, "Link fields whose records come whole, comma-separated"),
}
LIST_PARAMETERS = frozenset(LIST_PARAMETER_DOCS)
FILTER_PARAMETER_DOC = (
    "`filter[<field>]=<value>` (equal) or `filter[<field>][<operator>]=<value>`, e.g. "
    "`filter[score][gte]=10`; every filter must hold. Lists are comma-separated. Operators "
    "(each field type takes some): " + ", ".join(sorted(ALL_OPERATORS))
)
_FILTER_KEY = re.compile(r"filter\[([^\[\]]+)\](?:\[([^\[\]]+)\])?")
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


def _shown(value: str, limit: int = 64) -> str:
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")


def integer(raw: str | None, name: str) -> int:
    """A positive integer parameter; 0 when absent (the service applies its default)."""
    if raw is None or raw == "":
        return 0
    # isdigit() alone takes other scripts' digits; only ASCII ones are numbers here.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_INTEGER_DIGITS or int(raw) < 1:
        raise ValidationFailed(f"'{name}' must be a positive integer", field=name)
    return int(raw)


def sort_keys(raw: str | Iterable[str] | None) -> list[records_pb2.SortKey]:
    if not raw:
        return []
    if not isinstance(raw, str | list):
        raise ValidationFailed(
            "'sort' is a list of field slugs, or one comma-separated string", field="sort"
        )
    parts = raw.split(",") if isinstance(raw, str) else raw
    keys = []
    for part in parts:
        if not isinstance(part, str):
            raise ValidationFailed("'sort' keys must be strings", field="sort")
        name = part.strip()
        descending = name.startswith("-")
        name = name.removeprefix("-")
        if not name:
            raise ValidationFailed("'sort' has an empty key", field="sort")
        if len(name) > MAX_NAME_LENGTH:
            raise ValidationFailed(f"Unknown sort field {_shown(name)}", field="sort")
        keys.append(records_pb2.SortKey(field=name, descending=descending))
    if len(keys) > MAX_SORT_KEYS:
        raise ValidationFailed(f"'sort' takes at most {MAX_SORT_KEYS} keys", field="sort")
    return keys


def field_list(raw: str | Iterable[str] | None, name: str = "fields") -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, str | list):
        raise ValidationFailed(
            f"'{name}' is a list of field slugs, or one comma-separated string", field=name
        )
    names = [n.strip() for n in raw.split(",")] if isinstance(raw, str) else raw
    if not names or len(names) > MAX_FIELDS:
        raise ValidationFailed(f"'{name}' names 1 to {MAX_FIELDS} fields", field=name)
    for item in names:
        if not isinstance(item, str) or not item or len(item) > MAX_NAME_LENGTH:
            raise ValidationFailed(f"'{name}' holds field slugs", field=name)
    return names


def boolean(raw: str | bool | None, name: str, *, default: bool) -> bool:
    if raw is None:
        return default
    if isinstance(raw, bool):
        return raw
    if not isinstance(raw, str):
        raise ValidationFailed(f"'{name}' must be true or false", field=name)
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValidationFailed(f"'{name}' must be true or false", field=name)


def text(raw: Any, name: str, limit: int) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str) or len(raw) > limit or "\x00" in raw:
        raise ValidationFailed(
            f"'{name}' must be a string of at most {limit} characters", field=name
        )
    return raw


def query_filter(items: Iterable[tuple[str, str]]) -> records_pb2.FilterNode | None:
    """filter[field]=v and filter[field][op]=v parameters, all of which must hold."""
    conditions = []
    for key, value in items:
        match = _FILTER_KEY.fullmatch(key)
        if match is None:
            raise ValidationFailed(
                f"Malformed filter parameter {_shown(key)}", field=key[:MAX_KEY_SHOWN]
            )
        name, op = match.group(1), match.group(2) or "eq"
        if len(name) > MAX_NAME_LENGTH:
            raise ValidationFailed(
                f"Unknown filter field {_shown(name)}", field=key[:MAX_KEY_SHOWN]
            )
        if len(op) > MAX_OPERATOR_LENGTH:
            raise ValidationFailed(
                f"Unknown filter operator {_shown(op)}", field=key[:MAX_KEY_SHOWN]
            )
        conditions.append(
            records_pb2.FilterNode(
                condition=records_pb2.Condition(field=name, op=op, text=value, source=key)
            )
        )
    if len(conditions) > MAX_FILTERS:
        raise ValidationFailed(f"At most {MAX_FILTERS} filters", field="filter")
    if not conditions:
        return None
    return records_pb2.FilterNode(all_of=records_pb2.FilterGroup(nodes=conditions))


def list_request(items: list[tuple[str, str]]) -> records_pb2.ListRecordsRequest:
    """A list call's query string as a request (ctx and schema left to the caller); an
    unknown or repeated parameter is refused, never ignored."""
    seen: dict[str, str] = {}
    filters = []
    for key, value in items:
        if key.startswith("filter"):
            filters.append((key, value))
            continue
        if key not in LIST_PARAMETERS:
            raise ValidationFailed(
                f"Unknown parameter {_shown(key)}; lists take "
                + ", ".join(sorted(LIST_PARAMETERS))
                + " and filter[…]",
                field=key[:MAX_KEY_SHOWN],
            )
        if key in seen:
            raise ValidationFailed(f"'{key}' is given more than once", field=key)
        seen[key] = value
    request = records_pb2.ListRecordsRequest(
        page=integer(seen.get("page"), "page"),
        per_page=integer(seen.get("per_page"), "per_page"),
        sort=sort_keys(seen.get("sort")),
        cursor=text(seen.get("cursor"), "cursor", MAX_CURSOR_LENGTH),
        skip_count=not boolean(seen.get("count"), "count", default=True),
        fields=field_list(seen.get("fields")),
        search=text(seen.get("search"), "search", MAX_SEARCH_LENGTH),
        expand=field_list(seen.get("expand"), "expand"),
    )
    tree = query_filter(filters)
    if tree is not None:
        request.filter.CopyFrom(tree)
    return request


class RecordSearch(BaseModel):
    """The body of POST …/records/search: a list's parameters as JSON, the filter a tree
    of groups and conditions. Documentation: search_request reads the body itself."""

    filter: dict[str, Any] | None = PydanticField(
        default=None,
        description='{"and": [...]} or {"or": [...]} of groups and conditions '
        '{"field": "<slug>", "op": "<operator>", "value": ...}',
        examples=[
            {
                "or": [
                    {"field": "status", "value": "customer"},
                    {"field": "score", "op": "gte", "value": 900},
                ]
            }
        ],
    )
    sort: list[str] | str | None = None
    search: str | None = PydanticField(default=None, max_length=MAX_SEARCH_LENGTH)
    fields: list[str] | None = None
    cursor: str | None = PydanticField(default=None, max_length=MAX_CURSOR_LENGTH)
    count: bool = True
    page: int | None = PydanticField(default=None, ge=1)
    per_page: int | None = PydanticField(default=None, ge=1, le=MAX_PER_PAGE)
    expand: list[str] | None = None

    model_config = ConfigDict(extra="forbid")


SEARCH_KEYS = frozenset(RecordSearch.model_fields)


def search_request(body: Any) -> records_pb2.ListRecordsRequest:
    """A search body: the query string's parameters as JSON, with the filter as a tree of
    {"and": [...]}, {"or": [...]} and {"field", "op", "value"}."""
    if not isinstance(body, dict):
        raise ValidationFailed("Request body must be a JSON object")
    for key in body:
        if key not in SEARCH_KEYS:
            raise ValidationFailed(
                f"Unknown key {_shown(key)}; a search takes " + ", ".join(sorted(SEARCH_KEYS)),
                field=key[:MAX_KEY_SHOWN],
            )
    request = records_pb2.ListRecordsRequest(
        page=_json_integer(body.get("page"), "page"),
        per_page=_json_integer(body.get("per_page"), "per_page"),
        sort=sort_keys(body.get("sort")),
        cursor=text(body.get("cursor"), "cursor", MAX_CURSOR_LENGTH),
        skip_count=not boolean(body.get("count"), "count", default=True),
        fields=field_list(body.get("fields")),
        search=text(body.get("search"), "search", MAX_SEARCH_LENGTH),
        expand=field_list(body.get("expand"), "expand"),
    )
    if body.get("filter") is not None:
        request.filter.CopyFrom(tree_node(body["filter"], "filter", depth=0))
    return request


def _json_integer(raw: Any, name: str) -> int:
    if raw is None:
        return 0
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw < 10**MAX_INTEGER_DIGITS:
        raise ValidationFailed(f"'{name}' must be a positive integer", field=name)
    return raw


def expand_only(items: list[tuple[str, str]]) -> list[str]:
    """A single record's query string: `expand` and nothing else."""
    expand: list[str] = []
    for key, value in items:
        if key != "expand" or expand:
            raise ValidationFailed(
                f"Unknown or repeated parameter {_shown(key)}; a record takes only expand",
                field=key[:100],
            )
        expand = field_list(value, "expand")
    return expand


__all__ = ["LIST_PARAMETERS", "expand_only", "list_request", "search_request"]
