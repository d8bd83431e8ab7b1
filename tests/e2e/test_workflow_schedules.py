"""Schedule triggers on the running stack, driven by a clock the test holds: a cron
schedule in a time zone runs once per slot, a schedule missed for days runs once for the
latest slot, a one-off runs once; the stack's own workers execute the runs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from services.devstack.stack import Stack
from services.kit.db import create_engine, create_sessionmaker
from services.kit.grpc.client import create_channel
from services.workflows.records import RecordsClient
from services.workflows.runs import Runs, RunSettings
from services.workflows.scheduling import Scheduler
from tests.factories.accounts import Tenant
from tests.factories.apps import create_app, create_schema, records_path
from tests.factories.tables import invalid
from tests.support.db import scalar
from tests.support.trust import trust_settings
from tests.support.wait import eventually

BERLIN = ZoneInfo("Europe/Berlin")
LOG_FIELDS: list[dict[str, Any]] = [{"slug": "line", "type": "text"}]


def scheduled(name: str, schedule: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "parameters": [{"name": "greeting", "type": "text", "required": True}],
        "triggers": [
            {"type": "schedule", **schedule, "parameters": {"greeting": f"{name} says hi"}}
        ],
        "steps": [
            {"type": "create_record", "schema": "log", "values": {"line": "params.greeting"}}
        ],
    }


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def ticking(stack: Stack) -> Iterator[tuple[Clock, Any]]:
    """A scheduler on the stack's workflows database, on a clock the test moves; yields
    the clock and a function that ticks once."""
    assert stack.pki is not None
    records_address = stack.processes["records"].grpc_address
    assert records_address is not None
    clock = Clock()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    engine = create_engine(stack.resolved_database_urls["workflows"])
    records = create_channel(
        records_address, service="records", trust=trust_settings(stack.pki, "workflows")
    )
    runs = Runs(create_sessionmaker(engine), RecordsClient(records), RunSettings())
    scheduler = Scheduler(runs.sessionmaker, runs, clock=clock)
    try:
        yield clock, lambda: loop.run_until_complete(scheduler.tick())
    finally:
        loop.run_until_complete(records.close())
        loop.run_until_complete(engine.dispose())
        asyncio.set_event_loop(None)
        loop.close()


def runs_of(tenant: Tenant, app: str, name: str) -> list[dict[str, Any]]:
    found = tenant.get(f"/api/apps/{app}/workflows/{name}/runs")
    assert found.status_code == 200, found.text
    return list(found.json()["runs"])


def lines(tenant: Tenant, app: str) -> list[str]:
    records = tenant.get(records_path(app, "log"), params={"sort": "line"}).json()["records"]
    return [record["line"] for record in records]


def test_a_cron_schedule_runs_once_per_slot_and_once_for_slots_missed(
    tenant: Tenant, ticking: tuple[Clock, Any]
) -> None:
    clock, tick = ticking
    app = str(create_app(tenant)["slug"])
    create_schema(tenant, app, name="Log", slug="log", fields=LOG_FIELDS)
    daily = scheduled("daily", {"cron": "0 9 * * *", "time_zone": "Europe/Berlin"})
    once = scheduled("once", {"at": (clock.now + timedelta(days=2)).isoformat()})
    for workflow in (daily, once):
        made = tenant.post(f"/api/apps/{app}/workflows", json=workflow)
        assert made.status_code == 201, made.text

    tick()
    assert runs_of(tenant, app, "daily") == runs_of(tenant, app, "once") == []

    # The next 09:00 in Berlin, a minute after.
    berlin = clock.now.astimezone(BERLIN)
    nine = berlin.replace(hour=9, minute=0, second=0, microsecond=0)
    if nine <= berlin:
        nine += timedelta(days=1)
    clock.now = (nine + timedelta(minutes=1)).astimezone(UTC)
    tick()
    tick()
    [first] = runs_of(tenant, app, "daily")
    assert (first["trigger"], first["parameters"]) == ("schedule", {"greeting": "daily says hi"})
    eventually(lambda: lines(tenant, app) == ["daily says hi"])

    # Down for three days: one run, for the latest slot.
    clock.now += timedelta(days=3)
    tick()
    assert len(runs_of(tenant, app, "daily")) == 2
    # The one-off came in between: once.
    assert len(runs_of(tenant, app, "once")) == 1
    tick()
    assert len(runs_of(tenant, app, "daily")) == 2
    assert len(runs_of(tenant, app, "once")) == 1
    eventually(lambda: len(lines(tenant, app)) == 3)


def test_a_schedule_is_checked_when_the_workflow_is_saved(tenant: Tenant) -> None:
    app = str(create_app(tenant)["slug"])
    flows = f"/api/apps/{app}/workflows"
    invalid(tenant.post(flows, json=scheduled("bad", {"cron": "every day"})), "triggers[0]")
    invalid(
        tenant.post(flows, json=scheduled("bad", {"cron": "0 9 * * *", "time_zone": "Mars/Base"})),
        "triggers[0]",
    )
    invalid(tenant.post(flows, json=scheduled("bad", {"at": "tomorrow"})), "triggers[0]")
    wrong = scheduled("bad", {"cron": "0 9 * * *"})
    wrong["triggers"][0]["parameters"] = {"greeting": 7}
    invalid(tenant.post(flows, json=wrong), "triggers[0].parameters.greeting")
    assert tenant.get(flows).json()["workflows"] == []


def test_a_trashed_apps_schedules_and_hooks_wait_until_it_is_restored(
    stack: Stack, tenant: Tenant, ticking: tuple[Clock, Any], client: httpx.Client
) -> None:
    clock, tick = ticking
    app = str(create_app(tenant)["slug"])
    create_schema(tenant, app, name="Log", slug="log", fields=LOG_FIELDS)
    hourly = scheduled("hourly", {"cron": "0 * * * *"})
    hourly["triggers"].append({"type": "hook", "scheme": "none"})
    made = tenant.post(f"/api/apps/{app}/workflows", json=hourly)
    assert made.status_code == 201, made.text
    hook = made.json()["hook"]["path"]

    database = stack.databases["workflows"].admin_url
    in_trash = "SELECT count(*) FROM trashed_apps WHERE tenant_id = %s"
    workspace = tenant.workspace_id
    trashed = tenant.delete(f"/api/apps/{app}")
    assert trashed.status_code == 200, trashed.text
    # Heard from the schema service's events.
    eventually(lambda: scalar(database, in_trash, workspace) == 1)
    assert client.post(hook, json={"greeting": "in the trash"}).status_code == 404
    clock.now += timedelta(hours=2)
    tick()

    restored = tenant.post(f"/api/trash/{trashed.json()['trash']['id']}/restore")
    assert restored.status_code == 200, restored.text
    eventually(lambda: scalar(database, in_trash, workspace) == 0)
    assert client.post(hook, json={"greeting": "by hook"}).status_code == 202
    # The slots it missed in the trash: one run, now that it is back.
    tick()
    triggers = sorted(run["trigger"] for run in runs_of(tenant, app, "hourly"))
    assert triggers == ["hook", "schedule"]
    eventually(lambda: lines(tenant, app) == ["by hook", "hourly says hi"])
