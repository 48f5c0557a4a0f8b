"""Requests answer 503 within about a second when Redis/Valkey does not answer, instead of waiting on it.

An ASGI middleware over the process's Availability probe: while the server is known to be down, a request is
refused at once; a request already running when the server stops answering is cancelled and refused, unless it
has started its response. Liveness (`/livez`) and the health checks report for themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corral.api.errors import corral_error_response
from corral.availability import Availability
from corral.errors import ServerUnavailableError

SELF_REPORTING = frozenset({"/livez", "/healthz", "/readyz"})


class AvailabilityMiddleware:
    """Refuse HTTP requests with 503 problem+json while the process's Redis/Valkey does not answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        availability: Availability | None = None
        if scope["type"] == "http" and scope["path"] not in SELF_REPORTING:
            services = getattr(scope["app"].state, "services", None)
            availability = getattr(services, "availability", None)
        if availability is None:
            await self.app(scope, receive, send)
            return
        try:
            availability.check()
        except ServerUnavailableError as exc:
            await _refuse(exc, scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        handler = asyncio.ensure_future(self.app(scope, receive, watched_send))
        down = asyncio.ensure_future(availability.went_down())
        try:
            await asyncio.wait({handler, down}, return_when=asyncio.FIRST_COMPLETED)
            if handler.done() or started:
                down.cancel()
                await handler
                return
            handler.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await handler
        finally:
            down.cancel()
            if not handler.done():
                handler.cancel()
        reason = availability.reason or "the server stopped answering"
        await _refuse(ServerUnavailableError(f"Redis/Valkey is unavailable: {reason}"), scope, receive, send)


async def _refuse(exc: ServerUnavailableError, scope: Scope, receive: Receive, send: Send) -> None:
    response: Any = corral_error_response(exc)
    await response(scope, receive, send)
