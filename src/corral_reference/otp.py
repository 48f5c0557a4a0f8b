"""One-time codes: six random digits, only their HMAC kept in Redis with a TTL, a bounded number of checks.

The code itself exists only in the message sent to the user: it is never stored, logged or returned in a job
result. A verification burns one attempt whatever its outcome; the right code is accepted once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from corral.keys import Keys
from corral.settings import Settings
from corral_reference.settings import ReferenceSettings

logger = logging.getLogger(__name__)

CODE_DIGITS = 6

# KEYS[1] the code's hash; ARGV[1] the candidate's HMAC, ARGV[2] the maximum attempts.
# Returns 1 accepted, 0 refused, -1 no code pending (never issued, expired, used or locked), -2 refused and locked.
_VERIFY_SCRIPT = """
local stored = redis.call('HGET', KEYS[1], 'digest')
if not stored then return -1 end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if stored == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
if attempts >= tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  return -2
end
return 0
"""


@dataclass(frozen=True)
class IssuedOtp:
    """A freshly issued code, to be delivered to the user and then forgotten; its repr hides the code."""

    code: str = field(repr=False)
    expires_at: datetime
    ttl_seconds: int


def otp_digest(settings: Settings, user_id: str, purpose: str, code: str) -> str:
    """The HMAC-SHA256 (keyed with the secret key) of a code, bound to its user and purpose."""
    message = "\x00".join(("corral-otp", purpose, user_id, code)).encode()
    return hmac.new(settings.secret_key.get_secret_value().encode(), message, hashlib.sha256).hexdigest()


async def issue_otp(
    redis: Redis, keys: Keys, settings: Settings, user_id: str, purpose: str, ttl_seconds: int
) -> IssuedOtp:
    """Make a new code for (user, purpose), replacing any pending one, and store only its HMAC for `ttl_seconds`."""
    if ttl_seconds < 1:
        raise ValueError("ttl_seconds: at least 1")
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    key = keys.otp(user_id, purpose)
    digest = otp_digest(settings, user_id, purpose, code)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(key)
        pipe.hset(key, mapping={"digest": digest, "attempts": 0})
        pipe.expire(key, ttl_seconds)
        await pipe.execute()
    logger.info("one-time code issued for user %s, purpose %s, valid %ds", user_id, purpose, ttl_seconds)
    return IssuedOtp(code=code, expires_at=datetime.now(UTC) + timedelta(seconds=ttl_seconds), ttl_seconds=ttl_seconds)


async def verify_otp(redis: Redis, keys: Keys, settings: Settings, user_id: str, purpose: str, code: str) -> bool:
    """True once for the right, unexpired code; every check burns an attempt, and the last wrong one voids the code."""
    digest = otp_digest(settings, user_id, purpose, code.strip())
    script = redis.register_script(_VERIFY_SCRIPT)
    outcome = int(
        await script(keys=[keys.otp(user_id, purpose)], args=[digest, ReferenceSettings.of(settings).otp_max_attempts])
    )
    if outcome == 1:
        logger.info("one-time code accepted for user %s, purpose %s", user_id, purpose)
    elif outcome == 0:
        logger.info("one-time code refused for user %s, purpose %s", user_id, purpose)
    elif outcome == -2:
        logger.warning("one-time code for user %s, purpose %s voided after too many attempts", user_id, purpose)
    else:
        logger.info("no one-time code pending for user %s, purpose %s", user_id, purpose)
    return outcome == 1


async def revoke_otp(redis: Redis, keys: Keys, user_id: str, purpose: str) -> None:
    """Forget any pending code for (user, purpose)."""
    await redis.delete(keys.otp(user_id, purpose))
