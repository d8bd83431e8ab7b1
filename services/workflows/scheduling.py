"""Schedule triggers: kept in the schedules table as of each workflow's current version,
and a loop that starts the runs that are due on a given clock (services.workflows.schedules
says when). Each slot's run is keyed by the workflow, the trigger and the slot, so two
replicas ticking at once, or a tick that fails half-way and comes again, start it once.
A schedule missed while the service was down runs once, for the latest slot missed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.kit.clock import utcnow
from services.kit.db import ALL_TENANTS, SessionMaker, transaction
from services.kit.errors import ValidationFailed
from services.workflows import tables
from services.workflows.definitions import Definition, ScheduleTrigger
from services.workflows.parameters import typed_parameters
from services.workflows.runs import NewRun, Runs
from services.workflows.schedules import due, next_slot, parse_schedule

log = logging.getLogger(__name__)

# Due schedules taken up per tick, each in the tick's one transaction.
BATCH = 100
sc = tables.schedules
w = tables.workflows
trashed = tables.trashed_apps


def schedule_triggers(definition: Definition) -> list[tuple[int, ScheduleTrigger]]:
    return [
        (index, trigger)
        for index, trigger in enumerate(definition.triggers)
        if isinstance(trigger, ScheduleTrigger)
    ]


def check_schedule_parameters(definition: Definition) -> None:
    """Each schedule's parameters typed as the workflow declares them (ValidationFailed
    naming the first at fault), when the workflow is saved rather than when it runs."""
    for index, trigger in schedule_triggers(definition):
        try:
            typed_parameters(definition.parameters, trigger.parameters)
        except ValidationFailed as refused:
            place = f"triggers[{index}].parameters"
            raise ValidationFailed(
                f"{place}: {refused.message}",
                field=f"{place}.{refused.field}" if refused.field else place,
            ) from None


async def sync_schedules(
    session: AsyncSession,
    *,
    tenant: str,
    workflow_id: str,
    app_id: str,
    app_ref: str,
    definition: Definition,
    now: datetime,
) -> None:
    """The workflow's schedules as its definition now has them: an unchanged one keeps
    when it last ran; a new or changed one counts from now."""
    kept = {
        row.trigger_index: (row.spec, row.since)
        for row in await session.execute(
            select(sc.c.trigger_index, sc.c.spec, sc.c.since).where(sc.c.workflow_id == workflow_id)
        )
    }
    await session.execute(delete(sc).where(sc.c.workflow_id == workflow_id))
    for index, trigger in schedule_triggers(definition):
        spec = {**trigger.spec(), "parameters": trigger.parameters}
        earlier = kept.get(index)
        since = earlier[1] if earlier is not None and earlier[0] == spec else now
        await session.execute(
            insert(sc).values(
                workflow_id=workflow_id,
                trigger_index=index,
                tenant_id=tenant,
                app_id=app_id,
                app_ref=app_ref,
                spec=spec,
                since=since,
                next_at=next_slot(parse_schedule(trigger.spec()), since),
            )
        )


class Scheduler:
    def __init__(
        self,
        sessionmaker: SessionMaker,
        runs: Runs,
        *,
        clock: Callable[[], datetime] = utcnow,
        poll_seconds: float = 5.0,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.runs = runs
        self.clock = clock
        self.poll_seconds = poll_seconds

    async def tick(self) -> list[str]:
        """Starts the runs due at the clock's now; their ids."""
        now = self.clock()
        started: list[str] = []
        async with transaction(self.sessionmaker, tenant=ALL_TENANTS) as session:
            rows = (
                await session.execute(
                    select(
                        sc.c.workflow_id,
                        sc.c.trigger_index,
                        sc.c.tenant_id,
                        sc.c.app_id,
                        sc.c.app_ref,
                        sc.c.spec,
                        sc.c.since,
                        w.c.version,
                    )
                    .join(w, w.c.id == sc.c.workflow_id)
                    .where(sc.c.next_at <= now)
                    # A trashed app's schedules wait, due, until it is back.
                    .where(~exists().where(trashed.c.app_id == sc.c.app_id))
                    .order_by(sc.c.next_at)
                    .limit(BATCH)
                    .with_for_update(of=sc, skip_locked=True)
                )
            ).all()
            for row in rows:
                run_id = await self._due(session, row, now)
                if run_id is not None:
                    started.append(run_id)
        return started

    async def _due(self, session: AsyncSession, row: Any, now: datetime) -> str | None:
        spec = dict(row.spec)
        parameters = spec.pop("parameters", {})
        when = due(parse_schedule(spec), row.since, now)
        run_id = None
        if when.run is not None:
            run = await self.runs.start(
                NewRun(
                    tenant_id=row.tenant_id,
                    app_id=row.app_id,
                    app_ref=row.app_ref,
                    workflow_id=row.workflow_id,
                    version=row.version,
                    trigger="schedule",
                    parameters=parameters,
                    idempotency_key=f"schedule:{row.trigger_index}:{when.run.isoformat()}",
                    # Queued for the workers at once: the clock picks the slot, not
                    # when the workers take it up.
                    not_before=utcnow(),
                    event={"slot": when.run.isoformat()},
                ),
                wait=False,
            )
            run_id = run.id
        await session.execute(
            update(sc)
            .where(sc.c.workflow_id == row.workflow_id, sc.c.trigger_index == row.trigger_index)
            .values(since=when.run or row.since, next_at=when.next)
        )
        return run_id

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("starting scheduled runs failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.poll_seconds)
