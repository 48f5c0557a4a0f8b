"""Outbound HTTP of jobs (webhooks, workflow `http` steps): which addresses may be reached, and pinning to them.

A host is resolved once per request; every address it resolves to is checked, and the request then goes to the
first of them (the URL's host replaced by the address, the original name kept in `Host` and as the TLS server
name), so a second DNS answer cannot send it elsewhere. Proxy variables from the environment are never used.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

IPV4_EMBEDDING_NETWORKS = tuple(
    ipaddress.IPv6Network(network)
    for network in (
        "::ffff:0:0/96",  # IPv4-mapped
        "::/96",  # IPv4-compatible (deprecated), which also holds :: and ::1
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT)
        "64:ff9b::/96",  # NAT64, well-known prefix
        "64:ff9b:1::/48",  # NAT64, local use
        "2002::/16",  # 6to4
        "2001::/32",  # Teredo
    )
)
"""IPv6 forms that carry an IPv4 address inside: a gateway may deliver them to that IPv4 address (a private one,
or the cloud metadata service), and Python's `is_global` does not look inside, so they are refused outright."""


def is_public_address(address: IPAddress) -> bool:
    """True for globally routable unicast addresses only: not private, loopback, link-local, reserved, multicast,
    nor any IPv6 form that embeds an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo)."""
    if isinstance(address, ipaddress.IPv6Address) and any(address in net for net in IPV4_EMBEDDING_NETWORKS):
        return False
    return address.is_global and not address.is_multicast


def refused_addresses(addresses: Iterable[IPAddress]) -> list[IPAddress]:
    """The addresses a job's request must not reach unless private targets are allowed."""
    return [address for address in addresses if not is_public_address(address)]


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The host's addresses from the system resolver (an IP literal resolves to itself)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def default_port(url: httpx.URL) -> int:
    """The URL's port, or its scheme's."""
    return url.port or (443 if url.scheme == "https" else 80)


@dataclass(frozen=True)
class PinnedRequest:
    """Where to send a request so that it reaches the checked address: the URL, Host header and TLS name."""

    url: httpx.URL
    host_header: str
    server_name: str

    @classmethod
    def to(cls, target: httpx.URL, address: IPAddress) -> PinnedRequest:
        """`target` with its host replaced by `address`."""
        return cls(target.copy_with(host=str(address)), target.netloc.decode("ascii"), target.host)

    @property
    def extensions(self) -> dict[str, str]:
        """httpx request extensions: the TLS server name (SNI and certificate check) of the original host."""
        return {"sni_hostname": self.server_name}


def unpooled_client(timeout_seconds: float) -> httpx.AsyncClient:
    """An HTTP client for pinned requests: no redirects, no proxies from the environment, no kept connections
    (each request is pinned to its own checked address and TLS server name)."""
    return httpx.AsyncClient(
        timeout=timeout_seconds,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_keepalive_connections=0),
    )
