"""The address policy of jobs' outbound requests, checked on address literals (nothing is connected to)."""

from __future__ import annotations

import ipaddress

import pytest

from corral_reference.outbound import is_public_address


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("2606:4700::1111", True),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("127.0.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("239.255.255.250", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("ff02::1", False),
        ("ff0e::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        # IPv4 embedded in IPv6: the metadata address 169.254.169.254 (a9fe:a9fe) in every form, and a public one
        ("::a9fe:a9fe", False),
        ("::ffff:a9fe:a9fe", False),
        ("::ffff:0:a9fe:a9fe", False),
        ("64:ff9b::a9fe:a9fe", False),
        ("64:ff9b:1::a9fe:a9fe", False),
        ("2002:a9fe:a9fe::", False),
        ("2001:0:a9fe:a9fe::1", False),
        ("::ffff:93.184.216.34", False),
        ("64:ff9b::93.184.216.34", False),
    ],
)
def test_address_policy(address: str, public: bool) -> None:
    # Given an address / When it is classified / Then only globally routable unicast, not embedding IPv4, is public
    assert is_public_address(ipaddress.ip_address(address)) is public
