"""Record triggers: a durable consumer of the records service's events starts, for each
event, a run of every workflow of the event's app whose record trigger it matches.

Exactly once per event: each run is keyed by the event and the trigger (the runs table's
idempotency key), so an event delivered again (its consumer died after starting the runs
and before acknowledging it) starts nothing new. The consumer only queues runs; the
dispatcher executes them, so a slow step never holds the consumer up."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from nats.js import JetStreamContext
from sqlalchemy import cast, select
from sqlalchemy.dialects.postgresql import JSONB
from tessera.common.v1 import common_pb2

from services.kit.clock import utcnow
from services.kit.db import SessionMaker, transaction
from services.kit.nats.consumer import dead_letter_writer, run_durable_consumer
from services.kit.nats.events import Event
from services.kit.nats.permissions import RECORD_TRIGGERS
from services.workflows import tables
from services.workflows.apps import AppResolver
from services.workflows.definitions import RecordTrigger
from services.workflows.expressions import ExpressionFailed
from services.workflows.runs import NewRun, Runs

log = logging.getLogger(__name__)

w = tables.workflows
v = tables.workflow_versions


def trigger_data(event: Event) -> dict[str, Any]:
    """The event as a run's steps read it (`trigger.record.email`)."""
    data = event.data
    record = data.get("record") or {"id": data.get("record_id")}
    return {
        "action": event.action,
        "schema": data.get("schema"),
        "record": record,
        "changed": list(data.get("changed") or []),
        "event_id": event.id,
    }


def matches(trigger: RecordTrigger, event: Event, data: dict[str, Any]) -> bool:
    if trigger.schema_slug != data["schema"] or event.action not in trigger.on:
        return False
    return not (
        trigger.fields
        and event.action == "updated"
        and not set(trigger.fields) & set(data["changed"])
    )


class RecordTriggers:
    def __init__(self, sessionmaker: SessionMaker, runs: Runs, resolve_app: AppResolver) -> None:
        self.sessionmaker = sessionmaker
        self.runs = runs
        self.resolve_app = resolve_app

    async def __call__(self, event: Event) -> None:
        if event.entity != "record" or not isinstance(event.data.get("app_id"), str):
            return
        data = trigger_data(event)
        app_id = event.data["app_id"]
        wanted = cast([{"type": "record", "schema": data["schema"]}], JSONB)
        async with transaction(self.sessionmaker, tenant=event.tenant) as session:
            rows = (
                await session.execute(
                    select(w.c.id, w.c.version, v.c.definition)
                    .join(v, (v.c.workflow_id == w.c.id) & (v.c.version == w.c.version))
                    .where(w.c.tenant_id == event.tenant, w.c.app_id == app_id)
                    .where(v.c.definition["triggers"].contains(wanted))
                )
            ).all()
        if not rows:
            return
        # Runs name the app by its public id, which outlives a rename; the event has its
        # slug as it was.
        app = await self.resolve_app(
            common_pb2.RequestContext(tenant_id=event.tenant), str(event.data.get("app"))
        )
        if app.id != app_id:
            log.info("record event %s: its app was renamed since; no trigger runs", event.id)
            return
        for workflow_id, version, stored in rows:
            definition, expressions = self.runs.checked(workflow_id, version, stored)
            for index, trigger in enumerate(definition.triggers):
                if not isinstance(trigger, RecordTrigger) or not matches(trigger, event, data):
                    continue
                condition = expressions.get(f"triggers[{index}].condition")
                if condition is not None:
                    try:
                        holds = condition.evaluate({"trigger": data, "params": {}})
                    except ExpressionFailed as failed:
                        log.warning("trigger condition of %s failed: %s", workflow_id, failed)
                        continue
                    if holds is not True:
                        continue
                await self.runs.start(
                    NewRun(
                        tenant_id=event.tenant,
                        app_id=app_id,
                        app_ref=app.public_id,
                        workflow_id=workflow_id,
                        version=version,
                        trigger="record",
                        parameters={},
                        idempotency_key=f"event:{event.id}:{index}",
                        not_before=utcnow(),
                        event=data,
                    ),
                    wait=False,
                )


async def run_record_triggers(
    js: JetStreamContext, handler: RecordTriggers, stop: asyncio.Event
) -> None:
    await run_durable_consumer(
        js,
        stream=RECORD_TRIGGERS.stream,
        durable=RECORD_TRIGGERS.name,
        subject=RECORD_TRIGGERS.filter,
        handler=handler,
        dead_letters=dead_letter_writer(handler.sessionmaker, tables.dead_letters),
        stop=stop,
    )
