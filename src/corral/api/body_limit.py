"""A request-body size limit enforced while the body is read, before any parsing or authentication."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBLEM = "application/problem+json"


class BodyTooLarge(Exception):
    """The body read so far is over the limit (raised from `receive`, turned into 413 by the middleware)."""


def too_large_body(limit: int) -> bytes:
    """The problem+json document of a 413 answer."""
    detail = f"the request body is over {limit} bytes (CORRAL_MAX_BODY_BYTES)"
    document = {
        "type": "about:blank",
        "title": "request body too large",
        "status": 413,
        "detail": detail,
        "errors": [{"field": "body", "reason": f"at most {limit} bytes"}],
    }
    return json.dumps(document).encode()


class BodyLimit:
    """ASGI middleware: answer 413 to a request whose declared or streamed body exceeds `limit` bytes.

    A `Content-Length` over the limit is refused before a byte of the body is read; a chunked body is counted as it
    arrives and refused as soon as it passes the limit, so no more than `limit` bytes are ever held for a request.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await self._refuse(send)
            return
        received = 0
        exceeded = False
        app_started = False
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    exceeded = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            # Whatever the app made of the interrupted read (FastAPI answers its own 400), the client gets the 413.
            nonlocal app_started, refused
            if exceeded and not app_started:
                if not refused:
                    refused = True
                    await self._refuse(send)
                return
            app_started = app_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            if app_started:
                raise
            if not refused:
                refused = True
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = too_large_body(self.limit)
        headers = [
            (b"content-type", PROBLEM.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
