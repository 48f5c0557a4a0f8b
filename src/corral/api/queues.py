"""Queue and job operations: list, inspect, search, retry, remove, promote, pause, resume, clean, purge, enqueue."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from corral.api.context import ApiServices, services
from corral.api.routing import AuditNote, audit_note, owner_router
from corral.api.security import Principal, client_ip, require
from corral.contracts.base import EnqueueOptions, Registry
from corral.contracts.secrets import dotted
from corral.engine import JobRecord, trace_of
from corral.queues import LISTABLE_STATES, Impact, QueueService, QueueSummary
from corral.security.permissions import Permission
from corral.tracing import trace_id

router = owner_router(prefix="/owner", tags=["queues"])

Api = Annotated[ApiServices, Depends(services)]
Note = Annotated[AuditNote, Depends(audit_note)]
Reader = Annotated[Principal, require(Permission.QUEUES_READ)]
JobReader = Annotated[Principal, require(Permission.JOBS_READ)]
JobOperator = Annotated[Principal, require(Permission.JOBS_OPERATE)]
QueueOperator = Annotated[Principal, require(Permission.QUEUES_OPERATE)]
Destroyer = Annotated[Principal, require(Permission.QUEUES_DESTROY)]
Enqueuer = Annotated[Principal, require(Permission.JOBS_ENQUEUE)]
# Showing a job's secret payload values needs `payload:reveal` on top of reading jobs.
JobRevealer = Annotated[Principal, require(Permission.PAYLOAD_REVEAL, None, Permission.JOBS_READ)]


def queue_service(request: Request) -> QueueService:
    """The queue service of this API process."""
    api: ApiServices = request.app.state.services
    return api.queues


Queues = Annotated[QueueService, Depends(queue_service)]


class QueueConfigPublic(BaseModel):
    """A queue's processing policy."""

    attempts: int
    backoff_ms: int
    backoff_jitter: float
    concurrency: int
    timeout_seconds: float
    rate_limit: dict[str, int] | None


class QueuePublic(BaseModel):
    """A queue with its counts by state."""

    name: str
    paused: bool
    counts: dict[str, int]
    backlog: int
    config: QueueConfigPublic
    job_types: list[str]

    @classmethod
    def of(cls, summary: QueueSummary, job_types: list[str]) -> QueuePublic:
        config = summary.config
        limit = config.rate_limit
        return cls(
            name=summary.name,
            paused=summary.paused,
            counts=summary.counts,
            backlog=summary.backlog,
            config=QueueConfigPublic(
                attempts=config.attempts,
                backoff_ms=config.backoff_ms,
                backoff_jitter=config.backoff_jitter,
                concurrency=config.concurrency,
                timeout_seconds=config.timeout_seconds,
                rate_limit={"max_jobs": limit.max_jobs, "per_ms": limit.per_ms} if limit else None,
            ),
            job_types=job_types,
        )


class JobPublic(BaseModel):
    """A job: payload, options, progress, attempts, outcome and timeline."""

    id: str
    queue: str
    name: str
    state: str
    data: dict[str, Any]
    opts: dict[str, Any]
    progress: Any
    attempts_made: int
    attempts: int
    failed_reason: str | None
    stacktrace: list[str]
    return_value: Any
    created_at: int
    processed_on: int | None
    finished_on: int | None
    delay_ms: int
    priority: int
    due_at: int | None = Field(default=None, description="when a delayed job is due to run (epoch ms)")
    trace_id: str | None = Field(default=None, description="the trace its enqueuer was in (with OpenTelemetry)")
    linked_trace_id: str | None = Field(default=None, description="a replayed job's original trace")
    secret_fields: list[str] = Field(
        default_factory=list, description="the payload's secret fields, whose values are shown as the mask"
    )

    @classmethod
    def of(cls, job: JobRecord, registry: Registry | None = None) -> JobPublic:
        """The job, its payload's secret fields masked when the `registry` knows its name, and their text wherever
        its progress, failure reason, stack trace or result quotes them."""
        carrier, link = trace_of(job.opts)

        def shown(value: Any) -> Any:
            return registry.redacted(job.name, job.data, value) if registry is not None else value

        return cls(
            id=job.id,
            queue=job.queue,
            name=job.name,
            state=job.state,
            data=registry.masked(job.name, job.data) if registry is not None else job.data,
            opts=job.opts,
            progress=shown(job.progress),
            attempts_made=job.attempts_made,
            attempts=job.attempts,
            failed_reason=shown(job.failed_reason),
            stacktrace=shown(job.stacktrace),
            return_value=shown(job.return_value),
            created_at=job.timestamp,
            processed_on=job.processed_on,
            finished_on=job.finished_on,
            delay_ms=job.delay_ms,
            priority=job.priority,
            due_at=job.due_at,
            trace_id=trace_id(carrier),
            linked_trace_id=trace_id(link),
            secret_fields=dotted(registry.secret_paths(job.name)) if registry is not None else [],
        )


