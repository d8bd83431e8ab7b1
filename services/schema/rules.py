"""Pure input rules: names, slugs (given or derived) and field definitions. No I/O, so
every rule is unit-tested directly."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from services.kit.errors import ValidationFailed
from services.kit.fields import (
    REGISTRY,
    RESERVED_SLUGS,
    TYPE_NAMES,
    FieldLike,
    FieldType,
    config_of,
)
from services.schema.models import NO_DEFAULT, FieldSpec

NAME_MAX = 100
DESCRIPTION_MAX = 1000
SLUG_MAX = 50
FIELD_SLUG_MAX = 63  # PostgreSQL's identifier limit, so a slug can always name a column
FIELDS_MAX = 200
OPTIONS_MAX = 500
OPTION_MAX = 100

APP_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
SCHEMA_SLUG = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
FIELD_SLUG = re.compile(r"[a-z][a-z0-9_]*")

APP_FALLBACK_SLUG = "app"
SCHEMA_FALLBACK_SLUG = "schema"


@dataclass(frozen=True)
class FieldInput:
    """A field definition as the caller sent it; `type` is a lowercase type name."""

    slug: str = ""
    name: str = ""
    type: str = ""
    required: bool = False
    options: Sequence[str] = ()
    unique: bool = False
    primary: bool = False
    default: Any = NO_DEFAULT
    config: dict[str, Any] = field(default_factory=dict)


def clean_name(value: str, *, field: str = "name") -> str:
    name = value.strip()
    if not name:
        raise ValidationFailed("Name is required", field=field)
    if len(name) > NAME_MAX:
        raise ValidationFailed(f"Name must be at most {NAME_MAX} characters", field=field)
    return name


def clean_description(value: str) -> str:
    description = value.strip()
    if len(description) > DESCRIPTION_MAX:
        raise ValidationFailed(
            f"Description must be at most {DESCRIPTION_MAX} characters", field="description"
        )
    return description


def check_app_slug(slug: str) -> str:
    if len(slug) > SLUG_MAX or not APP_SLUG.fullmatch(slug):
        raise ValidationFailed(
            "Slug must be lowercase letters and digits in words joined by single hyphens, "
            f"at most {SLUG_MAX} characters",
            field="slug",
        )
    return slug


def check_schema_slug(slug: str) -> str:
    if len(slug) > SLUG_MAX or not SCHEMA_SLUG.fullmatch(slug):
        raise ValidationFailed(
            "Slug must be lowercase letters and digits in words joined by single hyphens "
            f"or underscores, at most {SLUG_MAX} characters",
            field="slug",
        )
    return slug


def _fold(text: str) -> str:
    """Lowercase ASCII where a letter has an accent-free form ("Café" -> "cafe")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def derive_slug(name: str, *, fallback: str) -> str:
    """An app or schema slug from a name: "My CRM!" -> "my-crm"; nothing left -> fallback."""
    slug = re.sub(r"[^a-z0-9]+", "-", _fold(name)).strip("-")
    return slug[:SLUG_MAX].rstrip("-") or fallback


def slug_candidates(base: str, *, first: int, count: int) -> list[str]:
    """base, base-2, base-3, ... (numbers first..first+count-1), each cut to SLUG_MAX."""
    return [_numbered(base, n) for n in range(first, first + count)]


def _numbered(base: str, n: int) -> str:
    suffix = "" if n == 1 else f"-{n}"
    return base[: SLUG_MAX - len(suffix)].rstrip("-_") + suffix


def derive_field_slug(name: str) -> str:
    """A field slug from a name: "First name" -> "first_name", "2nd" -> "f_2nd"; may be ""."""
    slug = re.sub(r"[^a-z0-9]+", "_", _fold(name)).strip("_")
    if slug[:1].isdigit():
        slug = f"f_{slug}"
    return slug[:FIELD_SLUG_MAX].rstrip("_")


def check_fields(inputs: Sequence[FieldInput]) -> list[FieldSpec]:
    """Validates a schema's field definitions; positions follow the request order."""
    if len(inputs) > FIELDS_MAX:
        raise ValidationFailed(f"A schema can have at most {FIELDS_MAX} fields", field="fields")
    specs: list[FieldSpec] = []
    seen: set[str] = set()
    for position, given in enumerate(inputs):
        spec = check_field(given, position)
        if spec.slug in seen:
            raise ValidationFailed(
                f"Field slug '{spec.slug}' is used more than once", field=spec.slug
            )
        seen.add(spec.slug)
        specs.append(spec)
    check_one_primary(specs)
    if not any(spec.primary for spec in specs):
        # Every schema has a display value: the first field that can be one.
        for index, spec in enumerate(specs):
            if REGISTRY[spec.type].can_be_primary:
                specs[index] = replace(spec, primary=True)
                break
    return specs


