"""Privacy rules: set by builders through the gateway, stored by the schema service,
compiled by the records service into every read and write.

The callers the rules bind (app end users, anonymous callers, editors) reach the records
service here with the RequestContext the gateway makes for them, over the real gRPC port of
the running stack; what a builder sees goes through the gateway."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import grpc
import orjson
import pytest
from tessera.common.v1 import common_pb2
from tessera.records.v1 import records_pb2, records_pb2_grpc
from tessera.schema.v1 import schema_pb2, schema_pb2_grpc

from services.devstack.stack import Stack
from tests.factories.accounts import Tenant
from tests.factories.tables import Table, error_of, new_table
from tests.support.trust import stack_channel
from tests.support.wait import eventually

FIELDS: list[dict[str, Any]] = [
    {"slug": "title", "type": "text"},
    {"slug": "owner", "type": "text"},
    {"slug": "secret", "type": "text"},
    {"slug": "status", "type": "select", "options": ["open", "closed"]},
    {"slug": "score", "type": "integer"},
]
RULES: dict[str, Any] = {
    "rules": [
        {
            "name": "Own rows",
            "condition": {"field": "owner", "op": "eq", "value": "$current_user"},
            "find": True,
            "read_fields": "all",
            "create": True,
            "update": True,
            "delete": True,
        },
        {
            "name": "Open rows",
            "condition": {"field": "status", "op": "eq", "value": "open"},
            "find": True,
            "read_fields": ["title", "status"],
        },
        {
            "name": "App admins",
            "condition": {"role": "in", "value": ["admin"]},
            "find": True,
            "update": True,
        },
    ],
    "default": {"find": False},
}
ALICE = "apu_alice"
BOB = "apu_bob"


@pytest.fixture(scope="module")
def table(shared_tenant: Tenant, records: records_pb2_grpc.RecordsServiceStub) -> Table:
    made = new_table(shared_tenant, FIELDS, slug="notes")
    for title, owner, status in [
        ("alice open", ALICE, "open"),
        ("alice closed", ALICE, "closed"),
        ("bob open", BOB, "open"),
        ("bob closed", BOB, "closed"),
    ]:
        made.insert(title=title, owner=owner, secret=f"{title} secret", status=status, score=1)
    response = shared_tenant.put(f"{made.path}/privacy-rules", json=RULES)
    assert response.status_code == 200, response.text
    return made


STACK_CHANNELS: dict[str, Callable[[], grpc.Channel]] = {}


@pytest.fixture(scope="module")
def records(stack: Stack) -> Iterator[records_pb2_grpc.RecordsServiceStub]:
    for name in ("records", "schema"):
        STACK_CHANNELS[name] = partial(stack_channel, stack, name)
    with STACK_CHANNELS["records"]() as channel:
        yield records_pb2_grpc.RecordsServiceStub(channel)


def app_id_of(tenant: Tenant, table: Table) -> str:
    """The app's internal id, which app end users' contexts carry."""
    owner = common_pb2.RequestContext(
        tenant_id=tenant.workspace_id, principal_id=tenant.account_id, role="owner"
    )
    with STACK_CHANNELS["schema"]() as channel:
        app = schema_pb2_grpc.SchemaServiceStub(channel).GetApp(
            schema_pb2.GetAppRequest(ctx=owner, app_slug=table.app_slug)
        )
    return str(app.id)


def app_user(tenant: Tenant, table: Table, user: str, role: str = "basic") -> Any:
    return common_pb2.RequestContext(
        tenant_id=tenant.workspace_id,
        principal_kind="app_user",
        principal_id=user,
        account_id=user,
        app_id=app_id_of(tenant, table),
        app_role=role,
    )


def editor_of(tenant: Tenant) -> Any:
    """The tenant's account as an editor, which privacy rules bind."""
    return common_pb2.RequestContext(
        tenant_id=tenant.workspace_id,
        principal_kind="user",
        principal_id=tenant.account_id,
        account_id=tenant.account_id,
        role="editor",
    )


