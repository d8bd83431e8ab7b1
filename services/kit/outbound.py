"""Outgoing HTTP to addresses a tenant chose (API connector calls, webhooks, HTTP steps,
an SSO issuer): one client that cannot be turned against the network it runs in.

Before each connection the host is resolved and every address it resolves to checked:
loopback, private, link-local (169.254.169.254 and the other cloud metadata addresses),
shared (CGNAT), multicast, reserved and unspecified addresses are refused, and so are IPv6
addresses that carry one of those inside (IPv4-mapped, IPv4-compatible, 6to4, NAT64). The
resolver reads the host as the operating system would, so decimal, octal and hex IPv4
notations (2130706433, 0177.0.0.1, 0x7f.1) and names that resolve to such addresses are
caught the same way. The connection then goes to the address that was checked (the host
name only in the Host header and for TLS), so a second lookup cannot answer differently
(DNS rebinding). Redirects are followed by hand, each one checked again, and credentials
are not carried to another origin; the body read is capped, and so is the whole exchange's
time.

The operator's allow-list, `TESSERA_OUTBOUND_ALLOWLIST` (comma-separated CIDRs or host
names, empty by default), opens what must be reached on purpose: an internal API, a local
test receiver."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.kit.errors import ValidationFailed

ALLOWLIST_ENV = "TESSERA_OUTBOUND_ALLOWLIST"
SCHEMES = ("http", "https")
MAX_REDIRECTS = 5
MAX_RESPONSE_BYTES = 10 * 1024 * 1024
TOTAL_SECONDS = 30.0
# Headers that carry credentials: not sent on to another origin by a redirect, and never
# shown where a request is logged.
CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-auth-token"}
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# host, port -> the addresses it resolves to.
Resolver = Callable[[str, int], Awaitable[list[str]]]


class OutboundRefused(ValidationFailed):
    """A URL the outbound policy does not let Tessera reach, or an answer past its caps."""


class AnswerTooLarge(OutboundRefused):
    """The peer's answer is past the cap: the peer's doing, not the URL's."""


class OutboundSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    allowlist: str = Field(default="", validation_alias=AliasChoices(ALLOWLIST_ENV))


