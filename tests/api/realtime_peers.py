"""WebSocket clients of `/owner/realtime` for tests: connect, read frames, wait for a close code."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


def ws_url(base: str, **query: str) -> str:
    """The gateway's URL on a served API, with query parameters."""
    url = base.replace("http://", "ws://") + "/owner/realtime"
    return f"{url}?{urlencode(query)}" if query else url


async def open_socket(
    base: str, token: str | None = None, *, headers: dict[str, str] | None = None, **query: str
) -> ClientConnection:
    """A client authenticated with `token` in the Authorization header (or as told by headers/query)."""
    additional = dict(headers or {})
    if token is not None:
        additional["Authorization"] = f"Bearer {token}"
    return await connect(ws_url(base, **query), additional_headers=additional, open_timeout=30, max_size=2**24)


async def next_frame(ws: ClientConnection, kind: str, timeout: float = 60.0) -> dict[str, Any]:
    """The next frame of type `kind`, skipping heartbeats (and other kinds)."""
    async with asyncio.timeout(timeout):
        while True:
            body = json.loads(await ws.recv())
            if body["type"] == kind:
                return dict(body)


async def collect_events(ws: ClientConnection, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Live events (from `events` frames) until `count` are in."""
    found: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while len(found) < count:
            body = json.loads(await ws.recv())
            if body["type"] == "events":
                found.extend(body["events"])
    return found


async def quiet_for(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    """Every event frame received within `seconds` (expected: none)."""
    found: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                body = json.loads(await ws.recv())
                if body["type"] == "events":
                    found.extend(body["events"])
    except TimeoutError:
        pass
    return found


async def close_code(ws: ClientConnection, timeout: float = 60.0) -> tuple[int | None, str | None]:
    """Read until the server closes; its close code and reason."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    except ConnectionClosed:
        pass
    return ws.close_code, ws.close_reason