def check_one_primary(fields: Sequence[FieldSpec]) -> None:
    primaries = [f.slug for f in fields if f.primary]
    if len(primaries) > 1:
        raise ValidationFailed(
            "A schema has one primary field; "
            + ", ".join(f"'{slug}'" for slug in primaries)
            + " all claim it",
            field=primaries[1],
        )


def check_field(given: FieldInput, position: int) -> FieldSpec:
    where = f"fields[{position}]"
    name = given.name.strip()
    slug = given.slug.strip()
    if not name and not slug:
        raise ValidationFailed(f"Field {position + 1} needs a name or a slug", field=where)
    if not slug:
        slug = derive_field_slug(name)
        if not slug:
            raise ValidationFailed(
                f"No slug can be made from the field name {_quote(name)}; give one",
                field=where,
            )
    if len(slug) > FIELD_SLUG_MAX or not FIELD_SLUG.fullmatch(slug):
        raise ValidationFailed(
            f"Field slug {_quote(slug)} must start with a lowercase letter and hold only "
            f"lowercase letters, digits and underscores, at most {FIELD_SLUG_MAX} characters",
            field=where,
        )
    if slug in RESERVED_SLUGS:
        raise ValidationFailed(f"Field slug '{slug}' is reserved", field=slug)
    name = name or slug
    if len(name) > NAME_MAX:
        raise ValidationFailed(
            f"Field '{slug}' has a name longer than {NAME_MAX} characters", field=slug
        )
    kind = REGISTRY.get(given.type)
    if kind is None:
        raise ValidationFailed(
            f"Field '{slug}' has no valid type; expected one of " + ", ".join(TYPE_NAMES),
            field=slug,
        )
    options = _check_options(slug, kind, given.options)
    config = _check_config(slug, kind, given.config)
    _check_flags(slug, kind, given)
    spec = FieldSpec(
        slug=slug,
        name=name,
        type=given.type,
        required=given.required,
        options=options,
        position=position,
        unique=given.unique,
        primary=given.primary,
        config=config,
    )
    if given.default is not NO_DEFAULT and given.default is not None:
        _check_default(kind, spec, given.default)
        spec = replace(spec, default=given.default)
    return spec


def _check_config(slug: str, kind: FieldType, given: dict[str, Any]) -> dict[str, Any]:
    try:
        return config_of(kind, given)
    except ValidationFailed as error:
        raise ValidationFailed(f"Field '{slug}': {error.message}", field=slug) from None


def _check_flags(slug: str, kind: FieldType, given: FieldInput) -> None:
    if kind.read_only and given.required:
        raise ValidationFailed(
            f"Field '{slug}' of type {kind.name} is set by the system and cannot be required",
            field=slug,
        )
    if kind.read_only and given.default not in (NO_DEFAULT, None):
        raise ValidationFailed(
            f"Field '{slug}' of type {kind.name} is set by the system and takes no default",
            field=slug,
        )
    if given.unique and not kind.can_be_unique:
        raise ValidationFailed(f"Fields of type {kind.name} cannot be unique", field=slug)
    if given.primary and not kind.can_be_primary:
        raise ValidationFailed(
            f"Fields of type {kind.name} cannot be the primary field", field=slug
        )


def default_fits(kind: FieldType, field: FieldLike, value: Any) -> bool:
    try:
        kind.validate(field, value)
    except ValidationFailed:
        return False
    return True


def _check_default(kind: FieldType, spec: FieldSpec, value: Any) -> None:
    try:
        kind.validate(spec, value)
    except ValidationFailed as error:
        raise ValidationFailed(
            f"Default of field '{spec.slug}': {error.message}", field=spec.slug
        ) from None


def _check_options(slug: str, kind: FieldType, given: Sequence[str]) -> tuple[str, ...]:
    if not kind.takes_choices:
        if given:
            raise ValidationFailed(
                f"Field '{slug}' of type {kind.name} takes no options", field=slug
            )
        return ()
    options = tuple(option.strip() for option in given)
    if not options:
        raise ValidationFailed(
            f"Field '{slug}' of type {kind.name} needs at least one option", field=slug
        )
    if len(options) > OPTIONS_MAX:
        raise ValidationFailed(f"Field '{slug}' can have at most {OPTIONS_MAX} options", field=slug)
    seen: set[str] = set()
    for option in options:
        if not option:
            raise ValidationFailed(f"Field '{slug}' has an empty option", field=slug)
        if len(option) > OPTION_MAX:
            raise ValidationFailed(
                f"Options of field '{slug}' must be at most {OPTION_MAX} characters",
                field=slug,
            )
        if option in seen:
            raise ValidationFailed(
                f"Field '{slug}' lists the option {_quote(option)} more than once", field=slug
            )
        seen.add(option)
    return options


def _quote(value: str, limit: int = 64) -> str:
    """Echoes user input in a message, bounded."""
    shown = value if len(value) <= limit else value[: limit - 1] + "…"
    return f"'{shown}'"
