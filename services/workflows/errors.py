"""The workflows service's errors: refinements of the kit's table, same codes and statuses."""

from __future__ import annotations

from services.kit.errors import Conflict, NotFound


class WorkflowNotFound(NotFound):
    default_message = "Workflow not found"


class WorkflowNameTaken(Conflict):
    default_message = "The app has a workflow of that name already"


class RunNotFound(NotFound):
    default_message = "Run not found"
