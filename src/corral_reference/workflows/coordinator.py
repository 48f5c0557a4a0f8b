"""The `workflow.run` coordinator: enqueues ready steps as child jobs, records their outcomes, finishes the run.

The coordinating job runs again each time its children have finished. On every entry it reads the
children's outcomes, records them in the run state, enqueues the steps whose dependencies all succeeded
(their templates rendered from earlier results), and parks until those children finish. A failed step
stops new steps from starting; once the steps in flight are done, the run fails naming that step.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from corral.contracts.base import EnqueueOptions, Registry
from corral.engine import ChildJob, ChildOutcome, RunningJob, job_options
from corral.errors import PayloadValidationError, UnrecoverableJobError
from corral.producer import encode_payload
from corral_reference.contracts import WorkflowRun
from corral_reference.workflows.plan import PlannedStep, check_builtin_params, plan_run
from corral_reference.workflows.state import (
    FINISHED_STEP_STATES,
    RunState,
    RunStatus,
    RunStore,
    StepState,
    StepStatus,
    now_ms,
)
from corral_reference.workflows.templates import TemplateError, render

logger = logging.getLogger(__name__)


def child_job_id(parent_job_id: str, epoch: int, index: int) -> str:
    """The id of the job carrying step number `index` of a run coordinated by `parent_job_id`, start `epoch`."""
    return f"wf-{parent_job_id}-{epoch}-{index}"


class Coordinator:
    """Coordinates workflow runs through their `workflow.run` jobs."""

    def __init__(self, registry: Registry, store: RunStore) -> None:
        self.registry = registry
        self.store = store

    async def coordinate(self, job: RunningJob, run: WorkflowRun) -> dict[str, Any]:
        """Advance the run as far as it goes now; returns the steps' results once all have finished."""
        claim = await self.store.claim(run.runId, job.id)
        if claim.owner is not None:
            raise UnrecoverableJobError(f"run {run.runId!r} is already coordinated by job {claim.owner}")
        state = await self.store.load(run.runId)
        if claim.fresh or state is None or not state.steps:
            state = await self._start(job, run, claim.epoch, state)
        if state.status is RunStatus.SUCCEEDED:
            return _result(state)
        planned = {step.id: step for step in plan_run(run, self.registry)}
        while True:
            outcomes = {(outcome.queue, outcome.job_id): outcome for outcome in await job.children_outcomes()}
            progressed = self._record(state, planned, outcomes, job.id)
            progressed |= _skip_blocked(state)
            failure = _first_failure(state)
            if failure is None:
                progressed |= await self._enqueue_ready(job, run, state, planned)
                failure = _first_failure(state)
            if failure is None and all(step.status in FINISHED_STEP_STATES for step in state.steps.values()):
                return await self._succeed(job, state)
            if progressed:
                await self.store.save(state)
                await job.report_progress(_progress(state))
            await job.wait_for_children()  # raises WaitingForChildren while any child is pending
            if failure is not None:
                await self._fail(job, state, f"step {failure.id!r} ({failure.action}) failed: {failure.error}")
            if not progressed:
                stuck = [step.id for step in state.steps.values() if step.status is StepStatus.QUEUED]
                await self._fail(job, state, f"steps {stuck} have no job any more; the run cannot go on")

    async def _start(self, job: RunningJob, run: WorkflowRun, epoch: int, previous: RunState | None) -> RunState:
        started = now_ms()
        state = RunState(
            workflow_id=run.workflowId,
            run_id=run.runId,
            status=RunStatus.RUNNING,
            job_id=job.id,
            epoch=epoch,
            created_at=previous.created_at if previous and previous.created_at else started,
            started_at=started,
        )
        try:
            planned = plan_run(run, self.registry)
        except PayloadValidationError as exc:
            state.steps = {step.id: StepState(step.id, step.action, list(step.dependsOn)) for step in run.steps}
            await self._fail(job, state, str(exc))
        state.steps = {step.id: StepState(step.id, step.action, list(step.depends_on)) for step in planned}
        await self.store.save(state)
        logger.info("workflow run %s (%s) started by job %s", run.runId, run.workflowId, job.id)
        return state

    def _record(
        self,
        state: RunState,
        planned: dict[str, PlannedStep],
        outcomes: dict[tuple[str, str], ChildOutcome],
        parent_id: str,
    ) -> bool:
        """Record the outcomes of steps not yet finished; True when any was."""
        recorded = False
        for step in state.steps.values():
            if step.status not in (StepStatus.PENDING, StepStatus.QUEUED):
                continue
            plan = planned[step.id]
            outcome = outcomes.get((plan.queue, child_job_id(parent_id, state.epoch, plan.index)))
            if outcome is None:
                continue
            step.queue, step.job_id = outcome.queue, outcome.job_id
            step.started_at = outcome.started_at
            step.finished_at = outcome.finished_at or now_ms()
            step.attempts = outcome.attempts_made
            if outcome.succeeded:
                step.status, step.result = StepStatus.SUCCEEDED, outcome.result
            else:
                step.status, step.error = StepStatus.FAILED, outcome.reason or "failed"
            recorded = True
        return recorded

    async def _enqueue_ready(
        self, job: RunningJob, run: WorkflowRun, state: RunState, planned: dict[str, PlannedStep]
    ) -> bool:
        """Enqueue every pending step whose dependencies all succeeded; a step whose params fail fails instead."""
        ready = [
            step
            for step in state.steps.values()
            if step.status is StepStatus.PENDING
            and all(state.steps[dependency].status is StepStatus.SUCCEEDED for dependency in step.depends_on)
        ]
        if not ready:
            return False
        results = {step.id: step.result for step in state.steps.values() if step.status is StepStatus.SUCCEEDED}
        children: list[tuple[StepState, ChildJob]] = []
        for step in ready:
            try:
                children.append((step, self._child(job.id, state.epoch, run, planned[step.id], results)))
            except (TemplateError, ValueError, PayloadValidationError) as exc:
                step.status, step.error, step.finished_at = StepStatus.FAILED, str(exc), now_ms()
        if any(step.status is StepStatus.FAILED for step in ready):
            return True
        await job.add_children([child for _, child in children])
        queued_at = now_ms()
        for step, child in children:
            step.status, step.queue, step.job_id, step.queued_at = (
                StepStatus.QUEUED,
                child.queue,
                child.job_id,
                queued_at,
            )
        return True

    def _child(
        self, parent_id: str, epoch: int, run: WorkflowRun, plan: PlannedStep, results: dict[str, Any]
    ) -> ChildJob:
        params = render(plan.params, results, run.input) if plan.templated else plan.params
        if not isinstance(params, dict):
            raise ValueError("params must render to an object")
        if plan.builtin:
            check_builtin_params(plan.action, params)
            payload = {
                "workflowId": run.workflowId,
                "runId": run.runId,
                "stepId": plan.id,
                "action": plan.action,
                "params": params,
            }
        else:
            payload = params
        job_type = self.registry.job(plan.job_name)
        data = encode_payload(job_type, payload)
        opts = job_options(job_type.name, self.registry.queue(job_type.queue), EnqueueOptions())
        return ChildJob(job_type.queue, job_type.name, data, opts, child_job_id(parent_id, epoch, plan.index))

    async def _succeed(self, job: RunningJob, state: RunState) -> dict[str, Any]:
        """Record the run as succeeded; returns every step's status and result."""
        state.status, state.finished_at = RunStatus.SUCCEEDED, now_ms()
        await self.store.save(state)
        await job.report_progress(_progress(state))
        logger.info("workflow run %s succeeded", state.run_id)
        return _result(state)

    async def _fail(self, job: RunningJob, state: RunState, error: str) -> NoReturn:
        """Record the run as failed, skipping the steps that never started, and fail the job unrecoverably."""
        for step in state.steps.values():
            if step.status is StepStatus.PENDING:
                step.status = StepStatus.SKIPPED
        state.status, state.error, state.finished_at = RunStatus.FAILED, error, now_ms()
        await self.store.save(state)
        await job.report_progress(_progress(state))
        logger.warning("workflow run %s failed: %s", state.run_id, error)
        raise UnrecoverableJobError(error)


