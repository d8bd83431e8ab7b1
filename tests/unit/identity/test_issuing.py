"""Token permissions as stored, and the grant strings a token's principal carries."""

from __future__ import annotations

import pytest
from tessera.common.v1 import common_pb2

from services.identity.issuing import clean_permissions, grants
from services.kit.access import Op, Principal
from services.kit.errors import ValidationFailed


def test_missing_operations_grant_nothing_and_repeats_collapse() -> None:
    cleaned = clean_permissions({"read": [("app", "app_1"), ("app", "app_1")], "create": True})

    assert cleaned == {
        "create": True,
        "read": [("app", "app_1")],
        "update": False,
        "delete": False,
    }


@pytest.mark.parametrize(
    ("permissions", "field"),
    [
        ({"list": True}, "permissions.list"),
        ({"read": [("table", "t_1")]}, "permissions.read"),
        ({"update": [("schema", "app_1")]}, "permissions.update"),
        ({"delete": [("app", "")]}, "permissions.delete"),
    ],
)
def test_malformed_permissions_name_their_operation(
    permissions: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationFailed) as raised:
        clean_permissions(permissions)  # type: ignore[arg-type]

    assert raised.value.field == field


def test_grants_reach_exactly_what_the_permissions_name() -> None:
    strings = grants(
        clean_permissions(
            {"create": [("schema", "app_1", "sch_1")], "read": [("app", "app_1")], "delete": True}
        )
    )
    token = Principal.of(
        common_pb2.RequestContext(
            tenant_id="ws_1", principal_kind="api_token", role="editor", permissions=strings
        )
    )

    assert sorted(strings) == ["create:schema:sch_1", "delete:*", "read:app:app_1"]
    assert token.may_on(Op.RECORDS_CREATE, app_id="app_1", schema_id="sch_1")
    assert not token.may_on(Op.RECORDS_CREATE, app_id="app_1", schema_id="sch_2")
    assert token.may_on(Op.RECORDS_READ, app_id="app_1", schema_id="sch_2")
    assert not token.may_on(Op.RECORDS_READ, app_id="app_2", schema_id="sch_3")
    assert token.may_on(Op.RECORDS_DELETE, app_id="app_2", schema_id="sch_3")
    assert not token.may_on(Op.RECORDS_UPDATE, app_id="app_1", schema_id="sch_1")
