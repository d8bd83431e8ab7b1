from __future__ import annotations

from collections.abc import Callable

import pytest

from services.kit.errors import ValidationFailed
from services.kit.fields import REGISTRY, TYPE_NAMES
from services.schema import rules
from services.schema.rules import FieldInput


def failure(call: Callable[..., object], *args: object) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        call(*args)
    return caught.value


# names and descriptions


def test_name_is_trimmed() -> None:
    assert rules.clean_name("  My CRM  ") == "My CRM"


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_bad_names_are_refused_on_name(name: str) -> None:
    assert failure(rules.clean_name, name).field == "name"


def test_name_of_exactly_100_characters_is_fine() -> None:
    assert rules.clean_name("x" * 100) == "x" * 100


def test_description_is_bounded() -> None:
    assert rules.clean_description("x" * 1000) == "x" * 1000
    assert failure(rules.clean_description, "x" * 1001).field == "description"


# app and schema slugs


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("My CRM", "my-crm"),
        ("  Sales -- Pipeline!! 2025 ", "sales-pipeline-2025"),
        ("Café Crème", "cafe-creme"),
        ("snake_case_name", "snake-case-name"),
        ("!!!", "app"),
        ("日本語", "app"),
    ],
)
def test_app_slug_derivation(name: str, slug: str) -> None:
    assert rules.derive_slug(name, fallback="app") == slug


def test_derived_slug_is_cut_to_50_without_trailing_hyphen() -> None:
    slug = rules.derive_slug("a" * 49 + " bcd", fallback="app")
    assert slug == "a" * 49
    assert len(rules.derive_slug("word " * 40, fallback="app")) <= 50


@pytest.mark.parametrize("slug", ["crm", "my-crm", "a1-b2-c3", "x" * 50])
def test_valid_app_slugs(slug: str) -> None:
    assert rules.check_app_slug(slug) == slug


@pytest.mark.parametrize(
    "slug", ["My-CRM", "my_crm", "-crm", "crm-", "my--crm", "my crm", "x" * 51, "crm!"]
)
def test_invalid_app_slugs(slug: str) -> None:
    assert failure(rules.check_app_slug, slug).field == "slug"


@pytest.mark.parametrize("slug", ["contacts", "my_table", "my-table", "a_b-c"])
def test_valid_schema_slugs(slug: str) -> None:
    assert rules.check_schema_slug(slug) == slug


@pytest.mark.parametrize("slug", ["Contacts", "_x", "x_", "a__b", "a-_b", "x" * 51])
def test_invalid_schema_slugs(slug: str) -> None:
    assert failure(rules.check_schema_slug, slug).field == "slug"


def test_slug_candidates_number_from_two() -> None:
    assert rules.slug_candidates("crm", first=1, count=3) == ["crm", "crm-2", "crm-3"]
    assert rules.slug_candidates("crm", first=51, count=1) == ["crm-51"]


def test_numbered_candidates_stay_within_50() -> None:
    base = "a" * 48 + "-b"
    candidates = rules.slug_candidates(base, first=1, count=12)
    assert candidates[0] == base
    assert candidates[1] == "a" * 48 + "-2"
    assert candidates[11] == "a" * 47 + "-12"
    assert all(len(c) <= 50 and rules.APP_SLUG.fullmatch(c) for c in candidates)


# field slugs


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("First name", "first_name"),
        ("E-mail   address", "e_mail_address"),
        ("  Über Größe ", "uber_gro_e"),
        ("2nd phone", "f_2nd_phone"),
        ("Status", "status"),
        ("???", ""),
    ],
)
def test_field_slug_derivation(name: str, slug: str) -> None:
    assert rules.derive_field_slug(name) == slug


def test_derived_field_slug_is_cut_to_63() -> None:
    slug = rules.derive_field_slug("x" * 62 + " yz")
    assert slug == "x" * 62


# field definitions


def test_field_defaults_and_positions() -> None:
    specs = rules.check_fields(
        [
            FieldInput(name="Full name", type="text", required=True),
            FieldInput(slug="status", type="select", options=[" lead ", "customer"]),
        ]
    )
    assert [(s.slug, s.name, s.position, s.required) for s in specs] == [
        ("full_name", "Full name", 0, True),
        ("status", "status", 1, False),
    ]
    assert specs[1].options == ("lead", "customer")
    assert specs[0].options == ()


