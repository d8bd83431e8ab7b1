"""Running a workflow's steps, durably: every attempt at a step goes to the run's journal
as it ends, and a run taken up again (its worker died, the service restarted) replays the
outcomes the journal holds instead of doing those steps again, so it continues from its
last completed step. Record writes carry an idempotency key made of the run and the step's
place, so a write that happened just before a crash, unrecorded, is not done twice.

A step that fails for a reason that may pass (the records service unavailable) is tried
again after a delay that doubles each time, up to the step's `attempts`; any other failure
fails the run at once. Nothing here touches a database or the network: the journal, the
records service and the scheduler come in as ports."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.kit.errors import DomainError, InternalError, ServiceUnavailable
from services.kit.outbound import CREDENTIAL_HEADERS
from services.workflows.definitions import (
    ApiCall,
    Compiled,
    CreateRecord,
    Definition,
    DeleteRecord,
    FindRecords,
    HttpRequest,
    Loop,
    Return,
    ScheduleWorkflow,
    SetValue,
    UpdateRecord,
)
from services.workflows.expressions import ExpressionFailed

# Failures worth another attempt: the other side may be back in a moment.
TRANSIENT = (ServiceUnavailable, InternalError, TimeoutError)
MAX_LOOP_ITEMS = 1000
SUCCEEDED = "succeeded"
FAILED = "failed"
SKIPPED = "skipped"
RETRYING = "retrying"


class StepFailed(Exception):
    """The run fails: `place` is the step at fault."""

    def __init__(self, place: str, message: str) -> None:
        super().__init__(f"{place}: {message}")
        self.place = place
        self.message = message
        # Whether the journal has the failure already (as the step's last attempt).
        self.logged = False


@dataclass(frozen=True, slots=True)
class StepEntry:
    """One attempt at one step, as the journal keeps it."""

    place: str
    step_id: str | None
    type: str
    attempt: int
    state: str
    input: Any = None
    output: Any = None
    error: str | None = None
    duration_ms: int = 0


class Journal(Protocol):
    def completed(self, place: str) -> StepEntry | None:
        """The step's recorded success or skip, if it has one."""

    def attempts(self, place: str) -> int:
        """Attempts recorded at the step so far."""

    async def record(self, entry: StepEntry) -> None: ...


class Records(Protocol):
    """The records service, as the run's caller. `key` makes a write idempotent."""

    async def create(self, schema: str, values: dict[str, Any], key: str) -> dict[str, Any]: ...

    async def update(
        self, schema: str, record_id: str, values: dict[str, Any], key: str
    ) -> dict[str, Any]: ...

    async def delete(self, schema: str, record_id: str, key: str) -> None: ...

    async def find(
        self, schema: str, filter: dict[str, Any] | None, sort: list[str], limit: int
    ) -> list[dict[str, Any]]: ...


class Http(Protocol):
    """Outgoing HTTP for http_request steps: the answer as the step's result
    ({"status", "headers", "body", "json"}). Raises ServiceUnavailable or TimeoutError for
    what may pass (no answer, a 5xx, a 429), anything else for what will not."""

    async def send(
        self, method: str, url: str, headers: dict[str, str], body: Any
    ) -> dict[str, Any]: ...


class Connectors(Protocol):
    """The app's connectors, for api_call steps: the call's answer as the step's result
    ({"status", "content_type", "body"}). Raises ServiceUnavailable or TimeoutError for
    what may pass, anything else for what will not."""

    async def call(
        self, connector: str, call: str, parameters: dict[str, Any]
    ) -> dict[str, Any]: ...


REDACTED = "***"

