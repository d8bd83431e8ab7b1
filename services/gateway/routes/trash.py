"""The workspace's trash: apps, schemas, fields and records that were deleted and can
still be restored (72 hours). The schema service keeps the first three, the records
service the records; an entry's id says which."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Response
from tessera.records.v1 import records_pb2
from tessera.schema.v1 import schema_pb2

from services.gateway import presenters, shapes
from services.gateway.deps import BackendsDep, ContextDep
from services.gateway.openapi import returns
from services.kit.errors import NotFound

router = APIRouter(prefix="/api/trash", tags=["Trash"])

JSON = "application/json"
RECORDS_TRASH = "trr_"
SCHEMA_TRASH = ("app_", "sch_", "fld_")


@router.get("", **returns(shapes.Trash))
async def list_trash(ctx: ContextDep, backends: BackendsDep) -> Response:
    records = await backends.call(backends.records.ListTrash, records_pb2.ListTrashRequest(ctx=ctx))
    structure = await backends.call(backends.schema.ListTrash, schema_pb2.ListTrashRequest(ctx=ctx))
    items = orjson.loads(records.items_json)
    items += [presenters.trash_entry(e) for e in structure.entries]
    items.sort(key=lambda item: item["deleted_at"], reverse=True)
    return Response(orjson.dumps({"trash": items}), media_type=JSON)


@router.post("/{trash_id}/restore", **returns(shapes.TrashEntry | shapes.RestoredRecord))
async def restore(trash_id: str, ctx: ContextDep, backends: BackendsDep) -> Response:
    if trash_id.startswith(RECORDS_TRASH):
        reply = await backends.call(
            backends.records.RestoreTrash,
            records_pb2.RestoreTrashRequest(ctx=ctx, trash_id=trash_id),
        )
        return Response(reply.item_json, media_type=JSON)
    if trash_id.startswith(SCHEMA_TRASH):
        restored = await backends.call(
            backends.schema.RestoreTrash,
            schema_pb2.RestoreTrashRequest(ctx=ctx, trash_id=trash_id),
        )
        return Response(orjson.dumps(presenters.trash_entry(restored)), media_type=JSON)
    raise NotFound("Nothing in the trash has that id")
