from __future__ import annotations

import re

import pytest

from services.identity import validation
from services.kit.errors import ValidationFailed


def test_name_is_trimmed() -> None:
    assert validation.clean_name("  Bram  ") == "Bram"


@pytest.mark.parametrize("raw", ["", "   ", "x" * 151, "Bram\x00", "line\nbreak"])
def test_bad_names_are_refused_on_the_name_field(raw: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validation.clean_name(raw)
    assert caught.value.field == "name"


def test_name_of_150_characters_is_accepted() -> None:
    assert validation.clean_name("x" * 150) == "x" * 150


def test_email_is_trimmed_and_lowercased() -> None:
    assert validation.clean_email("  Bram@LocalHost.COM ") == "bram@localhost.com"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "bram",
        "bram@",
        "@example.com",
        "bram@localhost",
        "bram@@example.com",
        "bram smith@example.com",
        "bram@exa mple.com",
        "bram@-example.com",
        "bram\x00@example.com",
        "a" * 250 + "@example.com",
    ],
)
def test_bad_emails_are_refused_on_the_email_field(raw: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validation.clean_email(raw)
    assert caught.value.field == "email"


@pytest.mark.parametrize("raw", ["bram+test@example.com", "o'neil@sub.example.co.uk"])
def test_ordinary_emails_pass(raw: str) -> None:
    assert validation.clean_email(raw) == raw


@pytest.mark.parametrize("password", ["", "short", "x" * 7, "x" * 257])
def test_passwords_outside_8_to_256_characters_are_refused(password: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validation.check_password(password)
    assert caught.value.field == "password"


@pytest.mark.parametrize("password", ["x" * 8, "x" * 256, "  spaces kept  "])
def test_passwords_inside_the_bounds_are_kept_verbatim(password: str) -> None:
    assert validation.check_password(password) == password


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Bram", "bram"),
        ("Bram Wiepjes", "bram-wiepjes"),
        ("  Ünïcödé  Näme!! ", "unicode-name"),
        ("---", "workspace"),
        ("東京", "workspace"),
        ("a" * 60, "a" * 40),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert validation.slugify(name) == slug


def test_workspace_slug_adds_four_random_lowercase_alphanumerics() -> None:
    slug = validation.workspace_slug("Bram Wiepjes")
    assert re.fullmatch(r"bram-wiepjes-[a-z0-9]{4}", slug)
    assert len({validation.workspace_slug("Bram") for _ in range(20)}) > 1


def test_slug_never_ends_in_a_doubled_hyphen() -> None:
    slug = validation.workspace_slug("a" * 39 + " b")
    assert "--" not in slug