class JobRevealedPublic(BaseModel):
    """One job's payload with its secret values shown, and which fields those are."""

    id: str
    queue: str
    name: str
    data: dict[str, Any]
    secret_fields: list[str]


class JobPagePublic(BaseModel):
    """A page of jobs."""

    items: list[JobPublic]
    total: int
    page: int
    size: int
    scanned: int | None = Field(description="jobs scanned by a search (searches look at the newest 5,000)")
    truncated: bool


class TimelineEvent(BaseModel):
    """One moment of a job's life."""

    at: int
    event: str


class JobDetailPublic(JobPublic):
    """A job with its logs and timeline."""

    logs: list[str]
    log_count: int
    timeline: list[TimelineEvent]


class CleanCreate(BaseModel):
    """Which finished jobs to remove."""

    model_config = ConfigDict(extra="forbid", strict=True)
    state: Literal["completed", "failed"]
    older_than_seconds: int = Field(ge=0, le=365 * 86_400)
    limit: int = Field(default=10_000, ge=1, le=100_000)


class ConfirmCreate(BaseModel):
    """The second call of a destructive action: the token from the first call and the typed phrase."""

    model_config = ConfigDict(extra="forbid", strict=True)
    confirmation_token: str | None = Field(default=None, max_length=200)
    phrase: str | None = Field(default=None, max_length=200)


class DestructivePublic(BaseModel):
    """Either the impact and a confirmation token (first call), or what was done (second call)."""

    status: Literal["confirmation_required", "done"]
    action: str
    count: int
    sample: list[str]
    queues: list[str]
    children: int = Field(default=0, description="jobs of the count that other jobs (flow parents) wait for")
    parents: dict[str, int] = Field(
        default_factory=dict, description="the parent jobs waiting on them, by job name (e.g. workflow.run: 183)"
    )
    confirmation_token: str | None = None
    phrase: str | None = None
    expires_in: int | None = None


class EnqueueCreate(BaseModel):
    """A job to enqueue: its type, payload (validated by the type's contract) and options."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(min_length=1, max_length=128)
    payload: dict[str, Any]
    delay_ms: int = Field(default=0, ge=0)
    priority: int = Field(default=0, ge=0)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=256)
    attempts: int | None = Field(default=None, ge=1, le=100)


class EnqueuedPublic(BaseModel):
    """The enqueued job's id and queue."""

    id: str
    queue: str
    name: str


class OkPublic(BaseModel):
    """An action's outcome."""

    ok: bool = True
    affected: int = 1


@router.get("/queues", name="queues.list", response_model=list[QueuePublic])
async def list_queues(queues: Queues, _: Reader) -> list[QueuePublic]:
    """Every queue with its job counts by state, pause state and policy."""
    return [QueuePublic.of(s, [j.name for j in queues.registry.jobs_of(s.name)]) for s in await queues.overview()]


@router.get("/queues/{queue}", name="queues.get", response_model=QueuePublic)
async def get_queue(queue: str, queues: Queues, _: Reader) -> QueuePublic:
    """One queue's counts, pause state and policy."""
    return QueuePublic.of(await queues.summary(queue), [j.name for j in queues.registry.jobs_of(queue)])


