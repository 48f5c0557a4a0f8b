"""The event bus on Redis: every event is appended to one retained stream and published on its pub/sub channels.

One Lua script does both, so the stream's order is the publication order: a client that reconnects with the last
id it saw reads what it missed from the stream, with no gap and no duplicate.
"""

from __future__ import annotations

import json
import time

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from corral.keys import Keys
from corral.realtime.events import Event, EventDraft

RETENTION_MS = 60_000
MAX_RETAINED = 50_000

_PUBLISH = """
-- KEYS[1] stream; ARGV[1] envelope without id/time; ARGV[2] min id to keep; ARGV[3] max length; ARGV[4..] channels
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[1])
redis.call('XTRIM', KEYS[1], 'MINID', '~', ARGV[2])
local ms = string.match(id, '^(%d+)')
local envelope = string.sub(ARGV[1], 1, -2) .. ',"id":"' .. id .. '","time":' .. ms .. '}'
for i = 4, #ARGV do
  redis.call('PUBLISH', ARGV[i], envelope)
end
return {id, envelope}
"""


class EventBus:
    """Publishes events and reads the retained ones back (latest, or after an id)."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._publish = redis.register_script(_PUBLISH)

    async def publish(self, draft: EventDraft) -> Event:
        """Publish one event on its channels and retain it for 60 s; returns it with its id and time."""
        body = json.dumps(
            {
                "v": 1,
                "type": draft.type,
                "queue": draft.queue,
                "jobId": draft.job_id,
                "jobName": draft.job_name,
                "severity": draft.severity.value,
                "data": draft.data,
            },
            separators=(",", ":"),
            default=str,
        )
        min_id = f"{int(time.time() * 1000) - RETENTION_MS}-0"
        channels = [self.keys.channel(channel.value) for channel in draft.channels]
        _event_id, envelope = await self._publish(
            keys=[self.keys.event_stream], args=[body, min_id, MAX_RETAINED, *channels]
        )
        return Event.from_json(envelope)

    async def latest(self, limit: int = 500) -> list[Event]:
        """Events of the last 60 s, oldest first, at most `limit` (the newest ones)."""
        min_id = f"{int(time.time() * 1000) - RETENTION_MS}-0"
        rows: list[tuple[str, dict[str, str]]] = await self.redis.xrevrange(
            self.keys.event_stream, "+", min_id, count=limit
        )  # type: ignore[assignment]
        return [_from_entry(entry_id, fields) for entry_id, fields in reversed(rows)]

    async def after(self, last_id: str, limit: int = 10_000) -> list[Event] | None:
        """Events published after `last_id`, oldest first; None when some were already trimmed (a gap)."""
        try:
            info = await self.redis.xinfo_stream(self.keys.event_stream)
        except ResponseError:  # no stream yet: nothing was ever published, so nothing was missed
            return []
        deleted = str(info.get("max-deleted-entry-id") or "0-0")
        if _as_tuple(last_id) < _as_tuple(deleted):
            return None
        rows: list[tuple[str, dict[str, str]]] = await self.redis.xrange(
            self.keys.event_stream, f"({last_id}", "+", count=limit
        )  # type: ignore[assignment]
        return [_from_entry(entry_id, fields) for entry_id, fields in rows]


def _from_entry(entry_id: str, fields: dict[str, str]) -> Event:
    body = json.loads(fields["e"])
    body["id"], body["time"] = entry_id, int(entry_id.partition("-")[0])
    return Event.from_json(json.dumps(body))


def _as_tuple(stream_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = stream_id.partition("-")
    return int(milliseconds), int(sequence or 0)
