from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from tessera.identity.v1 import identity_pb2, identity_pb2_grpc

from services.kit.errors import Conflict, ValidationFailed
from tests.integration.identity.support import (
    DEADLINE,
    PASSWORD,
    IdentityStack,
    call_error,
    create_account,
    read_event,
    scalar,
    table_counts,
    unique_email,
)

RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def test_create_account_makes_an_owned_workspace(
    stub: identity_pb2_grpc.IdentityServiceStub, db_url: str
) -> None:
    email = unique_email()
    created = create_account(stub, name="  Bram Wiepjes ", email=f"  {email.upper()} ")

    assert created.account.id.startswith("acc_")
    assert created.account.name == "Bram Wiepjes"
    assert created.account.email == email
    assert RFC3339_UTC.fullmatch(created.account.created_at)
    assert created.workspace.id.startswith("ws_")
    assert created.workspace.name == "Bram Wiepjes's workspace"
    assert re.fullmatch(r"bram-wiepjes-[a-z0-9]{4}", created.workspace.slug)
    assert RFC3339_UTC.fullmatch(created.workspace.created_at)

    stored_hash = scalar(db_url, "SELECT password_hash FROM accounts WHERE email = %s", (email,))
    assert stored_hash.startswith("$argon2id$")
    assert PASSWORD not in stored_hash
    role = scalar(
        db_url,
        "SELECT role FROM memberships WHERE tenant_id = %s AND account_id = %s",
        (created.workspace.id, created.account.id),
    )
    assert role == "owner"


def test_duplicate_email_is_a_conflict_and_writes_nothing(
    stub: identity_pb2_grpc.IdentityServiceStub, db_url: str
) -> None:
    first = create_account(stub)
    before = table_counts(db_url)

    code, error = call_error(
        lambda: stub.CreateAccount(
            identity_pb2.CreateAccountRequest(
                name="Someone Else", email=f" {first.email.upper()}", password="another password"
            ),
            timeout=DEADLINE,
        )
    )

    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert isinstance(error, Conflict)
    assert error.code == "conflict"
    assert error.field == "email"
    assert error.message == "An account with this email address already exists"
    assert table_counts(db_url) == before


@pytest.mark.parametrize(
    ("name", "email", "password", "field"),
    [
        ("", None, PASSWORD, "name"),
        ("   ", None, PASSWORD, "name"),
        ("x" * 151, None, PASSWORD, "name"),
        ("Bram", "not-an-email", PASSWORD, "email"),
        ("Bram", "", PASSWORD, "email"),
        ("Bram", None, "short", "password"),
        ("Bram", None, "x" * 257, "password"),
    ],
)
def test_invalid_input_is_refused_and_writes_nothing(
    stub: identity_pb2_grpc.IdentityServiceStub,
    db_url: str,
    name: str,
    email: str | None,
    password: str,
    field: str,
) -> None:
    email = unique_email() if email is None else email
    before = table_counts(db_url)

    code, error = call_error(
        lambda: stub.CreateAccount(
            identity_pb2.CreateAccountRequest(name=name, email=email, password=password),
            timeout=DEADLINE,
        )
    )

    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert isinstance(error, ValidationFailed)
    assert error.field == field
    assert table_counts(db_url) == before


def test_account_creation_is_published_on_the_identity_stream(identity: IdentityStack) -> None:
    created = create_account(identity.stub, name="Evented")
    workspace_id = created.workspace.id

    account_event = read_event(identity.bus, f"identity.{workspace_id}.account.created")
    assert account_event.body["type"] == "identity.account.created"
    assert account_event.body["tenant"] == workspace_id
    assert account_event.body["id"].startswith("evt_")
    assert account_event.headers["Nats-Msg-Id"] == account_event.body["id"]
    assert account_event.body["data"] == {
        "account": {"id": created.account.id, "name": "Evented", "email": created.email}
    }
    assert "password" not in str(account_event.body)
    assert "argon2" not in str(account_event.body)

    workspace_event = read_event(identity.bus, f"identity.{workspace_id}.workspace.created")
    assert workspace_event.body["data"] == {
        "workspace": {
            "id": workspace_id,
            "name": created.workspace.name,
            "slug": created.workspace.slug,
        }
    }

    member_event = read_event(identity.bus, f"identity.{workspace_id}.member.added")
    assert member_event.body["data"] == {
        "workspace_id": workspace_id,
        "account_id": created.account.id,
        "role": "owner",
    }


def test_simultaneous_signups_with_one_email_create_one_account(
    stub: identity_pb2_grpc.IdentityServiceStub, db_url: str
) -> None:
    email = unique_email()

    def sign_up(name: str) -> grpc.StatusCode:
        try:
            create_account(stub, name=name, email=email)
        except grpc.RpcError as error:
            code: grpc.StatusCode = error.code()
            return code
        return grpc.StatusCode.OK

    with ThreadPoolExecutor(max_workers=3) as pool:
        codes = sorted(pool.map(sign_up, ["One", "Two", "Three"]), key=str)

    assert codes.count(grpc.StatusCode.OK) == 1
    assert codes.count(grpc.StatusCode.ALREADY_EXISTS) == 2
    assert scalar(db_url, "SELECT count(*) FROM accounts WHERE email = %s", (email,)) == 1
