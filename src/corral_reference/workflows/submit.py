"""Submitting a workflow run: checked, recorded as queued, then enqueued as a `workflow.run` job."""

from __future__ import annotations

from typing import Any, cast

from corral.contracts.base import EnqueueOptions
from corral.errors import EnqueueError
from corral.producer import Producer
from corral_reference.contracts import WorkflowRun
from corral_reference.workflows.plan import RUN_JOB, plan_run
from corral_reference.workflows.state import RunState, RunStatus, RunStore, StepState, now_ms


async def submit_run(
    producer: Producer, store: RunStore, payload: WorkflowRun | dict[str, Any], options: EnqueueOptions | None = None
) -> str:
    """Check the run's steps, record it as queued and enqueue it; returns the `workflow.run` job's id.

    Refuses (EnqueueError) a run id already used by a run that has not failed; a failed run may be run again.
    """
    run = cast(WorkflowRun, producer.registry.validate(RUN_JOB, payload))
    planned = plan_run(run, producer.registry)
    state = RunState(
        workflow_id=run.workflowId,
        run_id=run.runId,
        status=RunStatus.QUEUED,
        steps={step.id: StepState(step.id, step.action, list(step.depends_on)) for step in planned},
        created_at=now_ms(),
    )
    taken = await store.create(state)
    if taken is not None:
        raise EnqueueError(f"run id {run.runId!r} is already used by a run that is {taken.value}")
    try:
        return await producer.enqueue(RUN_JOB, run, options)
    except BaseException:
        await store.delete(run.runId)
        raise
