"""Errors the records service raises, on top of the kit's table."""

from __future__ import annotations

from services.kit.errors import NotFound


class RecordNotFound(NotFound):
    default_message = "Record not found"


class TrashNotFound(NotFound):
    default_message = "Nothing in the trash has that id"


class ImportNotFound(NotFound):
    default_message = "Import not found"


__all__ = ["ImportNotFound", "RecordNotFound", "TrashNotFound"]
