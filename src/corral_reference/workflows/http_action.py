"""The `http` step action: one request with httpx, refusing private and loopback addresses unless allowed."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

import httpx

from corral.errors import JobFailure, UnrecoverableJobError
from corral_reference.outbound import (
    IPAddress,
    PinnedRequest,
    Resolver,
    default_port,
    refused_addresses,
    system_resolver,
    unpooled_client,
)
from corral_reference.workflows.actions import HttpParams

logger = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 1_048_576
RETRYABLE_STATUSES = frozenset({408, 425, 429})


def _problem(host: str, addresses: list[IPAddress]) -> str | None:
    """Why `host` must not be called (one of its addresses is not public), or None when it may."""
    refused = refused_addresses(addresses)
    return f"{host!r} resolves to the non-public address {refused[0]}" if refused else None


async def _resolve(target: httpx.URL, resolver: Resolver) -> list[IPAddress]:
    try:
        addresses = await resolver(target.host, default_port(target))
    except OSError as exc:
        raise JobFailure(f"cannot resolve {target.host!r}: {exc}") from None
    if not addresses:
        raise JobFailure(f"cannot resolve {target.host!r}: no address")
    return addresses


class HttpAction:
    """Runs `http` steps: the host is resolved once and checked, and the request pinned to the checked address.

    Redirects are not followed (they could leave the allowed hosts) and proxy variables are ignored (a proxy would
    resolve the name again).
    """

    def __init__(self, *, timeout_seconds: float, allow_private: bool, resolver: Resolver = system_resolver) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.client = unpooled_client(timeout_seconds)

    async def close(self) -> None:
        """Close the client's connections."""
        await self.client.aclose()

    async def run(self, params: HttpParams) -> dict[str, Any]:
        """Send the request; 408/425/429, 5xx and network errors are retryable, other unexpected statuses are not."""
        target = httpx.URL(params.url)
        addresses = await _resolve(target, self.resolver)
        if not self.allow_private:
            problem = _problem(urlsplit(params.url).hostname or "", addresses)
            if problem:
                raise UnrecoverableJobError(f"refused: {problem} (set CORRAL_WEBHOOK_ALLOW_PRIVATE to allow)")
        pinned = PinnedRequest.to(target, addresses[0])
        headers = {name: value for name, value in params.headers.items() if name.lower() != "host"}
        request = self.client.build_request(
            params.method,
            pinned.url,
            headers={**headers, "Host": pinned.host_header},
            json=params.json_body,
            extensions=pinned.extensions,
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
