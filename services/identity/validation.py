"""Input rules for accounts, and workspace slugs. Pure functions; no I/O."""

from __future__ import annotations

import re
import secrets
import string
import unicodedata

from services.kit.errors import ValidationFailed

NAME_MAX = 150
EMAIL_MAX = 254
PASSWORD_MIN = 8
PASSWORD_MAX = 256
SLUG_BASE_MAX = 40
SLUG_SUFFIX_LENGTH = 4
_SLUG_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits

# The HTML living standard's "valid email address", with at least one dot in the domain.
_EMAIL = re.compile(
    r"[a-z0-9.!#$%&'*+/=?^_`{|}~-]+"
    r"@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+"
)


def normalize_email(raw: str) -> str:
    return raw.strip().lower()


def is_valid_email(email: str) -> bool:
    return len(email) <= EMAIL_MAX and _EMAIL.fullmatch(email) is not None


def clean_name(raw: str) -> str:
    name = raw.strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise ValidationFailed(f"Name must be between 1 and {NAME_MAX} characters", field="name")
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise ValidationFailed("Name must not contain control characters", field="name")
    return name


def clean_email(raw: str) -> str:
    email = normalize_email(raw)
    if not is_valid_email(email):
        raise ValidationFailed("Enter a valid email address", field="email")
    return email


def check_password(password: str, *, field: str = "password") -> str:
    if len(password) < PASSWORD_MIN:
        raise ValidationFailed(f"Password must be at least {PASSWORD_MIN} characters", field=field)
    if len(password) > PASSWORD_MAX:
        raise ValidationFailed(f"Password must be at most {PASSWORD_MAX} characters", field=field)
    return password


def slugify(text: str) -> str:
    """Lowercase ASCII words joined by hyphens; "workspace" when nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    slug = slug[:SLUG_BASE_MAX].rstrip("-")
    return slug or "workspace"


def workspace_slug(name: str) -> str:
    """A slug that is unique with high probability; the database has the final say."""
    suffix = "".join(secrets.choice(_SLUG_SUFFIX_ALPHABET) for _ in range(SLUG_SUFFIX_LENGTH))
    return f"{slugify(name)}-{suffix}"
