"""Workflows: runs of dependent steps, coordinated as BullMQ parent and child jobs, with their state in Redis."""

from corral.workflows.coordinator import Coordinator
from corral.workflows.plan import plan_run, waves
from corral.workflows.state import (
    FINISHED_STEP_STATES,
    TERMINAL_RUN_STATES,
    RunState,
    RunStatus,
    RunStore,
    StepState,
    StepStatus,
    get_run,
)
from corral.workflows.step_runner import StepRunner
from corral.workflows.submit import submit_run

__all__ = [
    "FINISHED_STEP_STATES",
    "TERMINAL_RUN_STATES",
    "Coordinator",
    "RunState",
    "RunStatus",
    "RunStore",
    "StepRunner",
    "StepState",
    "StepStatus",
    "get_run",
    "plan_run",
    "submit_run",
    "waves",
]
