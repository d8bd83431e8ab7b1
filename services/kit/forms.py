"""HTML form bodies (application/x-www-form-urlencoded), read the one way every surface
that takes them does: each name with all of its values, in order, so a repeated field is a
list."""

from __future__ import annotations

from urllib.parse import parse_qsl

FORM = "application/x-www-form-urlencoded"


def form_fields(text: str) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        fields.setdefault(name, []).append(value)
    return fields
