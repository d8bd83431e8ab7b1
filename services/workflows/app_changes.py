"""Apps going to the trash and coming back, heard from the schema service's events: a
trashed app's schedules and hooks start nothing (a schedule's slots missed meanwhile run
once when it is back, like any missed slot; a delivery to its hook is a 404), and a
restored one's work again. Replaying an event changes nothing more."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nats.js import JetStreamContext
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.kit.db import SessionMaker, transaction
from services.kit.nats.consumer import dead_letter_writer, run_durable_consumer
from services.kit.nats.events import Event
from services.kit.nats.permissions import APP_CHANGES
from services.workflows import tables

t = tables.trashed_apps


class AppChanges:
    def __init__(
        self, sessionmaker: SessionMaker, forget: Callable[[str], None] = lambda _: None
    ) -> None:
        self.sessionmaker = sessionmaker
        # Drops what this process holds of an app (services.workflows.apps.SchemaApps).
        self.forget = forget

    async def __call__(self, event: Event) -> None:
        app = event.data.get("app")
        if event.entity != "app" or not isinstance(app, dict):
            return
        app_id = app.get("id")
        if not isinstance(app_id, str):
            return
        self.forget(app_id)
        async with transaction(self.sessionmaker, tenant=event.tenant) as session:
            if event.action == "trashed":
                await session.execute(
                    pg_insert(t)
                    .values(app_id=app_id, tenant_id=event.tenant)
                    .on_conflict_do_nothing(index_elements=[t.c.app_id])
                )
            else:
                # Created, or updated (a restore announces the app as updated): live.
                await session.execute(delete(t).where(t.c.app_id == app_id))


async def run_app_changes(js: JetStreamContext, handler: AppChanges, stop: asyncio.Event) -> None:
    await run_durable_consumer(
        js,
        stream=APP_CHANGES.stream,
        durable=APP_CHANGES.name,
        subject=APP_CHANGES.filter,
        handler=handler,
        dead_letters=dead_letter_writer(handler.sessionmaker, tables.dead_letters),
        stop=stop,
    )
