"""Proto messages rendered as the REST shapes the seed documents define."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import orjson
from fastapi import Response
from tessera.identity.v1 import identity_pb2
from tessera.records.v1 import records_pb2
from tessera.schema.v1 import schema_pb2
from tessera.workflows.v1 import workflows_pb2

from services.gateway import shapes
from services.kit.json import dumps_exact, loads_exact


def exact_json(body: Any, status_code: int = 200) -> Response:
    """A JSON response that keeps every digit of exact numbers (field defaults)."""
    return Response(dumps_exact(body), status_code=status_code, media_type="application/json")


def user(account: identity_pb2.Account) -> shapes.User:
    # first_name and username keep Baserow clients working.
    return {
        "id": account.id,
        "name": account.name,
        "email": account.email,
        "first_name": account.name,
        "username": account.email,
    }


def tokens(access_token: str, refresh_token: str, account: identity_pb2.Account) -> shapes.Tokens:
    # The access JWT under Baserow's name and the OAuth name.
    return {
        "token": access_token,
        "access_token": access_token,
        "refresh_token": refresh_token,
        "user": user(account),
    }


def workspace(ws: identity_pb2.Workspace, role: str | None = None) -> shapes.Workspace:
    body: shapes.Workspace = {
        "id": ws.id,
        "name": ws.name,
        "slug": ws.slug,
        "created_at": ws.created_at,
    }
    if role is not None:
        body["role"] = role
    return body


def app(message: schema_pb2.App) -> shapes.App:
    return {
        "slug": message.slug,
        "public_id": message.public_id,
        "name": message.name,
        "description": message.description,
        "created_at": message.created_at,
        "settings": {"default_app_role": message.settings.default_app_role},
    }


def app_user(message: identity_pb2.AppUser) -> shapes.AppUser:
    return {
        "id": message.id,
        "email": message.email,
        "name": message.name,
        "app_role": message.app_role,
        "created_at": message.created_at,
    }


def field(message: schema_pb2.Field) -> shapes.Field:
    body: shapes.Field = {
        "slug": message.slug,
        "name": message.name,
        "type": message.type,
        "required": message.required,
        "unique": message.unique,
        "primary": message.primary,
    }
    # Only choice types have options, and they always have at least one.
    if message.options:
        body["options"] = list(message.options)
    if message.default_json:
        body["default"] = loads_exact(message.default_json)
    if message.config_json:
        # The type's own settings sit beside the common ones, as clients send them.
        body.update(orjson.loads(message.config_json))
    return body


def schema(message: schema_pb2.Schema) -> shapes.Schema:
    return {
        "slug": message.slug,
        "name": message.name,
        "fields": [field(f) for f in message.fields],
    }


IMPORT_FORMATS = {
    records_pb2.IMPORT_FORMAT_CSV: "csv",
    records_pb2.IMPORT_FORMAT_NDJSON: "ndjson",
}
IMPORT_MODES = {
    records_pb2.IMPORT_MODE_BEST_EFFORT: "best_effort",
    records_pb2.IMPORT_MODE_ALL_OR_NOTHING: "all_or_nothing",
}


def import_job(message: records_pb2.ImportJob) -> shapes.ImportJob:
    return {
        "id": message.id,
        "state": message.state,
        "mode": IMPORT_MODES.get(message.mode, ""),
        "format": IMPORT_FORMATS.get(message.format, ""),
        "rows_done": message.rows_done,
        "rows_rejected": message.rows_rejected,
        "errors": [
            {"line": e.line, "field": e.field, "message": e.message}
            if e.field
            else {"line": e.line, "message": e.message}
            for e in message.errors
        ],
        "created_at": message.created_at,
        "finished_at": message.finished_at or None,
    }


def _cell(value: Any) -> str:
    """A record value in a CSV cell: null is empty, a JSON scalar its text (a string
    itself, numbers exactly as JSON writes them), lists and objects their JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | float):
        return orjson.dumps(value).decode()
    return orjson.dumps(value, default=_exact).decode()


def _exact(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(format(value, "f").encode())
    raise TypeError(type(value))


class RecordsCsv:
    """Records (NDJSON from the records service) rendered as CSV rows under a header of
    their keys, a batch at a time."""

    def __init__(self, keys: list[str]) -> None:
        self._keys = keys
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer)

    def header(self) -> bytes:
        self._writer.writerow(self._keys)
        return self._take()

    def rows(self, ndjson: bytes) -> bytes:
        keys = self._keys
        write = self._writer.writerow
        for line in ndjson.splitlines():
            # Exact numbers: a 30-digit integer or a long fraction keeps its digits.
            record = loads_exact(line)
            write([_cell(record.get(key)) for key in keys])
        return self._take()

    def _take(self) -> bytes:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode()


