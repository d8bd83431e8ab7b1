"""What a client address counts as, wherever requests are counted by address (the
gateway's rate limits, identity's login throttling): one IPv6 client usually holds a whole
/64 and could otherwise rotate through it to escape every count."""

from __future__ import annotations

import functools
import ipaddress

UNKNOWN_ADDRESS = "unknown"


@functools.lru_cache(maxsize=65_536)
def counted_address(client_ip: str) -> str:
    """An IPv4 address as it is (an IPv4-mapped IPv6 one too), the /64 an IPv6 address is
    in, or UNKNOWN_ADDRESS for anything else."""
    try:
        ip = ipaddress.ip_address(client_ip.strip())
    except ValueError:
        return UNKNOWN_ADDRESS
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
