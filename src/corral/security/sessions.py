"""Login sessions kept in Redis: a random id in an HttpOnly cookie, a CSRF token bound to the session."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from corral.keys import Keys

SESSION_COOKIE = "corral_session"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class Session:
    """A live login session."""

    user_id: int
    csrf_token: str
    created_at: int
    expires_at: int


def _digest(session_id: str) -> str:
    # Only a digest of the cookie value is a key: a copy of Redis holds no usable session ids.
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    """Creates, reads and ends sessions; each expires after `ttl_seconds`."""

    def __init__(self, redis: Redis, keys: Keys, ttl_seconds: int) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_seconds = ttl_seconds

    async def create(self, user_id: int) -> tuple[str, Session]:
        """Start a session; returns the cookie value (shown only here) and the session."""
        session_id = secrets.token_urlsafe(32)
        now = int(time.time())
        session = Session(user_id, secrets.token_urlsafe(32), now, now + self.ttl_seconds)
        document = json.dumps({"user_id": user_id, "csrf": session.csrf_token, "created": now})
        await self.redis.set(self.keys.session(_digest(session_id)), document, ex=self.ttl_seconds)
        await self.redis.sadd(self.keys.user_sessions(user_id), _digest(session_id))
        await self.redis.expire(self.keys.user_sessions(user_id), self.ttl_seconds)
        return session_id, session

    async def get(self, session_id: str) -> Session | None:
        """The session behind a cookie value, or None when unknown or expired."""
        if not session_id or len(session_id) > 128:
            return None
        key = self.keys.session(_digest(session_id))
        raw = await self.redis.get(key)
        if raw is None:
            return None
        ttl = await self.redis.ttl(key)
        document = json.loads(raw)
        return Session(
            int(document["user_id"]),
            str(document["csrf"]),
            int(document["created"]),
            int(time.time()) + max(int(ttl), 0),
        )

    async def end(self, session_id: str) -> None:
        """End one session (logout)."""
        digest = _digest(session_id)
        raw = await self.redis.getdel(self.keys.session(digest))
        if raw is not None:
            await self.redis.srem(self.keys.user_sessions(int(json.loads(raw)["user_id"])), digest)

    async def end_all(self, user_id: int) -> int:
        """End every session of an account (disabled account, password change); returns how many."""
        digests: set[str] = await self.redis.smembers(self.keys.user_sessions(user_id))  # type: ignore[assignment]
        if digests:
            await self.redis.delete(*(self.keys.session(d) for d in digests))
        await self.redis.delete(self.keys.user_sessions(user_id))
        return len(digests)


def csrf_matches(session: Session, presented: str | None) -> bool:
    """Whether a request's CSRF header carries its session's token (constant-time)."""
    return bool(presented) and hmac.compare_digest(session.csrf_token, presented or "")