def test_explicit_slug_wins_over_name() -> None:
    (spec,) = rules.check_fields([FieldInput(slug="email", name="E-mail", type="email")])
    assert (spec.slug, spec.name) == ("email", "E-mail")


@pytest.mark.parametrize("type_name", TYPE_NAMES)
def test_every_type_is_accepted(type_name: str) -> None:
    options = ["a", "b"] if REGISTRY[type_name].takes_choices else []
    (spec,) = rules.check_fields([FieldInput(slug="f", type=type_name, options=options)])
    assert spec.type == type_name


def test_field_needs_a_name_or_slug() -> None:
    error = failure(rules.check_fields, [FieldInput(type="text"), FieldInput(type="text")])
    assert error.field == "fields[0]"
    error = failure(rules.check_fields, [FieldInput(slug="a", type="text"), FieldInput()])
    assert error.field == "fields[1]"


def test_name_that_yields_no_slug_is_refused() -> None:
    assert failure(rules.check_fields, [FieldInput(name="!!!", type="text")]).field == "fields[0]"


@pytest.mark.parametrize("slug", ["Name", "1st", "_x", "first-name", "x" * 64, "é"])
def test_invalid_field_slugs(slug: str) -> None:
    assert failure(rules.check_fields, [FieldInput(slug=slug, type="text")]).field == "fields[0]"


@pytest.mark.parametrize("slug", ["id", "created_at", "updated_at"])
def test_reserved_field_slugs(slug: str) -> None:
    error = failure(rules.check_fields, [FieldInput(slug=slug, type="text")])
    assert error.field == slug
    assert "reserved" in error.message


def test_reserved_slug_derived_from_name_is_refused_too() -> None:
    assert failure(rules.check_fields, [FieldInput(name="ID", type="text")]).field == "id"


def test_duplicate_field_slugs() -> None:
    error = failure(
        rules.check_fields,
        [FieldInput(slug="email", type="email"), FieldInput(name="Email", type="text")],
    )
    assert error.field == "email"


def test_field_name_is_bounded() -> None:
    error = failure(rules.check_fields, [FieldInput(slug="f", name="x" * 101, type="text")])
    assert error.field == "f"


@pytest.mark.parametrize("type_name", ["", "unspecified", "TEXT", "hyperlink"])
def test_field_without_valid_type(type_name: str) -> None:
    error = failure(rules.check_fields, [FieldInput(slug="f", type=type_name)])
    assert error.field == "f"
    assert error.message.startswith("Field 'f' has no valid type; expected one of text, ")


def test_too_many_fields() -> None:
    fields = [FieldInput(slug=f"f{i}", type="text") for i in range(201)]
    assert failure(rules.check_fields, fields).field == "fields"
    assert len(rules.check_fields(fields[:200])) == 200


@pytest.mark.parametrize("type_name", ["select", "multi_select"])
@pytest.mark.parametrize(
    "options",
    [
        [],
        ["a", ""],
        ["a", "  "],
        ["a", "a"],
        ["a", " a"],
        ["x" * 101],
        [f"o{i}" for i in range(501)],
    ],
)
def test_bad_options(type_name: str, options: list[str]) -> None:
    error = failure(
        rules.check_fields, [FieldInput(slug="status", type=type_name, options=options)]
    )
    assert error.field == "status"


def test_option_limits_are_inclusive() -> None:
    options = [f"{i:03d}" + "x" * 96 for i in range(500)]
    (spec,) = rules.check_fields([FieldInput(slug="s", type="select", options=options)])
    assert len(spec.options) == 500


@pytest.mark.parametrize(
    "type_name", [name for name, kind in REGISTRY.items() if not kind.takes_choices]
)
def test_options_on_other_types_are_refused(type_name: str) -> None:
    error = failure(rules.check_fields, [FieldInput(slug="f", type=type_name, options=["a"])])
    assert error.field == "f"


def test_long_input_is_not_echoed_whole() -> None:
    error = failure(rules.check_fields, [FieldInput(slug="Bad" * 1000, type="text")])
    assert len(error.message) < 300
