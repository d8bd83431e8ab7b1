"""What the schema service hands back: plain, immutable values, free of SQL and proto."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class App:
    id: str
    slug: str
    name: str
    description: str
    created_at: datetime


@dataclass(frozen=True)
class FieldSpec:
    """A validated field definition, before it has an id."""

    slug: str
    name: str
    # Lowercase REST name: text, long_text, ..., multi_select.
    type: str
    required: bool
    options: tuple[str, ...]
    position: int


@dataclass(frozen=True)
class Field:
    id: str
    slug: str
    name: str
    type: str
    required: bool
    options: tuple[str, ...]
    position: int


@dataclass(frozen=True)
class Schema:
    id: str
    app_id: str
    app_slug: str
    slug: str
    name: str
    version: int
    created_at: datetime
    fields: tuple[Field, ...]
