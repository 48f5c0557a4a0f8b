"""The services an API process shares, built once in the app's lifespan and reached from requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from redis.asyncio import Redis

from corral.availability import Availability
from corral.connection import probe_client, redis_client
from corral.contracts.base import Registry
from corral.dlq.store import DeadLetterStore
from corral.engine import Engine
from corral.keys import Keys
from corral.producer import Producer
from corral.realtime.observer import queued_event_hooks
from corral.security.audit import AuditTrail
from corral.security.confirmations import Confirmations
from corral.security.permissions import Policy
from corral.security.ratelimit import RateLimits
from corral.security.sessions import SessionStore
from corral.security.tokens import TokenCache, TokenService
from corral.security.users import UserService
from corral.settings import Settings
from corral.store import Database


@dataclass
class ApiServices:
    """Long-lived resources and services of one API process."""

    settings: Settings
    redis_url: str
    redis: Redis
    keys: Keys
    registry: Registry
    engine: Engine
    producer: Producer
    dlq: DeadLetterStore
    database: Database
    users: UserService
    tokens: TokenService
    sessions: SessionStore
    confirmations: Confirmations
    limits: RateLimits
    audit: AuditTrail
    policy: Policy
    availability: Availability
    extras: dict[str, Any] = field(default_factory=dict)

    async def close(self) -> None:
        """Release connections."""
        await self.availability.stop()
        await self.limits.close()
        await self.engine.close()
        await self.redis.aclose()
        self.database.dispose()


def build_services(settings: Settings, redis_url: str, registry: Registry) -> ApiServices:
    """Every service of an API process, from settings."""
    keys = Keys(settings.key_prefix)
    redis = redis_client(redis_url)
    engine = Engine(redis_url, keys, connect_timeout=settings.redis_connect_timeout_seconds)
    database = Database(settings.resolved_database_url)
    hooks, publisher = queued_event_hooks(redis, keys, settings)
    api = ApiServices(
        settings=settings,
        redis_url=redis_url,
        redis=redis,
        keys=keys,
        registry=registry,
        engine=engine,
        producer=Producer(engine, registry, hooks),
        dlq=DeadLetterStore(redis, keys, registry),
        database=database,
        users=UserService(database),
        tokens=TokenService(database, TokenCache(redis, keys)),
        sessions=SessionStore(redis, keys, settings.session_ttl_seconds),
        confirmations=Confirmations(redis, keys),
        limits=RateLimits(settings, redis_url, keys),
        audit=AuditTrail(database),
        policy=Policy(settings.role_grants),
        availability=Availability(
            probe_client(redis_url, settings.redis_probe_timeout_seconds),
            redis_url,
            timeout=settings.redis_probe_timeout_seconds,
        ),
    )
    api.extras["queued_publisher"] = publisher
    return api


def services(request: Request) -> ApiServices:
    """The API process's services (a FastAPI dependency)."""
    found: ApiServices = request.app.state.services
    return found