def _skip_blocked(state: RunState) -> bool:
    """Skip pending steps behind a skipped step or a false condition (steps are in topological order)."""
    skipped = False
    for step in state.steps.values():
        if step.status is not StepStatus.PENDING:
            continue
        for dependency in (state.steps[dependency_id] for dependency_id in step.depends_on):
            blocked = dependency.status is StepStatus.SKIPPED or (
                dependency.action == "condition"
                and dependency.status is StepStatus.SUCCEEDED
                and isinstance(dependency.result, dict)
                and dependency.result.get("passed") is False
            )
            if blocked:
                step.status, step.error = StepStatus.SKIPPED, f"skipped: step {dependency.id!r} did not let it run"
                skipped = True
                break
    return skipped


def _first_failure(state: RunState) -> StepState | None:
    return next((step for step in state.steps.values() if step.status is StepStatus.FAILED), None)


def _progress(state: RunState) -> dict[str, Any]:
    finished = sum(step.status in FINISHED_STEP_STATES for step in state.steps.values())
    return {"runId": state.run_id, "status": state.status.value, "steps": len(state.steps), "finished": finished}


def _result(state: RunState) -> dict[str, Any]:
    return {
        "workflowId": state.workflow_id,
        "runId": state.run_id,
        "status": state.status.value,
        "steps": {step.id: {"status": step.status.value, "result": step.result} for step in state.steps.values()},
    }
