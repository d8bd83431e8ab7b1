from __future__ import annotations

import time

import jwt
import pytest

from services.identity.tokens import (
    AccessClaims,
    decode_access_token,
    generate_key_pair,
    hash_secret,
    issue_access_token,
)


def _claims(issued_at: int, ttl: int = 3600) -> AccessClaims:
    return AccessClaims(
        issuer="tessera",
        audience="tessera-api",
        subject="acc_x",
        issued_at=issued_at,
        ttl_seconds=ttl,
    )


def test_access_token_round_trip() -> None:
    key = generate_key_pair()
    now = int(time.time())
    token = issue_access_token(key, _claims(now))

    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": key.kid, "typ": "JWT"}
    claims = decode_access_token(
        token, key.public_key_pem, issuer="tessera", audience="tessera-api"
    )
    assert claims["sub"] == "acc_x"
    assert claims["iss"] == "tessera"
    assert claims["aud"] == "tessera-api"
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["iat"] == now
    assert claims["jti"].startswith("jti_")


def test_every_token_has_its_own_jti() -> None:
    key = generate_key_pair()
    now = int(time.time())
    first, second = (issue_access_token(key, _claims(now)) for _ in range(2))
    decode = {"issuer": "tessera", "audience": "tessera-api"}
    assert (
        decode_access_token(first, key.public_key_pem, **decode)["jti"]
        != decode_access_token(second, key.public_key_pem, **decode)["jti"]
    )


def test_another_keys_signature_is_rejected() -> None:
    token = issue_access_token(generate_key_pair(), _claims(int(time.time())))
    with pytest.raises(jwt.InvalidSignatureError):
        decode_access_token(
            token, generate_key_pair().public_key_pem, issuer="tessera", audience="tessera-api"
        )


def test_wrong_audience_and_issuer_are_rejected() -> None:
    key = generate_key_pair()
    token = issue_access_token(key, _claims(int(time.time())))
    with pytest.raises(jwt.InvalidAudienceError):
        decode_access_token(token, key.public_key_pem, issuer="tessera", audience="other")
    with pytest.raises(jwt.InvalidIssuerError):
        decode_access_token(token, key.public_key_pem, issuer="other", audience="tessera-api")


def test_expired_token_is_rejected() -> None:
    key = generate_key_pair()
    token = issue_access_token(key, _claims(int(time.time()) - 7200))
    with pytest.raises(jwt.ExpiredSignatureError):
        decode_access_token(token, key.public_key_pem, issuer="tessera", audience="tessera-api")


def test_key_pair_is_pem_encoded_ed25519() -> None:
    key = generate_key_pair()
    assert key.algorithm == "EdDSA"
    assert key.kid.startswith("key_")
    assert key.private_key_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert key.public_key_pem.startswith("-----BEGIN PUBLIC KEY-----")


def test_hash_secret_is_sha256_hex() -> None:
    assert hash_secret("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
