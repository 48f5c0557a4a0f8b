"""Workflows: runs of dependent steps, coordinated as BullMQ parent and child jobs, with their state in Redis."""

from corral_reference.workflows.coordinator import Coordinator
from corral_reference.workflows.plan import plan_run, waves
from corral_reference.workflows.state import (
    FINISHED_STEP_STATES,
    TERMINAL_RUN_STATES,
    RunState,
    RunStatus,
    RunStore,
    StepState,
    StepStatus,
    get_run,
)
from corral_reference.workflows.step_runner import StepRunner
from corral_reference.workflows.submit import submit_run

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
