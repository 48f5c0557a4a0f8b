"""Double confirmation of destructive actions: a preview hands out a token bound to actor, action and parameters."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from corral.errors import ConfirmationRequiredError
from corral.keys import Keys

CONFIRMATION_TTL_SECONDS = 120


@dataclass(frozen=True)
class ConfirmationTicket:
    """What the first call of a destructive action answers: the token, the phrase to type and its lifetime."""

    token: str
    phrase: str
    expires_in: int


def _fingerprint(actor: str, action: str, params: dict[str, Any]) -> str:
    canonical = json.dumps({"actor": actor, "action": action, "params": params}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Confirmations:
    """Issues and redeems single-use confirmation tokens, valid for 120 s."""

    def __init__(self, redis: Redis, keys: Keys, ttl_seconds: int = CONFIRMATION_TTL_SECONDS) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_seconds = ttl_seconds

    async def issue(self, actor: str, action: str, params: dict[str, Any], phrase: str) -> ConfirmationTicket:
        """A token that lets `actor` run `action` with exactly `params` once, after typing `phrase`."""
        token = secrets.token_urlsafe(24)
        document = json.dumps({"fingerprint": _fingerprint(actor, action, params), "phrase": phrase})
        await self.redis.set(
            self.keys.confirmation(hashlib.sha256(token.encode()).hexdigest()), document, ex=self.ttl_seconds
        )
        return ConfirmationTicket(token, phrase, self.ttl_seconds)

    async def redeem(
        self, token: str | None, phrase: str | None, actor: str, action: str, params: dict[str, Any]
    ) -> None:
        """Consume the token; raises ConfirmationRequiredError saying why when it does not fit."""
        if not token:
            raise ConfirmationRequiredError("confirmation token missing: call without one first to get the impact")
        key = self.keys.confirmation(hashlib.sha256(token.encode()).hexdigest())
        raw = await self.redis.get(key)
        if raw is None:
            raise ConfirmationRequiredError("confirmation token unknown, already used or expired (tokens last 120 s)")
        document = json.loads(raw)
        if document["fingerprint"] != _fingerprint(actor, action, params):
            raise ConfirmationRequiredError("confirmation token was issued for another user, action or parameters")
        if phrase != document["phrase"]:
            raise ConfirmationRequiredError(f"typed phrase does not match: type {document['phrase']!r} exactly")
        if not await self.redis.delete(key):
            raise ConfirmationRequiredError("confirmation token already used")
