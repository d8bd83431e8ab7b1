"""Service identity, tried on the running stack's own gRPC ports as an attacker inside the
network would: without a certificate, with one from another CA, and with a real service
certificate but a context the gateway did not sign as sent. Each refusal has a twin that
succeeds on the same channel (the context as the gateway signs it), so a refusal is the
signature's doing, not a broken channel's."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tessera.common.v1 import common_pb2
from tessera.identity.v1 import identity_pb2, identity_pb2_grpc
from tessera.records.v1 import records_pb2, records_pb2_grpc
from tessera.schema.v1 import schema_pb2, schema_pb2_grpc

from services.devstack.pki import Pki, ensure_pki
from services.devstack.stack import Stack
from services.kit.errors import from_grpc_error
from services.kit.grpc.trust import ContextSigner, server_name_option
from tests.factories.accounts import Tenant
from tests.factories.tables import Table, new_table
from tests.support.trust import SERVICE_NAMES, service_channel

TIMEOUT = 10.0
SECRET = "the victim's secret"
LIST_RECORDS = "/tessera.records.v1.RecordsService/ListRecords"
GET_RECORD = "/tessera.records.v1.RecordsService/GetRecord"
EXPORT_RECORDS = "/tessera.records.v1.RecordsService/ExportRecords"
IMPORT_RECORDS = "/tessera.records.v1.RecordsService/ImportRecords"
LIST_MEMBERSHIPS = "/tessera.identity.v1.IdentityService/ListMemberships"
GET_SIGNING_KEYS = "/tessera.identity.v1.IdentityService/GetSigningKeys"
RESOLVE_CREDENTIAL = "/tessera.identity.v1.IdentityService/ResolveCredential"
GET_SCHEMA = "/tessera.schema.v1.SchemaService/GetSchema"
BACKENDS = ("identity", "schema", "records", "workflows")
# The gateway, and a service an attacker has taken over: neither may speak for a user the
# gateway did not sign for.
INSIDERS = ("gateway", "records")

Metadata = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class Refusal:
    code: grpc.StatusCode
    error_code: str
    message: str


def refusal(call: Callable[[], Any]) -> Refusal:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    error: Any = caught.value
    domain = from_grpc_error(error.code(), error.details(), error.trailing_metadata())
    return Refusal(error.code(), domain.code, domain.message)


def unauthenticated(call: Callable[[], Any]) -> Refusal:
    refused = refusal(call)
    assert (refused.code, refused.error_code) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "unauthenticated",
    ), refused
    return refused


def permission_denied(call: Callable[[], Any]) -> Refusal:
    refused = refusal(call)
    assert (refused.code, refused.error_code) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "permission_denied",
    ), refused
    return refused


def unreachable(call: Callable[[], Any]) -> None:
    """Refused before any call is read: the connection never becomes a channel."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    error: Any = caught.value
    assert error.code() == grpc.StatusCode.UNAVAILABLE, error


# --- the stack, its key material and the two workspaces --------------------------------------


@pytest.fixture(scope="module")
def pki(stack: Stack) -> Pki:
    assert stack.pki is not None
    return stack.pki


@pytest.fixture(scope="module")
def victim(shared_tenant: Tenant) -> Tenant:
    return shared_tenant


@pytest.fixture(scope="module")
def attacker(shared_other_tenant: Tenant) -> Tenant:
    return shared_other_tenant


@pytest.fixture(scope="module")
def victim_table(victim: Tenant) -> Table:
    table = new_table(victim, [{"slug": "name", "type": "text"}], slug="secrets")
    table.insert(name=SECRET)
    return table


def address(stack: Stack, service: str) -> str:
    known = stack.processes[service].grpc_address
    assert known is not None
    return known


@pytest.fixture(scope="module")
def channels(stack: Stack, pki: Pki) -> Iterator[dict[tuple[str, str], grpc.Channel]]:
    """(caller, service) -> a mutual-TLS channel presenting the caller's real certificate,
    signing nothing by itself."""
    opened = {
        (caller, service): service_channel(pki, address(stack, service), service, caller=caller)
        for caller in SERVICE_NAMES
        for service in BACKENDS
    }
    yield opened
    for channel in opened.values():
        channel.close()


def gateway_key(pki: Pki) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(
        pki.context_signing_key_file.read_bytes(), password=None
    )
    assert isinstance(key, Ed25519PrivateKey)
    return key


