"""The owner WebSocket gateway at `/owner/realtime`: authenticates, then bridges one socket to a gateway session."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, cast
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Request, WebSocket
from starlette.websockets import WebSocketDisconnect

from corral.api.closecodes import CloseCode, close_for_exception, close_for_stop, reason_text
from corral.api.context import ApiServices
from corral.api.errors import problem
from corral.api.routing import owner_router
from corral.api.security import Principal, authenticate, client_ip, forwarded_https
from corral.errors import AuthenticationError, PermissionDeniedError
from corral.realtime.bus import EventBus
from corral.realtime.hub import EventHub, StopReason
from corral.realtime.rooms import GLOBAL, ClientFilter, parse_rooms, parse_severity
from corral.realtime.session import BadMessage, GatewayLimits, GatewaySession, frame, parse_last_id
from corral.security.handshakes import HandshakeGuard, Refusal
from corral.security.permissions import Permission
from corral.security.ratelimit import Budget

logger = logging.getLogger(__name__)

SUBPROTOCOL = "corral.v1"
TOKEN_SUBPROTOCOL_PREFIX = "bearer."
CLOSE_TIMEOUT_SECONDS = 5.0
SUBSCRIBE_WAIT_SECONDS = 5.0

router = owner_router(prefix="/owner", tags=["realtime"])

Send = Callable[[str], Awaitable[None]]


@asynccontextmanager
async def realtime_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Subscribe the process's hub once at startup; stop it (closing every client) at shutdown."""
    api: ApiServices = app.state.services
    bus = api.bus
    hub = EventHub(api.redis, api.keys, bus)
    hub.start()
    api.extras["realtime.bus"], api.extras["realtime.hub"] = bus, hub
    handshake_guard(api)
    try:
        yield
    finally:
        await hub.close()


router.lifespan_context = realtime_lifespan


def event_bus(request: Request) -> EventBus:
    """The event bus of this API process (a FastAPI dependency), for routes that publish events."""
    api: ApiServices = request.app.state.services
    return api.bus


Events = Annotated[EventBus, Depends(event_bus)]


@router.websocket("/realtime", name="realtime.connect")
async def realtime(websocket: WebSocket) -> None:
    """Live events. Query: `rooms` (comma-separated), `severity` (minimum), `last_id` (resume), `token`."""
    api: ApiServices = websocket.app.state.services
    address = client_ip(cast(Request, websocket), api.settings)
    guard = handshake_guard(api)
    # Before anything is accepted or asked of Redis: an address that keeps failing, or floods, is refused here.
    refusal = await guard.admit(address)
    if refusal is not None:
        await _deny(websocket, refusal)
        return
    try:
        await _connect(websocket, api, guard, address)
    except Exception as exc:  # every failure ends in a close code and one log line, never a traceback per socket
        code, reason = close_for_exception(exc)
        _log_failure(address, code, reason, exc)
        await _close(websocket, code, reason)


async def _connect(websocket: WebSocket, api: ApiServices, guard: HandshakeGuard, address: str) -> None:
    hub: EventHub = api.extras["realtime.hub"]
    offered = websocket.scope.get("subprotocols") or []
    async with guard.authenticating(address):
        await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
        try:
            principal = await _authenticate(websocket, api, offered)
            query = websocket.query_params
            rooms = query.get("rooms") or GLOBAL
            event_filter = ClientFilter(
                parse_rooms(rooms.split(","), api.registry.work_queues),
                parse_severity(query.get("severity") or "debug"),
            )
            last_id = parse_last_id(query.get("last_id"))
        except AuthenticationError:
            await guard.failed(address)
            raise
    if hub.client_count >= api.settings.realtime_max_clients:
        await _close(websocket, CloseCode.TRY_AGAIN_LATER, "this server has as many realtime clients as it takes")
        return
    try:
        await asyncio.wait_for(hub.wait_subscribed(), SUBSCRIBE_WAIT_SECONDS)
    except (TimeoutError, RuntimeError):
        await _close(websocket, CloseCode.TRY_AGAIN_LATER, "realtime events are unavailable (Redis unreachable)")
        return
    limits = GatewayLimits(
        client_queue=api.settings.realtime_client_queue,
        heartbeat_seconds=api.settings.realtime_heartbeat_seconds,
        idle_timeout_seconds=api.settings.realtime_idle_timeout_seconds,
    )
    session = GatewaySession(hub, hub.bus, api.registry.work_queues, limits, event_filter)
    logger.info("realtime client %s connected (%s)", principal.actor, ", ".join(sorted(event_filter.rooms)))
    try:
        code, reason = await _serve(websocket, session, last_id)
    finally:
        session.close()
    if code is not None:
        await _close(websocket, code, reason)


def handshake_guard(api: ApiServices) -> HandshakeGuard:
    """The process's admission guard of WebSocket handshakes, made on first use."""
    found = api.extras.get("realtime.guard")
    if found is None:
        found = api.extras["realtime.guard"] = HandshakeGuard(
            api.settings.realtime_auth_failures, api.settings.realtime_pending_per_address
        )
    assert isinstance(found, HandshakeGuard)
    return found


async def _deny(websocket: WebSocket, refusal: Refusal) -> None:
    """Refuse the handshake with HTTP 429 (problem+json, Retry-After); uvicorn logs it as one line."""
    headers = {"Retry-After": str(refusal.retry_after)}
    answer = problem(429, "too many requests", refusal.reason, headers=headers)
    try:
        await websocket.send_denial_response(answer)
    except RuntimeError:  # a server without the denial extension: a plain refusal (HTTP 403)
        await websocket.close(CloseCode.TRY_AGAIN_LATER)


