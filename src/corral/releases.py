"""Releases: the versions of the application that workers ran, so failures can be tied to the release they began in.

A worker records the release it runs (setting `release`, `CORRAL_RELEASE`) when it starts; a deploy can also mark one
(`corral releases mark NAME`, `POST /owner/releases`) for workers that are not told. Each release is kept once, at the
time it was first seen; the DLQ tags an entry with the release of the worker that captured it, or, when that worker
was not told, with the release marked last.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from corral.errors import FieldError, InvalidRequestError
from corral.keys import Keys

RELEASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
MAX_LISTED = 200


@dataclass(frozen=True)
class Release:
    """One release: its name, when it was first marked or seen (epoch ms), and by whom and from where."""

    name: str
    first_seen: int
    marked_by: str
    source: str


def check_release_name(name: str, field: str = "name") -> str:
    """The name if it is a release name (1-64 letters, digits, `.`, `_`, `+`, `-`, not starting with a sign); raises
    InvalidRequestError naming `field`."""
    if not RELEASE_NAME.match(name):
        reason = "1 to 64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit"
        raise InvalidRequestError(f"{field}: {reason}", [FieldError(field, reason)])
    return name


class Releases:
    """The known releases, oldest first; marking one is idempotent (the first mark's time and author stay)."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def mark(
        self, name: str, by: str, source: str, at_ms: int | None = None, current: bool = True
    ) -> tuple[Release, bool]:
        """Record release `name` as seen now (or at `at_ms`) and, with `current`, as the one deployed now (a rollback
        marks an older release current again); the release, and whether it was new."""
        check_release_name(name)
        at = at_ms if at_ms is not None else int(time.time() * 1000)
        document = json.dumps({"by": by, "source": source}, separators=(",", ":"))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self.keys.releases, {name: at}, nx=True)
            if current:
                pipe.set(self.keys.current_release, name)
            pipe.hsetnx(self.keys.release_marks, name, document)
            pipe.zscore(self.keys.releases, name)
            pipe.hget(self.keys.release_marks, name)
            replies = await pipe.execute()
        added, first_seen, stored = replies[0], replies[-2], replies[-1]
        mark = json.loads(stored or document)
        return Release(name, int(first_seen), str(mark.get("by", "")), str(mark.get("source", ""))), bool(added)

    async def all(self) -> list[Release]:
        """Every release, the first seen first (the newest `MAX_LISTED`)."""
        found: list[tuple[str, float]] = await self.redis.zrange(self.keys.releases, -MAX_LISTED, -1, withscores=True)  # type: ignore[assignment]
        if not found:
            return []
        marks: list[str | None] = await self.redis.hmget(self.keys.release_marks, [name for name, _ in found])  # type: ignore[assignment]
        releases = []
        for (name, score), stored in zip(found, marks, strict=True):
            mark = json.loads(stored) if stored else {}
            releases.append(Release(str(name), int(score), str(mark.get("by", "")), str(mark.get("source", ""))))
        return releases

    async def current(self) -> str | None:
        """The release marked current last, or None when none was marked."""
        found = await self.redis.get(self.keys.current_release)
        return str(found) if found else None
