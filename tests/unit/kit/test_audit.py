from __future__ import annotations

import pytest
from tessera.common.v1 import common_pb2

from services.kit.audit import (
    SCHEMA_AUDIT_SUBJECT,
    SECRET_KEYS,
    Action,
    AuditEntry,
    Outcome,
    audit_event,
)
from services.kit.nats.events import Event


def api_token_ctx() -> common_pb2.RequestContext:
    return common_pb2.RequestContext(
        tenant_id="ws_a",
        principal_id="tok_1",
        principal_kind="api_token",
        account_id="acc_1",
        credential_id="tok_1",
        client_ip="10.0.0.7",
        user_agent="curl/8.5",
    )


def test_an_entry_says_who_acted_with_what_credential_and_from_where() -> None:
    entry = AuditEntry.by(api_token_ctx(), Action.MEMBER_ADDED, target_type="account")
    assert (entry.principal_kind, entry.principal_id, entry.account_id) == (
        "api_token",
        "tok_1",
        "acc_1",
    )
    assert entry.credential_id == "tok_1"
    assert (entry.client_ip, entry.user_agent) == ("10.0.0.7", "curl/8.5")
    assert entry.outcome == Outcome.SUCCESS


def test_a_user_is_its_own_account_and_nobody_is_anonymous() -> None:
    user = AuditEntry.by(common_pb2.RequestContext(principal_id="acc_9"), Action.LOGOUT)
    assert (user.principal_kind, user.account_id) == ("user", "acc_9")
    nobody = AuditEntry.by(common_pb2.RequestContext(), Action.LOGIN, outcome=Outcome.FAILURE)
    assert (nobody.principal_kind, nobody.principal_id, nobody.account_id) == ("anonymous", "", "")


@pytest.mark.parametrize("key", sorted(SECRET_KEYS))
def test_details_never_hold_a_secret(key: str) -> None:
    with pytest.raises(ValueError, match=key):
        AuditEntry(action=Action.LOGIN, details={key: "hunter2"})


@pytest.mark.parametrize("value", [{"nested": "object"}, 1.5, [1, 2], b"bytes"])
def test_details_are_small_flat_values(value: object) -> None:
    with pytest.raises(ValueError, match="must be text"):
        AuditEntry(action=Action.LOGIN, details={"what": value})  # type: ignore[dict-item]


def test_long_text_is_cut_rather_than_refused() -> None:
    entry = AuditEntry(action=Action.LOGIN, details={"name": "x" * 1000}, user_agent="y" * 2000)
    assert entry.details["name"] == "x" * 200
    assert len(entry.user_agent) == 512


def test_an_audit_event_carries_the_entry_to_identity() -> None:
    entry = AuditEntry.by(
        api_token_ctx(),
        Action.PRIVACY_RULES_CHANGED,
        target_type="schema",
        target_id="sch_1",
        details={"removed": True, "rule_names": []},
    )
    event = audit_event("schema", "ws_a", entry)
    assert event.subject == "schema.ws_a.audit.recorded"
    assert SCHEMA_AUDIT_SUBJECT == "schema.*.audit.recorded"
    received = Event.from_message(event.subject, event.to_json())
    assert AuditEntry.from_data(received.data["entry"]) == entry


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"action": "record.deleted"},
        {"action": "login", "outcome": "perhaps"},
        {"action": "login", "principal_id": 7},
        {"action": "login", "details": ["not", "an", "object"]},
        {"action": "login", "details": {"password": "hunter2"}},
    ],
)
def test_an_event_that_is_no_entry_is_refused(data: dict[str, object]) -> None:
    with pytest.raises((KeyError, TypeError, ValueError)):
        AuditEntry.from_data(data)
