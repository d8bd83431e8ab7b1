"""What a client address counts as, for every count by address."""

from __future__ import annotations

import pytest

from services.kit.addresses import UNKNOWN_ADDRESS, counted_address


@pytest.mark.parametrize(
    ("client_ip", "counted_as"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("", UNKNOWN_ADDRESS),
        ("not an address", UNKNOWN_ADDRESS),
    ],
)
def test_an_address_is_an_ipv4_address_or_an_ipv6_64(client_ip: str, counted_as: str) -> None:
    assert counted_address(client_ip) == counted_as