def signed(
    pki: Pki,
    method: str,
    ctx: common_pb2.RequestContext | None,
    *,
    key: Ed25519PrivateKey | None = None,
    at: float | None = None,
) -> Metadata:
    clock = time.time if at is None else (lambda: at)
    return ContextSigner(key or gateway_key(pki), clock=clock).metadata(method, ctx)


def member_ctx(tenant: Tenant) -> common_pb2.RequestContext:
    """What the gateway sends for the tenant's owner."""
    return common_pb2.RequestContext(
        tenant_id=tenant.workspace_id,
        principal_id=tenant.account_id,
        principal_kind="user",
        account_id=tenant.account_id,
        role="owner",
        request_id="req_service_identity",
    )


def with_tenant(ctx: common_pb2.RequestContext, tenant: Tenant) -> common_pb2.RequestContext:
    changed = common_pb2.RequestContext()
    changed.CopyFrom(ctx)
    changed.tenant_id = tenant.workspace_id
    return changed


def as_principal(ctx: common_pb2.RequestContext, tenant: Tenant) -> common_pb2.RequestContext:
    changed = common_pb2.RequestContext()
    changed.CopyFrom(ctx)
    changed.principal_id = changed.account_id = tenant.account_id
    return changed


def service_ctx(tenant: Tenant, name: str) -> common_pb2.RequestContext:
    return common_pb2.RequestContext(
        tenant_id=tenant.workspace_id, principal_kind="service", principal_id=name
    )


# --- the calls an attacker wants --------------------------------------------------------------


def list_records(
    channel: grpc.Channel, table: Table, ctx: common_pb2.RequestContext, metadata: Metadata = ()
) -> list[dict[str, Any]]:
    reply = records_pb2_grpc.RecordsServiceStub(channel).ListRecords(
        records_pb2.ListRecordsRequest(
            ctx=ctx,
            schema=records_pb2.SchemaRef(app_slug=table.app_slug, schema_slug=table.slug),
            per_page=10,
        ),
        timeout=TIMEOUT,
        metadata=metadata,
    )
    return list(orjson.loads(reply.records_json))


def export_records(
    channel: grpc.Channel, table: Table, ctx: common_pb2.RequestContext, metadata: Metadata = ()
) -> bytes:
    chunks = records_pb2_grpc.RecordsServiceStub(channel).ExportRecords(
        records_pb2.ListRecordsRequest(
            ctx=ctx, schema=records_pb2.SchemaRef(app_slug=table.app_slug, schema_slug=table.slug)
        ),
        timeout=TIMEOUT,
        metadata=metadata,
    )
    return b"".join(chunk.records_ndjson for chunk in chunks)


def import_records(
    channel: grpc.Channel, table: Table, ctx: common_pb2.RequestContext, metadata: Metadata = ()
) -> records_pb2.ImportJob:
    start = records_pb2.ImportStart(
        ctx=ctx,
        schema=records_pb2.SchemaRef(app_slug=table.app_slug, schema_slug=table.slug),
        format=records_pb2.IMPORT_FORMAT_NDJSON,
    )
    chunks = iter(
        [
            records_pb2.ImportChunk(start=start),
            records_pb2.ImportChunk(data=b'{"name": "planted by the attacker"}\n'),
        ]
    )
    job: records_pb2.ImportJob = records_pb2_grpc.RecordsServiceStub(channel).ImportRecords(
        chunks, timeout=TIMEOUT, metadata=metadata
    )
    return job


def memberships(
    channel: grpc.Channel, ctx: common_pb2.RequestContext, account_id: str, metadata: Metadata = ()
) -> list[str]:
    reply = identity_pb2_grpc.IdentityServiceStub(channel).ListMemberships(
        identity_pb2.ListMembershipsRequest(ctx=ctx, account_id=account_id),
        timeout=TIMEOUT,
        metadata=metadata,
    )
    return [membership.workspace.id for membership in reply.memberships]


def get_schema(
    channel: grpc.Channel, table: Table, ctx: common_pb2.RequestContext, metadata: Metadata = ()
) -> schema_pb2.Schema:
    reply: schema_pb2.Schema = schema_pb2_grpc.SchemaServiceStub(channel).GetSchema(
        schema_pb2.GetSchemaRequest(ctx=ctx, app_slug=table.app_slug, schema_slug=table.slug),
        timeout=TIMEOUT,
        metadata=metadata,
    )
    return reply


