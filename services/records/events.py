"""Events the records service publishes: records.<tenant>.record.<created|updated|deleted>,
written to the outbox in the same transaction as the change.

An event carries the row's stored values (to_jsonb of the row, keyed by column) as the
change left it (`image`: creations and updates) and as it found it (`previous_image`:
updates and deletions):
realtime decides from them, in the records service's own SQL, whether each subscriber saw
the record before the change and sees it after (a record leaving or entering its view)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from services.kit.json import dumps_exact
from services.kit.nats.events import Event
from services.records.repository import Image
from services.records.schemas import SchemaDef

# Images beyond this (a long text of hundreds of kilobytes) stay out of the event, which
# must fit NATS's message size beside the record: realtime then judges the record's row as
# it is when the event is read.
MAX_IMAGES_BYTES = 128 * 1024


def _fitting(*images: Image | None) -> bool:
    return sum(len(dumps_exact(image)) for image in images if image) <= MAX_IMAGES_BYTES


def _event(tenant: str, action: str, data: dict[str, Any]) -> Event:
    return Event.new(service="records", tenant=tenant, entity="record", action=action, data=data)


def _about(schema: SchemaDef) -> dict[str, Any]:
    return {
        "app": schema.app_slug,
        "app_id": schema.app_id,
        "schema": schema.slug,
        "schema_id": schema.id,
    }


def record_created(
    tenant: str, schema: SchemaDef, record: dict[str, Any], image: Image | None = None
) -> Event:
    """`image`: the row as written; without it (a record restored from the trash),
    realtime judges the record's row as it is when the event is read."""
    data = {**_about(schema), "record": record}
    if image is not None and _fitting(image):
        data["image"] = image
    return _event(tenant, "created", data)


def records_created(
    tenant: str, schema: SchemaDef, records: Iterable[dict[str, Any]]
) -> list[Event]:
    """record_created for each of many records created together (an import's batch, which
    COPY writes without returning images)."""
    about = _about(schema)
    return Event.many(
        service="records",
        tenant=tenant,
        entity="record",
        action="created",
        datas=({**about, "record": record} for record in records),
    )


def record_updated(
    tenant: str,
    schema: SchemaDef,
    record: dict[str, Any],
    changed: Sequence[str],
    images: tuple[Image, Image],
) -> Event:
    data = {**_about(schema), "changed": list(changed), "record": record}
    if _fitting(*images):
        data["image"], data["previous_image"] = images
    return _event(tenant, "updated", data)


def record_deleted(tenant: str, schema: SchemaDef, record_id: str, image: Image) -> Event:
    data: dict[str, Any] = {**_about(schema), "record_id": record_id}
    if _fitting(image):
        data["previous_image"] = image
    return _event(tenant, "deleted", data)


__all__ = ["record_created", "record_deleted", "record_updated", "records_created"]
