"""Secrets at rest: values a service must store and read back (signing keys, SSO client
secrets, connector secrets) are sealed with a key-encryption key from the environment,
`TESSERA_SECRET_KEY`, so a copy of the database alone reveals none of them.

The variable lists one or more keys, comma-separated: the first seals, every one of them
opens. That is rotation: put a new key first and keep the old one after it, reseal what
is stored (`needs_resealing` tells what is left), then drop the old key.

A sealed value is text, `tsk1.<key id>.<nonce + AES-256-GCM ciphertext>` (url-safe
base64), so it fits a text column and names the key that sealed it. `context` binds a
value to where it belongs (say, a signing key's id): a sealed value copied to another
row does not open there.

`python -m services.kit.secrets new-key` prints a fresh key."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import sys
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_KEY_ENV = "TESSERA_SECRET_KEY"  # noqa: S105 (a variable name, not a secret)
NEW_KEY_COMMAND = "python -m services.kit.secrets new-key"
KEY_BYTES = 32
_NONCE_BYTES = 12
_PREFIX = "tsk1"
_KEY_ID_INFO = b"tessera secret key id"


class SecretKeyError(ValueError):
    """TESSERA_SECRET_KEY is missing or malformed; an operator problem, never a client's."""


class SecretUnreadable(Exception):
    """A sealed value none of the keys opens: sealed with a key no longer listed, under
    another context, or altered."""


def generate_key() -> str:
    """A new key-encryption key: 32 random bytes, url-safe base64."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def key_id(key: bytes) -> str:
    """A short, stable name for a key, safe to log: it reveals nothing of the key."""
    digest = hashlib.sha256(_KEY_ID_INFO + key).digest()
    return base64.urlsafe_b64encode(digest[:6]).decode("ascii")


def is_sealed(value: str) -> bool:
    return value.startswith(_PREFIX + ".")


class SecretBox:
    """Seals with the first key, opens with any of them."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise SecretKeyError(
                f"{SECRET_KEY_ENV} lists no key; make one with `{NEW_KEY_COMMAND}`"
            )
        self._ciphers: dict[str, AESGCM] = {}
        for key in keys:
            if len(key) != KEY_BYTES:
                raise SecretKeyError(f"a secret key must be {KEY_BYTES} bytes, not {len(key)}")
            kid = key_id(key)
            if kid in self._ciphers:
                raise SecretKeyError(f"{SECRET_KEY_ENV} lists key {kid} twice")
            self._ciphers[kid] = AESGCM(key)
        self.sealing_key_id = key_id(keys[0])

    @classmethod
    def from_text(cls, text: str) -> SecretBox:
        """The box for a TESSERA_SECRET_KEY value: keys separated by commas, first seals."""
        parts = [part.strip() for part in text.split(",") if part.strip()]
        return cls([_decode_key(part, position, len(parts)) for position, part in enumerate(parts)])

    @property
    def key_ids(self) -> list[str]:
        """The listed keys' ids, the sealing key first."""
        return list(self._ciphers)

    def seal(self, plaintext: str | bytes, *, context: str = "") -> str:
        data = plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[self.sealing_key_id].encrypt(nonce, data, context.encode("utf-8"))
        payload = base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")
        return f"{_PREFIX}.{self.sealing_key_id}.{payload}"

    def open(self, sealed: str, *, context: str = "") -> bytes:
        """The plaintext; raises SecretUnreadable when no listed key opens it."""
        kid, payload = _parse(sealed)
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise SecretUnreadable(
                f"sealed with key {kid}, which {SECRET_KEY_ENV} does not list"
                f" (it lists {', '.join(self.key_ids)})"
            )
        try:
            return cipher.decrypt(
                payload[:_NONCE_BYTES], payload[_NONCE_BYTES:], context.encode("utf-8")
            )
        except InvalidTag:
            raise SecretUnreadable(
                f"sealed with key {kid} but does not open: altered, or sealed for another place"
            ) from None

    def opens(self, sealed: str, *, context: str = "") -> bool:
        try:
            self.open(sealed, context=context)
        except SecretUnreadable:
            return False
        return True

    def needs_resealing(self, sealed: str) -> bool:
        """True when the value was not sealed with the first key (or is no sealed value
        at all)."""
        try:
            kid, _ = _parse(sealed)
        except SecretUnreadable:
            return True
        return kid != self.sealing_key_id

    def reseal(self, sealed: str, *, context: str = "") -> str:
        """The same plaintext sealed with the first key."""
        return self.seal(self.open(sealed, context=context), context=context)


class SecretKeySettings(BaseSettings):
    """The key-encryption key, for code that has no service settings of its own to carry
    it (migrations)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    secret_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices(SECRET_KEY_ENV)
    )


def secret_box(secret_key: SecretStr | None, *, needed_for: str) -> SecretBox:
    """The box for a configured key; a missing or malformed one raises SecretKeyError
    saying what needs it and how to make one."""
    if secret_key is None or not secret_key.get_secret_value().strip():
        raise SecretKeyError(
            f"{SECRET_KEY_ENV} is not set; {needed_for}. Make a key with `{NEW_KEY_COMMAND}`,"
            " keep it safe (losing it loses what it sealed), and set it in the environment"
        )
    return SecretBox.from_text(secret_key.get_secret_value())


def _decode_key(text: str, position: int, count: int) -> bytes:
    try:
        key = base64.b64decode(text.encode("ascii"), altchars=b"-_", validate=True)
    except (binascii.Error, UnicodeEncodeError):
        key = b""
    if len(key) != KEY_BYTES:
        which = f"key {position + 1} of {count}" if count > 1 else "the key"
        raise SecretKeyError(
            f"{SECRET_KEY_ENV}: {which} is not {KEY_BYTES} bytes of url-safe base64;"
            f" make one with `{NEW_KEY_COMMAND}`"
        )
    return key


def _parse(sealed: str) -> tuple[str, bytes]:
    parts = sealed.split(".")
    if len(parts) != 3 or parts[0] != _PREFIX:
        raise SecretUnreadable("not a sealed value")
    try:
        payload = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
    except (binascii.Error, ValueError):
        raise SecretUnreadable("not a sealed value") from None
    if len(payload) <= _NONCE_BYTES:
        raise SecretUnreadable("not a sealed value")
    return parts[1], payload


def _main(args: Sequence[str]) -> int:
    if list(args) == ["new-key"]:
        print(generate_key())
        return 0
    print("usage: python -m services.kit.secrets new-key", file=sys.stderr)
    return 2


__all__ = [
    "NEW_KEY_COMMAND",
    "SECRET_KEY_ENV",
    "SecretBox",
    "SecretKeyError",
    "SecretKeySettings",
    "SecretUnreadable",
    "generate_key",
    "is_sealed",
    "key_id",
    "secret_box",
]


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
