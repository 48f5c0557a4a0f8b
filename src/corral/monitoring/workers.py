"""The worker registry: every worker process heartbeats its state; one silent too long is shown as lost."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Literal

from redis.asyncio import Redis

from corral.keys import Keys
from corral.lifetime import end_task, set_within
from corral.realtime.bus import EventBus
from corral.realtime.events import EventDraft, Severity

logger = logging.getLogger(__name__)

# A lost worker stays listed this many times its "lost" delay, so operators see it, then is forgotten.
FORGET_AFTER_LOST_FACTOR = 180


@dataclass(frozen=True)
class WorkerState:
    """What one worker process reports about itself at each heartbeat; times in epoch milliseconds."""

    id: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    active_jobs: int
    processed: int
    failed: int
    started_at: int
    last_heartbeat: int
    lost_announced: bool = False


@dataclass(frozen=True)
class WorkerView:
    """A worker as an operator sees it: its last report and whether it is live or lost."""

    state: WorkerState
    status: Literal["live", "lost"]
    seconds_since_heartbeat: float


def new_worker_id() -> str:
    """A unique id for this process: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class WorkerRegistry:
    """Reads and writes worker heartbeats in one Redis hash."""

    def __init__(self, redis: Redis, keys: Keys, lost_after_seconds: float) -> None:
        self.redis = redis
        self.keys = keys
        self.lost_after_seconds = lost_after_seconds

    async def beat(self, state: WorkerState) -> bool:
        """Record a heartbeat; True when the worker was unknown or reported lost before (it is now online)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(self.keys.workers, state.id)
            pipe.hset(self.keys.workers, state.id, json.dumps(asdict(state)))
            previous, _ = await pipe.execute()
        if previous is None:
            return True
        return bool(json.loads(previous).get("lost_announced"))

    async def remove(self, worker_id: str) -> bool:
        """Forget a worker that stopped cleanly; True if it was listed."""
        return bool(await self.redis.hdel(self.keys.workers, worker_id))

    async def views(self, now_ms: int | None = None) -> list[WorkerView]:
        """Every known worker, live ones first, each with its status."""
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        raw: dict[str, str] = await self.redis.hgetall(self.keys.workers)  # type: ignore[assignment]
        views = []
        for document in raw.values():
            state = WorkerState(**json.loads(document))
            silent = max(now - state.last_heartbeat, 0) / 1000
            views.append(WorkerView(state, "lost" if silent > self.lost_after_seconds else "live", round(silent, 3)))
        return sorted(views, key=lambda v: (v.status != "live", v.state.host, v.state.pid))

    async def announce_lost(self, bus: EventBus, now_ms: int | None = None) -> list[WorkerView]:
        """Publish worker.offline once for each newly lost worker, and forget long-lost ones; returns the new ones."""
        announced = []
        for view in await self.views(now_ms):
            if view.status != "lost":
                continue
            if view.seconds_since_heartbeat > self.lost_after_seconds * FORGET_AFTER_LOST_FACTOR:
                await self.redis.hdel(self.keys.workers, view.state.id)
                continue
            if view.state.lost_announced:
                continue
            marked = replace(view.state, lost_announced=True)
            # Only if the document is unchanged: a heartbeat that arrived meanwhile wins.
            swapped = await self.redis.eval(
                _SWAP, 1, self.keys.workers, view.state.id, json.dumps(asdict(view.state)), json.dumps(asdict(marked))
            )
            if swapped:
                await bus.publish(_worker_event("worker.offline", view.state, Severity.WARNING, reason="lost"))
                announced.append(view)
        return announced


_SWAP = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""


def _worker_event(kind: str, state: WorkerState, severity: Severity, **extra: object) -> EventDraft:
    data = {"worker": state.id, "host": state.host, "pid": state.pid, "queues": state.queues, **extra}
    return EventDraft(type=kind, severity=severity, data=data)


class Heartbeat:
    """Keeps one worker process's entry fresh every few seconds; announces it online and, on stop, offline."""

    def __init__(
        self,
        registry: WorkerRegistry,
        bus: EventBus,
        *,
        queues: list[str],
        concurrency: int,
        interval_seconds: float,
        measure: Callable[[], tuple[int, int, int]],
    ) -> None:
        self.registry = registry
        self.bus = bus
        self.interval_seconds = interval_seconds
        self.measure = measure
        now = int(time.time() * 1000)
        self.state = WorkerState(
            id=new_worker_id(),
            host=socket.gethostname(),
            pid=os.getpid(),
            queues=list(queues),
            concurrency=concurrency,
            active_jobs=0,
            processed=0,
            failed=0,
            started_at=now,
            last_heartbeat=now,
        )
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def beat(self) -> None:
        """Report this process's state now."""
        active, processed, failed = self.measure()
        self.state = replace(
            self.state,
            active_jobs=active,
            processed=processed,
            failed=failed,
            last_heartbeat=int(time.time() * 1000),
        )
        if await self.registry.beat(self.state):
            await self.bus.publish(_worker_event("worker.online", self.state, Severity.INFO))

    def start(self) -> None:
        """Beat now and every `interval_seconds` until stopped."""
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="corral-worker-heartbeat")

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.beat()
            except Exception:
                logger.exception("worker heartbeat failed")
            await set_within(self._stopping, self.interval_seconds)

    async def stop(self) -> None:
        """Stop beating, leave the registry and announce this worker offline."""
        task, self._task = self._task, None
        if task is None:
            return
        # Asked first, cancelled only if a beat takes more than 10 s; every wait bounded (see end_task).
        self._stopping.set()
        await end_task(task, wait_seconds=10)
        try:
            if await self.registry.remove(self.state.id):
                await self.bus.publish(_worker_event("worker.offline", self.state, Severity.INFO, reason="stopped"))
        except Exception:
            logger.exception("could not unregister worker %s", self.state.id)
