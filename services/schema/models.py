"""What the schema service hands back: plain, immutable values, free of SQL and proto."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.kit.access import DEFAULT_APP_ROLE

# A field without a default; a default of JSON null is None.
NO_DEFAULT: Any = object()


@dataclass(frozen=True)
class AppSettings:
    # The app role an end user gets at signup.
    default_app_role: str = DEFAULT_APP_ROLE


@dataclass(frozen=True)
class App:
    id: str
    slug: str
    name: str
    description: str
    created_at: datetime
    public_id: str = ""
    settings: AppSettings = field(default_factory=AppSettings)


@dataclass(frozen=True)
class PublicApp:
    tenant_id: str
    app: App


@dataclass(frozen=True)
class FieldSpec:
    """A validated field definition, before it has an id."""

    slug: str
    name: str
    # A name from the field-type catalogue.
    type: str
    required: bool
    options: tuple[str, ...]
    position: int
    unique: bool = False
    primary: bool = False
    default: Any = NO_DEFAULT
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def option_set(self) -> frozenset[str]:
        return frozenset(self.options)


@dataclass(frozen=True)
class Field:
    id: str
    slug: str
    name: str
    type: str
    required: bool
    options: tuple[str, ...]
    position: int
    unique: bool = False
    primary: bool = False
    default: Any = NO_DEFAULT
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def option_set(self) -> frozenset[str]:
        return frozenset(self.options)


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
    # Fields in the trash: not part of the schema, but their values are kept.
    trashed_field_ids: tuple[str, ...] = ()
    # Stored form, with field ids (services.kit.privacy); None when the schema has none.
    privacy_rules: dict[str, Any] | None = None
