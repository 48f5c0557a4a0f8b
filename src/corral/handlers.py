"""Handlers: the functions that do a job's work, registered by job name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from corral.engine import RunningJob

Handler = Callable[["JobContext", Any], Awaitable[Any]]


@dataclass
class JobContext:
    """What a handler gets besides its payload: the job's identity, progress and log, and shared services."""

    job: RunningJob
    services: Mapping[str, Any] = field(default_factory=dict)
    on_progress: Callable[[RunningJob, Any], Awaitable[None]] | None = None

    @property
    def job_id(self) -> str:
        """The job's id."""
        return self.job.id

    @property
    def attempt(self) -> int:
        """This attempt's number, from 1."""
        return self.job.attempt

    async def progress(self, value: int | float | Mapping[str, Any]) -> None:
        """Report progress (a percentage or a small document); stored with the job and emitted as a hook (by the
        running job, so progress reported on `ctx.job` directly is emitted too)."""
        await self.job.report_progress(value)
        if self.on_progress is not None:
            await self.on_progress(self.job, value if isinstance(value, int | float) else self.job.redact(dict(value)))

    async def log(self, line: str) -> None:
        """Append a line to the job's log."""
        await self.job.log(line)


class HandlerSet(Mapping[str, Handler]):
    """Handlers by job name; `@handlers.handles("email.send")` registers one."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def add(self, name: str, handler: Handler) -> None:
        """Register `handler` for job `name`, replacing any earlier one."""
        self._handlers[name] = handler

    def handles(self, name: str) -> Callable[[Handler], Handler]:
        """Decorator form of `add`."""

        def register(handler: Handler) -> Handler:
            self.add(name, handler)
            return handler

        return register

    def __getitem__(self, name: str) -> Handler:
        return self._handlers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._handlers)

    def __len__(self) -> int:
        return len(self._handlers)
