"""Events the records service publishes: records.<tenant>.record.<created|updated|deleted>,
written to the outbox in the same transaction as the change."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from services.kit.nats.events import Event
from services.records.schemas import SchemaDef


def _event(tenant: str, action: str, data: dict[str, Any]) -> Event:
    return Event.new(service="records", tenant=tenant, entity="record", action=action, data=data)


def _about(schema: SchemaDef) -> dict[str, Any]:
    return {
        "app": schema.app_slug,
        "app_id": schema.app_id,
        "schema": schema.slug,
        "schema_id": schema.id,
    }


def record_created(tenant: str, schema: SchemaDef, record: dict[str, Any]) -> Event:
    return _event(tenant, "created", {**_about(schema), "record": record})


def records_created(
    tenant: str, schema: SchemaDef, records: Iterable[dict[str, Any]]
) -> list[Event]:
    """record_created for each of many records created together (an import's batch)."""
    about = _about(schema)
    return Event.many(
        service="records",
        tenant=tenant,
        entity="record",
        action="created",
        datas=({**about, "record": record} for record in records),
    )


def record_updated(
    tenant: str, schema: SchemaDef, record: dict[str, Any], changed: Sequence[str]
) -> Event:
    return _event(tenant, "updated", {**_about(schema), "changed": list(changed), "record": record})


def record_deleted(tenant: str, schema: SchemaDef, record_id: str) -> Event:
    return _event(tenant, "deleted", {**_about(schema), "record_id": record_id})


__all__ = ["record_created", "record_deleted", "record_updated", "records_created"]