@router.get("/queues/{queue}/jobs", name="jobs.list", response_model=JobPagePublic)
async def list_jobs(
    queue: str,
    request: Request,
    api: Api,
    queues: Queues,
    principal: JobReader,
    state: Annotated[str, Query(description=f"one of {', '.join(LISTABLE_STATES)}")] = "waiting",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query(ge=1, le=200)] = 50,
    q: Annotated[str, Query(max_length=200, description="job id, or text in the name or payload")] = "",
) -> JobPagePublic:
    """Jobs of one state with pagination; `q` searches by job id, name or payload text. Logged as a data access."""
    result = await queues.jobs(queue, state, page, size, q)
    await api.audit.record_access(
        principal.actor,
        "job",
        [job.id for job in result.items],
        {"queue": queue, "state": state, "q": q},
        client_ip(request, api.settings),
    )
    return JobPagePublic(
        items=[JobPublic.of(job, queues.registry) for job in result.items],
        total=result.total,
        page=result.page,
        size=result.size,
        scanned=result.scanned,
        truncated=result.truncated,
    )


def _timeline(job: JobRecord) -> list[TimelineEvent]:
    events = [TimelineEvent(at=job.timestamp, event="created")]
    if job.due_at or job.delay_ms:
        events.append(TimelineEvent(at=job.due_at or job.timestamp + job.delay_ms, event="due"))
    if job.processed_on:
        events.append(TimelineEvent(at=job.processed_on, event=f"attempt {max(job.attempts_made, 1)} started"))
    if job.finished_on:
        events.append(TimelineEvent(at=job.finished_on, event=job.state))
    return sorted(events, key=lambda e: e.at)


@router.get("/queues/{queue}/jobs/{job_id}", name="jobs.get", response_model=JobDetailPublic)
async def get_job(
    queue: str, job_id: str, request: Request, api: Api, queues: Queues, principal: JobReader
) -> JobDetailPublic:
    """A job's data, options, progress, logs, attempts, failure reason, stack trace and timeline."""
    detail = await queues.job(queue, job_id)
    await api.audit.record_access(principal.actor, "job", [job_id], {"queue": queue}, client_ip(request, api.settings))
    base = JobPublic.of(detail.job, queues.registry).model_dump()
    logs = queues.registry.redacted(detail.job.name, detail.job.data, detail.logs)
    return JobDetailPublic(**base, logs=logs, log_count=detail.log_count, timeline=_timeline(detail.job))


@router.post("/queues/{queue}/jobs/{job_id}/reveal", name="jobs.reveal", response_model=JobRevealedPublic)
async def reveal_job(
    queue: str, job_id: str, request: Request, api: Api, queues: Queues, note: Note, principal: JobRevealer
) -> JobRevealedPublic:
    """One job's payload with its secret fields' real values (needs `payload:reveal` and `jobs:read`). Logged as a
    data access naming the job and the fields shown; the values themselves are never logged."""
    note.resource = f"job:{queue}/{job_id}"
    job = (await queues.job(queue, job_id)).job
    fields = dotted(queues.registry.secret_paths(job.name))
    details = {"queue": queue, "job": job.name, "job_id": job.id, "fields": fields}
    await api.audit.record_access(principal.actor, "job_secrets", [job.id], details, client_ip(request, api.settings))
    note.params, note.affected = details, 1
    return JobRevealedPublic(id=job.id, queue=queue, name=job.name, data=job.data, secret_fields=fields)


@router.post("/queues/{queue}/jobs/{job_id}/retry", name="jobs.retry", response_model=OkPublic)
async def retry_job(queue: str, job_id: str, queues: Queues, note: Note, _: JobOperator) -> OkPublic:
    """Move a failed or completed job back to waiting, attempts reset."""
    await queues.retry(queue, job_id)
    note.resource, note.affected = f"job:{queue}/{job_id}", 1
    return OkPublic()


@router.post("/queues/{queue}/jobs/{job_id}/promote", name="jobs.promote", response_model=OkPublic)
async def promote_job(queue: str, job_id: str, queues: Queues, note: Note, _: JobOperator) -> OkPublic:
    """Run a delayed job now."""
    await queues.promote(queue, job_id)
    note.resource, note.affected = f"job:{queue}/{job_id}", 1
    return OkPublic()


@router.delete("/queues/{queue}/jobs/{job_id}", name="jobs.remove", response_model=OkPublic)
async def remove_job(queue: str, job_id: str, queues: Queues, note: Note, _: JobOperator) -> OkPublic:
    """Delete a job that is not active."""
    await queues.remove(queue, job_id)
    note.resource, note.affected = f"job:{queue}/{job_id}", 1
    return OkPublic()


