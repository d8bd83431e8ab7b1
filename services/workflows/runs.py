"""Runs: stored before anything happens, executed by the engine under a lease, finished
with their result or error, each change of state announced as workflows.<tenant>.run.*.

A run is executed by the process that holds its lease, renewed while it works. A run whose
lease has run out (its process died or was stopped mid-run) or that was queued (a schedule
step, a workspace at its concurrency limit, an asynchronous call when this process was busy)
is claimed by the dispatcher of any replica and executed from its journal: what its steps
did before is not done again (services.workflows.engine)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from tessera.common.v1 import common_pb2

from services.kit.access import Kind, Principal
from services.kit.clock import utcnow
from services.kit.db import ALL_TENANTS, SessionMaker, transaction
from services.kit.errors import ValidationFailed
from services.kit.ids import new_id
from services.kit.nats.events import Event
from services.kit.nats.outbox import OutboxWriter
from services.workflows import tables
from services.workflows.connector_steps import AppConnectors
from services.workflows.definitions import Compiled, Definition, compiled, parse_definition
from services.workflows.engine import (
    SKIPPED,
    SUCCEEDED,
    Executor,
    Http,
    RetryPolicy,
    StepEntry,
    StepFailed,
)
from services.workflows.errors import RunNotFound, WorkflowNotFound
from services.workflows.parameters import typed_parameters
from services.workflows.records import RecordsClient

log = logging.getLogger(__name__)

QUEUED = "queued"
RUNNING = "running"
RUN_SUCCEEDED = "succeeded"
RUN_FAILED = "failed"
UNFINISHED = (QUEUED, RUNNING)

DEFINITIONS_KEPT = 512

_outbox = OutboxWriter(tables.outbox)
r = tables.runs
s = tables.run_steps
w = tables.workflows
v = tables.workflow_versions


@dataclass(frozen=True, slots=True)
class RunSettings:
    # How long a claim on a run lasts without renewal; renewed every third of it.
    lease_seconds: float = 30.0
    # How often the dispatcher looks for runs to take up (it is also woken by new ones).
    poll_seconds: float = 1.0
    # Runs one process executes at once, and one workspace across all processes.
    max_concurrent_runs: int = 50
    max_concurrent_runs_per_workspace: int = 10
    # The Workflow API waits this long for a run's result before answering with its id.
    sync_budget_seconds: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True, slots=True)
class StoredRun:
    id: str
    tenant_id: str
    app_id: str
    app_ref: str
    workflow_id: str
    version: int
    state: str
    trigger: str
    parameters: dict[str, Any]
    event: dict[str, Any] | None
    caller: bytes
    result: dict[str, Any] | None
    error: str | None
    replay_of: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    def caller_context(self) -> common_pb2.RequestContext:
        return common_pb2.RequestContext.FromString(self.caller)


@dataclass(frozen=True, slots=True)
class RunWithSteps:
    run: StoredRun
    workflow_name: str
    steps: list[StepEntry]


_RUN_COLUMNS = (
    r.c.id,
    r.c.tenant_id,
    r.c.app_id,
    r.c.app_ref,
    r.c.workflow_id,
    r.c.version,
    r.c.state,
    r.c.trigger,
    r.c.parameters,
    r.c.event,
    r.c.caller,
    r.c.result,
    r.c.error,
    r.c.replay_of,
    r.c.created_at,
    r.c.started_at,
    r.c.finished_at,
)


@dataclass(frozen=True, slots=True)
class NewRun:
    tenant_id: str
    app_id: str
    app_ref: str
    workflow_id: str
    version: int
    trigger: str
    parameters: dict[str, Any]
    # Who the run acts as; None: a run no caller started (a trigger), which acts as the
    # workflow itself, in its own app.
    caller: common_pb2.RequestContext | None = None
    idempotency_key: str | None = None
    replay_of: str | None = None
    not_before: datetime | None = None
    event: dict[str, Any] | None = None

    def acting_as(self) -> common_pb2.RequestContext:
        if self.caller is not None:
            return self.caller
        return common_pb2.RequestContext(
            tenant_id=self.tenant_id,
            principal_kind=Kind.WORKFLOW,
            principal_id=self.workflow_id,
            app_id=self.app_id,
        )


def _announce_run(session: Any, run: StoredRun, action: str, name: str) -> Any:
    data = {
        "run_id": run.id,
        "workflow_id": run.workflow_id,
        "workflow": name,
        "app_id": run.app_id,
        "version": run.version,
        "trigger": run.trigger,
        "state": run.state,
        "error": run.error,
    }
    event = Event.new(
        service="workflows", tenant=run.tenant_id, entity="run", action=action, data=data
    )
    return _outbox.add(session, event)


class Runs:
    """Creating, executing and reading runs, for every trigger."""

    def __init__(
        self,
        sessionmaker: SessionMaker,
        records: RecordsClient,
        settings: RunSettings,
        http: Http | None = None,
        connectors: AppConnectors | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.records = records
        self.settings = settings
        # For http_request and api_call steps; without them they fail.
        self.http = http
        self.connectors = connectors
        self._tasks: dict[str, asyncio.Task[StoredRun | None]] = {}
        self._wake = asyncio.Event()
        # (workflow id, version) -> the definition and its expressions: a version never
        # changes, and checking one again costs more than a short run's own work.
        self._definitions: dict[tuple[str, int], tuple[Definition, dict[str, Compiled]]] = {}

    # --- starting ------------------------------------------------------------------------------

    async def start(self, new: NewRun, *, wait: bool) -> StoredRun:
        """Stores the run and, if its workspace has room, executes it here; with `wait`,
        answers once it finished or the sync budget ran out, whichever comes first. A run
        with the same idempotency key as an earlier one of the workflow is that run."""
        async with transaction(self.sessionmaker, tenant=new.tenant_id) as session:
            if new.idempotency_key:
                earlier = await self._by_key(session, new)
                if earlier is not None:
                    return earlier
            now_running = new.not_before is None and await self._has_room(session, new.tenant_id)
            run_id = new_id("run")
            values: dict[str, Any] = {
                "id": run_id,
                "tenant_id": new.tenant_id,
                "app_id": new.app_id,
                "app_ref": new.app_ref,
                "workflow_id": new.workflow_id,
                "version": new.version,
                "state": RUNNING if now_running else QUEUED,
                "trigger": new.trigger,
                "parameters": new.parameters,
                "event": new.event,
                "caller": new.acting_as().SerializeToString(deterministic=True),
                "replay_of": new.replay_of,
                "idempotency_key": new.idempotency_key,
            }
            if new.not_before is not None:
                values["not_before"] = new.not_before
            if now_running:
                values["started_at"] = func.now()
                values["lease_until"] = self._lease_end()
            statement = pg_insert(r).values(values)
            if new.idempotency_key:
                statement = statement.on_conflict_do_nothing(constraint="uq_runs_idempotency_key")
            inserted = await session.execute(statement.returning(r.c.id))
            if inserted.first() is None:
                # Another call with the key got there first, in the same moment.
                earlier = await self._by_key(session, new)
                assert earlier is not None
                return earlier
            run = await self._get(session, run_id)
            if now_running:
                await _announce_run(session, run, "started", await self._name(session, run))
        if not now_running:
            self._wake.set()
            return run
        task = self._spawn(run_id, run)
        if wait:
            with contextlib.suppress(TimeoutError):
                finished = await asyncio.wait_for(
                    asyncio.shield(task), self.settings.sync_budget_seconds
                )
                if finished is not None:
                    return finished
        return await self.get(new.tenant_id, run_id)

    async def _by_key(self, session: Any, new: NewRun) -> StoredRun | None:
        row = (
            await session.execute(
                select(*_RUN_COLUMNS).where(
                    r.c.tenant_id == new.tenant_id,
                    r.c.workflow_id == new.workflow_id,
                    r.c.idempotency_key == new.idempotency_key,
                )
            )
        ).first()
        return None if row is None else StoredRun(*row)

    async def _has_room(self, session: Any, tenant: str) -> bool:
        running = await session.scalar(
            select(func.count())
            .select_from(r)
            .where(r.c.tenant_id == tenant, r.c.state == RUNNING, r.c.lease_until > func.now())
        )
        return bool(running < self.settings.max_concurrent_runs_per_workspace) and (
            len(self._tasks) < self.settings.max_concurrent_runs
        )

    def _lease_end(self) -> datetime:
        return utcnow() + timedelta(seconds=self.settings.lease_seconds)

    def _spawn(self, run_id: str, fresh: StoredRun | None = None) -> asyncio.Task[StoredRun | None]:
        task = asyncio.create_task(self._execute(run_id, fresh), name=f"run-{run_id}")
        self._tasks[run_id] = task
        task.add_done_callback(lambda _: self._ended(run_id))
        return task

    def _ended(self, run_id: str) -> None:
        self._tasks.pop(run_id, None)
        # Room for a queued run of its workspace: claim it now, not at the next poll.
        self._wake.set()

    # --- executing -----------------------------------------------------------------------------

    async def _execute(self, run_id: str, fresh: StoredRun | None = None) -> StoredRun | None:
        """Executes a run this process holds the lease of, to its end; the finished run, or
        None when it was not this process's to finish. `fresh`: the run as this process
        just stored it, with nothing journaled yet."""
        if fresh is None:
            async with transaction(self.sessionmaker, tenant=ALL_TENANTS) as session:
                run = await self._get(session, run_id)
        else:
            run = fresh
        try:
            known = self._definitions.get((run.workflow_id, run.version))
            if fresh is not None and known is not None:
                # A run just started from a definition at hand: nothing to read back.
                (definition, expressions), entries = known, []
            else:
                async with transaction(self.sessionmaker, tenant=run.tenant_id) as session:
                    definition, expressions = await self._definition(session, run)
                    entries = await _entries(session, run.id)
            journal = DatabaseJournal(self.sessionmaker, run, entries)
            executor = Executor(
                definition=definition,
                expressions=expressions,
                records=self.records.acting_as(run.caller_context(), run.app_ref),
                schedule=_Scheduling(self, run).schedule,
                journal=journal,
                run_id=run.id,
                retry=self.settings.retry,
                http=self.http,
                connectors=(
                    None
                    if self.connectors is None
                    else self.connectors.of_app(run.tenant_id, run.app_id, run.caller_context())
                ),
            )
            heartbeat = asyncio.create_task(self._keep_lease(run))
            try:
                async with asyncio.timeout(self._time_left(run, definition)):
                    result = await executor.run(run.parameters, _current_user(run), run.event)
            finally:
                heartbeat.cancel()
        except StepFailed as failed:
            return await self._finish(run, RUN_FAILED, error=f"{failed.place}: {failed.message}")
        except TimeoutError:
            return await self._finish(run, RUN_FAILED, error="The run took longer than its timeout")
        except WorkflowNotFound:
            return await self._finish(run, RUN_FAILED, error="The workflow was deleted")
        except asyncio.CancelledError:
            # Stopping: another process (or this one, restarted) takes the run up at once.
            await asyncio.shield(self._release(run))
            raise
        except Exception as error:
            log.exception("run %s failed unexpectedly", run.id)
            stopped = f"An internal error stopped the run ({type(error).__name__})"
            return await self._finish(run, RUN_FAILED, error=stopped)
        return await self._finish(run, RUN_SUCCEEDED, result=result)

    def _time_left(self, run: StoredRun, definition: Definition) -> float:
        started = run.started_at or utcnow()
        spent = (utcnow() - started).total_seconds()
        return max(definition.timeout_seconds - spent, 0.0)

    async def _keep_lease(self, run: StoredRun) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_seconds / 3)
            async with transaction(self.sessionmaker, tenant=run.tenant_id) as session:
                await session.execute(
                    update(r)
                    .where(r.c.id == run.id, r.c.state == RUNNING)
                    .values(lease_until=self._lease_end())
                )

    async def _release(self, run: StoredRun) -> None:
        with contextlib.suppress(Exception):
            async with transaction(self.sessionmaker, tenant=run.tenant_id) as session:
                await session.execute(
                    update(r)
                    .where(r.c.id == run.id, r.c.state == RUNNING)
                    .values(lease_until=func.now())
                )

    async def _finish(
        self,
        run: StoredRun,
        state: str,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> StoredRun | None:
        async with transaction(self.sessionmaker, tenant=run.tenant_id) as session:
            finished = await session.execute(
                update(r)
                .where(r.c.id == run.id, r.c.state == RUNNING)
                .values(
                    state=state,
                    result=result,
                    error=error,
                    finished_at=func.now(),
                    lease_until=None,
                )
                .returning(r.c.id)
            )
            if finished.first() is None:
                return None
            done = await self._get(session, run.id)
            action = "succeeded" if state == RUN_SUCCEEDED else "failed"
            await _announce_run(session, done, action, await self._name(session, done))
        return done

    async def _definition(
        self, session: Any, run: StoredRun
    ) -> tuple[Definition, dict[str, Compiled]]:
        known = self._definitions.get((run.workflow_id, run.version))
        if known is not None:
            return known
        stored = await session.scalar(
            select(v.c.definition).where(
                v.c.workflow_id == run.workflow_id, v.c.version == run.version
            )
        )
        if stored is None:
            raise WorkflowNotFound()
        return self.checked(run.workflow_id, run.version, stored)

    def checked(
        self, workflow_id: str, version: int, stored: dict[str, Any]
    ) -> tuple[Definition, dict[str, Compiled]]:
        """A version's definition, parsed and compiled once: a version never changes, and
        checking one again costs more than a short run's own work."""
        key = (workflow_id, version)
        known = self._definitions.get(key)
        if known is None:
            definition = parse_definition(stored)
            if len(self._definitions) >= DEFINITIONS_KEPT:
                del self._definitions[next(iter(self._definitions))]
            known = self._definitions[key] = (definition, compiled(definition))
        return known

    # --- the dispatcher ------------------------------------------------------------------------

    async def dispatch(self, stop: asyncio.Event) -> None:
        """Claims queued runs that are due and runs whose lease ran out, until `stop`;
        then stops the runs this process executes (their leases released)."""
        try:
            while not stop.is_set():
                try:
                    while len(self._tasks) < self.settings.max_concurrent_runs:
                        claimed = await self._claim()
                        if claimed is None:
                            break
                        self._spawn(claimed)
                except Exception:
                    log.exception("claiming runs failed; trying again")
                self._wake.clear()
                waiters = [
                    asyncio.ensure_future(stop.wait()),
                    asyncio.ensure_future(self._wake.wait()),
                ]
                await asyncio.wait(
                    waiters,
                    timeout=self.settings.poll_seconds,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for waiter in waiters:
                    waiter.cancel()
        finally:
            await self.stop()

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _claim(self) -> str | None:
        """One run to take up, its lease now this process's; None when nothing is due."""
        limit = self.settings.max_concurrent_runs_per_workspace
        busy = (
            select(r.c.tenant_id)
            .where(r.c.state == RUNNING, r.c.lease_until > func.now())
            .group_by(r.c.tenant_id)
            .having(func.count() >= limit)
        )
        due = or_(
            and_(r.c.state == QUEUED, r.c.not_before <= func.now()),
            and_(r.c.state == RUNNING, r.c.lease_until <= func.now()),
        )
        async with transaction(self.sessionmaker, tenant=ALL_TENANTS) as session:
            row = (
                await session.execute(
                    select(r.c.id, r.c.started_at)
                    .where(r.c.state.in_(UNFINISHED), due, r.c.tenant_id.not_in(busy))
                    .order_by(r.c.not_before)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            ).first()
            if row is None:
                return None
            run_id, started_at = row
            await session.execute(
                update(r)
                .where(r.c.id == run_id)
                .values(
                    state=RUNNING,
                    lease_until=self._lease_end(),
                    started_at=func.coalesce(r.c.started_at, func.now()),
                )
            )
            if started_at is None:
                run = await self._get(session, run_id)
                await _announce_run(session, run, "started", await self._name(session, run))
            else:
                log.info("taking up run %s, whose worker stopped", run_id)
        return str(run_id)

    # --- reading -------------------------------------------------------------------------------

    async def _get(self, session: Any, run_id: str) -> StoredRun:
        row = (await session.execute(select(*_RUN_COLUMNS).where(r.c.id == run_id))).first()
        if row is None:
            raise RunNotFound()
        return StoredRun(*row)

    async def _name(self, session: Any, run: StoredRun) -> str:
        name = await session.scalar(select(w.c.name).where(w.c.id == run.workflow_id))
        return str(name or "")

    async def get(self, tenant: str, run_id: str) -> StoredRun:
        async with transaction(self.sessionmaker, tenant=tenant) as session:
            return await self._get(session, run_id)

    async def get_with_steps(self, tenant: str, workflow_id: str, run_id: str) -> RunWithSteps:
        async with transaction(self.sessionmaker, tenant=tenant) as session:
            run = await self._get(session, run_id)
            if run.workflow_id != workflow_id:
                raise RunNotFound()
            steps = await _entries(session, run.id)
            return RunWithSteps(run, await self._name(session, run), steps)

    async def list_runs(
        self, tenant: str, workflow_id: str, *, before: str | None, limit: int
    ) -> list[StoredRun]:
        """The workflow's runs, newest first; `before`: a run id, the page after it."""
        async with transaction(self.sessionmaker, tenant=tenant) as session:
            query = select(*_RUN_COLUMNS).where(r.c.workflow_id == workflow_id)
            if before:
                anchor = (
                    await session.execute(
                        select(r.c.created_at, r.c.id).where(
                            r.c.id == before, r.c.workflow_id == workflow_id
                        )
                    )
                ).first()
                if anchor is None:
                    raise RunNotFound("The cursor names no run of this workflow")
                query = query.where(
                    or_(
                        r.c.created_at < anchor[0],
                        and_(r.c.created_at == anchor[0], r.c.id < anchor[1]),
                    )
                )
            rows = await session.execute(
                query.order_by(r.c.created_at.desc(), r.c.id.desc()).limit(limit)
            )
            return [StoredRun(*tuple(row)) for row in rows]


def _current_user(run: StoredRun) -> str | None:
    """What the run's expressions call `current_user`: as privacy rules would."""
    return Principal.of(run.caller_context()).current_user


async def _entries(session: Any, run_id: str) -> list[StepEntry]:
    rows = await session.execute(
        select(
            s.c.place,
            s.c.step_id,
            s.c.type,
            s.c.attempt,
            s.c.state,
            s.c.input,
            s.c.output,
            s.c.error,
            s.c.duration_ms,
        )
        .where(s.c.run_id == run_id)
        .order_by(s.c.seq)
    )
    return [StepEntry(*row) for row in rows]


class DatabaseJournal:
    """A run's journal in run_steps: each entry committed as it is recorded."""

    def __init__(
        self, sessionmaker: SessionMaker, run: StoredRun, entries: Sequence[StepEntry]
    ) -> None:
        self._sessionmaker = sessionmaker
        self._run = run
        self._entries = list(entries)

    def completed(self, place: str) -> StepEntry | None:
        for entry in self._entries:
            if entry.place == place and entry.state in (SUCCEEDED, SKIPPED):
                return entry
        return None

    def attempts(self, place: str) -> int:
        return sum(1 for entry in self._entries if entry.place == place)

    async def record(self, entry: StepEntry) -> None:
        async with transaction(self._sessionmaker, tenant=self._run.tenant_id) as session:
            await session.execute(
                insert(s).values(
                    run_id=self._run.id,
                    seq=len(self._entries) + 1,
                    tenant_id=self._run.tenant_id,
                    place=entry.place,
                    step_id=entry.step_id,
                    type=entry.type,
                    attempt=entry.attempt,
                    state=entry.state,
                    input=entry.input,
                    output=entry.output,
                    error=entry.error,
                    duration_ms=entry.duration_ms,
                )
            )
        self._entries.append(entry)


class _Scheduling:
    """A schedule step: a queued run of another workflow of the same app, acting as the
    same caller, due at the step's time. Its key makes a replayed step schedule nothing new."""

    def __init__(self, runs: Runs, run: StoredRun) -> None:
        self._runs = runs
        self._run = run

    async def schedule(
        self, name: str, parameters: dict[str, Any], at: str | None, key: str
    ) -> str:
        run = self._run
        async with transaction(self._runs.sessionmaker, tenant=run.tenant_id) as session:
            row = (
                await session.execute(
                    select(w.c.id, w.c.version, v.c.definition)
                    .join(v, (v.c.workflow_id == w.c.id) & (v.c.version == w.c.version))
                    .where(w.c.tenant_id == run.tenant_id, w.c.app_id == run.app_id)
                    .where(w.c.name == name)
                )
            ).first()
        if row is None:
            raise ValidationFailed(f"The app has no workflow {name!r}")
        workflow_id, version, stored = row
        definition = parse_definition(stored)
        typed = typed_parameters(definition.parameters, parameters)
        scheduled = await self._runs.start(
            NewRun(
                tenant_id=run.tenant_id,
                app_id=run.app_id,
                app_ref=run.app_ref,
                workflow_id=workflow_id,
                version=version,
                trigger="schedule",
                parameters=typed,
                caller=run.caller_context(),
                idempotency_key=key,
                not_before=_moment(at),
            ),
            wait=False,
        )
        return scheduled.id


def _moment(at: str | None) -> datetime:
    if at is None:
        return utcnow()
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        raise ValidationFailed(f"'at' is not an RFC 3339 time: {at[:64]!r}") from None
    if moment.tzinfo is None:
        raise ValidationFailed("'at' needs a time zone offset (Z for UTC)")
    return moment