def trash_entry(message: schema_pb2.TrashEntry) -> shapes.TrashEntry:
    body: shapes.TrashEntry = {
        "id": message.id,
        "type": message.type,
        "app": message.app,
        "name": message.name,
        "deleted_at": message.deleted_at,
        "expires_at": message.expires_at,
    }
    if message.schema:
        body["schema"] = message.schema
    if message.field:
        body["field"] = message.field
    return body


def member(message: identity_pb2.Member) -> shapes.Member:
    return {
        "id": message.account.id,
        "name": message.account.name,
        "email": message.account.email,
        "role": message.role,
        "joined_at": message.joined_at,
    }


def workspace_user(message: identity_pb2.Member) -> shapes.WorkspaceUser:
    """A member as the users API shows it; `_id` as Budibase's public API names it."""
    return {"_id": message.account.id, **member(message)}


def admin_token(message: identity_pb2.AdminToken) -> shapes.AdminToken:
    return {
        "id": message.id,
        "name": message.name,
        "workspace_id": message.workspace_id,
        "bypass_privacy_rules": message.bypass_privacy_rules,
        "created_by": message.created_by,
        "created_at": message.created_at,
        "last_used_at": message.last_used_at or None,
    }


def workflow(message: workflows_pb2.Workflow) -> shapes.Workflow:
    hook: shapes.WorkflowHook | None = None
    if message.hook_path:
        hook = {"path": message.hook_path, "scheme": message.hook_scheme}
        if message.new_hook_secret:
            hook["secret"] = message.new_hook_secret
    return {
        "id": message.id,
        "name": message.name,
        "version": message.version,
        "definition": loads_exact(message.definition_json),
        "hook": hook,
        "created_at": message.created_at,
        "updated_at": message.updated_at,
    }


def _json_or_none(raw: bytes) -> Any:
    return loads_exact(raw) if raw else None


def run(message: workflows_pb2.Run, *, with_steps: bool = False) -> shapes.Run:
    shown: shapes.Run = {
        "id": message.id,
        "workflow": message.workflow,
        "version": message.version,
        "state": message.state,
        "trigger": message.trigger,
        "parameters": loads_exact(message.parameters_json),
        "result": _json_or_none(message.result_json),
        "error": message.error or None,
        "replay_of": message.replay_of or None,
        "created_at": message.created_at,
        "started_at": message.started_at or None,
        "finished_at": message.finished_at or None,
    }
    if with_steps:
        shown["steps"] = [
            {
                "place": step.place,
                "step_id": step.step_id or None,
                "type": step.type,
                "attempt": step.attempt,
                "state": step.state,
                "input": _json_or_none(step.input_json),
                "output": _json_or_none(step.output_json),
                "error": step.error or None,
                "duration_ms": step.duration_ms,
            }
            for step in message.steps
        ]
    return shown


def webhook(message: workflows_pb2.Webhook) -> shapes.Webhook:
    shown: shapes.Webhook = {
        "id": message.id,
        "url": message.url,
        "description": message.description,
        "events": list(message.events),
        "schemas": list(message.schemas),
        "fields": list(message.fields),
        "active": message.active,
        "disabled_reason": message.disabled_reason or None,
        "disabled_at": message.disabled_at or None,
        "failed_in_a_row": message.failed_in_a_row,
        "secret_set_at": message.secret_set_at,
        "previous_secret_until": message.previous_secret_until or None,
        "created_at": message.created_at,
        "updated_at": message.updated_at,
    }
    if message.new_secret:
        shown["secret"] = message.new_secret
    return shown


def webhook_delivery(
    message: workflows_pb2.WebhookDelivery, *, whole: bool = False
) -> shapes.WebhookDelivery:
    shown: shapes.WebhookDelivery = {
        "id": message.id,
        "event_id": message.event_id,
        "event_type": message.event_type,
        "state": message.state,
        "attempts": message.attempts,
        "next_attempt_at": message.next_attempt_at or None,
        "last_status": message.last_status or None,
        "last_error": message.last_error or None,
        "created_at": message.created_at,
        "finished_at": message.finished_at or None,
    }
    if whole:
        shown["payload"] = _json_or_none(message.payload_json)
        shown["attempt_log"] = [
            {
                "attempt": each.attempt,
                "at": each.at,
                "request_headers": dict(each.request_headers),
                "response_status": each.response_status or None,
                "response_body": each.response_body or None,
                "error": each.error or None,
                "latency_ms": each.latency_ms,
            }
            for each in message.attempt_log
        ]
    return shown
