"""schema_access: everything about the caller is decided up front, leaving a condition on
the record alone."""

from __future__ import annotations

from typing import Any

from tessera.common.v1 import common_pb2

from services.kit.access import Principal
from services.kit.privacy import (
    CLOSED,
    OPEN,
    AnyOf,
    Branch,
    FieldTest,
    NoneOf,
    schema_access,
)

OWN = {"field": "fld_owner", "op": "eq", "value": "$current_user"}
OPEN_ROWS = {"field": "fld_status", "op": "eq", "value": "open"}
RULES: dict[str, Any] = {
    "rules": [
        {"name": "own", "condition": OWN, "find": True, "read_fields": None, "update": True},
        {"name": "open", "condition": OPEN_ROWS, "find": True, "read_fields": ["fld_title"]},
        {"name": "admins", "condition": {"role": "in", "value": ["admin"]}, "delete": True},
    ],
    "default": {"find": True, "read_fields": [], "create": True},
}


def caller(**fields: Any) -> Principal:
    return Principal.of(common_pb2.RequestContext(tenant_id="ws_1", **fields))


def test_designers_and_bypassing_admin_tokens_are_not_bound() -> None:
    assert schema_access(caller(principal_kind="user", role="builder"), RULES) is OPEN
    bypass = caller(principal_kind="admin_token", role="admin", bypass_privacy_rules=True)
    assert schema_access(bypass, RULES) is OPEN


def test_no_rules_open_to_members_and_closed_to_app_users() -> None:
    assert schema_access(caller(principal_kind="user", role="viewer"), None) is OPEN
    assert schema_access(caller(principal_kind="app_user", principal_id="apu_1"), None) is CLOSED
    assert schema_access(caller(principal_kind="anonymous"), None) is CLOSED


def test_the_current_user_and_the_role_are_decided_before_any_sql() -> None:
    access = schema_access(
        caller(principal_kind="app_user", principal_id="apu_1", app_role="basic"), RULES
    )
    own = FieldTest("fld_owner", "eq", "apu_1")
    open_rows = FieldTest("fld_status", "eq", "open")
    assert access.find == (
        Branch(own, None),
        Branch(open_rows, frozenset({"fld_title"})),
        Branch(NoneOf((own, open_rows)), frozenset()),
    )
    assert access.update == own
    assert access.create == NoneOf((own, open_rows))
    # The admins' rule can hold for no basic user.
    assert access.delete is False
    assert access.readable is None
    assert access.usable == frozenset()
    assert not access.uniform_fields


def test_an_app_admin_matches_the_role_rule_everywhere() -> None:
    access = schema_access(
        caller(principal_kind="app_user", principal_id="apu_1", app_role="admin"), RULES
    )
    assert access.delete is True
    # A rule that always holds leaves nothing to the default.
    assert access.create is False
    assert access.update == FieldTest("fld_owner", "eq", "apu_1")


def test_without_a_signed_in_user_a_test_against_it_holds_for_no_record() -> None:
    access = schema_access(caller(principal_kind="anonymous"), RULES)
    open_rows = FieldTest("fld_status", "eq", "open")
    assert access.find == (
        Branch(open_rows, frozenset({"fld_title"})),
        Branch(NoneOf((open_rows,)), frozenset()),
    )
    assert access.update is False


def test_groups_simplify_around_what_the_caller_decides() -> None:
    rules = {
        "rules": [
            {
                "name": "mixed",
                "condition": {"or": [{"role": "in", "value": ["editor"]}, OPEN_ROWS]},
                "find": True,
            },
            {
                "name": "both",
                "condition": {"and": [{"role": "nin", "value": ["editor"]}, OPEN_ROWS]},
                "find": True,
            },
        ],
    }
    editor = schema_access(caller(principal_kind="user", role="editor"), rules)
    assert editor.find == (Branch(True, None),)
    viewer = schema_access(caller(principal_kind="user", role="viewer"), rules)
    open_rows = FieldTest("fld_status", "eq", "open")
    assert viewer.find == (Branch(open_rows, None), Branch(open_rows, None))
    either = schema_access(
        caller(principal_kind="user", principal_id="acc_1", role="viewer"),
        {
            "rules": [
                {"name": "a", "condition": OPEN_ROWS, "update": True},
                {"name": "b", "condition": OWN, "update": True},
            ],
        },
    )
    assert either.update == AnyOf((open_rows, FieldTest("fld_owner", "eq", "acc_1")))
