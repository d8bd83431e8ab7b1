"""The field-type catalogue: the one place that says what a field type is, which settings
it takes, how its values are validated, stored, serialised, filtered and converted. The
schema service, the records service and the gateway all read it, so adding a type
touches `_types.py` and nothing else."""

from services.kit.fields._base import (
    ALL_OPERATORS,
    COLUMN,
    JOIN,
    LIST_OPERATORS,
    NULLARY_OPERATORS,
    SYSTEM,
    FieldLike,
    FieldType,
    Serializer,
)
from services.kit.fields._types import (
    RECORD_ID_TYPE,
    REGISTRY,
    TEXT_KEY_LENGTH,
    TYPE_NAMES,
    config_of,
    field_type,
    sql_literal,
    sql_text_array,
)

# Keys every record carries; no field may take them as its slug.
RESERVED_SLUGS = frozenset(
    {"id", "version", "created_at", "updated_at", "created_by", "updated_by"}
)

__all__ = [
    "ALL_OPERATORS",
    "COLUMN",
    "JOIN",
    "LIST_OPERATORS",
    "NULLARY_OPERATORS",
    "RECORD_ID_TYPE",
    "REGISTRY",
    "RESERVED_SLUGS",
    "SYSTEM",
    "TEXT_KEY_LENGTH",
    "TYPE_NAMES",
    "FieldLike",
    "FieldType",
    "Serializer",
    "config_of",
    "field_type",
    "sql_literal",
    "sql_text_array",
]