@router.post("/queues/{queue}/pause", name="queues.pause", response_model=OkPublic)
async def pause_queue(queue: str, queues: Queues, note: Note, _: QueueOperator) -> OkPublic:
    """Stop workers from taking this queue's jobs; active jobs finish."""
    await queues.pause(queue)
    note.resource = f"queue:{queue}"
    return OkPublic()


@router.post("/queues/{queue}/resume", name="queues.resume", response_model=OkPublic)
async def resume_queue(queue: str, queues: Queues, note: Note, _: QueueOperator) -> OkPublic:
    """Let workers take this queue's jobs again."""
    await queues.resume(queue)
    note.resource = f"queue:{queue}"
    return OkPublic()


@router.post("/queues/{queue}/clean", name="queues.clean", response_model=OkPublic)
async def clean_queue(queue: str, body: CleanCreate, queues: Queues, note: Note, _: QueueOperator) -> OkPublic:
    """Remove completed or failed jobs finished longer ago than `older_than_seconds`."""
    removed = await queues.clean(queue, body.state, body.older_than_seconds, body.limit)
    note.resource, note.params, note.affected = f"queue:{queue}", body.model_dump(), removed
    return OkPublic(affected=removed)


async def _destructive(
    action: str,
    queue: str,
    body: ConfirmCreate,
    api: ApiServices,
    principal: Principal,
    note: AuditNote,
    impact: Impact,
    run: Any,
) -> DestructivePublic:
    params = {"queue": queue}
    note.resource = f"queue:{queue}"
    if body.confirmation_token is None:
        ticket = await api.confirmations.issue(principal.actor, action, params, phrase=queue)
        note.params = {"stage": "preview", "count": impact.count, "parents": impact.parents}
        return DestructivePublic(
            status="confirmation_required",
            action=action,
            count=impact.count,
            sample=impact.sample,
            queues=impact.queues,
            children=impact.children,
            parents=impact.parents,
            confirmation_token=ticket.token,
            phrase=ticket.phrase,
            expires_in=ticket.expires_in,
        )
    await api.confirmations.redeem(body.confirmation_token, body.phrase, principal.actor, action, params)
    done = await run(queue)
    note.params, note.affected = {"stage": "confirmed"}, done
    return DestructivePublic(
        status="done",
        action=action,
        count=done,
        sample=impact.sample,
        queues=impact.queues,
        children=impact.children,
        parents=impact.parents,
    )


@router.post("/queues/{queue}/purge", name="queues.purge", response_model=DestructivePublic)
async def purge_queue(
    queue: str, body: ConfirmCreate, api: Api, queues: Queues, note: Note, principal: Destroyer
) -> DestructivePublic:
    """Remove every job that has not started. First call: the impact and a confirmation token; second call:
    the token and the queue's name typed as `phrase`, within 120 s."""
    impact = await queues.purge_impact(queue)
    return await _destructive("queues.purge", queue, body, api, principal, note, impact, queues.purge)


@router.post("/queues/{queue}/obliterate", name="queues.obliterate", response_model=DestructivePublic)
async def obliterate_queue(
    queue: str, body: ConfirmCreate, api: Api, queues: Queues, note: Note, principal: Destroyer
) -> DestructivePublic:
    """Remove every job of the queue in every state, active ones included; confirmed like purge."""
    impact = await queues.obliterate_impact(queue)
    return await _destructive("queues.obliterate", queue, body, api, principal, note, impact, queues.obliterate)


@router.post("/jobs", name="jobs.enqueue", response_model=EnqueuedPublic, status_code=201)
async def enqueue_job(body: EnqueueCreate, queues: Queues, note: Note, _: Enqueuer) -> EnqueuedPublic:
    """Enqueue any catalogue job type; the payload is validated by its contract (422 names the fields)."""
    options = EnqueueOptions(
        delay_ms=body.delay_ms, priority=body.priority, idempotency_key=body.idempotency_key, attempts=body.attempts
    )
    job_type = queues.registry.job(body.name)
    job_id = await queues.enqueue(body.name, body.payload, options)
    note.resource, note.params, note.affected = f"job:{job_type.queue}/{job_id}", {"name": body.name}, 1
    return EnqueuedPublic(id=job_id, queue=job_type.queue, name=body.name)
