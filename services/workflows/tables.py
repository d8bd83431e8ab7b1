"""The workflows service's tables (SQLAlchemy Core). migrations/versions must match them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB

from services.kit.nats.consumer import dead_letters_table
from services.kit.nats.outbox import outbox_table

metadata = MetaData()

# A workflow of an app, addressed by its name; its definition is its latest version's.
workflows = Table(
    "workflows",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    # The app's id: a renamed app keeps its workflows.
    Column("app_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("tenant_id", "app_id", "name", name="uq_workflows_tenant_id_app_id_name"),
)

# Every definition a workflow has had: runs name the version they ran.
workflow_versions = Table(
    "workflow_versions",
    metadata,
    Column("workflow_id", Text, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("definition", JSONB, nullable=False),
    # Who stored it: the principal's kind and id.
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("workflow_id", "version", name="pk_workflow_versions"),
    ForeignKeyConstraint(
        ["workflow_id"],
        ["workflows.id"],
        name="fk_workflow_versions_workflow_id",
        ondelete="CASCADE",
    ),
)

# One run of one version of a workflow: queued until a worker claims it, running while a
# worker holds its lease (a lease run out means the worker died: another resumes the run
# from its journal), then succeeded or failed.
runs = Table(
    "runs",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("app_id", Text, nullable=False),
    # The app's public id: how the run names the app to records, whatever its slug becomes.
    Column("app_ref", Text, nullable=False),
    Column("workflow_id", Text, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("state", Text, nullable=False),
    # api, record, schedule, hook or replay.
    Column("trigger", Text, nullable=False),
    Column("parameters", JSONB, nullable=False),
    # What started a run other than the Workflow API (a record event), as steps read it.
    Column("event", JSONB, nullable=True),
    # Who the run acts as: the RequestContext its trigger gave it, serialized.
    Column("caller", LargeBinary, nullable=False),
    Column("result", JSONB, nullable=True),
    Column("error", Text, nullable=True),
    Column("replay_of", Text, nullable=True),
    Column("idempotency_key", Text, nullable=True),
    # A queued run starts no earlier than this.
    Column("not_before", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    ForeignKeyConstraint(
        ["workflow_id"], ["workflows.id"], name="fk_runs_workflow_id", ondelete="CASCADE"
    ),
    UniqueConstraint("tenant_id", "workflow_id", "idempotency_key", name="uq_runs_idempotency_key"),
)
Index("ix_runs_workflow_id_created_at", runs.c.workflow_id, runs.c.created_at)
# What the dispatcher looks for: runs not finished, by when they may start.
Index(
    "ix_runs_unfinished",
    runs.c.not_before,
    postgresql_where=runs.c.state.in_(("queued", "running")),
)

# A run's journal: every attempt at every step, in order. A resumed run replays the
# outcomes recorded here instead of doing the steps again.
run_steps = Table(
    "run_steps",
    metadata,
    Column("run_id", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("tenant_id", Text, nullable=False),
    # Where the step is: its place in the definition, and the loop iteration it ran in
    # ("steps[2]#0.steps[1]").
    Column("place", Text, nullable=False),
    Column("step_id", Text, nullable=True),
    Column("type", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("state", Text, nullable=False),
    Column("input", JSONB, nullable=True),
    Column("output", JSONB, nullable=True),
    Column("error", Text, nullable=True),
    Column("duration_ms", BigInteger, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("run_id", "seq", name="pk_run_steps"),
    ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_steps_run_id", ondelete="CASCADE"),
)

# A workflow's schedule triggers, as of its current version: when each last ran (or was
# set up) and when it is next due.
schedules = Table(
    "schedules",
    metadata,
    Column("workflow_id", Text, nullable=False),
    Column("trigger_index", Integer, nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("app_id", Text, nullable=False),
    # The app's public id, by which the runs reach records.
    Column("app_ref", Text, nullable=False),
    # The trigger as written (services.workflows.definitions.ScheduleTrigger.spec).
    Column("spec", JSONB, nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
    Column("next_at", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("workflow_id", "trigger_index", name="pk_schedules"),
    ForeignKeyConstraint(
        ["workflow_id"], ["workflows.id"], name="fk_schedules_workflow_id", ondelete="CASCADE"
    ),
)
Index("ix_schedules_next_at", schedules.c.next_at)

# A workflow's incoming-webhook trigger (POST /hooks/{app_ref}/{name}): how deliveries are
# signed, and the signing secret sealed with the key-encryption key (none for scheme none).
hooks = Table(
    "hooks",
    metadata,
    Column("workflow_id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("app_id", Text, nullable=False),
    Column("app_ref", Text, nullable=False),
    Column("scheme", Text, nullable=False),
    Column("sealed_secret", Text, nullable=True),
    Column("replay_window_seconds", Integer, nullable=False),
    Column("secret_set_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The secret before the last renewal, accepted until previous_until (an overlap).
    Column("previous_sealed_secret", Text, nullable=True),
    Column("previous_until", DateTime(timezone=True), nullable=True),
    ForeignKeyConstraint(
        ["workflow_id"], ["workflows.id"], name="fk_hooks_workflow_id", ondelete="CASCADE"
    ),
)
Index("ix_hooks_app_ref", hooks.c.app_ref)

# Apps in the trash (as the schema service's events tell): their schedules and hooks start
# nothing until they are restored.
trashed_apps = Table(
    "trashed_apps",
    metadata,
    Column("app_id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("trashed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# An outgoing webhook: an endpoint of the builder's that is sent the app's record and schema
# events it subscribes to, signed (Standard Webhooks) with its secret, sealed here.
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("app_id", Text, nullable=False),
    # The app's public id, by which payloads' records are read (whatever its slug becomes).
    Column("app_ref", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    # Event types ("record.created", ...), schema slugs (none: all) and, for updates, the
    # fields of which one must have changed (none: any change).
    Column("events", JSONB, nullable=False),
    Column("schemas", JSONB, nullable=False),
    Column("fields", JSONB, nullable=False),
    Column("active", Boolean, nullable=False, server_default=true()),
    # Why and when it stopped being sent to, when Tessera disabled it.
    Column("disabled_reason", Text, nullable=True),
    Column("disabled_at", DateTime(timezone=True), nullable=True),
    # Deliveries given up on since the last one that succeeded.
    Column("failed_in_a_row", Integer, nullable=False, server_default="0"),
    Column("sealed_secret", Text, nullable=False),
    Column("secret_set_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The secret before the last renewal, signed with too until previous_until.
    Column("previous_sealed_secret", Text, nullable=True),
    Column("previous_until", DateTime(timezone=True), nullable=True),
    # Whom payloads are read as: the RequestContext of whoever created it, serialized.
    Column("creator", LargeBinary, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("ix_webhooks_tenant_id_app_id", webhooks.c.tenant_id, webhooks.c.app_id)

# One event (or ping) for one webhook, its id the webhook-id every attempt carries: pending
# until an attempt succeeds or its time runs out (failed). The event's id is unique per
# webhook, so an event heard twice is delivered once.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Text, primary_key=True),
    Column("webhook_id", Text, nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    # The body as sent, exactly (its signature covers these bytes).
    Column("payload", LargeBinary, nullable=False),
    Column("state", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    # When the next attempt is due; while one is under way, when it is taken as lost.
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    # Retries end at this time (the horizon after it was made or replayed).
    Column("give_up_at", DateTime(timezone=True), nullable=False),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    ForeignKeyConstraint(
        ["webhook_id"],
        ["webhooks.id"],
        name="fk_webhook_deliveries_webhook_id",
        ondelete="CASCADE",
    ),
    UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_webhook_id_event_id"),
)
Index(
    "ix_webhook_deliveries_webhook_id_created_at",
    webhook_deliveries.c.webhook_id,
    webhook_deliveries.c.created_at,
)
# What the deliverer looks for: deliveries pending, by when they are due.
Index(
    "ix_webhook_deliveries_due",
    webhook_deliveries.c.next_attempt_at,
    postgresql_where=webhook_deliveries.c.state == "pending",
)

# Each attempt at a delivery: what was sent and what came back.
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("delivery_id", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("request_headers", JSONB, nullable=False),
    # None when no answer came (refused, unreachable, timed out: see error).
    Column("response_status", Integer, nullable=True),
    Column("response_body", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("latency_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("delivery_id", "attempt", name="pk_webhook_attempts"),
    ForeignKeyConstraint(
        ["delivery_id"],
        ["webhook_deliveries.id"],
        name="fk_webhook_attempts_delivery_id",
        ondelete="CASCADE",
    ),
)

# An external API an app calls (Bubble's API connector provider): its base URL, shared
# headers and parameters, authentication and calls, with every private value (keys,
# passwords, private keys, private headers and parameters) taken out into sealed_secrets.
connectors = Table(
    "connectors",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("app_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    # The connector as its builder wrote it, private values null.
    Column("document", JSONB, nullable=False),
    # The private values, a JSON object of slot to value, sealed (services.kit.secrets).
    Column("sealed_secrets", Text, nullable=False),
    # Call name -> the JSON Schema of its answer, from its last initialization.
    Column("shapes", JSONB, nullable=False, server_default="{}"),
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("tenant_id", "app_id", "name", name="uq_connectors_tenant_id_app_id_name"),
)

# A data call saved under a name of the app (Budibase's queries), run by whoever its
# minimum role admits, with parameters the caller may give and defaults the builder set.
saved_queries = Table(
    "saved_queries",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("app_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("connector_id", Text, nullable=False),
    Column("call", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("parameters", JSONB, nullable=False, server_default="{}"),
    # The weakest app end user role that may run it; workspace members always may.
    Column("app_role", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("tenant_id", "app_id", "name", name="uq_saved_queries_tenant_id_app_id_name"),
    ForeignKeyConstraint(
        ["connector_id"],
        ["connectors.id"],
        name="fk_saved_queries_connector_id",
        ondelete="CASCADE",
    ),
)

# A user sent to a connector's authorization server (OAuth2 user-agent flow), until they
# come back or ten minutes pass: the hash of the `state` sent, the PKCE verifier sealed.
connector_authorizations = Table(
    "connector_authorizations",
    metadata,
    Column("state_hash", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("connector_id", Text, nullable=False),
    # Whose tokens they become: "app_user:<id>" or "account:<id>".
    Column("holder", Text, nullable=False),
    Column("sealed_verifier", Text, nullable=False),
    Column("redirect_uri", Text, nullable=False),
    # The hash of the nonce in the starting browser's cookie: the callback must come to
    # that browser, not to one the link was sent to.
    Column("browser_hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    ForeignKeyConstraint(
        ["connector_id"],
        ["connectors.id"],
        name="fk_connector_authorizations_connector_id",
        ondelete="CASCADE",
    ),
)

# A user's tokens for a connector of the OAuth2 user-agent flow, sealed.
connector_user_tokens = Table(
    "connector_user_tokens",
    metadata,
    Column("connector_id", Text, nullable=False),
    Column("holder", Text, nullable=False),
    Column("tenant_id", Text, nullable=False),
    # {"access_token", "refresh_token"}, sealed with the connector and holder as context.
    Column("sealed_tokens", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("connector_id", "holder", name="pk_connector_user_tokens"),
    ForeignKeyConstraint(
        ["connector_id"],
        ["connectors.id"],
        name="fk_connector_user_tokens_connector_id",
        ondelete="CASCADE",
    ),
)

outbox = outbox_table(metadata)
# Events the record-trigger consumer gave up on.
dead_letters = dead_letters_table(metadata)
Index("ix_outbox_unpublished", outbox.c.seq, postgresql_where=outbox.c.published_at.is_(None))
