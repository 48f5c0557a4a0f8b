"""Gateway rooms (global, `queue:<name>`, workflows, analytics, plugins) and a client's filter over them."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from corral.errors import FieldError, InvalidRequestError
from corral.realtime.events import TOPIC_ROOMS, Severity

GLOBAL = "global"
QUEUE_ROOM_PREFIX = "queue:"
FIXED_ROOMS = (GLOBAL, *sorted(TOPIC_ROOMS))
MAX_ROOMS = 32
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def parse_room(text: object, queues: Collection[str], field: str = "rooms") -> str:
    """A valid room name; raises InvalidRequestError naming the field and listing what is allowed."""
    if not isinstance(text, str):
        raise _invalid(field, "a room is a string")
    if text in FIXED_ROOMS:
        return text
    if text.startswith(QUEUE_ROOM_PREFIX):
        queue = text.removeprefix(QUEUE_ROOM_PREFIX)
        if not _QUEUE_NAME.match(queue) or queue not in queues:
            raise _invalid(field, f"unknown queue {queue!r} in room {text!r}; queues: {', '.join(sorted(queues))}")
        return text
    raise _invalid(field, f"unknown room {text!r}; rooms: {', '.join(FIXED_ROOMS)} or queue:<name>")


def parse_rooms(values: object, queues: Collection[str], field: str = "rooms") -> frozenset[str]:
    """A non-empty list of valid rooms (at most 32)."""
    if not isinstance(values, list) or not values:
        raise _invalid(field, 'a non-empty list of rooms, like ["global"] or ["queue:email"]')
    if len(values) > MAX_ROOMS:
        raise _invalid(field, f"at most {MAX_ROOMS} rooms")
    return frozenset(parse_room(value, queues, f"{field}.{index}") for index, value in enumerate(values))


def parse_severity(value: object, field: str = "severity") -> Severity:
    """A minimum severity by name."""
    try:
        return Severity(str(value))
    except ValueError:
        raise _invalid(field, f"unknown severity {value!r}; one of {', '.join(s.value for s in Severity)}") from None


def _invalid(field: str, reason: str) -> InvalidRequestError:
    return InvalidRequestError(f"{field}: {reason}", [FieldError(field, reason)])


@dataclass(frozen=True)
class ClientFilter:
    """Which events a client receives: those in any of its rooms, at or above its minimum severity."""

    rooms: frozenset[str] = frozenset({GLOBAL})
    min_severity: Severity = Severity.DEBUG

    def matches(self, rooms: Iterable[str], severity_rank: int) -> bool:
        """Whether an event in `rooms` with this severity rank passes the filter."""
        return severity_rank >= self.min_severity.rank and not self.rooms.isdisjoint(rooms)

    def with_rooms(self, rooms: frozenset[str]) -> ClientFilter:
        """The same filter over other rooms."""
        return ClientFilter(rooms, self.min_severity)

    def with_severity(self, severity: Severity) -> ClientFilter:
        """The same rooms with another minimum severity."""
        return ClientFilter(self.rooms, severity)
