"""Schedules (repeatable and cron jobs): list, create, edit, pause, resume, remove and run now."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from corral.api.context import ApiServices
from corral.api.routing import AuditNote, audit_note, owner_router
from corral.api.security import Principal, require
from corral.schedules import MAX_CRON_LENGTH, SCHEDULE_ID, Schedule, ScheduleDraft, ScheduleService
from corral.security.permissions import Permission

router = owner_router(prefix="/owner", tags=["schedules"])

Note = Annotated[AuditNote, Depends(audit_note)]
Reader = Annotated[Principal, require(Permission.SCHEDULES_READ)]
Manager = Annotated[Principal, require(Permission.SCHEDULES_MANAGE)]


def schedule_service(request: Request) -> ScheduleService:
    """The schedule service of this API process."""
    api: ApiServices = request.app.state.services
    return api.schedules


Schedules = Annotated[ScheduleService, Depends(schedule_service)]


class SchedulePublic(BaseModel):
    """A schedule: its job, its rule and when it runs next."""

    queue: str
    id: str
    name: str = Field(description="the job type each run enqueues")
    payload: Any
    every_ms: int | None = Field(description="runs every this many milliseconds (or null: see cron)")
    cron: str | None = Field(description="a cron pattern (5 fields, or 6 with seconds first)")
    tz: str | None = Field(description="the cron pattern's time zone (null: UTC)")
    status: Literal["active", "paused"]
    next_run: int | None = Field(description="when it runs next (epoch ms); null while paused")
    iterations: int | None = Field(description="runs made since it was created or last resumed, as bullmq counts")
    paused_at: int | None
    registered: bool = Field(description="whether the job type is registered (a Node scheduler's may not be)")

    @classmethod
    def of(cls, schedule: Schedule) -> SchedulePublic:
        return cls(
            queue=schedule.queue,
            id=schedule.id,
            name=schedule.name,
            payload=schedule.payload,
            every_ms=schedule.every_ms,
            cron=schedule.cron,
            tz=schedule.tz,
            status=schedule.status,
            next_run=schedule.next_run,
            iterations=schedule.iterations,
            paused_at=schedule.paused_at,
            registered=schedule.registered,
        )


class ScheduleCreate(BaseModel):
    """A new schedule: its id, the job type and payload of each run, and either `every_ms` or `cron` (with `tz`)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    id: str = Field(min_length=1, max_length=128, pattern=SCHEDULE_ID.pattern)
    name: str = Field(min_length=1, max_length=128)
    payload: dict[str, Any]
    every_ms: int | None = None
    cron: str | None = Field(default=None, max_length=MAX_CRON_LENGTH)
    tz: str | None = Field(default=None, min_length=1, max_length=64)


class ScheduleEdit(BaseModel):
    """What to change: the payload and/or the rule; a field left out keeps its value."""

    model_config = ConfigDict(extra="forbid", strict=True)
    payload: dict[str, Any] | None = None
    every_ms: int | None = None
    cron: str | None = Field(default=None, max_length=MAX_CRON_LENGTH)
    tz: str | None = Field(default=None, min_length=1, max_length=64)


class ScheduleChangePublic(BaseModel):
    """A schedule after an action, and whether the action changed anything."""

    schedule: SchedulePublic
    changed: bool
    fields: list[str] = Field(default_factory=list, description="what an edit changed")


class RunPublic(BaseModel):
    """The job a run-now enqueued."""

    id: str
    queue: str
    name: str


class RemovedPublic(BaseModel):
    """An action's outcome."""

    ok: bool = True
    affected: int = 1


def _rule(schedule: Schedule) -> dict[str, Any]:
    return {"name": schedule.name, "every_ms": schedule.every_ms, "cron": schedule.cron, "tz": schedule.tz}


@router.get("/schedules", name="schedules.list", response_model=list[SchedulePublic])
async def list_schedules(
    schedules: Schedules, _: Reader, queue: Annotated[str | None, Query(max_length=128)] = None
) -> list[SchedulePublic]:
    """Every schedule of the work queues (or of `queue`): active ones by next run, then paused ones. A scheduler a
    Node BullMQ producer made on one of these queues is listed too."""
    return [SchedulePublic.of(schedule) for schedule in await schedules.overview(queue)]


@router.get("/schedules/{queue}/{schedule_id}", name="schedules.get", response_model=SchedulePublic)
async def get_schedule(queue: str, schedule_id: str, schedules: Schedules, _: Reader) -> SchedulePublic:
    """One schedule."""
    return SchedulePublic.of(await schedules.get(queue, schedule_id))