class Caller:
    """One principal talking to the records service as the gateway would for it."""

    def __init__(self, stub: records_pb2_grpc.RecordsServiceStub, table: Table, ctx: Any) -> None:
        self.stub, self.table, self.ctx = stub, table, ctx
        self.ref = records_pb2.SchemaRef(app_slug=table.app_slug, schema_slug=table.slug)

    def list(self, **given: Any) -> tuple[list[dict[str, Any]], int]:
        reply = self.stub.ListRecords(
            records_pb2.ListRecordsRequest(ctx=self.ctx, schema=self.ref, **given)
        )
        return orjson.loads(reply.records_json), reply.total

    def titles(self, **given: Any) -> set[str]:
        return {record["title"] for record in self.list(**given)[0]}

    def get(self, record_id: str) -> dict[str, Any]:
        reply = self.stub.GetRecord(
            records_pb2.GetRecordRequest(ctx=self.ctx, schema=self.ref, record_id=record_id)
        )
        return dict(orjson.loads(reply.record_json))

    def create(self, values: dict[str, Any]) -> dict[str, Any]:
        reply = self.stub.CreateRecord(
            records_pb2.CreateRecordRequest(
                ctx=self.ctx, schema=self.ref, values_json=orjson.dumps(values)
            )
        )
        return dict(orjson.loads(reply.record_json))

    def update(self, record_id: str, values: dict[str, Any]) -> dict[str, Any]:
        reply = self.stub.UpdateRecord(
            records_pb2.UpdateRecordRequest(
                ctx=self.ctx, schema=self.ref, record_id=record_id, values_json=orjson.dumps(values)
            )
        )
        return dict(orjson.loads(reply.record_json))

    def delete(self, record_id: str) -> None:
        self.stub.DeleteRecord(
            records_pb2.DeleteRecordRequest(ctx=self.ctx, schema=self.ref, record_id=record_id)
        )


def refused(call: Any, *args: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as raised:
        call(*args)
    code: grpc.StatusCode = raised.value.code()
    return code


def status_of(call: Any, *args: Any) -> grpc.StatusCode:
    """The call's status, without failing the test when it succeeds."""
    try:
        call(*args)
    except grpc.RpcError as error:
        code: grpc.StatusCode = error.code()
        return code
    return grpc.StatusCode.OK


def ids_by_title(table: Table) -> dict[str, str]:
    return {r["title"]: r["id"] for r in table.page({"per_page": 100})["records"]}


def condition(field: str, op: str, value: Any) -> records_pb2.FilterNode:
    return records_pb2.FilterNode(
        condition=records_pb2.Condition(field=field, op=op, json=orjson.dumps(value))
    )


@pytest.fixture(scope="module")
def alice(table: Table, shared_tenant: Tenant, records: Any) -> Caller:
    caller = Caller(records, table, app_user(shared_tenant, table, ALICE))
    # The records service hears of the new rules through the schema event.
    eventually(lambda: caller.titles() == {"alice open", "alice closed", "bob open"} or None)
    return caller


def test_rules_read_back_as_written_with_field_slugs(table: Table, shared_tenant: Tenant) -> None:
    shown = shared_tenant.get(f"{table.path}/privacy-rules").json()
    assert shown["rules"][1]["read_fields"] == ["title", "status"]
    assert shown["rules"][0]["condition"] == {
        "field": "owner",
        "op": "eq",
        "value": "$current_user",
    }
    assert shown["default"] == {
        "find": False,
        "create": False,
        "update": False,
        "delete": False,
        "read_fields": "all",
    }


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        (
            {"rules": [{"name": "x", "condition": {"field": "nope", "op": "eq", "value": 1}}]},
            "rules[0].condition",
        ),
        (
            {
                "rules": [
                    {"name": "x", "condition": {"field": "score", "op": "contains", "value": 1}}
                ]
            },
            "rules[0].condition.op",
        ),
        (
            {"rules": [{"name": "x", "condition": {"field": "score", "op": "eq", "value": "ten"}}]},
            "rules[0].condition.value",
        ),
        (
            {"rules": [{"name": "x", "condition": {"role": "in", "value": ["root"]}}]},
            "rules[0].condition",
        ),
        ({"rules": [{"name": "x", "find": "yes"}]}, "rules[0].find"),
        ({"rules": [{"name": "x", "read_fields": ["nope"]}]}, "rules[0].read_fields"),
        ({"rules": [{"name": "x", "see": True}]}, "rules[0].see"),
        ({"rules": [{"name": "x"}, {"name": "x"}]}, "rules"),
        ({"rules": "all"}, "rules"),
        ([1, 2], "rules"),
    ],
)
def test_invalid_rules_are_refused_and_change_nothing(
    table: Table, shared_tenant: Tenant, rules: Any, field: str
) -> None:
    before = shared_tenant.get(f"{table.path}/privacy-rules").json()
    response = shared_tenant.put(f"{table.path}/privacy-rules", json=rules)
    error_of(response, 400, field)
    assert shared_tenant.get(f"{table.path}/privacy-rules").json() == before


