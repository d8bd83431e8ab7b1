"""A workflow as builders write it: its parameters, its condition and its steps, checked
whole before it is stored (every expression parsed, every step id unique and named before
it is used), so a stored workflow fails at run time only on the values it is given.

    {
      "name": "new-lead",
      "public": true,
      "parameters": [
        {"name": "email", "type": "text", "required": true},
        {"name": "score", "type": "number"}
      ],
      "condition": "params.score >= 0",
      "steps": [
        {"id": "lead", "type": "create_record", "schema": "leads",
         "values": {"email": "params.email", "score": "params.score"}},
        {"id": "hot", "type": "update_record", "schema": "leads", "record": "steps.lead.id",
         "values": {"status": "'hot'"}, "only_when": "params.score > 50"},
        {"type": "return", "value": {"lead": "steps.lead.id"}}
      ]
    }

Every value in `values`, `record`, `value`, `over` and the conditions is an expression
(services.workflows.expressions): a literal text is quoted, 'hot'.

`triggers` start runs without a caller: {"type": "record", "schema": "leads", "on":
["created"], "fields": [...], "condition": "trigger.record.score > 50"}, or {"type":
"schedule", "cron": "0 9 * * 1-5", "time_zone": "Europe/Berlin", "parameters": {...}}
(or "at" a time instead of "cron"), or {"type": "hook", "scheme": "standard"} for an
incoming webhook. Such a run acts as the workflow itself (services.kit.access.Kind.WORKFLOW),
and its steps read the event as `trigger`."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from services.kit.errors import ValidationFailed
from services.workflows.conditions import FilterCondition, parse_filter_condition
from services.workflows.expressions import Expression, compile_expression
from services.workflows.hooks import REPLAY_WINDOW_SECONDS
from services.workflows.schedules import parse_schedule

MAX_PARAMETERS = 50
# What a definition's expressions and conditions are once checked: each evaluates on a
# run's values.
Compiled = Expression | FilterCondition
MAX_STEPS = 100
MAX_LOOP_DEPTH = 3
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
STEP_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
PARAMETER_TYPES = ("text", "number", "integer", "boolean", "date", "datetime", "record", "json")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Parameter(_Strict):
    name: str = Field(pattern=STEP_ID.pattern)
    type: Literal["text", "number", "integer", "boolean", "date", "datetime", "record", "json"]
    # A list of such values.
    list: bool = False
    required: bool = False
    # For "record": the slug of the schema the record id belongs to.
    schema_slug: str | None = Field(default=None, alias="schema")
    description: str = Field(default="", max_length=1000)


class _Step(_Strict):
    # How later steps name this one's result (steps.<id>); generated when absent.
    id: str | None = Field(default=None, pattern=STEP_ID.pattern)
    # The step runs only when this holds.
    only_when: str | None = None
    # Attempts in all, the first included; the delay between them doubles.
    attempts: int = Field(default=3, ge=1, le=10)


class CreateRecord(_Step):
    type: Literal["create_record"]
    schema_slug: str = Field(alias="schema")
    values: dict[str, str] = {}


class UpdateRecord(_Step):
    type: Literal["update_record"]
    schema_slug: str = Field(alias="schema")
    record: str
    values: dict[str, str] = {}


class DeleteRecord(_Step):
    type: Literal["delete_record"]
    schema_slug: str = Field(alias="schema")
    record: str


class FindRecords(_Step):
    type: Literal["find_records"]
    schema_slug: str = Field(alias="schema")
    # A records filter tree whose condition values are expressions.
    filter: dict[str, Any] | None = None
    sort: list[str] = []
    limit: int = Field(default=50, ge=1, le=100)


class SetValue(_Step):
    type: Literal["set"]
    name: str = Field(pattern=STEP_ID.pattern)
    value: str


class Loop(_Step):
    type: Literal["loop"]
    over: str
    steps: list[Step]


class ScheduleWorkflow(_Step):
    type: Literal["schedule"]
    workflow: str = Field(pattern=NAME.pattern)
    # When: an expression giving an RFC 3339 time; now when absent.
    at: str | None = None
    parameters: dict[str, str] = {}


class HttpRequest(_Step):
    """A request to an outside API through the SSRF-safe client (services.kit.outbound):
    `url`, each header and `body` are expressions; a body that gives an object or a list
    is sent as JSON. Its result: {"status", "headers", "body" (text), "json" (or null)}.
    A 5xx, a 429 or no answer in time is tried again; any other 4xx fails the step."""

    type: Literal["http_request"]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    url: str
    headers: dict[str, str] = Field(default={}, max_length=50)
    body: str | None = None


class ApiCall(_Step):
    """A call of one of the app's connectors (the API connector), by the connector's name
    and the call's, with the connector's authentication; `parameters` are expressions for
    the call's public parameters (the others keep their stored values). The call must have
    been initialized. Its result: {"status", "content_type", "body"}. No answer, a 5xx or
    a 429 is tried again; any other failure fails the step."""

    type: Literal["api_call"]
    connector: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00]*$")
    call: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    parameters: dict[str, str] = Field(default={}, max_length=50)


class Return(_Step):
    type: Literal["return"]
    value: dict[str, str] = {}


Step = Annotated[
    CreateRecord
    | UpdateRecord
    | DeleteRecord
    | FindRecords
    | SetValue
    | Loop
    | ScheduleWorkflow
    | HttpRequest
    | ApiCall
    | Return,
    Field(discriminator="type"),
]
Loop.model_rebuild()


RecordAction = Literal["created", "updated", "deleted"]
RECORD_ACTIONS: tuple[RecordAction, ...] = ("created", "updated", "deleted")
MAX_TRIGGERS = 10


class RecordTrigger(_Strict):
    """Runs the workflow for each record event of a schema of its app: created, updated,
    deleted. `fields`: an update counts only when one of them changed. `condition` reads
    `trigger.record` (a deleted record: its id only), `trigger.changed` and `trigger.action`."""

    type: Literal["record"]
    schema_slug: str = Field(alias="schema", pattern=STEP_ID.pattern)
    on: list[RecordAction] = Field(default=list(RECORD_ACTIONS), min_length=1, max_length=3)
    fields: list[str] = Field(default=[], max_length=MAX_PARAMETERS)
    condition: str | None = None


class ScheduleTrigger(_Strict):
    """Runs the workflow at a time (`at`, RFC 3339 with its offset) or on a cron
    expression read in `time_zone`, with `parameters` (JSON values, typed as declared)."""

    type: Literal["schedule"]
    cron: str | None = None
    at: str | None = None
    time_zone: str = "UTC"
    parameters: dict[str, Any] = {}

    @model_validator(mode="after")
    def _a_schedule(self) -> ScheduleTrigger:
        try:
            parse_schedule(self.spec())
        except ValidationFailed as refused:
            raise ValueError(refused.message) from None
        return self

    def spec(self) -> dict[str, Any]:
        """The schedule alone (services.workflows.schedules.parse_schedule reads it)."""
        spec: dict[str, Any] = {"time_zone": self.time_zone}
        if self.cron is not None:
            spec["cron"] = self.cron
        if self.at is not None:
            spec["at"] = self.at
        return spec


class HookTrigger(_Strict):
    """Runs the workflow for each delivery to its incoming webhook, POST /hooks/{app's
    public id}/{name}, signed as `scheme` says (services.workflows.hooks) with a secret
    Tessera makes and shows once. A signed delivery older or newer than
    `replay_window_seconds` is refused, and one delivered again runs once. The body's fields
    that the workflow declares are its parameters; steps read the delivery as `trigger.body`
    (the raw text), `trigger.json` (the parsed JSON body, or null) and `trigger.delivery_id`."""

    type: Literal["hook"]
    scheme: Literal["standard", "github", "stripe", "none"] = "standard"
    replay_window_seconds: int = Field(default=REPLAY_WINDOW_SECONDS, ge=10, le=86_400)


Trigger = Annotated[RecordTrigger | ScheduleTrigger | HookTrigger, Field(discriminator="type")]


class Definition(_Strict):
    name: str = Field(pattern=NAME.pattern)
    description: str = Field(default="", max_length=2000)
    # Exposed on the Workflow API (POST /api/apps/{app}/workflows/{name}/run).
    public: bool = False
    # Chosen explicitly: anyone who knows the app's public id may run it.
    run_without_authentication: bool = False
    parameters: list[Parameter] = Field(default=[], max_length=MAX_PARAMETERS)
    # An expression, or a records filter tree over params and $current_user
    # (services.workflows.conditions).
    condition: str | dict[str, Any] | None = None
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    # Seconds a run may take in all.
    timeout_seconds: int = Field(default=60, ge=1, le=3600)
    # What starts runs besides the Workflow API.
    triggers: list[Trigger] = Field(default=[], max_length=MAX_TRIGGERS)

    @field_validator("triggers")
    @classmethod
    def _one_hook(cls, triggers: list[Any]) -> list[Any]:
        if sum(isinstance(trigger, HookTrigger) for trigger in triggers) > 1:
            raise ValueError("a workflow has one incoming webhook at most")
        return triggers

    @property
    def hook(self) -> HookTrigger | None:
        return next((t for t in self.triggers if isinstance(t, HookTrigger)), None)

    @field_validator("parameters")
    @classmethod
    def _unique_parameters(cls, parameters: list[Parameter]) -> list[Parameter]:
        names = [p.name for p in parameters]
        if len(set(names)) != len(names):
            raise ValueError("parameter names must differ")
        return parameters


def parse_definition(body: Any) -> Definition:
    """A definition from a request body, checked whole; ValidationFailed naming the first
    place at fault (`steps[2].values.status`)."""
    if not isinstance(body, dict):
        raise ValidationFailed("A workflow is a JSON object")
    try:
        definition = Definition.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        raise ValidationFailed(
            f"{_place(first['loc']) or 'workflow'}: {first['msg']}", field=_place(first["loc"])
        ) from None
    if definition.run_without_authentication and not definition.public:
        raise ValidationFailed(
            "Only a public workflow can run without authentication",
            field="run_without_authentication",
        )
    compiled(definition)
    return definition


def _place(location: tuple[int | str, ...]) -> str:
    place = ""
    after_index = False
    for part in location:
        if isinstance(part, int):
            place += f"[{part}]"
            after_index = True
            continue
        # A discriminated union's branch name, right after the item's index, says nothing
        # the body did not.
        if not (after_index and part in STEP_KINDS | TRIGGER_KINDS):
            place += f".{part}" if place else str(part)
        after_index = False
    return place


def _kinds(union: Any) -> frozenset[str]:
    """The `type` names of a discriminated union's members."""
    members = get_args(get_args(union)[0])
    return frozenset(get_args(member.model_fields["type"].annotation)[0] for member in members)


