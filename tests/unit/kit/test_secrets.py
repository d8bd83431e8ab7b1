"""Sealing with the key-encryption key: what a rotation relies on, and what a wrong key,
a moved value or a malformed setting answer."""

from __future__ import annotations

import base64
import subprocess
import sys

import pytest
from pydantic import SecretStr

from services.kit.secrets import (
    SecretBox,
    SecretKeyError,
    SecretUnreadable,
    generate_key,
    is_sealed,
    key_id,
    secret_box,
)

PEM = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"


def test_a_sealed_value_opens_to_what_was_sealed_and_shows_none_of_it() -> None:
    box = SecretBox.from_text(generate_key())

    sealed = box.seal(PEM, context="signing_keys:key_1")

    assert is_sealed(sealed)
    assert "PRIVATE" not in sealed
    assert box.open(sealed, context="signing_keys:key_1") == PEM.encode()
    assert box.open(box.seal(b"\x00\xffbytes")) == b"\x00\xffbytes"
    # A fresh nonce every time: equal secrets do not look equal at rest.
    assert box.seal(PEM) != box.seal(PEM)


def test_the_first_key_seals_and_every_listed_key_opens() -> None:
    old, new = generate_key(), generate_key()
    sealed_with_old = SecretBox.from_text(old).seal("secret")
    both = SecretBox.from_text(f"{new}, {old}")

    assert both.open(sealed_with_old) == b"secret"
    assert both.needs_resealing(sealed_with_old)
    resealed = both.reseal(sealed_with_old)
    assert not both.needs_resealing(resealed)
    assert both.key_ids == [SecretBox.from_text(new).sealing_key_id, key_id(_raw(old))]
    # Once resealed, the new key alone opens it and the old one no longer does.
    assert SecretBox.from_text(new).open(resealed) == b"secret"
    with pytest.raises(SecretUnreadable, match="does not list"):
        SecretBox.from_text(old).open(resealed)


def _raw(key: str) -> bytes:
    return base64.urlsafe_b64decode(key)


def test_a_value_sealed_for_one_place_does_not_open_in_another() -> None:
    box = SecretBox.from_text(generate_key())
    sealed = box.seal("secret", context="signing_keys:key_1")

    with pytest.raises(SecretUnreadable, match="altered, or sealed for another place"):
        box.open(sealed, context="signing_keys:key_2")
    assert not box.opens(sealed, context="signing_keys:key_2")


def test_an_altered_value_does_not_open() -> None:
    box = SecretBox.from_text(generate_key())
    sealed = box.seal("secret")
    prefix, kid, payload = sealed.split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]

    with pytest.raises(SecretUnreadable):
        box.open(f"{prefix}.{kid}.{flipped}")


@pytest.mark.parametrize("value", ["", "-----BEGIN PRIVATE KEY-----", "tsk1.abc", "tsk1.a.b.c"])
def test_what_is_not_a_sealed_value_is_unreadable_and_needs_sealing(value: str) -> None:
    box = SecretBox.from_text(generate_key())

    with pytest.raises(SecretUnreadable):
        box.open(value)
    assert box.needs_resealing(value)


def test_a_key_id_names_the_key_without_revealing_it() -> None:
    key = generate_key()
    box = SecretBox.from_text(key)

    assert box.sealing_key_id in box.seal("x")
    assert box.sealing_key_id not in key
    assert SecretBox.from_text(key).sealing_key_id == box.sealing_key_id
    assert SecretBox.from_text(generate_key()).sealing_key_id != box.sealing_key_id


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "lists no key"),
        (" , ", "lists no key"),
        ("not a key", "the key is not 32 bytes"),
        ("c2hvcnQ=", "the key is not 32 bytes"),
        (f"{generate_key()},short", "key 2 of 2 is not 32 bytes"),
    ],
)
def test_a_malformed_setting_is_refused_saying_how_to_make_a_key(text: str, message: str) -> None:
    with pytest.raises(SecretKeyError, match=message) as refused:
        SecretBox.from_text(text)
    if "32 bytes" in message:
        assert "python -m services.kit.secrets new-key" in str(refused.value)


def test_a_key_listed_twice_is_refused() -> None:
    key = generate_key()

    with pytest.raises(SecretKeyError, match="twice"):
        SecretBox.from_text(f"{key},{key}")


def test_a_missing_key_says_what_needs_it() -> None:
    with pytest.raises(SecretKeyError, match="TESSERA_SECRET_KEY is not set; a test needs it"):
        secret_box(None, needed_for="a test needs it")
    with pytest.raises(SecretKeyError, match="is not set"):
        secret_box(SecretStr("  "), needed_for="a test needs it")
    box = secret_box(SecretStr(generate_key()), needed_for="-")
    assert box.open(box.seal("x")) == b"x"


def test_the_command_prints_a_key_that_works() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "services.kit.secrets", "new-key"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    box = SecretBox.from_text(printed)
    assert box.open(box.seal("x")) == b"x"
