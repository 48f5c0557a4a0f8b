"""The composition root: every service of one process (API, worker, a CLI command), built once from settings.

Adapters never build a service themselves; they receive a `Services` and call it. Operator events are wired
here, once: each one writes an audit row, drops the monitoring cache when it touched queues, jobs or the DLQ,
and publishes the realtime event an operator watching the console expects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from redis.asyncio import Redis

from corral.connection import redis_client
from corral.contracts.base import Registry
from corral.dlq.brake import BrakeLimits
from corral.dlq.ramp import SlowStart
from corral.dlq.service import DlqService
from corral.dlq.store import DeadLetterStore, Retention
from corral.engine import Engine
from corral.hooks import JobEventKind
from corral.keys import Keys
from corral.monitoring.service import Monitoring
from corral.operations import OperatorEvents, audit_subscriber, cache_subscriber, realtime_subscriber
from corral.producer import Producer
from corral.queues import QueueService
from corral.realtime.bus import EventBus
from corral.realtime.observer import JobEventPublisher
from corral.releases import Releases
from corral.schedules import ScheduleService
from corral.security.audit import AuditTrail
from corral.security.confirmations import Confirmations
from corral.security.permissions import Policy
from corral.security.sessions import SessionStore
from corral.security.tokens import TokenCache, TokenService
from corral.security.users import UserService
from corral.settings import Settings
from corral.sql import Database
from corral.worker_services import WorkerServices

logger = logging.getLogger(__name__)


@dataclass
class Services:
    """The long-lived resources and services of one process, and how to release them."""

    settings: Settings
    redis_url: str
    redis: Redis
    keys: Keys
    registry: Registry
    engine: Engine
    producer: Producer
    dlq_store: DeadLetterStore
    dlq: DlqService
    queues: QueueService
    monitoring: Monitoring
    bus: EventBus
    database: Database
    users: UserService
    tokens: TokenService
    sessions: SessionStore
    confirmations: Confirmations
    audit: AuditTrail
    policy: Policy
    events: OperatorEvents
    schedules: ScheduleService
    releases: Releases
    extras: dict[str, Any] = field(default_factory=dict)
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list, repr=False)

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Run `closer` when the process's services close (last registered, first run)."""
        self._closers.append(closer)

    def for_handlers(self) -> WorkerServices:
        """What a worker process's handlers and observers share: these connections, producer, SQL store, monitoring
        services, DLQ store and event bus."""
        shared = WorkerServices(self.settings, self.redis, self.producer, self.keys)
        shared.share_database(self.database)
        shared.provide(self.monitoring)
        shared.provide(self.dlq_store)
        shared.provide(self.bus)
        return shared

    async def close(self) -> None:
        """Release every resource: registered closers first, then the DLQ's tasks, engine, Redis and SQL store."""
        while self._closers:
            try:
                await self._closers.pop()()
            except Exception:
                logger.exception("a closer failed while the process's services closed")
        await self.dlq.close()
        await self.engine.close()
        await self.redis.aclose()
        await asyncio.to_thread(self.database.dispose)


S = TypeVar("S", bound=Services)


@dataclass
class StoreServices:
    """The services that need only the SQL store: accounts and the audit trail (a CLI command with no server)."""

    settings: Settings
    database: Database
    users: UserService
    audit: AuditTrail
    events: OperatorEvents

    async def close(self) -> None:
        """Release the SQL store."""
        await asyncio.to_thread(self.database.dispose)


def build_store_services(settings: Settings, source: str) -> StoreServices:
    """Accounts and the audit trail from settings; operator events are audited (nothing cached to drop)."""
    database = Database(settings.resolved_database_url)
    audit = AuditTrail(database)
    events = OperatorEvents(source)
    events.subscribe(audit_subscriber(audit.record))
    return StoreServices(settings, database, UserService(database), audit, events)


def build_services(
    settings: Settings,
    redis_url: str,
    registry: Registry,
    source: str,
    kind: type[S],
    publish_queued: bool = False,
    **more: Any,
) -> S:
    """Every service of a process from its settings, its server and its application's registry.

    `source` says where operator actions come from (`api`, `cli`, `worker`); it is stored with each audit row.
    With `publish_queued`, the producer announces each job it enqueues (`job.queued`) on the realtime bus.
    `kind` and `more` let an adapter's process add its own resources (the API's rate limits) to the same object.
    """
    keys = Keys.for_server(settings.key_prefix, redis_url, registry.hash_tags)
    redis = redis_client(redis_url)
    engine = Engine(redis_url, keys, connect_timeout=settings.redis_connect_timeout_seconds)
    database = Database(settings.resolved_database_url)
    producer = Producer(engine, registry)
    bus = EventBus(redis, keys, latest_per_room=settings.realtime_latest_per_room)
    dlq_store = DeadLetterStore(redis, keys, registry, retention=Retention.of(settings), release=settings.release)
    monitoring = Monitoring.build(
        settings, redis, keys, engine, registry, lambda: database, dlq_store=dlq_store, bus=bus
    )
    publisher = None
    if publish_queued:
        publisher = JobEventPublisher(bus, settings.realtime_progress_interval_ms / 1000)
        producer.hooks.subscribe(publisher.on_event, JobEventKind.QUEUED)
    audit = AuditTrail(database)
    events = OperatorEvents(source)
    events.subscribe(audit_subscriber(audit.record))
    events.subscribe(cache_subscriber(monitoring.cache.invalidate))
    events.subscribe(realtime_subscriber(bus.publish))
    services = kind(
        settings=settings,
        redis_url=redis_url,
        redis=redis,
        keys=keys,
        registry=registry,
        engine=engine,
        producer=producer,
        dlq_store=dlq_store,
        dlq=DlqService(
            redis,
            keys,
            engine,
            registry,
            bulk_rate=settings.dlq_bulk_rate,
            store=dlq_store,
            bus=bus,
            brake=BrakeLimits.of(settings),
            slow_start=SlowStart(settings.dlq_replay_slow_start_percent),
        ),
        queues=QueueService(engine, registry, producer),
        monitoring=monitoring,
        bus=bus,
        database=database,
        users=UserService(database),
        tokens=TokenService(database, TokenCache(redis, keys)),
        sessions=SessionStore(redis, keys, settings.session_ttl_seconds),
        confirmations=Confirmations(redis, keys),
        audit=audit,
        policy=Policy(settings.role_grants),
        events=events,
        schedules=ScheduleService(engine, registry, producer, redis, keys),
        releases=Releases(redis, keys),
        **more,
    )
    if publisher is not None:
        services.on_close(publisher.close)
    return services