def test_an_app_user_finds_own_records_whole_and_open_ones_in_part(alice: Caller) -> None:
    found, total = alice.list()
    assert total == 3
    by_title = {record["title"]: record for record in found}
    assert by_title["alice closed"]["secret"] == "alice closed secret"
    assert set(by_title["bob open"]) == {
        "id",
        "version",
        "created_at",
        "updated_at",
        "title",
        "status",
    }


def test_get_hides_what_the_rules_hide(alice: Caller, table: Table) -> None:
    ids = ids_by_title(table)
    assert "secret" not in alice.get(ids["bob open"])
    assert alice.get(ids["alice closed"])["secret"] == "alice closed secret"
    assert refused(alice.get, ids["bob closed"]) == grpc.StatusCode.NOT_FOUND


def test_filters_and_sorts_on_fields_hidden_somewhere_are_refused(alice: Caller) -> None:
    assert alice.titles(filter=condition("status", "eq", "open")) == {"alice open", "bob open"}
    with pytest.raises(grpc.RpcError) as raised:
        alice.list(filter=condition("secret", "eq", "bob closed secret"))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as raised:
        alice.list(sort=[records_pb2.SortKey(field="owner")])
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as raised:
        alice.list(search="secret")
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # Selecting a field some found records show is fine: the others leave it out.
    found, _ = alice.list(fields=["title", "secret"])
    secrets = {record["title"]: record.get("secret") for record in found}
    assert secrets["alice closed"] == "alice closed secret"
    assert secrets["bob open"] is None


def test_writes_follow_the_rules(alice: Caller, table: Table) -> None:
    ids = ids_by_title(table)
    changed = alice.update(ids["alice open"], {"score": 5})
    assert changed["score"] == 5
    assert refused(alice.update, ids["bob open"], {"score": 9}) == grpc.StatusCode.PERMISSION_DENIED
    assert refused(alice.update, ids["bob closed"], {"score": 9}) == grpc.StatusCode.NOT_FOUND
    assert refused(alice.delete, ids["bob open"]) == grpc.StatusCode.PERMISSION_DENIED
    assert refused(alice.delete, ids["bob closed"]) == grpc.StatusCode.NOT_FOUND
    untouched = ids_by_title(table)
    assert ids["bob open"] in untouched.values()
    assert ids["bob closed"] in untouched.values()
    assert table.get(ids["bob open"])["score"] == 1


def test_an_app_user_creates_only_records_the_rules_let_it_own(alice: Caller, table: Table) -> None:
    made = alice.create({"title": "alice new", "owner": ALICE, "status": "closed"})
    assert made["owner"] == ALICE
    before = set(ids_by_title(table))
    assert (
        refused(alice.create, {"title": "for bob", "owner": BOB, "status": "closed"})
        == grpc.StatusCode.PERMISSION_DENIED
    )
    assert set(ids_by_title(table)) == before


