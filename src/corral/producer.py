"""The producer: validates payloads against their contracts and enqueues jobs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_json

from corral.contracts.base import MAX_PAYLOAD_BYTES, EnqueueOptions, JobContract, JobType, Registry
from corral.engine import Engine, job_options, with_trace
from corral.errors import (
    BatchValidationError,
    CorralError,
    EnqueueError,
    FieldError,
    PayloadValidationError,
    UnknownJobError,
)
from corral.hooks import HookBus, JobEvent, JobEventKind
from corral.tracing import current_carrier

NO_OPTIONS = EnqueueOptions()
MAX_BULK = 10_000


@dataclass(frozen=True)
class BulkItem:
    """One job of a bulk enqueue."""

    name: str
    payload: JobContract | Mapping[str, Any]
    options: EnqueueOptions = NO_OPTIONS


def encode_payload(job_type: JobType, payload: Any) -> dict[str, Any]:
    """The payload validated and turned into the JSON document stored with the job; bounded in size."""
    model = job_type.validate(payload)
    data = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    size = len(to_json(data))
    if size > MAX_PAYLOAD_BYTES:
        raise PayloadValidationError(
            job_type.name, [FieldError("payload", f"{size} bytes, at most {MAX_PAYLOAD_BYTES}")]
        )
    return data


class Producer:
    """Enqueues jobs of registered types; nothing reaches Redis unless its payload is valid."""

    def __init__(self, engine: Engine, registry: Registry, hooks: HookBus | None = None) -> None:
        self.engine = engine
        self.registry = registry
        self.hooks = hooks or HookBus()
        self._default_options: dict[str, dict[str, Any]] = {}

    def _options(self, name: str, queue: str, options: EnqueueOptions | None) -> dict[str, Any]:
        """bullmq options for one job; the defaults of each job type are built once."""
        if options is None or options == NO_OPTIONS:
            cached = self._default_options.get(name)
            if cached is None:
                cached = self._default_options[name] = job_options(name, self.registry.queue(queue), NO_OPTIONS)
            return cached
        return job_options(name, self.registry.queue(queue), options)

    async def enqueue(self, name: str, payload: Any, options: EnqueueOptions | None = None) -> str:
        """Validate and enqueue one job; returns its id."""
        job_type = self.registry.job(name)
        data = encode_payload(job_type, payload)
        opts = with_trace(self._options(name, job_type.queue, options), current_carrier())
        job_id = await self.engine.add(job_type.queue, name, data, opts)
        if self.hooks.wants(JobEventKind.QUEUED):
            await self.hooks.emit(JobEvent(JobEventKind.QUEUED, job_type.queue, job_id, name))
        return job_id

    async def close(self) -> None:
        """Close the producer's connections."""
        await self.engine.close()

    async def enqueue_bulk(self, items: Sequence[BulkItem | tuple[str, Any]]) -> list[str]:
        """Validate every item first, then enqueue them all; one bad item and nothing is enqueued.

        Jobs of one queue are added in one atomic transaction; ids come back in the items' order.
        """
        if len(items) > MAX_BULK:
            raise BatchValidationError(
                {
                    MAX_BULK: PayloadValidationError(
                        "bulk", [FieldError("items", f"{len(items)} items, at most {MAX_BULK}")]
                    )
                }
            )
        prepared: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
        failures: dict[int, CorralError] = {}
        carrier = current_carrier()
        for index, raw in enumerate(items):
            item = raw if isinstance(raw, BulkItem) else BulkItem(raw[0], raw[1])
            try:
                job_type = self.registry.job(item.name)
                data = encode_payload(job_type, item.payload)
                opts = with_trace(self._options(item.name, job_type.queue, item.options), carrier)
            except (PayloadValidationError, UnknownJobError, EnqueueError) as exc:
                failures[index] = exc
                continue
            prepared.append((job_type.queue, item.name, data, opts))
        if failures:
            raise BatchValidationError(failures)
        by_queue: dict[str, list[int]] = defaultdict(list)
        for index, (queue, *_rest) in enumerate(prepared):
            by_queue[queue].append(index)
        ids: list[str] = [""] * len(prepared)
        for queue, indexes in by_queue.items():
            added = await self.engine.add_bulk(queue, [prepared[i][1:] for i in indexes])
            for index, job_id in zip(indexes, added, strict=True):
                ids[index] = job_id
        if self.hooks.wants(JobEventKind.QUEUED):
            for (queue, name, _data, _opts), job_id in zip(prepared, ids, strict=True):
                await self.hooks.emit(JobEvent(JobEventKind.QUEUED, queue, job_id, name))
        return ids
