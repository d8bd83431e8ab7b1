"""The Workflow API: running a workflow as its caller, reading its runs, replaying one.

Who may run what: workspace members any workflow of their apps; an app's end users only
the workflows exposed as public; anonymous callers (the app addressed by its public id,
no credential) only public workflows whose builder chose to run them without
authentication. A workflow a caller may not run is one they cannot see (404), except
that an anonymous caller is told to sign in (401)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tessera.common.v1 import common_pb2

from services.kit.access import APP_KINDS, Kind, Principal
from services.kit.db import SessionMaker, transaction
from services.kit.errors import Unauthenticated, ValidationFailed
from services.kit.json import loads_exact
from services.kit.tenancy import tenant_of
from services.workflows import service
from services.workflows.apps import AppRef, AppResolver
from services.workflows.definitions import Definition
from services.workflows.errors import RunNotFound, WorkflowNotFound
from services.workflows.parameters import typed_parameters
from services.workflows.runs import NewRun, Runs, RunWithSteps, StoredRun
from services.workflows.service import StoredWorkflow

MAX_RUNS_PER_PAGE = 100
DEFAULT_RUNS_PER_PAGE = 20


@dataclass(frozen=True, slots=True)
class Target:
    app: AppRef
    workflow: StoredWorkflow
    definition: Definition


class WorkflowApi:
    def __init__(self, sessionmaker: SessionMaker, resolve_app: AppResolver, runs: Runs) -> None:
        self.sessionmaker = sessionmaker
        self.resolve_app = resolve_app
        self.runs = runs

    async def _target(self, ctx: common_pb2.RequestContext, app_slug: str, name: str) -> Target:
        app = await self.resolve_app(ctx, app_slug)
        caller = Principal.of(ctx)
        if caller.kind in APP_KINDS and caller.app_id != app.id:
            raise WorkflowNotFound()
        async with transaction(self.sessionmaker, tenant=tenant_of(ctx)) as session:
            workflow = await service.find(session, tenant_of(ctx), app.id, name)
        definition, _ = self.runs.checked(workflow.id, workflow.version, workflow.definition)
        return Target(app, workflow, definition)

    async def run(
        self,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        name: str,
        raw: bytes,
        *,
        from_form: bool,
        asynchronous: bool,
    ) -> StoredRun:
        target = await self._target(ctx, app_slug, name)
        _may_run(Principal.of(ctx), target.definition)
        given = _given(raw)
        parameters = typed_parameters(target.definition.parameters, given, from_form=from_form)
        caller = common_pb2.RequestContext()
        caller.CopyFrom(ctx)
        # Each step's write gets a key of its own (the run's and the step's).
        caller.idempotency_key = ""
        return await self.runs.start(
            NewRun(
                tenant_id=tenant_of(ctx),
                app_id=target.app.id,
                app_ref=target.app.public_id,
                workflow_id=target.workflow.id,
                version=target.workflow.version,
                trigger="api",
                parameters=parameters,
                caller=caller,
                idempotency_key=ctx.idempotency_key or None,
            ),
            wait=not asynchronous,
        )

    async def list_runs(
        self, ctx: common_pb2.RequestContext, app_slug: str, name: str, cursor: str, per_page: int
    ) -> tuple[list[StoredRun], str]:
        if not 0 <= per_page <= MAX_RUNS_PER_PAGE:
            raise ValidationFailed(f"'per_page' must be 1 to {MAX_RUNS_PER_PAGE}", field="per_page")
        limit = per_page or DEFAULT_RUNS_PER_PAGE
        target = await self._target(ctx, app_slug, name)
        try:
            found = await self.runs.list_runs(
                tenant_of(ctx), target.workflow.id, before=cursor or None, limit=limit
            )
        except RunNotFound:
            raise ValidationFailed("The cursor is not one of this list", field="cursor") from None
        return found, found[-1].id if len(found) == limit else ""

    async def get_run(
        self, ctx: common_pb2.RequestContext, app_slug: str, name: str, run_id: str
    ) -> RunWithSteps:
        target = await self._target(ctx, app_slug, name)
        return await self.runs.get_with_steps(tenant_of(ctx), target.workflow.id, run_id)

    async def replay(
        self, ctx: common_pb2.RequestContext, app_slug: str, name: str, run_id: str
    ) -> StoredRun:
        """The run's version again, with its parameters, as its caller."""
        target = await self._target(ctx, app_slug, name)
        earlier = (await self.runs.get_with_steps(tenant_of(ctx), target.workflow.id, run_id)).run
        return await self.runs.start(
            NewRun(
                tenant_id=earlier.tenant_id,
                app_id=earlier.app_id,
                app_ref=earlier.app_ref,
                workflow_id=earlier.workflow_id,
                version=earlier.version,
                trigger="replay",
                parameters=earlier.parameters,
                caller=earlier.caller_context(),
                replay_of=earlier.id,
                event=earlier.event,
            ),
            wait=True,
        )


def _may_run(caller: Principal, definition: Definition) -> None:
    if caller.kind not in APP_KINDS:
        return
    if not definition.public:
        raise WorkflowNotFound()
    if caller.kind == Kind.ANONYMOUS and not definition.run_without_authentication:
        raise Unauthenticated("This workflow runs only for signed-in users")


def _given(raw: bytes) -> dict[str, Any]:
    """The parameters as sent: a JSON object, or form fields (name to list of values)."""
    if not raw:
        return {}
    try:
        given = loads_exact(raw)
    except ValueError:
        raise ValidationFailed("The parameters are not valid JSON") from None
    if not isinstance(given, dict):
        raise ValidationFailed("The parameters are a JSON object of name to value")
    return given
