"""Service identity on every gRPC hop, in two layers.

Mutual TLS with the private CA: a server takes calls only from a client presenting a
certificate of that CA, and a client talks only to the server whose certificate names the
service it meant to reach. The name in a peer's certificate says which service is calling.

A signed context: the gateway signs the RequestContext of every call it makes with an
Ed25519 key only it holds, bound to the full method name and a near expiry, and every
service verifies that signature before a handler runs. So the tenant, principal, role and
grants a service acts on are exactly what the gateway vouched for, even when the caller is
another of our services that an attacker controls: its certificate gets it through the
door, not the right to speak for a user.

A service that acts for a caller (DELEGATES: the workflows service, whose runs act as
whoever started them, long after the gateway's signature has expired) signs the caller's
context with a key of its own. Only a service configured with that key's public half
(records) takes such a call, and only from a peer whose certificate names a delegate: the
workflows service can speak for a user to records, never to identity or schema.

A service calling another as itself (`principal_kind` "service", see
services.kit.access.SERVICE_OPERATIONS) signs nothing; such a call is taken only from a
peer whose certificate names a service allowed to, and only in that service's own name.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import grpc
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from tessera.common.v1 import common_pb2

from services.kit.access import Kind
from services.kit.config import TrustSettings
from services.kit.errors import DomainError, PermissionDenied, Unauthenticated

log = logging.getLogger(__name__)

GATEWAY: Final = "gateway"
# Services that may call another service as themselves (services.kit.access's
# SERVICE_OPERATIONS: reading apps and schemas). The gateway reads them for the API
# documents, which show each caller its own part; workflows, to find an app by its slug.
SERVICE_CALLERS: Final = frozenset({"records", "gateway", "workflows"})
# Services that sign the contexts of the callers they act for with a key of their own.
DELEGATES: Final = frozenset({"workflows"})
CONTEXT_SIGNATURE_KEY: Final = "tessera-context-signature-bin"
# Long enough for any clock skew inside a cluster, short enough that a captured signature
# is soon worthless; a call is checked when it starts, so a long upload is not cut short.
CONTEXT_LIFETIME_SECONDS: Final = 30
# An expiry further ahead than this was not made by a gateway following the rules.
MAX_EXPIRY_AHEAD_SECONDS: Final = 2 * CONTEXT_LIFETIME_SECONDS

# Signatures the gateway reuses for the same context and method while more than half of
# their life is left, and pairs a service has verified: Ed25519 costs tens of
# microseconds per signature and per check, more than the rest of a call's own work. A
# context differs between callers, so each cache keeps at most this many, the oldest
# going first.
SIGNATURES_KEPT: Final = 4096

_DOMAIN: Final = b"tessera.context.v2\n"
_EXPIRY = struct.Struct(">Q")
_SIGNATURE_BYTES: Final = 64


class TrustNotConfigured(RuntimeError):
    """A process was started without the key material it needs to take part in gRPC."""


@dataclass(frozen=True)
class ServiceTls:
    """This process's certificate and key and the CA it trusts, as PEM."""

    ca: bytes
    certificate_chain: bytes
    private_key: bytes

    @classmethod
    def load(cls, settings: TrustSettings) -> ServiceTls:
        return cls(
            ca=_read(settings.tls_ca_file, "TESSERA_TLS_CA_FILE"),
            certificate_chain=_read(settings.tls_cert_file, "TESSERA_TLS_CERT_FILE"),
            private_key=_read(settings.tls_key_file, "TESSERA_TLS_KEY_FILE"),
        )

    def server_credentials(self) -> grpc.ServerCredentials:
        # Every caller presents a certificate of the CA; without one the handshake fails
        # before any method is read.
        return grpc.ssl_server_credentials(
            [(self.private_key, self.certificate_chain)],
            root_certificates=self.ca,
            require_client_auth=True,
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca,
            private_key=self.private_key,
            certificate_chain=self.certificate_chain,
        )


def server_name_option(service: str) -> tuple[str, str]:
    """The channel option that makes a client accept only `service`'s certificate, whatever
    address (an IP, a Kubernetes Service name) it dials."""
    return ("grpc.ssl_target_name_override", service)


def context_of(request: Any) -> common_pb2.RequestContext | None:
    """The context a request carries: its `ctx`, or an upload's `start.ctx`."""
    if request is None:
        return None
    fields = request.DESCRIPTOR.fields_by_name
    if "ctx" in fields:
        ctx: common_pb2.RequestContext = request.ctx
        return ctx
    if "start" in fields:
        start_ctx: common_pb2.RequestContext = request.start.ctx
        return start_ctx
    return None


