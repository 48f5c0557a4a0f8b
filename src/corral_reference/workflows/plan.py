"""A run's steps checked and ordered: topological waves, and each step's action resolved to a job on a queue.

The WorkflowRun contract already refuses cycles and unknown dependencies; this module checks what the
contract cannot: that each action exists, that literal params satisfy the action's contract, and that
templates refer only to steps the step depends on (directly or through other steps).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from corral.contracts.base import Registry, field_errors
from corral.errors import FieldError, PayloadValidationError, UnknownJobError
from corral_reference.contracts import WorkflowRun, WorkflowStep
from corral_reference.workflows.actions import BUILTIN_PARAMS
from corral_reference.workflows.templates import TemplateError, references

RUN_JOB = "workflow.run"
STEP_JOB = "workflow.step"
WORKFLOW_JOBS = frozenset({RUN_JOB, STEP_JOB})


@dataclass(frozen=True)
class PlannedStep:
    """One step with the job that carries it out: a catalogue job on its queue, or a `workflow.step` built-in."""

    id: str
    index: int
    action: str
    params: dict[str, Any]
    depends_on: tuple[str, ...]
    job_name: str
    queue: str
    templated: bool

    @property
    def builtin(self) -> bool:
        """Whether the step runs a built-in action as a `workflow.step` job."""
        return self.job_name == STEP_JOB


def waves(steps: Sequence[WorkflowStep]) -> list[list[str]]:
    """Step ids in topological waves: each wave depends only on earlier ones; order within a wave as given."""
    remaining = {step.id: set(step.dependsOn) for step in steps}
    done: set[str] = set()
    result: list[list[str]] = []
    while remaining:
        wave = [step_id for step_id, needs in remaining.items() if needs <= done]
        if not wave:
            raise ValueError("dependency cycle among: " + ", ".join(sorted(remaining)))
        result.append(wave)
        done.update(wave)
        for step_id in wave:
            del remaining[step_id]
    return result


def ancestors(steps: Iterable[WorkflowStep]) -> dict[str, set[str]]:
    """Every step's direct and indirect dependencies."""
    direct = {step.id: set(step.dependsOn) for step in steps}
    found: dict[str, set[str]] = {}

    def visit(step_id: str) -> set[str]:
        if step_id not in found:
            found[step_id] = set()
            for dependency in direct[step_id]:
                found[step_id] |= {dependency, *visit(dependency)}
        return found[step_id]

    for step_id in direct:
        visit(step_id)
    return found


def plan_run(run: WorkflowRun, registry: Registry) -> list[PlannedStep]:
    """The run's steps in topological order, resolved and checked; raises PayloadValidationError naming the step."""
    by_id = {step.id: step for step in run.steps}
    index = {step.id: position for position, step in enumerate(run.steps)}
    upstream = ancestors(run.steps)
    planned: list[PlannedStep] = []
    errors: list[FieldError] = []
    for wave in waves(run.steps):
        for step_id in wave:
            step = by_id[step_id]
            where = f"steps.{index[step_id]}"
            try:
                planned.append(_plan_step(step, index[step_id], upstream[step_id], list(by_id), registry))
            except (PayloadValidationError, UnknownJobError, TemplateError, ValueError) as exc:
                errors.append(FieldError(where, f"step {step_id!r} ({step.action}): {_reason(exc)}"))
    if errors:
        raise PayloadValidationError(RUN_JOB, errors)
    return planned


def _plan_step(
    step: WorkflowStep, index: int, upstream: set[str], step_ids: list[str], registry: Registry
) -> PlannedStep:
    refs = references(step.params, step_ids)
    for ref in refs:
        if ref.step_id is not None and ref.step_id not in upstream:
            raise TemplateError(f"{{{{{ref}}}}} refers to step {ref.step_id!r}, which this step does not depend on")
    templated = bool(refs)
    if step.action in BUILTIN_PARAMS:
        job_name, queue = STEP_JOB, registry.job(STEP_JOB).queue
        if not templated:
            check_builtin_params(step.action, step.params)
    else:
        if step.action in WORKFLOW_JOBS:
            raise ValueError("workflow jobs cannot be steps of a workflow")
        try:
            job_type = registry.job(step.action)
        except UnknownJobError:
            builtins = ", ".join(sorted(BUILTIN_PARAMS))
            raise ValueError(f"unknown action: neither a built-in ({builtins}) nor a registered job type") from None
        job_name, queue = job_type.name, job_type.queue
        if not templated:
            job_type.validate(step.params)
    return PlannedStep(
        id=step.id,
        index=index,
        action=step.action,
        params=dict(step.params),
        depends_on=tuple(step.dependsOn),
        job_name=job_name,
        queue=queue,
        templated=templated,
    )


def check_builtin_params(action: str, params: dict[str, Any]) -> Any:
    """The params of built-in `action` parsed by its model; raises ValueError naming every bad field."""
    try:
        return BUILTIN_PARAMS[action].model_validate(params)
    except ValidationError as exc:
        raise ValueError("invalid params: " + "; ".join(str(error) for error in field_errors(exc))) from None


def _reason(exc: Exception) -> str:
    if isinstance(exc, PayloadValidationError):
        return "invalid params: " + "; ".join(str(error) for error in exc.errors)
    return str(exc)
