"""The workflow `http` step's requests: one resolution per request, the checked address pinned, no proxies.

Names are answered by a test resolver (the step's DNS); every connection made is to a loopback peer.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from corral.errors import UnrecoverableJobError
from corral_reference.outbound import IPAddress
from corral_reference.workflows.actions import HttpParams
from corral_reference.workflows.http_action import HttpAction


class Peer:
    """A loopback HTTP server that answers 200 and records each request's path and Host header."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                peer.requests.append((self.path, self.headers.get("host")))
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def peer() -> Iterator[Peer]:
    made = Peer()
    yield made
    made.close()


class Rebinding:
    """DNS that answers the loopback peer's address first and another loopback address (nothing there) after."""

    def __init__(self, *answers: str) -> None:
        self.answers = [ipaddress.ip_address(answer) for answer in answers]
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.asked.append(host)
        return [self.answers[min(len(self.asked), len(self.answers)) - 1]]


async def test_the_name_is_resolved_once_and_the_request_goes_to_the_checked_address(peer: Peer) -> None:
    # Given a name whose first answer is the peer and whose later answers point elsewhere (a rebinding DNS)
    dns = Rebinding("127.0.0.1", "127.0.0.2")
    action = HttpAction(timeout_seconds=30, allow_private=True, resolver=dns)
    try:
        # When a step calls it by name
        result = await action.run(HttpParams(url=f"http://rebind.test:{peer.port}/stats"))
    finally:
        await action.close()
    # Then the name was resolved once, and the request reached the address that was checked, with its Host
    assert dns.asked == ["rebind.test"]
    assert result == {"status": 200, "body": {"ok": True}}
    assert peer.requests == [("/stats", f"rebind.test:{peer.port}")]


@pytest.mark.parametrize("address", ["224.0.0.1", "ff02::1", "::a9fe:a9fe", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::"])
async def test_multicast_and_ipv4_embedding_addresses_are_refused_before_any_request(address: str) -> None:
    # Given the default policy (no private targets) and a name resolving to a refused address
    action = HttpAction(timeout_seconds=30, allow_private=False, resolver=Rebinding(address))
    try:
        # When a step calls it, then it is refused unrecoverably, naming the address (no connection is made)
        with pytest.raises(UnrecoverableJobError) as refused:
            await action.run(HttpParams(url="http://target.test/x"))
    finally:
        await action.close()
    assert f"resolves to the non-public address {ipaddress.ip_address(address)}" in str(refused.value)


async def test_proxy_variables_are_not_used(peer: Peer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given proxy variables pointing at a loopback "proxy" that records what reaches it
    proxy = Peer()
    try:
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        action = HttpAction(timeout_seconds=30, allow_private=True)
        try:
            # When a step calls the peer
            result = await action.run(HttpParams(url=f"http://127.0.0.1:{peer.port}/direct"))
        finally:
            await action.close()
    finally:
        proxy.close()
    # Then the request went straight to the peer, never through the proxy
    assert result["status"] == 200
    assert [path for path, _ in peer.requests] == ["/direct"]
    assert proxy.requests == []