@dataclass(frozen=True)
class Allowlist:
    networks: tuple[Network, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str) -> Allowlist:
        networks: list[Network] = []
        hosts: set[str] = set()
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.lower().rstrip("."))
        return cls(tuple(networks), frozenset(hosts))

    @classmethod
    def from_environment(cls) -> Allowlist:
        return cls.parse(OutboundSettings().allowlist)

    def allows_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries to the IPv4 network, if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: IPAddress) -> str | None:
    """Why the address may not be reached, or None when it is a public unicast one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = refusal(embedded)
            return None if reason is None else f"it carries {embedded}, {reason}"
    if address.is_multicast:
        return "a multicast address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if not address.is_global:
        return "not a public address"
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class Target:
    """A URL checked: the address to connect to, and the URL as the peer sees it."""

    url: httpx.URL
    address: str


class OutboundClient:
    """The one way out. `request` answers a response whose body has been read (at most
    `max_response_bytes`), or raises OutboundRefused; transport failures are httpx's."""

    def __init__(
        self,
        allowlist: Allowlist | None = None,
        *,
        resolver: Resolver = system_resolver,
        max_redirects: int = MAX_REDIRECTS,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        total_seconds: float = TOTAL_SECONDS,
        verify: Any = True,
        cert: Any = None,
    ) -> None:
        self.allowlist = allowlist if allowlist is not None else Allowlist.from_environment()
        self.resolver = resolver
        self.max_redirects = max_redirects
        self.max_response_bytes = max_response_bytes
        self.total_seconds = total_seconds
        # httpx's own default gives up after 5 s of any phase; the whole exchange's time
        # is `total_seconds`, each phase may take all of it.
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            verify=verify,
            cert=cert,
            timeout=httpx.Timeout(total_seconds),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> OutboundClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def check(self, url: str | httpx.URL) -> Target:
        """The URL's address, once the policy allows it; OutboundRefused otherwise."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            raise OutboundRefused("Not a URL", field="url") from None
        if parsed.scheme not in SCHEMES or not parsed.host:
            raise OutboundRefused("Only http and https URLs with a host are reached", field="url")
        if parsed.userinfo:
            raise OutboundRefused("Credentials go in headers, not in the URL", field="url")
        host = parsed.host
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        if not 0 < port < 65536:
            raise OutboundRefused(f"Port {port} does not exist", field="url")
        try:
            addresses = await self.resolver(host, port)
        except (OSError, UnicodeError):
            raise OutboundRefused(
                f"The host {host[:100]!r} does not resolve", field="url"
            ) from None
        if not addresses:
            raise OutboundRefused(f"The host {host[:100]!r} does not resolve", field="url")
        chosen = None
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if self.allowlist.allows_host(host) or self.allowlist.allows_address(address):
                chosen = chosen or str(address)
                continue
            reason = refusal(address)
            if reason is not None:
                # Every address must pass: a name that also resolves inside is refused.
                raise OutboundRefused(
                    f"{host[:100]} resolves to {address}, {reason}; Tessera does not reach it"
                    f" unless the operator allows it ({ALLOWLIST_ENV})",
                    field="url",
                )
            chosen = chosen or str(address)
        assert chosen is not None
        return Target(parsed, chosen)

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        follow_redirects: bool = True,
    ) -> httpx.Response:
        seconds = self.total_seconds
        try:
            async with asyncio.timeout(seconds):
                return await self._exchange(method, url, headers, content, follow_redirects)
        except TimeoutError:
            raise httpx.TimeoutException(f"No complete answer within {seconds:g} s") from None
        except OSError as error:
            # A TLS alert after the handshake (a client certificate refused, under TLS 1.3)
            # comes up from the socket itself: a transport failure like any other.
            raise httpx.ConnectError(f"{type(error).__name__}: {error}") from None

    async def _exchange(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        content: bytes | None,
        follow_redirects: bool,
    ) -> httpx.Response:
        sent = dict(headers or {})
        target = await self.check(url)
        for _ in range(self.max_redirects + 1):
            response = await self._send(method, target, sent, content)
            location = response.headers.get("location")
            if not (follow_redirects and response.is_redirect and location):
                return response
            following = await self.check(target.url.join(location))
            if _origin(following.url) != _origin(target.url):
                sent = {k: v for k, v in sent.items() if k.lower() not in CREDENTIAL_HEADERS}
            if response.status_code in (301, 302, 303) and method != "HEAD":
                method, content = "GET", None
                sent = {k: v for k, v in sent.items() if k.lower() != "content-type"}
            target = following
        raise OutboundRefused(f"More than {self.max_redirects} redirects", field="url")

    async def _send(
        self, method: str, target: Target, headers: dict[str, str], content: bytes | None
    ) -> httpx.Response:
        url = target.url
        # To the address checked; the name only where the peer reads it.
        request = self._client.build_request(
            method,
            url.copy_with(host=target.address),
            headers={**headers, "Host": url.netloc.decode("ascii")},
            content=content,
            extensions={"sni_hostname": url.host} if url.scheme == "https" else {},
        )
        response = await self._client.send(request, stream=True)
        try:
            body = bytearray()
            # Decoded bytes are counted: a small compressed body may unpack to a large one.
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self.max_response_bytes:
                    raise AnswerTooLarge(
                        f"The answer is larger than {self.max_response_bytes} bytes", field="url"
                    )
        finally:
            await response.aclose()
        kept = [
            (name, value)
            for name, value in response.headers.multi_items()
            if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            response.status_code,
            headers=kept,
            content=bytes(body),
            request=httpx.Request(method, url, headers=headers),
        )


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


__all__ = [
    "ALLOWLIST_ENV",
    "CREDENTIAL_HEADERS",
    "Allowlist",
    "AnswerTooLarge",
    "OutboundClient",
    "OutboundRefused",
    "refusal",
]