@router.post(
    "/schedules",
    name="schedules.create",
    response_model=ScheduleChangePublic,
    status_code=201,
    responses={200: {"model": ScheduleChangePublic, "description": "The same schedule already exists; unchanged"}},
)
async def create_schedule(
    body: ScheduleCreate, response: Response, schedules: Schedules, note: Note, _: Manager
) -> ScheduleChangePublic:
    """Create a schedule on its job type's queue; the payload is checked by the job's contract (422 names the
    fields), the rule must be exactly one of `every_ms` (1 s to 366 days) or a valid `cron`. Idempotent by id: the
    same request again answers 200 with the schedule unchanged; another rule or job under the same id is a 409."""
    draft = ScheduleDraft(body.id, body.name, body.payload, body.every_ms, body.cron, body.tz)
    note.params = {"id": body.id, "name": body.name, "every_ms": body.every_ms, "cron": body.cron, "tz": body.tz}
    schedule, created = await schedules.create(draft)
    note.resource, note.affected = f"schedule:{schedule.queue}/{schedule.id}", int(created)
    if not created:
        response.status_code = 200
    return ScheduleChangePublic(schedule=SchedulePublic.of(schedule), changed=created)


@router.patch("/schedules/{queue}/{schedule_id}", name="schedules.edit", response_model=ScheduleChangePublic)
async def edit_schedule(
    queue: str, schedule_id: str, body: ScheduleEdit, schedules: Schedules, note: Note, _: Manager
) -> ScheduleChangePublic:
    """Change the payload and/or the rule: `every_ms` replaces a cron pattern and `cron` (with `tz`) an interval.
    A paused schedule stays paused; an active one's next run follows the new rule."""
    changes = body.model_dump(exclude_unset=True)
    note.resource = f"schedule:{queue}/{schedule_id}"
    note.params = {key: value for key, value in changes.items() if key != "payload"}
    schedule, changed = await schedules.edit(queue, schedule_id, changes)
    note.params["changed"], note.affected = changed, int(bool(changed))
    return ScheduleChangePublic(schedule=SchedulePublic.of(schedule), changed=bool(changed), fields=changed)


@router.post("/schedules/{queue}/{schedule_id}/pause", name="schedules.pause", response_model=ScheduleChangePublic)
async def pause_schedule(
    queue: str, schedule_id: str, schedules: Schedules, note: Note, _: Manager
) -> ScheduleChangePublic:
    """Stop the schedule making jobs: Corral keeps it, and removes bullmq's scheduler and its pending next run."""
    note.resource = f"schedule:{queue}/{schedule_id}"
    schedule, changed = await schedules.pause(queue, schedule_id)
    note.params, note.affected = _rule(schedule), int(changed)
    return ScheduleChangePublic(schedule=SchedulePublic.of(schedule), changed=changed)


@router.post("/schedules/{queue}/{schedule_id}/resume", name="schedules.resume", response_model=ScheduleChangePublic)
async def resume_schedule(
    queue: str, schedule_id: str, schedules: Schedules, note: Note, _: Manager
) -> ScheduleChangePublic:
    """Create the paused schedule's bullmq scheduler again; its next run follows from its rule."""
    note.resource = f"schedule:{queue}/{schedule_id}"
    schedule, changed = await schedules.resume(queue, schedule_id)
    note.params, note.affected = _rule(schedule), int(changed)
    return ScheduleChangePublic(schedule=SchedulePublic.of(schedule), changed=changed)


@router.delete("/schedules/{queue}/{schedule_id}", name="schedules.remove", response_model=RemovedPublic)
async def remove_schedule(queue: str, schedule_id: str, schedules: Schedules, note: Note, _: Manager) -> RemovedPublic:
    """Delete the schedule (active or paused) and its pending next run; a run already due still runs."""
    note.resource = f"schedule:{queue}/{schedule_id}"
    await schedules.remove(queue, schedule_id)
    note.affected = 1
    return RemovedPublic()


@router.post("/schedules/{queue}/{schedule_id}/run", name="schedules.run", response_model=RunPublic, status_code=201)
async def run_schedule(queue: str, schedule_id: str, schedules: Schedules, note: Note, _: Manager) -> RunPublic:
    """Enqueue one job now from the schedule's job type and payload; its next run does not move."""
    note.resource = f"schedule:{queue}/{schedule_id}"
    job_id = await schedules.run_now(queue, schedule_id)
    schedule = await schedules.get(queue, schedule_id)
    note.params, note.affected = {"job_id": job_id, "name": schedule.name}, 1
    return RunPublic(id=job_id, queue=queue, name=schedule.name)