def test_role_conditions_follow_the_app_role(
    records: Any, table: Table, shared_tenant: Tenant, alice: Caller
) -> None:
    admin = Caller(records, table, app_user(shared_tenant, table, "apu_carol", role="admin"))
    _, total = admin.list()
    assert total == len(ids_by_title(table))
    ids = ids_by_title(table)
    assert admin.update(ids["bob closed"], {"score": 3})["score"] == 3
    assert refused(admin.delete, ids["bob closed"]) == grpc.StatusCode.PERMISSION_DENIED


def test_anonymous_callers_see_only_what_needs_no_signed_in_user(
    records: Any, table: Table, shared_tenant: Tenant, alice: Caller
) -> None:
    anonymous = Caller(
        records,
        table,
        common_pb2.RequestContext(
            tenant_id=shared_tenant.workspace_id,
            principal_kind="anonymous",
            app_id=app_id_of(shared_tenant, table),
        ),
    )
    assert anonymous.titles() == {"alice open", "bob open"}


def test_an_app_user_of_another_app_finds_no_schema(
    records: Any, table: Table, shared_tenant: Tenant, alice: Caller
) -> None:
    stranger = Caller(
        records,
        table,
        common_pb2.RequestContext(
            tenant_id=shared_tenant.workspace_id,
            principal_kind="app_user",
            principal_id=ALICE,
            account_id=ALICE,
            app_id="app_someotherapp",
            app_role="admin",
        ),
    )
    assert refused(stranger.list) == grpc.StatusCode.NOT_FOUND


def test_a_schema_without_rules_is_closed_to_app_users_and_open_to_members(
    records: Any, shared_tenant: Tenant
) -> None:
    plain = new_table(shared_tenant, FIELDS, slug="plain")
    plain.insert(title="one", owner=ALICE)
    user = Caller(records, plain, app_user(shared_tenant, plain, ALICE))
    assert refused(user.list) == grpc.StatusCode.PERMISSION_DENIED
    assert refused(user.create, {"title": "two"}) == grpc.StatusCode.PERMISSION_DENIED
    editor = Caller(
        records,
        plain,
        editor_of(shared_tenant),
    )
    assert editor.titles() == {"one"}


def test_editors_are_bound_with_their_account_as_the_current_user(
    records: Any, table: Table, shared_tenant: Tenant, alice: Caller
) -> None:
    editor = Caller(
        records,
        table,
        editor_of(shared_tenant),
    )
    made = editor.create({"title": "mine", "owner": shared_tenant.account_id})
    assert made["secret"] is None
    assert "mine" in editor.titles()
    assert "alice closed" not in editor.titles()


def test_builders_see_everything_whatever_the_rules(table: Table, alice: Caller) -> None:
    page = table.page({"per_page": 100})
    assert {"alice closed", "bob closed"} <= {r["title"] for r in page["records"]}
    assert all("secret" in r for r in page["records"])


def test_removing_the_rules_opens_the_schema_to_members_and_closes_it_to_app_users(
    records: Any, shared_tenant: Tenant
) -> None:
    scratch = new_table(shared_tenant, FIELDS, slug="scratch")
    scratch.insert(title="x", owner=ALICE, status="open")
    assert shared_tenant.put(f"{scratch.path}/privacy-rules", json=RULES).status_code == 200
    user = Caller(records, scratch, app_user(shared_tenant, scratch, ALICE))
    eventually(lambda: user.titles() == {"x"} or None)
    response = shared_tenant.put(f"{scratch.path}/privacy-rules", json={"rules": None})
    assert response.json() == {"rules": [], "default": None}
    eventually(lambda: status_of(user.list) == grpc.StatusCode.PERMISSION_DENIED or None)
