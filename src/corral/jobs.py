"""Job states, in Corral's own names: what a job can be, and the sets the platform reasons with."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """Where a job is in its life; the values are the engine's (and BullMQ's) state names."""

    WAITING = "waiting"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    DELAYED = "delayed"
    PRIORITIZED = "prioritized"
    PAUSED = "paused"
    WAITING_CHILDREN = "waiting-children"


# Every state, in the order counts and tables show them.
JOB_STATES: tuple[JobState, ...] = tuple(JobState)
# A job in one of these states will not run again unless an operator retries it.
TERMINAL_STATES = frozenset({JobState.COMPLETED, JobState.FAILED})
# Jobs that have not started: what a purge removes.
PENDING_STATES = frozenset(
    {JobState.WAITING, JobState.DELAYED, JobState.PRIORITIZED, JobState.PAUSED, JobState.WAITING_CHILDREN}
)
