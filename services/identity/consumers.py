"""The schema service's security events (privacy rules, app settings), recorded in the
audit log: a durable JetStream consumer on the SCHEMA stream, idempotent on the event id
(processed_events in the entry's own transaction), dead letters in identity's database."""

from __future__ import annotations

import asyncio
import logging

from nats.js import JetStreamContext

from services.identity import audit, tables
from services.kit.audit import SCHEMA_ACTIONS, AuditEntry
from services.kit.db import SessionMaker, transaction
from services.kit.nats.consumer import dead_letter_writer, first_delivery, run_durable_consumer
from services.kit.nats.events import Event
from services.kit.nats.permissions import AUDIT_RECORDER

log = logging.getLogger(__name__)


class AuditRecorder:
    """Records the audit entry an event carries in the event's workspace, once per event
    id for the durable consumer `name`."""

    def __init__(self, sessionmaker: SessionMaker, name: str) -> None:
        self.sessionmaker = sessionmaker
        self.name = name

    async def __call__(self, event: Event) -> None:
        try:
            entry = AuditEntry.from_data(event.data["entry"])
        except (KeyError, TypeError, ValueError):
            # Redelivering cannot fix it.
            log.error("audit event %s carries no usable entry; skipping it", event.id)
            return
        if entry.action not in SCHEMA_ACTIONS or not event.tenant:
            # Each service vouches only for its own kind of event.
            log.error(
                "audit event %s reports %s, not the schema's; skipping it", event.id, entry.action
            )
            return
        async with transaction(self.sessionmaker, tenant=event.tenant) as session:
            if await first_delivery(
                session, tables.processed_events, consumer=self.name, event_id=event.id
            ):
                await audit.record(session, event.tenant, entry)


async def run_audit_recorder(
    js: JetStreamContext, recorder: AuditRecorder, stop: asyncio.Event
) -> None:
    """Until `stop`; waits for the SCHEMA stream while the schema service has not declared
    it yet."""
    await run_durable_consumer(
        js,
        stream=AUDIT_RECORDER.stream,
        durable=recorder.name,
        subject=AUDIT_RECORDER.filter,
        handler=recorder,
        dead_letters=dead_letter_writer(recorder.sessionmaker, tables.dead_letters),
        stop=stop,
    )


__all__ = ["AuditRecorder", "run_audit_recorder"]
