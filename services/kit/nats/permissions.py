"""Who may do what on NATS: one role per service, and the subject permissions it follows
from. The devstack renders the server's authorization from this table, and operators who
run their own nats-server grant the same subjects (README, "NATS credentials").

A service publishes only its own events (`<service>.>`, into the stream `<SERVICE>` it
declares), pulls only from the durable consumers it owns, subscribes only to the core
subjects it listens on, and reads replies only on its own inbox prefix, so one service's
JetStream deliveries never reach another."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from services.kit.audit import SCHEMA_AUDIT_SUBJECT

JS_API = "$JS.API"


def stream_name(service: str) -> str:
    """The stream a service declares for its events."""
    return service.upper()


def inbox_prefix(role: str) -> str:
    """Replies to a role's requests (JetStream API answers, publish acks, pulled messages)
    arrive under this prefix, which no other role may subscribe to."""
    return f"_INBOX.{role}"


@dataclass(frozen=True)
class Permissions:
    """Subjects a NATS user may publish to and subscribe to; nothing else is allowed, and
    of what is, not the subjects `publish_denied` matches."""

    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()
    publish_denied: tuple[str, ...] = ()

    def __or__(self, other: Permissions) -> Permissions:
        return Permissions(
            publish=_unique((*self.publish, *other.publish)),
            subscribe=_unique((*self.subscribe, *other.subscribe)),
            publish_denied=_unique((*self.publish_denied, *other.publish_denied)),
        )


@dataclass(frozen=True)
class Durable:
    """A durable pull consumer a role owns on another service's stream. `filter` bounds
    what it may read: the server refuses to create it with a wider one."""

    stream: str
    name: str
    filter: str

    def permissions(self) -> Permissions:
        consumer = f"{self.stream}.{self.name}"
        return Permissions(
            publish=(
                # nats-py names the filter in the create subject; the server checks it
                # against the consumer's configuration.
                f"{JS_API}.CONSUMER.CREATE.{consumer}.{self.filter}",
                f"{JS_API}.CONSUMER.INFO.{consumer}",
                f"{JS_API}.CONSUMER.MSG.NEXT.{consumer}",
                # ack, nak (with its delay) and term all answer on the message's reply.
                f"$JS.ACK.{consumer}.>",
            )
        )


@dataclass(frozen=True)
class Follower:
    """Short-lived pull consumers a role makes on another service's stream without acking
    anything (realtime's tails and replays), each bound by its filter to `filter` or one
    tenant's part of it. Their names are its own choice, so it may make, pull from, look
    at and delete consumers of any name but those of `others` (the durables other
    services own on the stream, whose messages are theirs)."""

    stream: str
    filter: str
    others: tuple[str, ...] = ()

    def permissions(self) -> Permissions:
        consumer = f"{JS_API}.CONSUMER.{{}}.{self.stream}.{{}}"
        return Permissions(
            publish=(
                f"{JS_API}.STREAM.INFO.{self.stream}",
                # The filter as granted, its tenant token a wildcard or one tenant.
                f"{consumer.format('CREATE', '*')}.{self.filter}",
                *(consumer.format(action, "*") for action in ("INFO", "DELETE", "MSG.NEXT")),
            ),
            publish_denied=tuple(
                subject
                for name in self.others
                for subject in (
                    f"{consumer.format('CREATE', name)}.>",
                    *(consumer.format(action, name) for action in ("INFO", "DELETE", "MSG.NEXT")),
                )
            ),
        )


@dataclass(frozen=True)
class KeyValueBucket:
    """A JetStream key-value bucket a role reads, writes, watches (through the KV API or a
    plain subscription on the bucket's subjects) and may create."""

    name: str

    def permissions(self) -> Permissions:
        stream = f"KV_{self.name}"
        return Permissions(
            publish=(
                f"$KV.{self.name}.>",
                f"{JS_API}.STREAM.INFO.{stream}",
                # Create, never update (see BusRole.permissions).
                f"{JS_API}.STREAM.CREATE.{stream}",
                # purge_deletes
                f"{JS_API}.STREAM.PURGE.{stream}",
                f"{JS_API}.STREAM.MSG.GET.{stream}",
                f"{JS_API}.DIRECT.GET.{stream}",
                f"{JS_API}.DIRECT.GET.{stream}.>",
                # keys(), history() and watch() read through ordered (ephemeral) consumers.
                f"{JS_API}.CONSUMER.CREATE.{stream}",
                f"{JS_API}.CONSUMER.CREATE.{stream}.>",
                f"{JS_API}.CONSUMER.INFO.{stream}.*",
                f"{JS_API}.CONSUMER.DELETE.{stream}.*",
                f"$JS.FC.{stream}.>",
            ),
            # Hearing every write as it happens, without a consumer per listener.
            subscribe=(f"$KV.{self.name}.>",),
        )


@dataclass(frozen=True)
class BusRole:
    """What one service does on NATS."""

    name: str
    # Publishes `<name>.>` into the stream `<NAME>`, which it creates and updates.
    publishes_events: bool = True
    # Core subscriptions: every replica hears every message (cache invalidation).
    listens: tuple[str, ...] = ()
    consumes: tuple[Durable, ...] = ()
    follows: tuple[Follower, ...] = ()
    buckets: tuple[KeyValueBucket, ...] = ()
    stream: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stream", stream_name(self.name))

    def permissions(self) -> Permissions:
        granted = Permissions(subscribe=(f"{inbox_prefix(self.name)}.>", *self.listens))
        if self.publishes_events:
            granted |= Permissions(
                publish=(
                    f"{self.name}.>",
                    f"{JS_API}.STREAM.INFO.{self.stream}",
                    # Create, never update: a stream's configuration can copy another
                    # stream (sources) or re-publish it to any subject (republish), which
                    # no subject permission checks. Creating an existing stream with
                    # another configuration is refused by the server.
                    f"{JS_API}.STREAM.CREATE.{self.stream}",
                )
            )
        grants: list[Durable | Follower | KeyValueBucket] = [
            *self.consumes,
            *self.follows,
            *self.buckets,
        ]
        for grant in grants:
            granted |= grant.permissions()
        return granted


RATE_LIMITS_BUCKET = "rate_limits"
# The durable consumers on other services' streams: the services name theirs from here, so
# what they create is what their role may create.
# The schema service's changes to apps and schemas, which the records service and the
# gateway hear to drop their cached definitions (its audit events, with members'
# addresses, are not among them).
SCHEMA_CHANGES = ("schema.*.app.>", "schema.*.schema.>")
# Identity's member and credential changes, which the gateway hears to drop its caches
# (not the account events, which carry email addresses).
IDENTITY_CACHE_CHANGES = ("identity.*.member.*", "identity.*.credential.*")
# The member event saying which workspaces a password login opens changed for a
# workspace's members (its single sign-on enforcement).
SSO_ENFORCEMENT_CHANGED = "sso_enforcement_changed"
SCHEMA_PROVISIONER = Durable("SCHEMA", "records-schema-provisioner", "schema.*.schema.>")
AUDIT_RECORDER = Durable("SCHEMA", "identity-audit-recorder", SCHEMA_AUDIT_SUBJECT)
# Record events, which start the runs of workflows with record triggers.
RECORD_TRIGGERS = Durable("RECORDS", "workflows-record-triggers", "records.*.record.>")
# Apps going to the trash and back, which pause and resume their workflows' schedules and
# hooks.
APP_CHANGES = Durable("SCHEMA", "workflows-app-changes", "schema.*.app.>")

# Record events and schema changes, which outgoing webhooks are sent.
WEBHOOK_RECORD_EVENTS = Durable("RECORDS", "workflows-webhook-records", "records.*.record.>")
WEBHOOK_SCHEMA_EVENTS = Durable("SCHEMA", "workflows-webhook-schemas", "schema.*.schema.>")

# What realtime subscribers hear (services.gateway.feed): (service, entity) of the events
# each gateway follows, in the order of the parts of an event id.
REALTIME_FEEDS = (("records", "record"), ("schema", "schema"), ("workflows", "run"))

# The services with events of their own; the gateway follows some of their streams.
_SERVICES = (
    BusRole("identity", consumes=(AUDIT_RECORDER,)),
    BusRole("schema"),
    BusRole(
        "records",
        listens=SCHEMA_CHANGES,
        consumes=(SCHEMA_PROVISIONER,),
    ),
    BusRole(
        "workflows",
        consumes=(
            RECORD_TRIGGERS,
            APP_CHANGES,
            WEBHOOK_RECORD_EVENTS,
            WEBHOOK_SCHEMA_EVENTS,
        ),
    ),
)


def _follower(service: str, entity: str) -> Follower:
    """Realtime's consumers on a service's stream, clear of the services' durables there."""
    stream = stream_name(service)
    owned = (durable for role in _SERVICES for durable in role.consumes)
    return Follower(
        stream,
        f"{service}.*.{entity}.>",
        others=tuple(durable.name for durable in owned if durable.stream == stream),
    )


ROLES: Mapping[str, BusRole] = {
    role.name: role
    for role in (
        *_SERVICES,
        BusRole(
            "gateway",
            publishes_events=False,
            listens=(*IDENTITY_CACHE_CHANGES, *SCHEMA_CHANGES),
            follows=tuple(_follower(service, entity) for service, entity in REALTIME_FEEDS),
            buckets=(KeyValueBucket(RATE_LIMITS_BUCKET),),
        ),
    )
}


def _unique(subjects: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(subjects))


__all__ = [
    "APP_CHANGES",
    "AUDIT_RECORDER",
    "IDENTITY_CACHE_CHANGES",
    "RATE_LIMITS_BUCKET",
    "REALTIME_FEEDS",
    "RECORD_TRIGGERS",
    "ROLES",
    "SCHEMA_CHANGES",
    "SCHEMA_PROVISIONER",
    "SSO_ENFORCEMENT_CHANGED",
    "WEBHOOK_RECORD_EVENTS",
    "WEBHOOK_SCHEMA_EVENTS",
    "BusRole",
    "Durable",
    "Follower",
    "KeyValueBucket",
    "Permissions",
    "inbox_prefix",
    "stream_name",
]
