"""The workspace's audit log, for its owners and admins (identity's AUDIT_LOG_READ): security
events newest first, filtered, a page at a time. The workspace is the caller's, picked
like the users API's (X-Workspace, else the first)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from tessera.identity.v1 import identity_pb2

from services.gateway import queries, shapes
from services.gateway.deps import BackendsDep, ContextDep
from services.gateway.openapi import returns
from services.kit.errors import ValidationFailed
from services.kit.json import loads_exact

router = APIRouter(prefix="/api/audit-log", tags=["Audit log"])

# action may repeat (or list several, comma-separated); the others are given once.
REPEATABLE = frozenset({"action"})
SINGLE = frozenset({"actor", "outcome", "since", "until", "target", "cursor", "per_page"})
MAX_PARAMETER_LENGTH = 1000


@router.get(
    "",
    **returns(shapes.AuditLog),
    openapi_extra={
        "parameters": [
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": {"type": "array", "items": {"type": "string"}}
                if name in REPEATABLE
                else {"type": "string", "maxLength": MAX_PARAMETER_LENGTH},
            }
            for name in sorted(REPEATABLE | SINGLE)
        ]
    },
)
async def list_audit_log(
    request: Request, ctx: ContextDep, backends: BackendsDep
) -> dict[str, Any]:
    params = _parameters(request.query_params.multi_items())
    reply = await backends.call(
        backends.identity.ListAuditLog,
        identity_pb2.ListAuditLogRequest(
            ctx=ctx,
            actions=params.get("action", []),
            actor=_single(params, "actor"),
            outcome=_single(params, "outcome"),
            since=_single(params, "since"),
            until=_single(params, "until"),
            target_id=_single(params, "target"),
            cursor=_single(params, "cursor"),
            per_page=queries.integer(_single(params, "per_page") or None, "per_page"),
        ),
    )
    return {
        "entries": [_entry(entry) for entry in reply.entries],
        "next_cursor": reply.next_cursor or None,
    }


def _parameters(items: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Known parameters only, each once but `action`; anything else is refused, never
    ignored (a misspelt filter would otherwise widen the answer)."""
    found: dict[str, list[str]] = {}
    for key, value in items:
        if key not in REPEATABLE | SINGLE:
            raise ValidationFailed(
                f"Unknown parameter {key[:64]!r}; the audit log takes "
                + ", ".join(sorted(REPEATABLE | SINGLE)),
                field=key[:100],
            )
        if key in SINGLE and key in found:
            raise ValidationFailed(f"'{key}' is given more than once", field=key)
        if len(value) > MAX_PARAMETER_LENGTH:
            raise ValidationFailed(f"'{key}' is too long", field=key)
        found.setdefault(key, []).append(value)
    return found


def _single(params: dict[str, list[str]], key: str) -> str:
    return params.get(key, [""])[0]


def _entry(entry: identity_pb2.AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "time": entry.occurred_at,
        "action": entry.action,
        "outcome": entry.outcome,
        "actor": {
            "kind": entry.principal_kind,
            "id": entry.principal_id or None,
            "account_id": entry.account_id or None,
            "credential_id": entry.credential_id or None,
        },
        "target": {"type": entry.target_type, "id": entry.target_id}
        if entry.target_type or entry.target_id
        else None,
        "details": loads_exact(entry.details_json) if entry.details_json else {},
        "client_ip": entry.client_ip or None,
        "user_agent": entry.user_agent or None,
    }
