"""Record triggers on the running stack: a record created or changed in a schema starts
the runs of the workflows that watch it, once per event, acting as the workflow itself in
its app; conditions and watched fields decide which events count."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from services.devstack.stack import Stack
from services.kit.db import create_engine, create_sessionmaker
from services.kit.grpc.client import create_channel
from services.kit.nats.events import Event
from services.workflows.apps import SchemaApps
from services.workflows.records import RecordsClient
from services.workflows.runs import Runs, RunSettings
from services.workflows.triggers import RecordTriggers
from tests.factories.accounts import Tenant
from tests.factories.apps import create_app, create_schema, records_path
from tests.support.bus import BusReader, stream_messages
from tests.support.db import scalar
from tests.support.trust import trust_settings
from tests.support.wait import eventually

LEAD_FIELDS: list[dict[str, Any]] = [
    {"slug": "email", "type": "email", "required": True},
    {"slug": "score", "type": "integer"},
    {"slug": "status", "type": "select", "options": ["new", "hot"]},
]
# Record events in one batch, more than the consumer takes in at a time.
BURST = 100
LOG_FIELDS: list[dict[str, Any]] = [
    {"slug": "lead", "type": "text"},
    {"slug": "action", "type": "text"},
]
WATCH: dict[str, Any] = {
    "name": "watch-leads",
    "triggers": [
        {
            "type": "record",
            "schema": "leads",
            "on": ["created"],
            "condition": "trigger.record.score > 10",
        },
        {"type": "record", "schema": "leads", "on": ["updated"], "fields": ["status"]},
    ],
    "steps": [
        {
            "type": "create_record",
            "schema": "log",
            "values": {"lead": "trigger.record.email", "action": "trigger.action"},
        }
    ],
}


def crm(tenant: Tenant) -> str:
    app = str(create_app(tenant)["slug"])
    create_schema(tenant, app, name="Leads", slug="leads", fields=LEAD_FIELDS)
    create_schema(tenant, app, name="Log", slug="log", fields=LOG_FIELDS)
    made = tenant.post(f"/api/apps/{app}/workflows", json=WATCH)
    assert made.status_code == 201, made.text
    return app


def log_of(tenant: Tenant, app: str) -> list[tuple[str, str]]:
    params = {"sort": "lead,action", "per_page": BURST}
    records = tenant.get(records_path(app, "log"), params=params)
    return sorted((r["lead"], r["action"]) for r in records.json()["records"])


def runs_of(tenant: Tenant, app: str) -> list[dict[str, Any]]:
    return list(tenant.get(f"/api/apps/{app}/workflows/watch-leads/runs").json()["runs"])


def test_record_events_start_the_runs_of_the_workflows_that_watch_them(tenant: Tenant) -> None:
    app = crm(tenant)
    leads = records_path(app, "leads")
    hot = tenant.post(leads, json={"email": "ada@example.com", "score": 50}).json()
    tenant.post(leads, json={"email": "bob@example.com", "score": 5})  # its condition fails

    eventually(lambda: log_of(tenant, app) == [("ada@example.com", "created")])

    # An update counts only when the watched field changed.
    tenant.patch(f"{leads}/{hot['id']}", json={"score": 60})
    tenant.patch(f"{leads}/{hot['id']}", json={"status": "hot"})
    eventually(lambda: len(log_of(tenant, app)) == 2)
    assert log_of(tenant, app) == [
        ("ada@example.com", "created"),
        ("ada@example.com", "updated"),
    ]
    runs = runs_of(tenant, app)
    assert [(r["trigger"], r["state"]) for r in runs] == [("record", "succeeded")] * 2


def test_an_event_delivered_again_starts_no_second_run(
    stack: Stack, bus: BusReader, tenant: Tenant
) -> None:
    app = crm(tenant)
    tenant.post(records_path(app, "leads"), json={"email": "ada@example.com", "score": 50})
    eventually(lambda: [r["state"] for r in runs_of(tenant, app)] == ["succeeded"])
    [published] = stream_messages(
        bus, "RECORDS", f"records.{tenant.workspace_id}.record.created", at_least=1
    )[-1:]
    event = Event.from_message(published.subject, orjson.dumps(published.body))

    # The consumer died after starting the run and before acknowledging the event: the
    # event comes again, to this consumer or another replica's.
    asyncio.run(deliver_again(stack, event, times=2))

    assert len(runs_of(tenant, app)) == 1
    assert log_of(tenant, app) == [("ada@example.com", "created")]


async def deliver_again(stack: Stack, event: Event, *, times: int) -> None:
    assert stack.pki is not None
    trust = trust_settings(stack.pki, "workflows")
    schema_address = stack.processes["schema"].grpc_address
    records_address = stack.processes["records"].grpc_address
    assert schema_address is not None
    assert records_address is not None
    engine = create_engine(stack.resolved_database_urls["workflows"])
    schema = create_channel(schema_address, service="schema", trust=trust)
    records = create_channel(records_address, service="records", trust=trust)
    try:
        runs = Runs(create_sessionmaker(engine), RecordsClient(records), RunSettings())
        handler = RecordTriggers(runs.sessionmaker, runs, SchemaApps(schema).app)
        for _ in range(times):
            await handler(event)
    finally:
        await schema.close()
        await records.close()
        await engine.dispose()


def test_a_record_trigger_fires_once_per_event_though_its_consumer_is_killed(
    stack: Stack, tenant: Tenant
) -> None:
    app = crm(tenant)
    names = [f"lead{index:03d}@example.com" for index in range(BURST)]
    made = tenant.post(
        f"{records_path(app, 'leads')}/batch",
        json={"records": [{"email": name, "score": 50} for name in names]},
    )
    assert made.status_code == 201, made.text[:300]
    database = stack.databases["workflows"].admin_url
    started = "SELECT count(*) FROM runs WHERE trigger = 'record' AND tenant_id = %s"
    workspace = tenant.workspace_id

    # Killed while it takes the events in: some have started their runs, and among them
    # likely one whose event was not yet acknowledged, which JetStream delivers again
    # after the restart (once its ack wait is over).
    eventually(lambda: scalar(database, started, workspace) >= 10, timeout=30)
    workflows = stack.processes["workflows"]
    assert workflows.process is not None
    workflows.process.kill()
    workflows.process.wait()
    assert scalar(database, started, workspace) < BURST
    workflows.stop()
    workflows.start()
    workflows.wait_ready()

    eventually(lambda: len(log_of(tenant, app)) == BURST, timeout=90)
    assert log_of(tenant, app) == [(name, "created") for name in names]
    assert scalar(database, started, workspace) == BURST
