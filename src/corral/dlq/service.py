"""The DLQ operations the API and the CLI share: read, search, replay, delete, bulk tasks, analytics, export."""

from __future__ import annotations

import logging
from typing import Any

from redis.asyncio import Redis

from corral.contracts.base import Registry
from corral.dlq.analytics import DlqAnalytics
from corral.dlq.brake import BrakeLimits
from corral.dlq.bulk import BulkTasks, Preview, TaskState
from corral.dlq.entry import DeadLetterEntry
from corral.dlq.query import DlqFilter, DlqQuery
from corral.dlq.ramp import SlowStart
from corral.dlq.replay import Replayer, ReplayResult
from corral.dlq.store import DeadLetterStore
from corral.engine import Engine
from corral.errors import CorralError, NotFoundError
from corral.keys import Keys
from corral.realtime.bus import EventBus
from corral.realtime.events import EventDraft, Severity

logger = logging.getLogger(__name__)

MAX_IDS = 1_000


class DlqService:
    """Everything an operator does with the dead-letter queue; publishes dlq.* and bulk.progress events."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        engine: Engine,
        registry: Registry,
        bulk_rate: int = 500,
        *,
        store: DeadLetterStore | None = None,
        bus: EventBus | None = None,
        brake: BrakeLimits | None = None,
        slow_start: SlowStart | None = None,
    ) -> None:
        # The composition root passes the process's one store and event bus; alone, the service makes its own.
        self.store = store or DeadLetterStore(redis, keys, registry)
        self.query = DlqQuery(redis, keys, self.store.scripts, self.store.layout, self.store.fields, self.store)
        self.analytics = DlqAnalytics(redis, keys)
        self.replayer = Replayer(self.store, engine, registry)
        self.bus = bus or EventBus(redis, keys)
        self.tasks = BulkTasks(
            self.store, self.query, self.replayer, bulk_rate, self.publish, brake=brake, slow_start=slow_start
        )

    async def publish(self, event_type: str, data: dict[str, Any], queue: str | None = None) -> None:
        """Publish a DLQ event; a failed publication is logged and never fails the operation."""
        try:
            await self.bus.publish(EventDraft(type=event_type, queue=queue, severity=Severity.INFO, data=data))
        except Exception:
            logger.exception("could not publish %s", event_type)

    async def entry(self, entry_id: str) -> DeadLetterEntry:
        """One entry with everything stored and its replay history; raises NotFoundError."""
        found = await self.store.get(entry_id)
        if found is None:
            raise NotFoundError(f"no DLQ entry {entry_id!r}")
        return found

    async def replay(self, entry_id: str, actor: str, payload: dict[str, Any] | None = None) -> ReplayResult:
        """Replay one entry (see Replayer.replay) and announce it."""
        result = await self.replayer.replay(entry_id, actor, payload)
        await self.publish(
            "dlq.replayed",
            {"entryId": entry_id, "jobId": result.job_id, "replay": result.number, "edited": bool(result.diff)},
            result.queue,
        )
        return result

    async def delete(self, entry_ids: list[str]) -> list[str]:
        """Delete entries by id; returns the ids that existed, and announces them."""
        gone = await self.store.delete_entries(entry_ids[:MAX_IDS])
        if gone:
            await self.publish(
                "dlq.deleted", {"count": len(gone), "entries": [entry_id for entry_id, *_ in gone][:100]}
            )
        return [entry_id for entry_id, *_ in gone]

    async def preview_ids(self, entry_ids: list[str]) -> Preview:
        """What deleting or replaying these ids would touch: the entries that exist, a sample, their queues."""
        return await self.tasks.preview_ids(entry_ids[:MAX_IDS])

    async def replay_many(self, entry_ids: list[str], actor: str) -> dict[str, str]:
        """Replay each entry by id; entry id -> the new job id, or `error: <reason>`."""
        outcome: dict[str, str] = {}
        for entry_id in entry_ids[:MAX_IDS]:
            try:
                outcome[entry_id] = (await self.replay(entry_id, actor)).job_id
            except CorralError as exc:
                outcome[entry_id] = f"error: {exc}"
        return outcome

    async def clear(self, flt: DlqFilter, actor: str) -> TaskState:
        """Start a task deleting every entry of `flt` (all entries for an empty filter); dlq.cleared when done."""
        return await self.tasks.start("delete", flt, actor, announce="dlq.cleared")

    async def close(self) -> None:
        """Stop the bulk tasks running in this process."""
        await self.tasks.close()