def health(channel: grpc.Channel) -> health_pb2.HealthCheckResponse.ServingStatus.ValueType:
    reply = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(), timeout=TIMEOUT
    )
    return reply.status


def names(records: list[dict[str, Any]]) -> list[Any]:
    return [record["name"] for record in records]


# --- (a) and (b): strangers never get a channel -----------------------------------------------


@pytest.mark.parametrize("service", BACKENDS)
def test_a_plaintext_channel_is_refused(stack: Stack, service: str) -> None:
    with grpc.insecure_channel(address(stack, service)) as channel:
        unreachable(lambda: health(channel))


def test_the_probes_over_plaintext_reach_nothing(
    stack: Stack, pki: Pki, victim: Tenant, victim_table: Table
) -> None:
    ctx = member_ctx(victim)
    with grpc.insecure_channel(address(stack, "records")) as channel:
        unreachable(
            lambda: list_records(channel, victim_table, ctx, signed(pki, LIST_RECORDS, ctx))
        )
    with grpc.insecure_channel(address(stack, "identity")) as channel:
        unreachable(
            lambda: memberships(channel, ctx, victim.account_id, signed(pki, LIST_MEMBERSHIPS, ctx))
        )


@pytest.mark.parametrize("service", BACKENDS)
def test_a_certificate_from_another_ca_is_refused(
    stack: Stack, pki: Pki, tmp_path: Path, victim: Tenant, victim_table: Table, service: str
) -> None:
    # A look-alike: the same names, its own CA; it trusts our CA, so only our side can say no.
    rogue = ensure_pki(tmp_path / "rogue", SERVICE_NAMES)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki.ca_file.read_bytes(),
        private_key=rogue.key_file("gateway").read_bytes(),
        certificate_chain=rogue.cert_file("gateway").read_bytes(),
    )
    ctx = member_ctx(victim)
    with grpc.secure_channel(
        address(stack, service), credentials, options=[server_name_option(service)]
    ) as channel:
        unreachable(lambda: health(channel))
        if service == "records":
            # Even a context signed with the gateway's real key does not help.
            metadata = signed(pki, LIST_RECORDS, ctx)
            unreachable(lambda: list_records(channel, victim_table, ctx, metadata))


def test_a_client_talks_only_to_the_service_it_meant(stack: Stack, pki: Pki) -> None:
    # The records service's address, but the client expects schema's certificate.
    with grpc.secure_channel(
        address(stack, "records"),
        pki.channel_credentials("gateway"),
        options=[server_name_option("schema")],
    ) as channel:
        unreachable(lambda: health(channel))


@pytest.mark.parametrize("service", BACKENDS)
def test_health_answers_any_certificate_of_the_ca(
    channels: dict[tuple[str, str], grpc.Channel], service: str
) -> None:
    for caller in SERVICE_NAMES:
        assert health(channels[caller, service]) == health_pb2.HealthCheckResponse.SERVING


# --- (c): a real certificate, a context the gateway did not sign as sent -------------------------


@pytest.mark.parametrize("caller", INSIDERS)
def test_records_of_another_workspace_only_with_the_context_the_gateway_signed(
    stack: Stack,
    channels: dict[tuple[str, str], grpc.Channel],
    pki: Pki,
    victim: Tenant,
    attacker: Tenant,
    victim_table: Table,
    caller: str,
) -> None:
    channel = channels[caller, "records"]
    theirs = member_ctx(victim)
    mine = member_ctx(attacker)

    # What the gateway sends for the victim reads the victim's records on this very channel.
    assert names(
        list_records(channel, victim_table, theirs, signed(pki, LIST_RECORDS, theirs))
    ) == [SECRET]

    attempts: dict[str, Metadata] = {
        "unsigned": (),
        "forged": signed(pki, LIST_RECORDS, theirs, key=Ed25519PrivateKey.generate()),
        "expired": signed(pki, LIST_RECORDS, theirs, at=time.time() - 120),
        "for another method": signed(pki, GET_RECORD, theirs),
    }
    for attempt, metadata in attempts.items():
        refused = unauthenticated(partial(list_records, channel, victim_table, theirs, metadata))
        assert SECRET not in refused.message, attempt

    # The attacker's own context, signed, with the tenant changed to the victim's after.
    mine_signed = signed(pki, LIST_RECORDS, mine)
    unauthenticated(
        lambda: list_records(channel, victim_table, with_tenant(mine, victim), mine_signed)
    )

    # The operator hears of it, and of the certificate it came with.
    records_log = stack.processes["records"].log_tail(1_000_000)
    assert f"refused a call to {LIST_RECORDS} from {caller}" in records_log


