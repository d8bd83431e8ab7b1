"""The signed context: what the gateway signs is what a service accepts, and nothing else."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tessera.common.v1 import common_pb2
from tessera.records.v1 import records_pb2

from services.kit.errors import Unauthenticated
from services.kit.grpc.trust import (
    CONTEXT_LIFETIME_SECONDS,
    ContextSigner,
    ContextVerifier,
    TrustNotConfigured,
    context_of,
)

LIST = "/tessera.records.v1.RecordsService/ListRecords"
GET = "/tessera.records.v1.RecordsService/GetRecord"
NOW = 1_900_000_000.0


def ctx(tenant: str = "ws_a") -> common_pb2.RequestContext:
    return common_pb2.RequestContext(
        tenant_id=tenant,
        principal_id="acc_1",
        principal_kind="user",
        account_id="acc_1",
        role="viewer",
        permissions=["read:*"],
        request_id="req_1",
    )


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def signer(key: Ed25519PrivateKey, at: float = NOW) -> ContextSigner:
    return ContextSigner(key, clock=lambda: at)


def verifier(*keys: Ed25519PrivateKey, at: float = NOW) -> ContextVerifier:
    return ContextVerifier([k.public_key() for k in keys], clock=lambda: at)


def refusal(
    check: ContextVerifier,
    method: str,
    context: common_pb2.RequestContext | None,
    signature: bytes | None,
) -> str:
    with pytest.raises(Unauthenticated) as refused:
        check.verify(method, context, signature)
    return refused.value.message


def test_a_context_verifies_as_signed(key: Ed25519PrivateKey) -> None:
    signature = signer(key).signature(LIST, ctx())

    verifier(key).verify(LIST, ctx(), signature)
    # A copy parsed from the wire is the same context.
    parsed = common_pb2.RequestContext.FromString(ctx().SerializeToString())
    verifier(key).verify(LIST, parsed, signature)


def test_a_changed_context_is_refused(key: Ed25519PrivateKey) -> None:
    signature = signer(key).signature(LIST, ctx())
    changed_role = ctx()
    changed_role.role = "owner"
    more_grants = ctx()
    more_grants.permissions.append("delete:*")

    for changed in (ctx("ws_b"), changed_role, more_grants, None):
        assert "not the one the gateway signed" in refusal(verifier(key), LIST, changed, signature)


def test_a_signature_for_another_method_is_refused(key: Ed25519PrivateKey) -> None:
    signature = signer(key).signature(GET, ctx())

    assert "not the one the gateway signed" in refusal(verifier(key), LIST, ctx(), signature)


def test_another_keys_signature_is_refused(key: Ed25519PrivateKey) -> None:
    forged = signer(Ed25519PrivateKey.generate()).signature(LIST, ctx())

    assert "not the one the gateway signed" in refusal(verifier(key), LIST, ctx(), forged)


def test_a_signature_lives_its_lifetime_and_no_longer(key: Ed25519PrivateKey) -> None:
    signature = signer(key).signature(LIST, ctx())

    verifier(key, at=NOW + CONTEXT_LIFETIME_SECONDS).verify(LIST, ctx(), signature)
    late = verifier(key, at=NOW + CONTEXT_LIFETIME_SECONDS + 1)
    assert "expired" in refusal(late, LIST, ctx(), signature)


def test_an_expiry_far_ahead_is_refused(key: Ed25519PrivateKey) -> None:
    from_the_future = signer(key, at=NOW + 3600).signature(LIST, ctx())

    assert "too long" in refusal(verifier(key), LIST, ctx(), from_the_future)


def test_missing_and_malformed_signatures_are_refused(key: Ed25519PrivateKey) -> None:
    signature = signer(key).signature(LIST, ctx())

    assert "no signed context" in refusal(verifier(key), LIST, ctx(), None)
    assert "no signed context" in refusal(verifier(key), LIST, ctx(), b"")
    assert "malformed" in refusal(verifier(key), LIST, ctx(), signature[:-1])


def test_while_a_new_key_rolls_out_both_verify(key: Ed25519PrivateKey) -> None:
    new_key = Ed25519PrivateKey.generate()
    both = verifier(key, new_key)

    both.verify(LIST, ctx(), signer(key).signature(LIST, ctx()))
    both.verify(LIST, ctx(), signer(new_key).signature(LIST, ctx()))
    with pytest.raises(TrustNotConfigured):
        ContextVerifier([])


def test_the_signed_context_is_the_requests_or_an_uploads_first_message() -> None:
    listed = records_pb2.ListRecordsRequest(ctx=ctx("ws_list"))
    upload = records_pb2.ImportChunk(start=records_pb2.ImportStart(ctx=ctx("ws_upload")))

    assert context_of(listed) == ctx("ws_list")
    assert context_of(upload) == ctx("ws_upload")
    assert context_of(records_pb2.SchemaRef()) is None
    assert context_of(None) is None


def test_the_request_id_is_not_signed(key: Ed25519PrivateKey) -> None:
    signature = signer(key).signature(LIST, ctx())
    another_request = ctx()
    another_request.request_id = "req_2"

    verifier(key).verify(LIST, another_request, signature)
    # Left as it came: the check reads the context without keeping it changed.
    assert another_request.request_id == "req_2"


def test_a_signature_is_reused_while_more_than_half_its_life_is_left(
    key: Ed25519PrivateKey,
) -> None:
    now = [NOW]
    signing = ContextSigner(key, clock=lambda: now[0])
    first = signing.signature(LIST, ctx())

    now[0] += CONTEXT_LIFETIME_SECONDS / 2
    assert signing.signature(LIST, ctx()) == first
    assert signing.signature(GET, ctx()) != first
    assert signing.signature(LIST, ctx("ws_b")) != first
    now[0] += 1
    renewed = signing.signature(LIST, ctx())
    assert renewed != first
    verifier(key, at=now[0] + CONTEXT_LIFETIME_SECONDS).verify(LIST, ctx(), renewed)


def test_a_verified_signature_still_binds_its_context_method_and_expiry(
    key: Ed25519PrivateKey,
) -> None:
    now = [NOW]
    check = ContextVerifier([key.public_key()], clock=lambda: now[0])
    signature = signer(key).signature(LIST, ctx())
    check.verify(LIST, ctx(), signature)

    # Checked again (from what the verifier remembers) it holds for what it signed only.
    check.verify(LIST, ctx(), signature)
    assert "not the one the gateway signed" in refusal(check, LIST, ctx("ws_b"), signature)
    assert "not the one the gateway signed" in refusal(check, GET, ctx(), signature)
    now[0] += CONTEXT_LIFETIME_SECONDS + 1
    assert "expired" in refusal(check, LIST, ctx(), signature)