def _context_bytes(ctx: common_pb2.RequestContext | None) -> bytes:
    """The context as signed. Deterministic serialization gives both ends the same bytes
    for the same context; a call without one signs an empty one, so it too is bound to its
    method. The request id is left out: it only correlates logs and is new on every
    request, so signing it would make every signature a new one."""
    if ctx is None:
        return b""
    request_id = ctx.request_id
    if not request_id:
        return ctx.SerializeToString(deterministic=True)
    ctx.request_id = ""
    try:
        return ctx.SerializeToString(deterministic=True)
    finally:
        ctx.request_id = request_id


def _signed_bytes(method: str, expires_at: int, context: bytes) -> bytes:
    return b"".join((_DOMAIN, method.encode(), b"\n", _EXPIRY.pack(expires_at), context))


def _keep(kept: dict[Any, Any], key: Any, value: Any) -> None:
    """Into a cache of at most SIGNATURES_KEPT entries, dropping the oldest."""
    kept.pop(key, None)
    if len(kept) >= SIGNATURES_KEPT:
        del kept[next(iter(kept))]
    kept[key] = value


class ContextSigner:
    """The gateway's half: a signature over (method, expiry, context) for each call."""

    def __init__(
        self,
        key: Ed25519PrivateKey,
        *,
        lifetime_seconds: int = CONTEXT_LIFETIME_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self._lifetime = lifetime_seconds
        self._clock = clock
        # (method, context) -> (expiry, signature)
        self._recent: dict[tuple[str, bytes], tuple[int, bytes]] = {}

    @classmethod
    def load(cls, settings: TrustSettings) -> ContextSigner:
        pem = _read(settings.context_signing_key_file, "TESSERA_CONTEXT_SIGNING_KEY_FILE")
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise TrustNotConfigured("TESSERA_CONTEXT_SIGNING_KEY_FILE is not an Ed25519 key")
        return cls(key)

    def signature(self, method: str, ctx: common_pb2.RequestContext | None) -> bytes:
        """The metadata value that vouches for `ctx` on a call of `method` (the full
        "/package.Service/Method" path)."""
        context = _context_bytes(ctx)
        now = self._clock()
        recent = self._recent.get((method, context))
        if recent is not None and recent[0] - now >= self._lifetime / 2:
            return recent[1]
        expires_at = int(now) + self._lifetime
        signed = self._key.sign(_signed_bytes(method, expires_at, context))
        value = _EXPIRY.pack(expires_at) + signed
        _keep(self._recent, (method, context), (expires_at, value))
        return value

    def metadata(
        self, method: str, ctx: common_pb2.RequestContext | None
    ) -> tuple[tuple[str, bytes]]:
        return ((CONTEXT_SIGNATURE_KEY, self.signature(method, ctx)),)


class ContextVerifier:
    """The services' half: holds only public keys (several while a new key rolls out)."""

    def __init__(
        self, keys: Sequence[Ed25519PublicKey], *, clock: Callable[[], float] = time.time
    ) -> None:
        if not keys:
            raise TrustNotConfigured("No public key to verify request contexts with")
        self._keys = tuple(keys)
        self._clock = clock
        # signature -> what it was found to sign
        self._verified: dict[bytes, bytes] = {}

    @classmethod
    def load(cls, settings: TrustSettings) -> ContextVerifier:
        """The gateway's keys."""
        variable = "TESSERA_CONTEXT_VERIFY_KEY_FILE"
        return cls(_public_keys(_read(settings.context_verify_key_file, variable), variable))

    @classmethod
    def load_delegated(cls, settings: TrustSettings) -> ContextVerifier | None:
        """The keys of the services that act for callers, if this service takes such calls."""
        if settings.delegated_context_verify_key_file is None:
            return None
        variable = "TESSERA_DELEGATED_CONTEXT_VERIFY_KEY_FILE"
        pem = _read(settings.delegated_context_verify_key_file, variable)
        return cls(_public_keys(pem, variable))

    def verify(
        self, method: str, ctx: common_pb2.RequestContext | None, signature: bytes | None
    ) -> None:
        """Refuses (Unauthenticated) a context the gateway did not sign for this method, or
        whose signature has expired."""
        if not signature:
            raise Unauthenticated("The call carries no signed context")
        if len(signature) != _EXPIRY.size + _SIGNATURE_BYTES:
            raise Unauthenticated("The call's context signature is malformed")
        (expires_at,) = _EXPIRY.unpack_from(signature)
        now = self._clock()
        if expires_at < now:
            raise Unauthenticated("The call's context signature has expired")
        if expires_at > now + MAX_EXPIRY_AHEAD_SECONDS:
            raise Unauthenticated("The call's context signature lives too long")
        signed = _signed_bytes(method, expires_at, _context_bytes(ctx))
        if self._verified.get(signature) == signed:
            return
        for key in self._keys:
            try:
                key.verify(signature[_EXPIRY.size :], signed)
            except InvalidSignature:
                continue
            _keep(self._verified, signature, signed)
            return
        raise Unauthenticated("The call's context is not the one the gateway signed")


def _public_keys(pem: bytes, variable: str) -> list[Ed25519PublicKey]:
    keys = []
    for block in pem.split(b"-----END PUBLIC KEY-----")[:-1]:
        key = serialization.load_pem_public_key(block + b"-----END PUBLIC KEY-----\n")
        if not isinstance(key, Ed25519PublicKey):
            raise TrustNotConfigured(f"{variable} holds a non-Ed25519 key")
        keys.append(key)
    return keys


def peer_names(context: grpc.aio.ServicerContext) -> frozenset[str]:
    """The service names in the calling peer's certificate (empty without one)."""
    auth = context.auth_context()
    names = auth.get("x509_subject_alternative_name") or auth.get("x509_common_name") or ()
    return frozenset(name.decode() for name in names)


def signature_in(metadata: Sequence[tuple[str, str | bytes]] | None) -> bytes | None:
    for key, value in metadata or ():
        if key == CONTEXT_SIGNATURE_KEY:
            return value if isinstance(value, bytes) else None
    return None


class CallerCheck:
    """Who may make a call, decided before the policy table says what the principal may do."""

    def __init__(self, verifier: ContextVerifier, delegated: ContextVerifier | None = None) -> None:
        self.verifier = verifier
        # None: no caller may speak for another here but the gateway.
        self.delegated = delegated

    def admit(
        self,
        method: str,
        signature: bytes | None,
        request: Any,
        context: grpc.aio.ServicerContext,
        *,
        gateway_only: bool,
    ) -> None:
        peers = peer_names(context)
        try:
            self._admit(method, signature, request, peers, gateway_only=gateway_only)
        except DomainError as refusal:
            # Our own services never send such a call: it is a fault or an intruder.
            log.warning(
                "refused a call to %s from %s: %s",
                method,
                ", ".join(sorted(peers)) or "a peer without a certificate",
                refusal.message,
                extra={"rpc": method},
            )
            raise

    def _admit(
        self,
        method: str,
        signature: bytes | None,
        request: Any,
        peers: frozenset[str],
        *,
        gateway_only: bool,
    ) -> None:
        if not peers:
            raise Unauthenticated("The call presents no service certificate")
        if gateway_only and GATEWAY not in peers:
            raise PermissionDenied("Only the gateway may make this call")
        ctx = context_of(request)
        if ctx is not None and ctx.principal_kind == Kind.SERVICE:
            if ctx.principal_id not in SERVICE_CALLERS or ctx.principal_id not in peers:
                raise PermissionDenied("Only a service may act as itself, in its own name")
            return
        if ctx is not None and ctx.principal_kind == Kind.WORKFLOW and not peers & DELEGATES:
            raise PermissionDenied("Only the workflows service speaks for a workflow")
        if peers & DELEGATES:
            if self.delegated is None:
                raise PermissionDenied("This service takes no call made for a caller by a service")
            self.delegated.verify(method, ctx, signature)
            return
        self.verifier.verify(method, ctx, signature)


def signing_interceptors(signer: ContextSigner) -> list[grpc.aio.ClientInterceptor]:
    """Client interceptors that sign the context of every call with a request message up
    front. An upload's first message is written after the call starts, so its caller passes
    `signer.metadata(...)` itself."""
    # A channel files each interceptor under the first kind it is, so one per kind.
    return [_SignUnaryUnary(signer), _SignUnaryStream(signer)]


class _ContextSigning:
    def __init__(self, signer: ContextSigner) -> None:
        self.signer = signer

    def _signed(self, details: grpc.aio.ClientCallDetails, request: Any) -> Any:
        method = details.method
        path = method.decode() if isinstance(method, bytes) else method
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        metadata.add(CONTEXT_SIGNATURE_KEY, self.signer.signature(path, context_of(request)))
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )


class _SignUnaryUnary(_ContextSigning, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._signed(client_call_details, request), request)


class _SignUnaryStream(_ContextSigning, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(
        self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._signed(client_call_details, request), request)


def _read(path: Path | None, variable: str) -> bytes:
    if path is None:
        raise TrustNotConfigured(f"{variable} is not set")
    try:
        return path.read_bytes()
    except OSError as error:
        raise TrustNotConfigured(f"{variable}: cannot read {path}: {error.strerror}") from None


__all__ = [
    "CONTEXT_LIFETIME_SECONDS",
    "CONTEXT_SIGNATURE_KEY",
    "DELEGATES",
    "GATEWAY",
    "SERVICE_CALLERS",
    "CallerCheck",
    "ContextSigner",
    "ContextVerifier",
    "ServiceTls",
    "TrustNotConfigured",
    "context_of",
    "peer_names",
    "server_name_option",
    "signature_in",
    "signing_interceptors",
]