@pytest.mark.parametrize("caller", INSIDERS)
def test_streams_of_another_workspace_only_with_the_context_the_gateway_signed(
    channels: dict[tuple[str, str], grpc.Channel],
    pki: Pki,
    victim: Tenant,
    attacker: Tenant,
    victim_table: Table,
    caller: str,
) -> None:
    channel = channels[caller, "records"]
    theirs = member_ctx(victim)
    forged = with_tenant(member_ctx(attacker), victim)

    exported = export_records(channel, victim_table, theirs, signed(pki, EXPORT_RECORDS, theirs))
    assert SECRET.encode() in exported
    unauthenticated(lambda: export_records(channel, victim_table, theirs))
    unauthenticated(
        lambda: export_records(
            channel, victim_table, forged, signed(pki, EXPORT_RECORDS, member_ctx(attacker))
        )
    )

    # Uploads carry their context in the first message; the signature still binds it.
    unauthenticated(lambda: import_records(channel, victim_table, theirs))
    unauthenticated(
        lambda: import_records(
            channel, victim_table, forged, signed(pki, IMPORT_RECORDS, member_ctx(attacker))
        )
    )
    unauthenticated(
        lambda: import_records(channel, victim_table, theirs, signed(pki, LIST_RECORDS, theirs))
    )
    assert names(
        list_records(channel, victim_table, theirs, signed(pki, LIST_RECORDS, theirs))
    ) == [SECRET]


@pytest.mark.parametrize("caller", INSIDERS)
def test_memberships_of_another_account_only_with_the_context_the_gateway_signed(
    channels: dict[tuple[str, str], grpc.Channel],
    pki: Pki,
    victim: Tenant,
    attacker: Tenant,
    caller: str,
) -> None:
    channel = channels[caller, "identity"]
    theirs = member_ctx(victim)
    mine = member_ctx(attacker)

    assert memberships(
        channel, theirs, victim.account_id, signed(pki, LIST_MEMBERSHIPS, theirs)
    ) == [victim.workspace_id]

    attempts: dict[str, Metadata] = {
        "unsigned": (),
        "forged": signed(pki, LIST_MEMBERSHIPS, theirs, key=Ed25519PrivateKey.generate()),
        "expired": signed(pki, LIST_MEMBERSHIPS, theirs, at=time.time() - 120),
        "for another method": signed(pki, LIST_RECORDS, theirs),
    }
    for metadata in attempts.values():
        unauthenticated(partial(memberships, channel, theirs, victim.account_id, metadata))

    mine_signed = signed(pki, LIST_MEMBERSHIPS, mine)
    unauthenticated(
        lambda: memberships(channel, as_principal(mine, victim), victim.account_id, mine_signed)
    )
    # Signed as the attacker, asking for the victim's: the identity service's own check.
    permission_denied(lambda: memberships(channel, mine, victim.account_id, mine_signed))


# --- (d): acting as a service, and the gateway's own calls --------------------------------------


def test_only_a_service_allowed_to_may_act_as_itself(
    channels: dict[tuple[str, str], grpc.Channel],
    pki: Pki,
    victim: Tenant,
    victim_table: Table,
) -> None:
    as_records = service_ctx(victim, "records")

    # The records service reads definitions in its own name, unsigned: that is its job.
    schema = get_schema(channels["records", "schema"], victim_table, as_records)
    assert [field.slug for field in schema.fields] == ["name"]

    # The gateway's certificate does not make a service, even with its own signature on it.
    permission_denied(
        lambda: get_schema(
            channels["gateway", "schema"],
            victim_table,
            as_records,
            signed(pki, GET_SCHEMA, as_records),
        )
    )
    # Another service may not borrow the records service's name, nor act as itself.
    permission_denied(lambda: get_schema(channels["identity", "schema"], victim_table, as_records))
    permission_denied(
        lambda: get_schema(
            channels["identity", "schema"], victim_table, service_ctx(victim, "identity")
        )
    )


