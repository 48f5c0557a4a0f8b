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


# Many events in one call: each is appended to the stream (its own id), then each room's latest list and each
# channel get one command for the whole batch. A channel message holds one envelope, or several joined by newlines
# (compact JSON never holds a raw newline), in stream order.
_PUBLISH_MANY = """
-- KEYS[1] stream, KEYS[2..] latest lists of the events' rooms
-- ARGV[1] min id to keep; ARGV[2] max length; ARGV[3] latest per room; ARGV[4] retention ms; ARGV[5] channel count;
-- ARGV[6 .. 5+channels] channel names; then per event: body, room count, room key indexes, channel indexes
local channels = tonumber(ARGV[5])
local by_room, by_channel, out = {}, {}, {}
local i = 6 + channels
while i <= #ARGV do
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[i])
  local ms = string.match(id, '^(%d+)')
  local envelope = string.sub(ARGV[i], 1, -2) .. ',"id":"' .. id .. '","time":' .. ms .. '}'
  out[#out + 1] = envelope
  local rooms = tonumber(ARGV[i + 1])
  for r = 1, rooms do
    local key = tonumber(ARGV[i + 1 + r])
    by_room[key] = by_room[key] or {}
    table.insert(by_room[key], envelope)
  end
  local c = tonumber(ARGV[i + 2 + rooms])
  for n = 1, c do
    local channel = tonumber(ARGV[i + 2 + rooms + n])
    by_channel[channel] = by_channel[channel] or {}
    table.insert(by_channel[channel], envelope)
  end
  i = i + 3 + rooms + c
end
redis.call('XTRIM', KEYS[1], 'MINID', '~', ARGV[1])
for key, list in pairs(by_room) do
  for start = 1, #list, 500 do
    redis.call('LPUSH', KEYS[key], unpack(list, start, math.min(start + 499, #list)))
  end
  redis.call('LTRIM', KEYS[key], 0, tonumber(ARGV[3]) - 1)
  redis.call('PEXPIRE', KEYS[key], ARGV[4])
end
for channel, list in pairs(by_channel) do
  redis.call('PUBLISH', ARGV[5 + channel], table.concat(list, '\\n'))
end
return out
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
        self._publish_many = redis.register_script(_PUBLISH_MANY)

    async def publish_many(self, drafts: list[EventDraft]) -> list[Event]:
        """Publish several events in one round trip, in order; the same effect as `publish` of each."""
        if not drafts:
            return []
        rooms: dict[str, int] = {}
        channels: dict[str, int] = {}
        per_event: list[Any] = []
        for draft in drafts:
            room_indexes = [rooms.setdefault(self.keys.latest_events(room), len(rooms) + 2) for room in draft.rooms]
            channel_indexes = [
                channels.setdefault(self.keys.channel(channel.value), len(channels) + 1) for channel in draft.channels
            ]
            per_event += [_body(draft), len(room_indexes), *room_indexes, len(channel_indexes), *channel_indexes]
        args: list[Any] = [self._min_id(), self.max_retained, self.latest_per_room, self.retention_ms, len(channels)]
        envelopes = await self._publish_many(keys=[self.keys.event_stream, *rooms], args=[*args, *channels, *per_event])
        return [Event.from_json(envelope) for envelope in envelopes]

    async def publish(self, draft: EventDraft) -> Event:
        """Publish one event on its channels and retain it for 60 s; returns it with its id and time."""
        body = _body(draft)
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


def _body(draft: EventDraft) -> str:
    """The envelope without its id and time (the script appends both)."""
    return json.dumps(
        {
            "v": 1,
            "type": str(draft.type),
            "queue": draft.queue,
            "jobId": draft.job_id,
            "jobName": draft.job_name,
            "severity": draft.severity.value,
            "topic": draft.topic_channel.value,
            "data": draft.data,
        },
        separators=(",", ":"),
        default=str,
    )


def channel_envelopes(message: str) -> list[str]:
    """The envelopes of one channel message: one, or several joined by newlines by `publish_many`."""
    return message.split("\n")


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