def _log_failure(address: str, code: int, reason: str, exc: Exception) -> None:
    """One line per failed connection; the traceback of an unexpected error only at debug level."""
    if code == CloseCode.INTERNAL_ERROR:
        logger.error("realtime connection from %s failed (%d): %s: %s", address, code, type(exc).__name__, exc)
        logger.debug("realtime connection failure", exc_info=exc)
    else:
        logger.info("realtime connection from %s refused (%d): %s", address, code, reason)


async def _authenticate(websocket: WebSocket, api: ApiServices, offered: list[str]) -> Principal:
    """Owner policy over a bearer token (header, `bearer.<token>` subprotocol or `token` query) or the cookie."""
    # The HTTP helpers read only the client address, headers and cookies, which a WebSocket has too.
    connection = cast(Request, websocket)
    await api.limits.spend(Budget.READ, "ip", client_ip(connection, api.settings))
    token = next(
        (p.removeprefix(TOKEN_SUBPROTOCOL_PREFIX) for p in offered if p.startswith(TOKEN_SUBPROTOCOL_PREFIX)), ""
    )
    token = token or websocket.query_params.get("token", "")
    if token:
        account = await api.tokens.authenticate(token)
        if account is None:
            raise AuthenticationError("token unknown, revoked, expired, or its account is disabled")
        principal = Principal(account, "token")
    else:
        principal = await authenticate(connection, api)
    if principal.via == "session" and not _same_origin(websocket, api):
        raise AuthenticationError("a session cookie is accepted only from this site's own pages (Origin mismatch)")
    if not api.policy.allows(principal.account.role, Permission.REALTIME):
        raise PermissionDeniedError(
            f"this needs the {Permission.REALTIME.value} permission, which your role "
            f"({principal.account.role.value}) does not hold"
        )
    await api.limits.spend(Budget.READ, "user", str(principal.account.id))
    return principal


def _same_origin(websocket: WebSocket, api: ApiServices) -> bool:
    """Browsers send Origin: a cookie-authenticated socket opened by another site's page is refused.

    The origin must be this API's own: the same host and port, and the scheme the client really uses (https behind
    a trusted proxy that says so), so a page served over plain http cannot ride the cookie of the https site.
    """
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    parts = urlsplit(origin.strip().lower())
    scheme = "https" if forwarded_https(cast(Request, websocket), api.settings) else "http"
    return parts.scheme == scheme and parts.netloc == (websocket.headers.get("host") or "").lower()


async def _serve(websocket: WebSocket, session: GatewaySession, last_id: str | None) -> tuple[CloseCode | None, str]:
    lock = asyncio.Lock()

    async def send(text: str) -> None:
        async with lock:
            await websocket.send_text(text)

    tasks: list[asyncio.Task[Any]] = []
    try:
        async for opening in session.open(last_id):
            await send(opening)
        pump = asyncio.create_task(_pump(session, send))
        listen = asyncio.create_task(_listen(websocket, session, send))
        stopped = asyncio.create_task(session.stream.stopped.wait())
        tasks = [pump, listen, stopped, asyncio.create_task(_heartbeat(send, session.limits.heartbeat_seconds))]
        done, _ = await asyncio.wait({pump, listen, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if listen in done:
            outcome: tuple[CloseCode | None, str] = listen.result()
            return outcome
        # Stopped by the hub (too slow, events lost, shutdown): even while a send to this client is blocked.
        return close_for_stop(session.stream.stop_reason or StopReason.SHUTDOWN) if stopped in done else pump.result()
    except (WebSocketDisconnect, OSError):
        return None, ""
    except Exception as exc:
        logger.error("realtime session failed: %s: %s", type(exc).__name__, exc)
        logger.debug("realtime session failure", exc_info=exc)
        return CloseCode.INTERNAL_ERROR, "internal error"
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _pump(session: GatewaySession, send: Send) -> tuple[CloseCode | None, str]:
    """Send live events until the hub stops feeding this client."""
    try:
        while True:
            item = await session.next_frame()
            if isinstance(item, StopReason):  # a StrEnum: tested first, or it would be sent as a text frame
                return close_for_stop(item)
            await send(item)
            # A send to a writable socket does not yield; yielding lets a lost connection be noticed before the
            # next frame is written to it.
            await asyncio.sleep(0)
    except (WebSocketDisconnect, OSError):
        return None, ""


async def _listen(websocket: WebSocket, session: GatewaySession, send: Send) -> tuple[CloseCode | None, str]:
    """Answer the client's messages; close it when idle past the timeout or when a message is malformed."""
    idle = session.limits.idle_timeout_seconds
    try:
        while True:
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancel that arrives as the
                # message does, and the session's close would then wait for the client's next message.
                async with asyncio.timeout(idle):
                    message = await websocket.receive()
            except TimeoutError:
                return CloseCode.IDLE, f'idle: no message for {idle:g} s; send {{"action": "ping"}}'
            if message["type"] == "websocket.disconnect":
                return None, ""
            text = message.get("text")
            try:
                replies = await session.handle(text if text is not None else message.get("bytes") or b"")
            except BadMessage as exc:
                return CloseCode.BAD_MESSAGE, reason_text(str(exc))
            for reply in replies:
                await send(reply)
    except (WebSocketDisconnect, OSError):
        return None, ""


async def _heartbeat(send: Send, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        await send(frame("heartbeat", time=int(time.time() * 1000)))


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    """Close with `code`, giving up after a short wait on a client that does not read (its socket is dropped)."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError, TimeoutError):
        await asyncio.wait_for(websocket.close(code, reason_text(reason)), CLOSE_TIMEOUT_SECONDS)