def test_public_identity_calls_come_from_the_gateway_only(
    channels: dict[tuple[str, str], grpc.Channel], pki: Pki, victim: Tenant
) -> None:
    created = victim.post("/api/tokens", json={"name": "probe", "permissions": {"read": True}})
    assert created.status_code == 201, created.text
    secret = created.json()["token"]

    def signing_keys(caller: str, metadata: Metadata) -> identity_pb2.GetSigningKeysResponse:
        stub = identity_pb2_grpc.IdentityServiceStub(channels[caller, "identity"])
        reply: identity_pb2.GetSigningKeysResponse = stub.GetSigningKeys(
            identity_pb2.GetSigningKeysRequest(), timeout=TIMEOUT, metadata=metadata
        )
        return reply

    def resolve(caller: str, metadata: Metadata) -> identity_pb2.ResolvedCredential:
        stub = identity_pb2_grpc.IdentityServiceStub(channels[caller, "identity"])
        reply: identity_pb2.ResolvedCredential = stub.ResolveCredential(
            identity_pb2.ResolveCredentialRequest(secret=secret), timeout=TIMEOUT, metadata=metadata
        )
        return reply

    keys_signed = signed(pki, GET_SIGNING_KEYS, None)
    resolve_signed = signed(pki, RESOLVE_CREDENTIAL, None)
    assert signing_keys("gateway", keys_signed).keys
    assert resolve("gateway", resolve_signed).ctx.tenant_id == victim.workspace_id

    unauthenticated(partial(signing_keys, "gateway", ()))
    unauthenticated(partial(resolve, "gateway", ()))
    for caller in ("records", "schema", "identity"):
        permission_denied(partial(signing_keys, caller, keys_signed))
        permission_denied(partial(resolve, caller, resolve_signed))


# --- (e): the REST paths, every hop signed by the gateway ---------------------------------------


def test_the_rest_paths_still_work(victim: Tenant) -> None:
    table = new_table(victim, [{"slug": "name", "type": "text"}], slug="rest")
    created = table.insert(name="over REST")
    assert table.get(created["id"])["name"] == "over REST"
    assert table.names() == {"over REST"}

    imported = victim.post(
        f"{table.records}/import",
        content=b'{"name": "imported"}\n',
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert imported.status_code == 202, imported.text
    assert imported.json()["state"] == "done", imported.text
    exported = victim.get(f"{table.records}/export")
    assert exported.status_code == 200, exported.text
    assert {orjson.loads(line)["name"] for line in exported.content.splitlines()} == {
        "over REST",
        "imported",
    }
    assert victim.get("/api/workspaces/").status_code == 200
    assert victim.client.get("/readyz").json()["checks"] == {
        "identity": True,
        "schema": True,
        "records": True,
        "workflows": True,
        "nats": True,
    }


# --- (d): the workflows service speaks for a caller to records only, with its own key ----------


def delegate_key(pki: Pki) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(
        pki.delegated_signing_key_file.read_bytes(), password=None
    )
    assert isinstance(key, Ed25519PrivateKey)
    return key


def test_the_workflows_service_speaks_for_a_caller_to_records_only_with_its_own_key(
    channels: dict[tuple[str, str], grpc.Channel],
    pki: Pki,
    victim: Tenant,
    victim_table: Table,
) -> None:
    theirs = member_ctx(victim)
    own_key = delegate_key(pki)
    to_records = channels["workflows", "records"]

    # What a run started by the victim sends: records takes it, as the victim.
    assert names(
        list_records(
            to_records, victim_table, theirs, signed(pki, LIST_RECORDS, theirs, key=own_key)
        )
    ) == [SECRET]

    # Its calls are checked against its own key only, and its key vouches for nobody else's.
    unauthenticated(
        lambda: list_records(to_records, victim_table, theirs, signed(pki, LIST_RECORDS, theirs))
    )
    unauthenticated(
        lambda: list_records(
            channels["gateway", "records"],
            victim_table,
            theirs,
            signed(pki, LIST_RECORDS, theirs, key=own_key),
        )
    )

    # Identity and schema take no call made for a caller by a service.
    refused = permission_denied(
        lambda: memberships(
            channels["workflows", "identity"],
            theirs,
            victim.account_id,
            signed(pki, LIST_MEMBERSHIPS, theirs, key=own_key),
        )
    )
    assert "made for a caller by a service" in refused.message
    permission_denied(
        lambda: get_schema(
            channels["workflows", "schema"],
            victim_table,
            theirs,
            signed(pki, GET_SCHEMA, theirs, key=own_key),
        )
    )
