"""Composition root. `python -m services.workflows` serves gRPC until SIGTERM;
`python -m services.workflows migrate` applies the migrations and exits;
`python -m services.workflows rotate-secret-key` reseals every hook, webhook and connector
secret with the first key of TESSERA_SECRET_KEY and exits."""

from __future__ import annotations

import logging
import sys
from functools import partial
from pathlib import Path

from tessera.workflows.v1 import workflows_pb2_grpc

from services.kit.db import ALL_TENANTS, create_engine, create_sessionmaker, transaction
from services.kit.grpc.client import create_channel
from services.kit.grpc.server import HandlerRegistry, run_grpc_service
from services.kit.grpc.trust import ContextSigner
from services.kit.outbound import OutboundClient
from services.kit.runtime import service_main, service_runtime
from services.kit.secrets import SecretBox, SecretKeyError, SecretUnreadable, secret_box
from services.workflows import tables
from services.workflows.app_changes import AppChanges, run_app_changes
from services.workflows.apps import SchemaApps
from services.workflows.calls import WorkflowApi
from services.workflows.config import WorkflowsSettings
from services.workflows.connector_api import ConnectorApi
from services.workflows.connector_calls import ConnectorClient
from services.workflows.connector_oauth import reseal_user_secrets
from services.workflows.connector_steps import AppConnectors
from services.workflows.connectors import reseal_connector_secrets
from services.workflows.deliveries import Deliverer
from services.workflows.http_steps import MAX_ANSWER_BYTES, OutboundHttp, step_client
from services.workflows.incoming import Hooks, reseal_hook_secrets
from services.workflows.policy import POLICY
from services.workflows.records import RecordsClient
from services.workflows.runs import Runs
from services.workflows.scheduling import Scheduler
from services.workflows.server import WorkflowsServicer
from services.workflows.triggers import RecordTriggers, run_record_triggers
from services.workflows.webhook_events import WebhookEvents, run_webhook_events
from services.workflows.webhooks import reseal_webhook_secrets

log = logging.getLogger("services.workflows")


def _secret_box(settings: WorkflowsSettings) -> SecretBox:
    try:
        return secret_box(settings.secret_key, needed_for="workflows seals webhook secrets with it")
    except SecretKeyError as error:
        raise SystemExit(f"workflows cannot start: {error}") from None


async def rotate_secret_key(settings: WorkflowsSettings) -> None:
    """Run after every replica has been restarted with the new key listed first and the
    old one after it; afterwards the old key can be dropped."""
    box = _secret_box(settings)
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with transaction(create_sessionmaker(engine), tenant=ALL_TENANTS) as session:
            resealed = await reseal_hook_secrets(session, box)
            resealed += await reseal_webhook_secrets(session, box)
            resealed += await reseal_connector_secrets(session, box)
            resealed += await reseal_user_secrets(session, box)
    except SecretUnreadable as error:
        raise SystemExit(f"nothing was resealed: {error}") from None
    finally:
        await engine.dispose()
    log.info(
        "resealed %d hook, webhook and connector secret(s) with key %s",
        resealed,
        box.sealing_key_id,
    )


async def serve(settings: WorkflowsSettings) -> None:
    for variable, value in (
        ("WORKFLOWS_SCHEMA_ADDR", settings.schema_addr),
        ("WORKFLOWS_RECORDS_ADDR", settings.records_addr),
    ):
        if not value:
            raise SystemExit(f"{variable} is required to serve")
    box = _secret_box(settings)
    async with service_runtime("workflows", settings, outbox=tables.outbox) as runtime:
        schema = create_channel(settings.schema_addr, service="schema", trust=settings.trust)
        # Runs act as their callers: each call's context signed with this service's key.
        records = create_channel(
            settings.records_addr,
            service="records",
            trust=settings.trust,
            signer=ContextSigner.load(settings.trust),
        )
        apps = SchemaApps(schema)
        resolve_app = apps.app
        outbound = step_client()
        # One client for every connector call, so their tokens are asked for once.
        connector_client = ConnectorClient(outbound)
        runs = Runs(
            runtime.sessionmaker,
            RecordsClient(records),
            settings.run_settings(),
            OutboundHttp(outbound),
            AppConnectors(runtime.sessionmaker, box, connector_client),
        )
        triggers = RecordTriggers(runtime.sessionmaker, runs, resolve_app)
        scheduler = Scheduler(
            runtime.sessionmaker, runs, poll_seconds=settings.schedule_poll_seconds
        )
        delivery_settings = settings.delivery_settings()
        # A delivery keeps a few kilobytes of each answer; one larger than a step may read
        # is not read to its end (and fails the attempt).
        webhook_client = OutboundClient(
            max_response_bytes=MAX_ANSWER_BYTES, total_seconds=delivery_settings.timeout_seconds
        )
        deliverer = Deliverer(runtime.sessionmaker, box, webhook_client, delivery_settings)
        webhook_events = WebhookEvents(
            runtime.sessionmaker, RecordsClient(records), delivery_settings, deliverer.wake
        )
        servicer = WorkflowsServicer(
            runtime.sessionmaker,
            resolve_app,
            WorkflowApi(runtime.sessionmaker, resolve_app, runs),
            Hooks(runtime.sessionmaker, box, runs),
            deliverer,
            ConnectorApi(runtime.sessionmaker, resolve_app, box, connector_client),
        )

        def register(server: HandlerRegistry) -> None:
            workflows_pb2_grpc.add_WorkflowsServiceServicer_to_server(servicer, server)

        try:
            await run_grpc_service(
                name="workflows",
                policy=POLICY,
                address=settings.grpc_address,
                trust=settings.trust,
                health_address=settings.grpc_health_address,
                register=register,
                background=[
                    runtime.relay.run,
                    runs.dispatch,
                    partial(run_record_triggers, runtime.js, triggers),
                    partial(
                        run_app_changes, runtime.js, AppChanges(runtime.sessionmaker, apps.forget)
                    ),
                    scheduler.run,
                    deliverer.run,
                    partial(run_webhook_events, runtime.js, webhook_events),
                ],
                grace_seconds=settings.shutdown_grace_seconds,
            )
        finally:
            await runs.stop()
            await deliverer.stop()
            await connector_client.aclose()
            await outbound.aclose()
            await webhook_client.aclose()
            await schema.close()
            await records.close()


if __name__ == "__main__":
    sys.exit(
        service_main(
            "workflows",
            WorkflowsSettings,
            migrations=Path(__file__).parent / "migrations",
            serve=serve,
            commands={"rotate-secret-key": rotate_secret_key},
        )
    )
