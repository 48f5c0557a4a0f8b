"""The event bus on Redis: every event is appended to one retained stream and published on its pub/sub channels.

One Lua script does both, so the stream's order is the publication order: a client that reconnects with the last
id it saw reads what it missed from the stream, with no gap and no duplicate. The same script keeps the latest
events of each gateway room in a short list (60 s, bounded) that a client receives when it connects or subscribes.
"""

from __future__ import annotations

import json
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from corral.keys import Keys
from corral.realtime.events import Event, EventDraft, stream_id_key

RETENTION_MS = 60_000
MAX_RETAINED = 100_000
LATEST_PER_ROOM = 100

_PUBLISH = """
-- KEYS[1] stream, KEYS[2..] latest lists of the event's rooms
-- ARGV[1] envelope without id/time; ARGV[2] min id to keep; ARGV[3] max length; ARGV[4] latest per room;
-- ARGV[5] retention ms; ARGV[6..] channels
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[1])
redis.call('XTRIM', KEYS[1], 'MINID', '~', ARGV[2])
local ms = string.match(id, '^(%d+)')
local envelope = string.sub(ARGV[1], 1, -2) .. ',"id":"' .. id .. '","time":' .. ms .. '}'
for i = 2, #KEYS do
  redis.call('LPUSH', KEYS[i], envelope)
  redis.call('LTRIM', KEYS[i], 0, tonumber(ARGV[4]) - 1)
  redis.call('PEXPIRE', KEYS[i], ARGV[5])
end
for i = 6, #ARGV do
  redis.call('PUBLISH', ARGV[i], envelope)
end
return {id, envelope}
"""


def with_identity(body: str, entry_id: str) -> str:
    """The envelope of a stored body: its id and time appended exactly as the publishing script does."""
    return f'{body[:-1]},"id":"{entry_id}","time":{entry_id.partition("-")[0]}}}'


class EventBus:
    """Publishes events and reads the retained ones back (latest per room, or everything after an id)."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        retention_ms: int = RETENTION_MS,
        max_retained: int = MAX_RETAINED,
        latest_per_room: int = LATEST_PER_ROOM,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.retention_ms = retention_ms
        self.max_retained = max_retained
        self.latest_per_room = latest_per_room
        self._publish = redis.register_script(_PUBLISH)

    async def publish(self, draft: EventDraft) -> Event:
        """Publish one event on its channels and retain it for 60 s; returns it with its id and time."""
        topic = draft.topic_channel
        body = json.dumps(
            {
                "v": 1,
                "type": str(draft.type),
                "queue": draft.queue,
                "jobId": draft.job_id,
                "jobName": draft.job_name,
                "severity": draft.severity.value,
                "topic": topic.value,
                "data": draft.data,
            },
            separators=(",", ":"),
            default=str,
        )
        channels = [self.keys.channel(channel.value) for channel in draft.channels]
        latest = [self.keys.latest_events(room) for room in draft.rooms]
        _event_id, envelope = await self._publish(
            keys=[self.keys.event_stream, *latest],
            args=[body, self._min_id(), self.max_retained, self.latest_per_room, self.retention_ms, *channels],
        )
        return Event.from_json(envelope)

    def _min_id(self) -> str:
        return f"{int(time.time() * 1000) - self.retention_ms}-0"

    async def latest_envelopes(self, room: str) -> list[str]:
        """The latest events of one room (last 60 s, at most `latest_per_room`), oldest first, as envelopes."""
        found = await self.redis.lrange(self.keys.latest_events(room), 0, self.latest_per_room - 1)
        rows = [str(row) for row in found]
        cutoff = int(time.time() * 1000) - self.retention_ms
        fresh = [row for row in rows if _envelope_ms(row) >= cutoff]
        fresh.reverse()
        return fresh

    async def latest(self, room: str = "global") -> list[Event]:
        """The latest events of one room, oldest first."""
        return [Event.from_json(row) for row in await self.latest_envelopes(room)]

    async def envelopes_after(self, last_id: str, limit: int = 1_000) -> list[str] | None:
        """Up to `limit` envelopes published after `last_id`, oldest first; None when some were trimmed (a gap)."""
        try:
            info = await self.redis.xinfo_stream(self.keys.event_stream)
        except ResponseError:  # no stream yet: nothing was ever published, so nothing was missed
            return []
        if _trimmed_after(info, stream_id_key(last_id)):
            return None
        rows: list[tuple[str, dict[str, str]]] = await self.redis.xrange(
            self.keys.event_stream, f"({last_id}", "+", count=limit
        )  # type: ignore[assignment]
        return [with_identity(fields["e"], entry_id) for entry_id, fields in rows]

    async def after(self, last_id: str, limit: int = 10_000) -> list[Event] | None:
        """Events published after `last_id`, oldest first; None when some were already trimmed (a gap)."""
        rows = await self.envelopes_after(last_id, limit)
        return None if rows is None else [Event.from_json(row) for row in rows]

    async def last_id(self) -> str:
        """The id of the newest retained event, or `0-0`."""
        rows: list[tuple[str, dict[str, str]]] = await self.redis.xrevrange(self.keys.event_stream, "+", "-", count=1)  # type: ignore[assignment]
        return rows[0][0] if rows else "0-0"


def _trimmed_after(info: dict[str, Any], last: tuple[int, int]) -> bool:
    """Whether events after `last` may have been trimmed: `last` precedes the oldest retained event, and the
    stream has lost entries. (Trimming does not record what it removed; a resume point that is itself retained
    is always exact.)"""
    if int(info.get("entries-added") or 0) <= int(info.get("length") or 0):
        return False
    first = info.get("first-entry")
    oldest = stream_id_key(str(first[0])) if first else stream_id_key(str(info.get("last-generated-id") or "0-0"))
    return last < oldest


def _envelope_ms(envelope: str) -> int:
    # The publishing script appends `"time":<ms>}` last; reading it back avoids parsing the whole envelope.
    head, _, tail = envelope.rpartition('"time":')
    return int(tail.rstrip("}")) if head else 0
