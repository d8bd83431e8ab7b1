"""The workspace's trash: what was deleted and can still be restored (72 hours)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from tessera.records.v1 import records_pb2

from services.gateway.deps import BackendsDep, ContextDep
from services.kit.errors import NotFound

router = APIRouter(prefix="/api/trash")

JSON = "application/json"
# Trash ids name the service that keeps the entry.
RECORDS_TRASH = "trr_"


@router.get("")
async def list_trash(ctx: ContextDep, backends: BackendsDep) -> Response:
    reply = await backends.call(backends.records.ListTrash, records_pb2.ListTrashRequest(ctx=ctx))
    return Response(b'{"trash":%s}' % reply.items_json, media_type=JSON)


@router.post("/{trash_id}/restore")
async def restore(trash_id: str, ctx: ContextDep, backends: BackendsDep) -> Response:
    if not trash_id.startswith(RECORDS_TRASH):
        raise NotFound("Nothing in the trash has that id")
    reply = await backends.call(
        backends.records.RestoreTrash,
        records_pb2.RestoreTrashRequest(ctx=ctx, trash_id=trash_id),
    )
    return Response(reply.item_json, media_type=JSON)
