"""Who the suite is on its nats-server. The services' roles come from the product's own
table; two more users exist in the test server only:

- observer: reads every subject and stream, the way the tests check what was published,
  and publishes nothing but the JetStream API calls that reading takes;
- harness: drives the kit's outbox relay and durable consumer on subjects and streams of
  its own (`kit.>`, `unrouted.>`), and consumers of its own on a service's stream.

A test that plays a service connects as that service. Against a nats-server of the
machine's own (TESSERA_TEST_NATS_URL) every connection is anonymous, and the tests of the
authorization itself are skipped."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from services.devstack.nats_auth import NatsKeyring, NatsUser, service_env
from services.kit.nats.connection import NatsIdentity
from services.kit.nats.permissions import (
    AUDIT_RECORDER,
    JS_API,
    ROLES,
    Durable,
    Permissions,
    inbox_prefix,
)

if TYPE_CHECKING:
    from tests.support.infra import Infra

OBSERVER = "observer"
HARNESS = "harness"

TEST_ROLES = {
    OBSERVER: Permissions(
        publish=(
            f"{JS_API}.INFO",
            f"{JS_API}.STREAM.INFO.*",
            f"{JS_API}.STREAM.MSG.GET.*",
            f"{JS_API}.CONSUMER.CREATE.>",
            f"{JS_API}.CONSUMER.INFO.>",
            f"{JS_API}.CONSUMER.DELETE.>",
            f"{JS_API}.CONSUMER.MSG.NEXT.>",
            "$JS.FC.>",
        ),
        subscribe=(">",),
    ),
    HARNESS: Permissions(
        publish=("kit.>", "unrouted.>", f"{JS_API}.>", "$JS.ACK.>"),
        subscribe=(f"{inbox_prefix(HARNESS)}.>",),
    ),
}


def audit_recorder_of_suite(run_id: str) -> Durable:
    """The durable of the identity the integration tests start: the end-to-end stack's
    identity on the same server must not share (and split) the schema events with it."""
    return Durable(AUDIT_RECORDER.stream, f"identity-audit-it-{run_id}", AUDIT_RECORDER.filter)


def suite_users(keyring: NatsKeyring, run_id: str) -> list[NatsUser]:
    """Every user of the suite's own nats-server."""
    granted = {name: role.permissions() for name, role in ROLES.items()}
    granted["identity"] |= audit_recorder_of_suite(run_id).permissions()
    services = [keyring.user(name, permissions) for name, permissions in granted.items()]
    extra = [keyring.user(role, permissions) for role, permissions in TEST_ROLES.items()]
    return [*services, *extra]


def nats_identity(infra: Infra, role: str) -> NatsIdentity:
    """`role`'s credentials on the session's nats-server (anonymous on the machine's own)."""
    if infra.nats_keys is None:
        return NatsIdentity(role)
    return NatsIdentity(role, seed_file=infra.nats_keys.seed_file(role))


def nats_env(infra: Infra) -> dict[str, str]:
    """The variables that hand every service its own credentials."""
    return service_env(infra.nats_keys) if infra.nats_keys is not None else {}


def require_nats_auth(infra: Infra) -> NatsKeyring:
    """The suite's keyring, or a skip when the server is not the suite's own."""
    if infra.nats_keys is None:
        pytest.skip(
            "TESSERA_TEST_NATS_URL names a nats-server of the machine's own, whose "
            "authorization the suite does not write; run without it to test NATS credentials"
        )
    return infra.nats_keys