# Queues a run of another workflow of the app: (name, parameters, at or None, key) -> run id.
Scheduler = Callable[[str, dict[str, Any], str | None, str], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_seconds: float = 1.0
    max_delay_seconds: float = 60.0

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt number `attempt` (from 1)."""
        return min(self.base_seconds * 2 ** (attempt - 1), self.max_delay_seconds)


@dataclass
class _Scope:
    """What expressions see; a loop's body gets a copy with its item and index."""

    params: Mapping[str, Any]
    current_user: str | None
    trigger: Any = None
    steps: dict[str, Any] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    item: Any = None
    index: int | None = None

    def values(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "params": self.params,
            "steps": self.steps,
            "vars": self.vars,
            "current_user": self.current_user,
            "trigger": self.trigger,
        }
        if self.index is not None:
            values["item"] = self.item
            values["index"] = self.index
        return values


class _Returned(Exception):
    def __init__(self, value: dict[str, Any]) -> None:
        self.value = value


@dataclass
class Executor:
    definition: Definition
    expressions: Mapping[str, Compiled]
    records: Records
    schedule: Scheduler
    journal: Journal
    run_id: str
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    http: Http | None = None
    connectors: Connectors | None = None

    async def run(
        self, params: Mapping[str, Any], current_user: str | None, trigger: Any = None
    ) -> dict[str, Any]:
        """The run's result: what its return step gave ({} without one). StepFailed when a
        step fails for good; a condition that does not hold runs nothing."""
        scope = _Scope(params, current_user, trigger)
        condition = self.expressions.get("condition")
        if condition is not None and not _holds(
            self._evaluate(condition, scope, "condition"), "condition"
        ):
            await self._log(
                StepEntry("condition", None, "condition", 1, SKIPPED, input=dict(params))
            )
            return {}
        try:
            await self._steps(self.definition.steps, "steps", "steps", scope)
        except _Returned as returned:
            return returned.value
        return {}

    async def _steps(self, steps: list[Any], where: str, place: str, scope: _Scope) -> None:
        for index, step in enumerate(steps):
            await self._step(step, f"{where}[{index}]", f"{place}[{index}]", scope)

    async def _step(self, step: Any, where: str, place: str, scope: _Scope) -> None:
        try:
            await self._step_once(step, where, place, scope)
        except StepFailed as failed:
            if not failed.logged:
                failed.logged = True
                await self._log(StepEntry(place, step.id, step.type, 1, FAILED, error=str(failed)))
            raise

    async def _step_once(self, step: Any, where: str, place: str, scope: _Scope) -> None:
        done = self.journal.completed(place)
        if done is not None:
            # Done before the run was taken up again (a loop: every iteration of it).
            self._remember(step, scope, done)
            if isinstance(step, Return) and done.state == SUCCEEDED:
                raise _Returned(done.output or {})
            return
        only_when = self.expressions.get(f"{where}.only_when")
        if only_when is not None:
            condition = f"{where}.only_when"
            if not _holds(self._evaluate(only_when, scope, condition), condition):
                entry = StepEntry(place, step.id, step.type, 1, SKIPPED)
                await self._log(entry)
                self._remember(step, scope, entry)
                return
        if isinstance(step, Loop):
            await self._loop(step, where, place, scope)
            return
        if isinstance(step, SetValue):
            value = self._evaluate(self.expressions[f"{where}.value"], scope, f"{where}.value")
            entry = StepEntry(place, step.id, step.type, 1, SUCCEEDED, output=value)
            await self._log(entry)
            self._remember(step, scope, entry)
            return
        if isinstance(step, Return):
            value = self._mapping(step.value, f"{where}.value", scope)
            await self._log(StepEntry(place, step.id, step.type, 1, SUCCEEDED, output=value))
            raise _Returned(value)
        entry = await self._attempts(step, where, place, scope)
        self._remember(step, scope, entry)

    async def _loop(self, step: Loop, where: str, place: str, scope: _Scope) -> None:
        items = self._evaluate(self.expressions[f"{where}.over"], scope, f"{where}.over")
        if not isinstance(items, list):
            raise StepFailed(where, "'over' must give a list")
        if len(items) > MAX_LOOP_ITEMS:
            raise StepFailed(where, f"a loop runs over at most {MAX_LOOP_ITEMS} items")
        for index, item in enumerate(items):
            inner = _Scope(
                scope.params,
                scope.current_user,
                scope.trigger,
                scope.steps,
                scope.vars,
                item,
                index,
            )
            await self._steps(step.steps, f"{where}.steps", f"{place}#{index}.steps", inner)
        entry = StepEntry(place, step.id, step.type, 1, SUCCEEDED, output={"count": len(items)})
        await self._log(entry)
        self._remember(step, scope, entry)

    async def _attempts(self, step: Any, where: str, place: str, scope: _Scope) -> StepEntry:
        """The step done, tried again while it fails for a reason that may pass."""
        attempt = self.journal.attempts(place)
        while True:
            attempt += 1
            started = time.monotonic()
            given: Any = None
            try:
                given = self._input(step, where, scope)
                output = await self._act(step, given, place)
            except StepFailed:
                raise
            except Exception as error:  # every failure is logged, then judged
                message = _message(error)
                transient = isinstance(error, TRANSIENT) and attempt < step.attempts
                await self._log(
                    StepEntry(
                        place,
                        step.id,
                        step.type,
                        attempt,
                        RETRYING if transient else FAILED,
                        input=_shown(given),
                        error=message,
                        duration_ms=_since(started),
                    )
                )
                if not transient:
                    failed = StepFailed(where, message)
                    failed.logged = True
                    raise failed from None
                await self.sleep(self.retry.delay(attempt))
                continue
            entry = StepEntry(
                place,
                step.id,
                step.type,
                attempt,
                SUCCEEDED,
                input=_shown(given),
                output=output,
                duration_ms=_since(started),
            )
            await self._log(entry)
            return entry

    def _input(self, step: Any, where: str, scope: _Scope) -> dict[str, Any]:
        given: dict[str, Any] = {}
        if isinstance(step, CreateRecord | UpdateRecord):
            given["values"] = self._mapping(step.values, f"{where}.values", scope)
        if isinstance(step, UpdateRecord | DeleteRecord):
            given["record"] = _record_id(
                self._evaluate(self.expressions[f"{where}.record"], scope, f"{where}.record")
            )
        if isinstance(step, FindRecords) and step.filter is not None:
            given["filter"] = self._filter(step.filter, f"{where}.filter", scope)
        if isinstance(step, ScheduleWorkflow):
            given["parameters"] = self._mapping(step.parameters, f"{where}.parameters", scope)
            at = self.expressions.get(f"{where}.at")
            given["at"] = None if at is None else self._evaluate(at, scope, f"{where}.at")
            if given["at"] is not None and not isinstance(given["at"], str):
                raise ExpressionFailed("'at' must give an RFC 3339 time")
        if isinstance(step, HttpRequest):
            url = self._evaluate(self.expressions[f"{where}.url"], scope, f"{where}.url")
            if not isinstance(url, str):
                raise ExpressionFailed("'url' must give a text")
            headers = self._mapping(step.headers, f"{where}.headers", scope)
            if not all(isinstance(value, str | int | float) for value in headers.values()):
                raise ExpressionFailed("each header must give a text")
            body = self.expressions.get(f"{where}.body")
            given.update(
                method=step.method,
                url=url,
                headers={name: str(value) for name, value in headers.items()},
                body=None if body is None else self._evaluate(body, scope, f"{where}.body"),
            )
        if isinstance(step, ApiCall):
            given.update(
                connector=step.connector,
                call=step.call,
                parameters=self._mapping(step.parameters, f"{where}.parameters", scope),
            )
        return given

    async def _act(self, step: Any, given: dict[str, Any], place: str) -> Any:
        key = f"run:{self.run_id}:{place}"
        if isinstance(step, CreateRecord):
            return await self.records.create(step.schema_slug, given["values"], key)
        if isinstance(step, UpdateRecord):
            return await self.records.update(
                step.schema_slug, given["record"], given["values"], key
            )
        if isinstance(step, DeleteRecord):
            await self.records.delete(step.schema_slug, given["record"], key)
            return {"id": given["record"], "deleted": True}
        if isinstance(step, FindRecords):
            found = await self.records.find(
                step.schema_slug, given.get("filter"), step.sort, step.limit
            )
            return {"records": found, "count": len(found)}
        if isinstance(step, ScheduleWorkflow):
            run_id = await self.schedule(step.workflow, given["parameters"], given["at"], key)
            return {"run_id": run_id}
        if isinstance(step, HttpRequest):
            if self.http is None:
                raise StepFailed(place, "outgoing HTTP is not available here")
            return await self.http.send(
                given["method"], given["url"], given["headers"], given["body"]
            )
        if isinstance(step, ApiCall):
            if self.connectors is None:
                raise StepFailed(place, "the API connector is not available here")
            return await self.connectors.call(
                given["connector"], given["call"], given["parameters"]
            )
        raise StepFailed(place, f"no step of type {step.type!r}")

    def _remember(self, step: Any, scope: _Scope, entry: StepEntry) -> None:
        output = entry.output if entry.state == SUCCEEDED else None
        if step.id is not None:
            scope.steps[step.id] = output
        if isinstance(step, SetValue) and entry.state == SUCCEEDED:
            scope.vars[step.name] = output

    def _evaluate(self, expression: Compiled, scope: _Scope, where: str) -> Any:
        try:
            return expression.evaluate(scope.values())
        except ExpressionFailed as error:
            raise StepFailed(where, str(error)) from None

    def _mapping(self, sources: Mapping[str, str], where: str, scope: _Scope) -> dict[str, Any]:
        return {
            name: self._evaluate(self.expressions[f"{where}.{name}"], scope, f"{where}.{name}")
            for name in sources
        }

    def _filter(self, node: Any, where: str, scope: _Scope) -> Any:
        """The step's filter tree with each condition's value evaluated."""
        if not isinstance(node, dict):
            return node
        for group in ("and", "or"):
            if group in node:
                return {
                    group: [
                        self._filter(member, f"{where}.{group}[{index}]", scope)
                        for index, member in enumerate(node[group])
                    ]
                }
        if "value" not in node:
            return node
        expression = self.expressions[f"{where}.value"]
        return {**node, "value": self._evaluate(expression, scope, f"{where}.value")}

    async def _log(self, entry: StepEntry) -> None:
        await self.journal.record(entry)


def _holds(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise StepFailed(where, "a condition must give true or false")
    return value


def _record_id(value: Any) -> str:
    """A record's id from what an expression gave: the id itself, or a record."""
    if isinstance(value, dict):
        value = value.get("id")
    if not isinstance(value, str) or not value:
        raise ExpressionFailed("'record' must give a record or its id")
    return value


def _shown(given: dict[str, Any] | None) -> dict[str, Any] | None:
    """The step's input as its journal keeps it: credentials in headers masked. None when
    the step failed before its input was made."""
    if given is None:
        return None
    headers = given.get("headers")
    if not isinstance(headers, dict):
        return given
    masked = {
        name: REDACTED if name.lower() in CREDENTIAL_HEADERS else value
        for name, value in headers.items()
    }
    return {**given, "headers": masked}


def _message(error: BaseException) -> str:
    if isinstance(error, DomainError):
        return f"{error.code}: {error.message}"
    if isinstance(error, TimeoutError):
        return "timed out"
    return str(error) or type(error).__name__


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
