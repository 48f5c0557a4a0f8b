"""Personal API tokens: random, shown once, stored as a SHA-256 digest, revocable, sent as `Bearer`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy import select

from corral.errors import FieldError, InvalidRequestError, NotFoundError
from corral.keys import Keys
from corral.security.permissions import Role
from corral.security.users import Account
from corral.sql import Database, utcnow
from corral.sql.security_models import ApiToken, User

TOKEN_PREFIX = "crl_"
MAX_TOKEN_LENGTH = 200
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class TokenInfo:
    """A token's public description (never the token itself)."""

    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, token: ApiToken) -> TokenInfo:
        return cls(
            token.id, token.name, token.prefix, token.created_at, token.expires_at, token.last_used_at, token.revoked_at
        )


def digest(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenCache:
    """Accounts of recently checked tokens in Redis, so a request does not query the SQL store.

    An entry lives at most `ttl_seconds` (and never past the token's expiry); revoking a token or disabling its
    account deletes the entries at once, so neither takes effect late.
    """

    def __init__(self, redis: Redis, keys: Keys, ttl_seconds: int = 60) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_seconds = ttl_seconds

    async def get(self, token_digest: str) -> Account | None:
        """The cached account of a token, or None."""
        raw = await self.redis.get(self.keys.token_cache(token_digest))
        if raw is None:
            return None
        doc = json.loads(raw)
        return Account(
            int(doc["id"]),
            doc["email"],
            Role(doc["role"]),
            _time(doc["created_at"]),
            None,
            _time(doc["last_login_at"]) if doc["last_login_at"] else None,
        )

    async def put(self, token_digest: str, account: Account, expires_at: datetime | None) -> None:
        """Remember a live token's account."""
        ttl = self.ttl_seconds
        if expires_at is not None:
            ttl = min(ttl, int((expires_at - utcnow()).total_seconds()))
        if ttl <= 0:
            return
        doc = {
            "id": account.id,
            "email": account.email,
            "role": account.role.value,
            "created_at": account.created_at.isoformat(),
            "last_login_at": account.last_login_at.isoformat() if account.last_login_at else None,
        }
        await self.redis.set(self.keys.token_cache(token_digest), json.dumps(doc), ex=ttl)

    async def forget(self, *token_digests: str) -> None:
        """Drop cached tokens."""
        if token_digests:
            await self.redis.delete(*(self.keys.token_cache(d) for d in token_digests))


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


class TokenService:
    """Creates, lists, revokes and checks personal API tokens."""

    def __init__(self, database: Database, cache: TokenCache | None = None) -> None:
        self.database = database
        self.cache = cache

    def _create(self, user_id: int, name: str, ttl_days: int | None) -> tuple[str, TokenInfo]:
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise InvalidRequestError("name: between 1 and 100 characters", [FieldError("name", "1 to 100 characters")])
        if ttl_days is not None and not 1 <= ttl_days <= 3650:
            raise InvalidRequestError("ttl_days: between 1 and 3650", [FieldError("ttl_days", "between 1 and 3650")])
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires = utcnow() + timedelta(days=ttl_days) if ttl_days else None
        with self.database.transaction() as session:
            record = ApiToken(
                user_id=user_id, name=name, token_hash=digest(token), prefix=token[:10], expires_at=expires
            )
            session.add(record)
            session.flush()
            return token, TokenInfo.of(record)

    async def create(self, user_id: int, name: str, ttl_days: int | None = None) -> tuple[str, TokenInfo]:
        """A new token for the account; the token string is returned here and never again."""
        return await asyncio.to_thread(self._create, user_id, name, ttl_days)

    def _list(self, user_id: int) -> list[TokenInfo]:
        with self.database.transaction() as session:
            rows = session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id))
            return [TokenInfo.of(row) for row in rows]

    async def list(self, user_id: int) -> list[TokenInfo]:
        """The account's tokens, revoked ones included."""
        return await asyncio.to_thread(self._list, user_id)

    def _revoke(self, user_id: int, token_id: int) -> tuple[TokenInfo, str]:
        with self.database.transaction() as session:
            record = session.get(ApiToken, token_id)
            if record is None or record.user_id != user_id:
                raise NotFoundError(f"no token {token_id} for this account")
            record.revoked_at = record.revoked_at or utcnow()
            return TokenInfo.of(record), record.token_hash

    async def revoke(self, user_id: int, token_id: int) -> TokenInfo:
        """Revoke one of the account's tokens; it stops working at once."""
        info, token_digest = await asyncio.to_thread(self._revoke, user_id, token_id)
        if self.cache is not None:
            await self.cache.forget(token_digest)
        return info

    def _digests_of(self, user_id: int) -> tuple[str, ...]:
        with self.database.transaction() as session:
            return tuple(session.scalars(select(ApiToken.token_hash).where(ApiToken.user_id == user_id)))

    async def forget_account(self, user_id: int) -> None:
        """Drop every cached token of an account (after disabling it)."""
        if self.cache is not None:
            await self.cache.forget(*await asyncio.to_thread(self._digests_of, user_id))

    def _authenticate(self, token: str) -> tuple[Account, datetime | None] | None:
        now = utcnow()
        with self.database.transaction() as session:
            row = session.execute(
                select(ApiToken, User)
                .join(User, User.id == ApiToken.user_id)
                .where(ApiToken.token_hash == digest(token))
            ).first()
            if row is None:
                return None
            record, user = row
            if record.revoked_at or user.disabled_at or (record.expires_at and record.expires_at <= now):
                return None
            if record.last_used_at is None or now - record.last_used_at > LAST_USED_RESOLUTION:
                record.last_used_at = now
            return Account.of(user), record.expires_at

    async def authenticate(self, token: str) -> Account | None:
        """The account owning a live token, or None for unknown, revoked, expired or disabled."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
            return None  # not even shaped like a token: no round trip to Redis or the SQL store
        token_digest = digest(token)
        if self.cache is not None:
            cached = await self.cache.get(token_digest)
            if cached is not None:
                return cached
        found = await asyncio.to_thread(self._authenticate, token)
        if found is None:
            return None
        account, expires_at = found
        if self.cache is not None:
            await self.cache.put(token_digest, account, expires_at)
        return account
