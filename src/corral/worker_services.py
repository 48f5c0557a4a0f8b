"""What worker handlers share inside one process: settings, Redis, a producer, the SQL store, and closers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from redis.asyncio import Redis

from corral.keys import Keys
from corral.producer import Producer
from corral.settings import Settings

if TYPE_CHECKING:
    from corral.sql.database import Database

T = TypeVar("T")


@dataclass
class WorkerServices:
    """Shared, long-lived resources of one worker process; adapters register their own cleanup."""

    settings: Settings
    redis: Redis
    producer: Producer
    keys: Keys
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    _database: Database | None = field(default=None, init=False, repr=False)
    _provided: dict[type[Any], Any] = field(default_factory=dict, init=False, repr=False)

    @property
    def database(self) -> Database:
        """The process's one SQL store (built on first use from settings, disposed on close); not migrated here."""
        if self._database is None:
            from corral.sql.database import Database

            database = Database(self.settings.resolved_database_url)
            self._database = database
            self.on_close(lambda: asyncio.to_thread(database.dispose))
        return self._database

    def share_database(self, database: Database) -> None:
        """Use the process's SQL store (owned, and disposed, by whoever built it) instead of building one."""
        self._database = database

    def provide(self, service: object) -> None:
        """Offer observers one of the process's services (the composition root offers its monitoring), by its type."""
        self._provided[type(service)] = service

    def provided(self, kind: type[T]) -> T | None:
        """The process's service of type `kind` when the composition root offered one, else None."""
        found = self._provided.get(kind)
        return found if isinstance(found, kind) else None

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Run `closer` when the worker process shuts down."""
        self._closers.append(closer)

    async def close(self) -> None:
        """Release every adapter's resources, last registered first."""
        while self._closers:
            await self._closers.pop()()