TRIGGER_KINDS = _kinds(Trigger)


STEP_KINDS = _kinds(Step)


def compiled(definition: Definition) -> dict[str, Compiled]:
    """Every expression of the definition parsed, by its place; step ids filled in and
    checked: unique, and each named by later steps only; parameters and `set` values
    named only once they exist."""
    expressions: dict[str, Compiled] = {}
    known = {
        "params": {p.name for p in definition.parameters},
        "steps": set[str](),
        "vars": set[str](),
    }
    what = {"params": "parameter", "steps": "earlier step", "vars": "value set earlier"}

    def add(where: str, source: str | dict[str, Any] | None) -> None:
        if source is None:
            return
        expression: Compiled = (
            parse_filter_condition(source, where=where)
            if isinstance(source, dict)
            else compile_expression(source, where=where)
        )
        for root, names in known.items():
            for name in sorted(expression.members(root) - names):
                raise ValidationFailed(
                    f"'{where}' names {root}.{name}, but there is no {what[root]} {name!r}",
                    field=where,
                )
        expressions[where] = expression

    add("condition", definition.condition)
    for index, trigger in enumerate(definition.triggers):
        if isinstance(trigger, RecordTrigger):
            add(f"triggers[{index}].condition", trigger.condition)

    def walk(steps: list[Any], prefix: str, depth: int) -> None:
        if depth > MAX_LOOP_DEPTH:
            raise ValidationFailed(f"Loops nest at most {MAX_LOOP_DEPTH} deep", field=prefix)
        for index, step in enumerate(steps):
            where = f"{prefix}[{index}]"
            if step.id is not None and step.id in known["steps"]:
                raise ValidationFailed(f"Step id {step.id!r} is used twice", field=f"{where}.id")
            add(f"{where}.only_when", step.only_when)
            for key in ("record", "value", "over", "at", "url", "body"):
                source = getattr(step, key, None)
                if isinstance(source, str):
                    add(f"{where}.{key}", source)
            for key in ("values", "value", "parameters", "headers"):
                mapping = getattr(step, key, None)
                if isinstance(mapping, dict):
                    for name, source in mapping.items():
                        add(f"{where}.{key}.{name}", source)
            if isinstance(step, FindRecords) and step.filter is not None:
                _filter_values(step.filter, f"{where}.filter", add)
            if isinstance(step, Loop):
                walk(step.steps, f"{where}.steps", depth + 1)
            if step.id is not None:
                known["steps"].add(step.id)
            if isinstance(step, SetValue):
                known["vars"].add(step.name)

    walk(definition.steps, "steps", 1)
    return expressions


def _filter_values(node: Any, where: str, add: Any) -> None:
    if not isinstance(node, dict):
        raise ValidationFailed("A filter is an object", field=where)
    for group in ("and", "or"):
        if group in node:
            members = node[group]
            if not isinstance(members, list):
                raise ValidationFailed(f"'{group}' holds a list of filters", field=where)
            for index, member in enumerate(members):
                _filter_values(member, f"{where}.{group}[{index}]", add)
            return
    if "value" in node:
        add(f"{where}.value", node["value"])


def api_calls(definition: Definition) -> list[tuple[str, ApiCall]]:
    """Every api_call step of the definition, loops' included, with its place."""
    found: list[tuple[str, ApiCall]] = []

    def walk(steps: list[Any], prefix: str) -> None:
        for index, step in enumerate(steps):
            where = f"{prefix}[{index}]"
            if isinstance(step, ApiCall):
                found.append((where, step))
            elif isinstance(step, Loop):
                walk(step.steps, f"{where}.steps")

    walk(definition.steps, "steps")
    return found
