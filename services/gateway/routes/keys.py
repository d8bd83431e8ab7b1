"""The public keys access JWTs are signed with, as a JSON Web Key Set, for clients and
other verifiers that check Tessera's tokens themselves."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import APIRouter
from jwt.algorithms import OKPAlgorithm
from tessera.identity.v1 import identity_pb2

from services.gateway import shapes
from services.gateway.deps import BackendsDep
from services.gateway.openapi import returns

router = APIRouter(prefix="/api", tags=["Accounts"])


@router.get("/.well-known/jwks.json", **returns(shapes.JsonWebKeySet))
async def jwks(backends: BackendsDep) -> dict[str, Any]:
    """Every published key: the one signing now, the next one, and replaced ones whose
    tokens may still be alive."""
    reply = await backends.call(
        backends.identity.GetSigningKeys, identity_pb2.GetSigningKeysRequest()
    )
    keys = []
    for published in reply.keys:
        public_key = load_pem_public_key(published.public_key_pem.encode())
        if not isinstance(public_key, Ed25519PublicKey):
            continue
        jwk: dict[str, Any] = OKPAlgorithm.to_jwk(public_key, as_dict=True)
        keys.append({**jwk, "kid": published.kid, "alg": published.algorithm, "use": "sig"})
    return {"keys": keys}
