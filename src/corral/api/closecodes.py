"""Maps Corral's errors and the gateway's stop reasons to WebSocket close codes (the one place that does)."""

from __future__ import annotations

import enum

from redis.exceptions import RedisError

from corral.errors import AuthenticationError, CorralError, InvalidRequestError, PermissionDeniedError, RateLimitedError
from corral.realtime.hub import StopReason

MAX_REASON_BYTES = 123


class CloseCode(enum.IntEnum):
    """Close codes of `/owner/realtime`; 4xxx mirror the HTTP statuses of the same meaning."""

    NORMAL = 1000
    GOING_AWAY = 1001
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013
    BAD_MESSAGE = 4400
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    IDLE = 4408
    EVENTS_LOST = 4410
    TOO_SLOW = 4429


_BY_ERROR: tuple[tuple[type[CorralError], CloseCode], ...] = (
    (AuthenticationError, CloseCode.UNAUTHENTICATED),
    (PermissionDeniedError, CloseCode.FORBIDDEN),
    (InvalidRequestError, CloseCode.BAD_MESSAGE),
    (RateLimitedError, CloseCode.TRY_AGAIN_LATER),
)

_BY_STOP = {
    StopReason.TOO_SLOW: (CloseCode.TOO_SLOW, "too slow: the client's event queue overflowed; reconnect with last_id"),
    StopReason.EVENTS_LOST: (CloseCode.EVENTS_LOST, "events were lost by this server; reconnect with last_id"),
    StopReason.SHUTDOWN: (CloseCode.GOING_AWAY, "server shutting down"),
}


def reason_text(text: str) -> str:
    """A close reason within the protocol's 123 bytes."""
    encoded = text.encode()
    if len(encoded) <= MAX_REASON_BYTES:
        return text
    return encoded[: MAX_REASON_BYTES - 3].decode(errors="ignore") + "..."


def close_for_error(exc: CorralError) -> tuple[CloseCode, str]:
    """The close code and reason for one of Corral's errors."""
    for error_type, code in _BY_ERROR:
        if isinstance(exc, error_type):
            return code, reason_text(str(exc))
    return CloseCode.INTERNAL_ERROR, reason_text(str(exc))


def close_for_exception(exc: BaseException) -> tuple[CloseCode, str]:
    """The close code and reason for any failure: Corral's errors by type, Redis or the network being unavailable
    as "try again later", anything else as an internal error (its details stay in the server's log)."""
    if isinstance(exc, CorralError):
        return close_for_error(exc)
    if isinstance(exc, RedisError | OSError | TimeoutError):
        return CloseCode.TRY_AGAIN_LATER, "a service behind this server is unavailable; try again later"
    return CloseCode.INTERNAL_ERROR, "internal error"


def close_for_stop(reason: StopReason) -> tuple[CloseCode, str]:
    """The close code and reason when the hub stops feeding a client."""
    return _BY_STOP[reason]
