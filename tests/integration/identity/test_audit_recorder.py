"""The schema service's audit events, as the identity process records them: once per
event id however often it arrives, only the actions the schema service owns, and a
message that is no event kept as a dead letter."""

from __future__ import annotations

import asyncio
from typing import Any

from services.kit.audit import Action, AuditEntry, audit_event
from services.kit.ids import new_id
from services.kit.nats.connection import connect, ensure_stream
from services.kit.nats.events import Event
from tests.integration.identity.support import IdentityStack, database
from tests.support.infra import Infra
from tests.support.nats_users import nats_identity
from tests.support.wait import eventually


def rules_changed(tenant: str, schema_id: str) -> Event:
    entry = AuditEntry(
        action=Action.PRIVACY_RULES_CHANGED,
        principal_kind="user",
        principal_id="acc_builder",
        account_id="acc_builder",
        target_type="schema",
        target_id=schema_id,
        details={"removed": False, "rule_names": ["Own"]},
        client_ip="10.1.2.3",
        user_agent="Probe/1",
    )
    return audit_event("schema", tenant, entry)


def publish(infra: Infra, messages: list[tuple[str, bytes, str]]) -> None:
    """(subject, payload, Nats-Msg-Id) in order, to the SCHEMA stream, as the schema
    service publishes them."""

    async def send() -> None:
        connection = await connect(
            infra.nats_url, name="audit-recorder-test", identity=nats_identity(infra, "schema")
        )
        try:
            js = connection.jetstream()
            await ensure_stream(js, name="SCHEMA", subjects=["schema.>"])
            for subject, payload, msg_id in messages:
                await js.publish(subject, payload, headers={"Nats-Msg-Id": msg_id})
        finally:
            await connection.close()

    asyncio.run(send())


def rows(identity: IdentityStack, tenant: str) -> list[tuple[Any, ...]]:
    with database(identity.database_url) as connection:
        return connection.execute(
            "SELECT action, target_id, principal_id, client_ip, user_agent, details"
            " FROM audit_log WHERE tenant_id = %s ORDER BY occurred_at",
            (tenant,),
        ).fetchall()


def test_each_event_is_recorded_once_and_only_the_schemas_actions(
    identity: IdentityStack, infra: Infra
) -> None:
    tenant = new_id("ws")
    first = rules_changed(tenant, "sch_first")
    foreign = audit_event(
        "schema",
        tenant,
        AuditEntry(action=Action.MEMBER_REMOVED, target_type="account", target_id="acc_x"),
    )
    sentinel = rules_changed(tenant, "sch_sentinel")
    publish(
        infra,
        [
            (first.subject, first.to_json(), first.id),
            # The same event again, as a relay retrying past the duplicate window would.
            (first.subject, first.to_json(), new_id("retry")),
            (foreign.subject, foreign.to_json(), foreign.id),
            (sentinel.subject, sentinel.to_json(), sentinel.id),
        ],
    )

    # One consumer takes the stream in order: once the last is in, the others were seen.
    def through_the_sentinel() -> list[tuple[Any, ...]] | None:
        found = rows(identity, tenant)
        return found if any(row[1] == "sch_sentinel" for row in found) else None

    recorded = eventually(through_the_sentinel, timeout=30.0)
    assert [(row[0], row[1]) for row in recorded] == [
        ("privacy_rules.changed", "sch_first"),
        ("privacy_rules.changed", "sch_sentinel"),
    ]
    _, _, principal, ip, agent, details = recorded[0]
    assert (principal, ip, agent) == ("acc_builder", "10.1.2.3", "Probe/1")
    assert details == {"removed": False, "rule_names": ["Own"]}


def test_a_message_that_is_no_event_becomes_a_dead_letter(
    identity: IdentityStack, infra: Infra
) -> None:
    tenant = new_id("ws")
    msg_id = new_id("junk")
    publish(infra, [(f"schema.{tenant}.audit.recorded", b"not json", msg_id)])

    def dead_letter() -> tuple[Any, ...] | None:
        with database(identity.database_url) as connection:
            return connection.execute(
                "SELECT subject, payload FROM dead_letters WHERE event_id = %s", (msg_id,)
            ).fetchone()

    subject, payload = eventually(dead_letter, timeout=30.0)
    assert subject == f"schema.{tenant}.audit.recorded"
    assert bytes(payload) == b"not json"
    assert rows(identity, tenant) == []
