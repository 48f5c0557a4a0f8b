"""Runs `workflow.step` jobs: the built-in actions `delay`, `http` and `condition`."""

from __future__ import annotations

from typing import Any

from corral.errors import UnrecoverableJobError
from corral_reference.contracts import WorkflowStepJob
from corral_reference.workflows.actions import (
    BUILTIN_PARAMS,
    ConditionParams,
    DelayParams,
    HttpParams,
    run_condition,
    run_delay,
)
from corral_reference.workflows.http_action import HttpAction
from corral_reference.workflows.plan import check_builtin_params


class StepRunner:
    """Carries out one built-in step; its result becomes the step's result in the run."""

    def __init__(self, http: HttpAction) -> None:
        self.http = http

    async def run(self, step: WorkflowStepJob) -> dict[str, Any]:
        """Run the step's action with its params; invalid params or an unknown action fail it unrecoverably."""
        if step.action not in BUILTIN_PARAMS:
            known = ", ".join(sorted(BUILTIN_PARAMS))
            raise UnrecoverableJobError(f"step {step.stepId!r}: {step.action!r} is not a built-in action ({known})")
        try:
            params = check_builtin_params(step.action, dict(step.params))
        except ValueError as exc:
            raise UnrecoverableJobError(f"step {step.stepId!r} ({step.action}): {exc}") from None
        if isinstance(params, DelayParams):
            return await run_delay(params)
        if isinstance(params, HttpParams):
            return await self.http.run(params)
        if isinstance(params, ConditionParams):
            return run_condition(params)
        raise UnrecoverableJobError(f"step {step.stepId!r}: no runner for action {step.action!r}")
