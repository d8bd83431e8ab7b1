"""The schema service's errors: refinements of the kit's table, same codes and statuses."""

from __future__ import annotations

from services.kit.errors import Conflict, NotFound


class AppNotFound(NotFound):
    default_message = "App not found"


class SchemaNotFound(NotFound):
    default_message = "Schema not found"


class FieldNotFound(NotFound):
    default_message = "Field not found"


class TrashEntryNotFound(NotFound):
    default_message = "Nothing in the trash has that id"


class SlugTaken(Conflict):
    default_message = "That slug is already taken"
