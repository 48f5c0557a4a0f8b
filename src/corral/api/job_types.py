"""The catalogue's job types with the JSON schemas of their contracts, for forms that enqueue them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel

from corral.api.context import ApiServices, services
from corral.api.routing import owner_router
from corral.api.security import Principal, require
from corral.errors import NotFoundError
from corral.security.permissions import Permission

router = owner_router(prefix="/owner", tags=["queues"])

Api = Annotated[ApiServices, Depends(services)]
Reader = Annotated[Principal, require(Permission.QUEUES_READ)]


class JobTypePublic(BaseModel):
    """A job type: its name, queue, worker, description and the JSON schema its payload must match."""

    name: str
    queue: str
    worker: str
    description: str
    json_schema: dict[str, Any]


@router.get("/job-types", name="jobtypes.list", response_model=list[JobTypePublic])
async def list_job_types(
    api: Api,
    _: Reader,
    queue: Annotated[str | None, Query(max_length=64, description="only the job types of this queue")] = None,
) -> list[JobTypePublic]:
    """Every registered job type (or those of one queue) with its payload's JSON schema."""
    registry = api.registry
    if queue is not None and queue not in registry.work_queues:
        raise NotFoundError(f"no queue {queue!r}; queues: {', '.join(registry.work_queues)}")
    jobs = registry.jobs_of(queue) if queue is not None else list(registry.jobs.values())
    return [
        JobTypePublic(
            name=job.name,
            queue=job.queue,
            worker=job.worker,
            description=job.description or (job.contract.__doc__ or "").strip(),
            json_schema=job.contract.model_json_schema(),
        )
        for job in sorted(jobs, key=lambda j: j.name)
    ]
