"""Access JWTs (EdDSA over Ed25519), their signing keys (stored sealed), and hashes of
stored secrets."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from services.kit.ids import new_id
from services.kit.secrets import SecretBox

ALGORITHM = "EdDSA"
_SEAL_INFO = b"tessera refresh-token successor"
_NONCE_BYTES = 12


@dataclass(frozen=True)
class KeyPair:
    kid: str
    algorithm: str
    private_key_pem: str
    public_key_pem: str


@dataclass(frozen=True)
class StoredKeyPair:
    """A signing key as the database holds it: the private key sealed with the
    key-encryption key, bound to the key's id."""

    kid: str
    algorithm: str
    sealed_private_key: str
    public_key_pem: str


def seal_key_pair(key: KeyPair, box: SecretBox) -> StoredKeyPair:
    return StoredKeyPair(
        kid=key.kid,
        algorithm=key.algorithm,
        sealed_private_key=box.seal(key.private_key_pem, context=signing_key_context(key.kid)),
        public_key_pem=key.public_key_pem,
    )


def open_key_pair(stored: StoredKeyPair, box: SecretBox) -> KeyPair:
    """Raises services.kit.secrets.SecretUnreadable when the box cannot open it."""
    private_pem = box.open(stored.sealed_private_key, context=signing_key_context(stored.kid))
    return KeyPair(
        kid=stored.kid,
        algorithm=stored.algorithm,
        private_key_pem=private_pem.decode("ascii"),
        public_key_pem=stored.public_key_pem,
    )


def signing_key_context(kid: str) -> str:
    """What a sealed private key is bound to: its own key id, so that a sealed key copied
    into another row does not open there."""
    return f"signing_keys:{kid}"


@dataclass(frozen=True)
class AccessClaims:
    issuer: str
    audience: str
    subject: str
    issued_at: int
    ttl_seconds: int
    # A single sign-on login's workspace, the only one the token opens ("ws").
    workspace_id: str = ""


def hash_secret(secret: str) -> str:
    """sha256 hex: what is stored for session ids and refresh tokens. The secrets carry
    256 random bits, so a fast hash is enough; no salt or stretching is needed."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def seal_successor(spent_secret: str, successor_secret: str) -> bytes:
    """The successor of a rotated refresh token, readable only with the spent token's
    secret: a client racing itself gets the same successor back, while the database alone
    (which holds hashes, never secrets) reveals nothing."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(_seal_key(spent_secret)).encrypt(nonce, successor_secret.encode(), None)
    return nonce + sealed


def unseal_successor(spent_secret: str, sealed: bytes) -> str | None:
    try:
        opened = AESGCM(_seal_key(spent_secret)).decrypt(
            sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], None
        )
    except (InvalidTag, ValueError):
        return None
    return opened.decode()


def _seal_key(secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SEAL_INFO).derive(
        secret.encode()
    )


def generate_key_pair() -> KeyPair:
    private_key = Ed25519PrivateKey.generate()
    private_pem = private_key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    ).decode("ascii")
    public_pem = (
        private_key.public_key()
        .public_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        .decode("ascii")
    )
    return KeyPair(
        kid=new_id("key"),
        algorithm=ALGORITHM,
        private_key_pem=private_pem,
        public_key_pem=public_pem,
    )


def issue_access_token(key: KeyPair, claims: AccessClaims) -> str:
    private_key = serialization.load_pem_private_key(key.private_key_pem.encode("ascii"), None)
    if not isinstance(private_key, Ed25519PrivateKey):
        raise TypeError(f"signing key {key.kid} is not an Ed25519 key")
    payload = {
        "iss": claims.issuer,
        "aud": claims.audience,
        "sub": claims.subject,
        "iat": claims.issued_at,
        "exp": claims.issued_at + claims.ttl_seconds,
        "jti": new_id("jti"),
    }
    if claims.workspace_id:
        payload["ws"] = claims.workspace_id
    return jwt.encode(payload, private_key, algorithm=ALGORITHM, headers={"kid": key.kid})


def decode_access_token(
    token: str, public_key_pem: str, *, issuer: str, audience: str
) -> dict[str, Any]:
    """Verifies signature, issuer, audience and expiry; raises jwt.InvalidTokenError."""
    public_key = serialization.load_pem_public_key(public_key_pem.encode("ascii"))
    if not isinstance(public_key, Ed25519PublicKey):
        raise jwt.InvalidKeyError("not an Ed25519 public key")
    claims: dict[str, Any] = jwt.decode(
        token,
        public_key,
        algorithms=[ALGORITHM],
        issuer=issuer,
        audience=audience,
        options={"require": ["iss", "aud", "sub", "iat", "exp", "jti"]},
    )
    return claims
