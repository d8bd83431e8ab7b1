"""The role table and the principal every service reads from a RequestContext."""

from __future__ import annotations

from pathlib import Path

import pytest
from tessera.common.v1 import common_pb2
from tessera.identity.v1 import identity_pb2
from tessera.records.v1 import records_pb2
from tessera.schema.v1 import schema_pb2

from services.identity.policy import POLICY as IDENTITY_POLICY
from services.kit.access import Op, Principal, grant_strings, roles_table_markdown
from services.kit.errors import NotFound, PermissionDenied, Unauthenticated
from services.records.policy import POLICY as RECORDS_POLICY
from services.schema.policy import POLICY as SCHEMA_POLICY


def principal(**fields: object) -> Principal:
    return Principal.of(common_pb2.RequestContext(tenant_id="ws_1", **fields))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("descriptor", "policy"),
    [
        (identity_pb2.DESCRIPTOR.services_by_name["IdentityService"], IDENTITY_POLICY),
        (schema_pb2.DESCRIPTOR.services_by_name["SchemaService"], SCHEMA_POLICY),
        (records_pb2.DESCRIPTOR.services_by_name["RecordsService"], RECORDS_POLICY),
    ],
)
def test_every_rpc_is_declared_in_its_services_policy(descriptor, policy) -> None:  # type: ignore[no-untyped-def]
    # An undeclared RPC is refused to everyone at run time; this finds it before that.
    assert sorted(m.name for m in descriptor.methods) == sorted(policy)


def test_a_context_without_a_workspace_or_with_an_unknown_kind_is_refused() -> None:
    with pytest.raises(Unauthenticated):
        Principal.of(common_pb2.RequestContext(principal_id="acc_1"))
    with pytest.raises(Unauthenticated):
        principal(principal_kind="root", role="owner")


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("viewer", {Op.RECORDS_READ, Op.APPS_READ}),
        ("editor", {Op.RECORDS_READ, Op.RECORDS_CREATE, Op.APPS_READ}),
        ("builder", {Op.RECORDS_READ, Op.RECORDS_CREATE, Op.APPS_READ, Op.APPS_WRITE}),
        (
            "admin",
            {Op.RECORDS_READ, Op.RECORDS_CREATE, Op.APPS_READ, Op.APPS_WRITE, Op.MEMBERS_MANAGE},
        ),
    ],
)
def test_members_may_what_their_role_allows(role: str, allowed: set[Op]) -> None:
    member = principal(principal_kind="user", principal_id="acc_1", role=role)
    checked = {Op.RECORDS_READ, Op.RECORDS_CREATE, Op.APPS_READ, Op.APPS_WRITE, Op.MEMBERS_MANAGE}
    assert {op for op in checked if member.may(op)} == allowed


def test_an_api_token_reaches_records_only_where_granted_and_only_up_to_its_creators_role() -> None:
    grants = grant_strings("read", True) + grant_strings("create", [("schema", "sch_1")])
    token = principal(
        principal_kind="api_token",
        principal_id="tok_1",
        account_id="acc_1",
        role="editor",
        permissions=grants,
    )
    assert token.may_on(Op.RECORDS_READ, app_id="app_9", schema_id="sch_9")
    assert token.may_on(Op.RECORDS_CREATE, app_id="app_1", schema_id="sch_1")
    assert not token.may_on(Op.RECORDS_CREATE, app_id="app_1", schema_id="sch_2")
    assert not token.may(Op.APPS_READ)
    demoted = principal(
        principal_kind="api_token",
        principal_id="tok_1",
        account_id="acc_1",
        role="viewer",
        permissions=grants,
    )
    assert not demoted.may_on(Op.RECORDS_CREATE, app_id="app_1", schema_id="sch_1")
    with pytest.raises(PermissionDenied):
        demoted.require_on(Op.RECORDS_CREATE, app_id="app_1", schema_id="sch_1")


def test_app_end_users_reach_their_own_app_and_nothing_else() -> None:
    user = principal(
        principal_kind="app_user", principal_id="apu_1", app_id="app_1", app_role="basic"
    )
    assert user.may_on(Op.RECORDS_READ, app_id="app_1", schema_id="sch_1")
    assert not user.may(Op.APPS_READ)
    assert not user.may(Op.APP_USERS_MANAGE)
    with pytest.raises(NotFound):
        user.require_on(Op.RECORDS_READ, app_id="app_2", schema_id="sch_2")
    assert user.current_user == "apu_1"
    assert principal(principal_kind="anonymous", app_id="app_1").current_user is None


def test_privacy_rules_bind_everyone_but_designers_and_bypassing_admin_tokens() -> None:
    assert not principal(principal_kind="user", role="builder").bound_by_privacy_rules
    assert principal(principal_kind="user", role="editor").bound_by_privacy_rules
    assert principal(principal_kind="user_key", role="owner").bound_by_privacy_rules
    assert principal(principal_kind="admin_token", role="admin").bound_by_privacy_rules
    assert not principal(
        principal_kind="admin_token", role="admin", bypass_privacy_rules=True
    ).bound_by_privacy_rules


def test_the_readme_prints_the_roles_table_as_enforced() -> None:
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    assert roles_table_markdown() in readme
