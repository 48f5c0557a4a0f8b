"""The `http` step action: one request with httpx, refusing private and loopback addresses unless allowed."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx

from corral.errors import JobFailure, UnrecoverableJobError
from corral.workflows.actions import HttpParams

logger = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 1_048_576
RETRYABLE_STATUSES = frozenset({408, 425, 429})


async def public_address_problem(url: str) -> str | None:
    """Why `url`'s host must not be called (it resolves to a non-public address), or None when it may."""
    host = urlsplit(url).hostname or ""
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise JobFailure(f"cannot resolve {host!r}: {exc}") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        if not (mapped or address).is_global:
            return f"{host!r} resolves to the non-public address {address}"
    return None


class HttpAction:
    """Runs `http` steps with one shared client; redirects are not followed (they could leave the allowed hosts)."""

    def __init__(self, *, timeout_seconds: float, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.client = httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False)

    async def close(self) -> None:
        """Close the client's connections."""
        await self.client.aclose()

    async def run(self, params: HttpParams) -> dict[str, Any]:
        """Send the request; 408/425/429, 5xx and network errors are retryable, other unexpected statuses are not."""
        if not self.allow_private:
            problem = await public_address_problem(params.url)
            if problem:
                raise UnrecoverableJobError(f"refused: {problem} (set CORRAL_WEBHOOK_ALLOW_PRIVATE to allow)")
        request = self.client.build_request(
            params.method,
            params.url,
            headers=params.headers,
            json=params.json_body,
        )
        try:
            response = await self.client.send(request, stream=True)
            try:
                body = await _read_capped(response)
            finally:
                await response.aclose()
        except httpx.TransportError as exc:
            raise JobFailure(f"{params.method} {params.url}: {type(exc).__name__}: {exc}") from None
        if not params.expects(response.status_code):
            reason = f"{params.method} {params.url} answered {response.status_code}"
            if response.status_code >= 500 or response.status_code in RETRYABLE_STATUSES:
                raise JobFailure(reason)
            raise UnrecoverableJobError(reason)
        logger.info("http step: %s %s -> %d", params.method, params.url, response.status_code)
        return {"status": response.status_code, "body": _decode(body, response.headers.get("content-type", ""))}


async def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise UnrecoverableJobError(f"response body is over {MAX_RESPONSE_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(body: bytes, content_type: str) -> Any:
    """A JSON body parsed, any other body as text; None when empty."""
    if not body:
        return None
    text = body.decode("utf-8", errors="replace")
    if "json" in content_type.lower():
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text
