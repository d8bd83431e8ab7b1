"""Calling a service directly, as the gateway does: over mutual TLS with the gateway's
certificate, every context signed with its key. Tests that talk to a service without the
gateway use these; the servers take nothing less."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import grpc

from services.devstack.pki import GATEWAY, Pki, ensure_pki
from services.devstack.stack import DATABASE_SERVICES, Stack
from services.kit.config import TrustSettings
from services.kit.grpc.client import create_channel
from services.kit.grpc.trust import ContextSigner, context_of, server_name_option
from tests.support.infra import Infra

SERVICE_NAMES = (GATEWAY, *DATABASE_SERVICES)


@cache
def _pki_at(directory: Path) -> Pki:
    return ensure_pki(directory, SERVICE_NAMES)


def session_pki(infra: Infra) -> Pki:
    """The session's CA, certificates and context keys, made once."""
    return _pki_at(infra.work_dir / "pki")


def trust_settings(pki: Pki, name: str) -> TrustSettings:
    """What the process `name` would read from its environment."""
    return TrustSettings(
        tls_ca_file=pki.ca_file,
        tls_cert_file=pki.cert_file(name),
        tls_key_file=pki.key_file(name),
        context_signing_key_file=pki.context_signing_key_file if name == GATEWAY else None,
        context_verify_key_file=pki.context_verify_key_file,
    )


def gateway_signer(pki: Pki) -> ContextSigner:
    return ContextSigner.load(trust_settings(pki, GATEWAY))


def service_channel(pki: Pki, address: str, server: str, *, caller: str) -> grpc.Channel:
    """Mutual TLS as `caller` to the service `server`, nothing signed."""
    return grpc.secure_channel(
        address, pki.channel_credentials(caller), options=[server_name_option(server)]
    )


def gateway_channel(pki: Pki, address: str, server: str) -> grpc.Channel:
    """The service `server` as the gateway reaches it: its certificate, every context
    signed (an upload's in its first message)."""
    return grpc.intercept_channel(
        service_channel(pki, address, server, caller=GATEWAY), _Signing(gateway_signer(pki))
    )


def aio_gateway_channel(pki: Pki, address: str, server: str) -> grpc.aio.Channel:
    """The same for asyncio callers: exactly the gateway's own channel."""
    return create_channel(
        address,
        service=server,
        trust=trust_settings(pki, GATEWAY),
        signer=gateway_signer(pki),
    )


class _Details(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: bool | None
    compression: Any


class _Signing(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
):
    def __init__(self, signer: ContextSigner) -> None:
        self.signer = signer

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._signed(details, request), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._signed(details, request), request)

    def intercept_stream_unary(
        self, continuation: Any, details: Any, request_iterator: Iterator[Any]
    ) -> Any:
        first = next(request_iterator, None)
        rest = itertools.chain(() if first is None else (first,), request_iterator)
        return continuation(self._signed(details, first), rest)

    def _signed(self, details: Any, request: Any) -> Any:
        metadata = [
            *(details.metadata or ()),
            *self.signer.metadata(details.method, context_of(request)),
        ]
        return _Details(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            details.wait_for_ready,
            details.compression,
        )


def stack_channel(stack: Stack, server: str) -> grpc.Channel:
    """A channel to one service of a running stack, as its gateway opens one."""
    address = stack.processes[server].grpc_address
    assert address is not None
    assert stack.pki is not None
    return gateway_channel(stack.pki, address, server)
