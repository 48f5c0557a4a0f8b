"""DLQ operations: list, search, inspect, replay, delete, bulk tasks, clear, analytics, trends, export."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from corral.api.context import ApiServices, services
from corral.api.routing import AuditNote, audit_note, owner_router
from corral.api.security import Principal, client_ip, require
from corral.contracts.secrets import Path, dotted, mask, redact, secret_values
from corral.dlq.analytics import Analytics, Trend
from corral.dlq.brake import WATCH_BATCH, BrakeLimits
from corral.dlq.bulk import Preview, TaskState
from corral.dlq.entry import DeadLetterEntry
from corral.dlq.export import ExportFormat, export_lines
from corral.dlq.query import Cursor, DlqFilter, EntrySummary
from corral.dlq.ramp import FULL, SlowStart
from corral.dlq.replay import masked_diff
from corral.dlq.service import MAX_IDS, DlqService
from corral.engine import trace_of
from corral.errors import FieldError, InvalidRequestError, NotFoundError
from corral.security.permissions import Permission
from corral.security.ratelimit import Budget
from corral.tracing import trace_id

router = owner_router(prefix="/owner/dlq", tags=["dlq"])

Api = Annotated[ApiServices, Depends(services)]
Note = Annotated[AuditNote, Depends(audit_note)]
Reader = Annotated[Principal, require(Permission.DLQ_READ)]
Replayer = Annotated[Principal, require(Permission.DLQ_REPLAY)]
Deleter = Annotated[Principal, require(Permission.DLQ_DELETE)]
# Showing a payload's secret values needs `payload:reveal` on top of reading the entry.
Revealer = Annotated[Principal, require(Permission.PAYLOAD_REVEAL, None, Permission.DLQ_READ)]
# An export carries every payload, which `dlq:read` guards: exporting needs both.
Exporter = Annotated[Principal, require(Permission.EXPORT, Budget.EXPORT, Permission.DLQ_READ)]
CLEAR_PHRASE = "clear dlq"
DELETE_PHRASE = "delete dlq"


def dlq_service(request: Request) -> DlqService:
    """The DLQ service of this API process (the composition root's; its bulk tasks run here)."""
    api: ApiServices = request.app.state.services
    return api.dlq


Dlq = Annotated[DlqService, Depends(dlq_service)]


class FilterCreate(BaseModel):
    """Which entries: every given condition must hold."""

    model_config = ConfigDict(extra="forbid")
    queue: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=128)
    fingerprint: str | None = Field(default=None, max_length=32)
    since: int | None = Field(default=None, ge=0, description="failed at or after (epoch ms)")
    until: int | None = Field(default=None, ge=0, description="failed before (epoch ms)")
    replays: int | None = Field(default=None, ge=0, le=5)
    status: str | None = Field(default=None, description="never, pending, succeeded, died or limit")
    job_id: str | None = Field(default=None, max_length=256)
    error: str | None = Field(default=None, max_length=200, description="words of the failure reason")
    fields: list[str] = Field(default_factory=list, max_length=10, description="payload `field:value` pairs")
    q: str | None = Field(default=None, max_length=200, description="free text: job id, payload value or error words")
    release: str | None = Field(default=None, max_length=64, description="captured under this release")

    def to_filter(self) -> DlqFilter:
        return _filter(
            self.queue,
            self.name,
            self.fingerprint,
            self.since,
            self.until,
            self.replays,
            self.status,
            self.job_id,
            self.error,
            self.fields,
            self.q,
            self.release,
        )


def _filter(
    queue: str | None,
    name: str | None,
    fingerprint: str | None,
    since: int | None,
    until: int | None,
    replays: int | None,
    status: str | None,
    job_id: str | None,
    error: str | None,
    fields: list[str],
    q: str | None,
    release: str | None = None,
) -> DlqFilter:
    pairs = []
    for item in fields:
        field_name, sep, value = item.partition(":")
        if not sep or not field_name or not value:
            raise InvalidRequestError("invalid field search", [FieldError("field", "expected field:value")])
        pairs.append((field_name, value))
    return DlqFilter(
        queue=queue or None,
        name=name or None,
        fingerprint=fingerprint or None,
        since_ms=since,
        until_ms=until,
        replays=replays,
        status=status or None,
        job_id=job_id or None,
        error=error or None,
        fields=tuple(pairs),
        text=q or None,
        release=release or None,
    )


def query_filter(
    queue: Annotated[str | None, Query(max_length=64)] = None,
    name: Annotated[str | None, Query(max_length=128, description="job name")] = None,
    fingerprint: Annotated[str | None, Query(max_length=32)] = None,
    since: Annotated[int | None, Query(ge=0, description="failed at or after (epoch ms)")] = None,
    until: Annotated[int | None, Query(ge=0, description="failed before (epoch ms)")] = None,
    replays: Annotated[int | None, Query(ge=0, le=5, description="exact replay count")] = None,
    status: Annotated[str | None, Query(description="never, pending, succeeded, died or limit")] = None,
    job_id: Annotated[str | None, Query(max_length=256)] = None,
    error: Annotated[str | None, Query(max_length=200, description="words of the failure reason")] = None,
    field: Annotated[list[str] | None, Query(max_length=10, description="payload `field:value`, repeatable")] = None,
    q: Annotated[str | None, Query(max_length=200, description="job id, payload value, field:value or words")] = None,
    release: Annotated[str | None, Query(max_length=64, description="captured under this release")] = None,
) -> DlqFilter:
    """The filter of a list or export request, from its query parameters."""
    return _filter(queue, name, fingerprint, since, until, replays, status, job_id, error, field or [], q, release)


QueryFilter = Annotated[DlqFilter, Depends(query_filter)]


class EntrySummaryPublic(BaseModel):
    """An entry as lists show it (no payload)."""

    id: str
    queue: str
    job_id: str
    name: str
    failed_at: int
    attempts_made: int
    replay_count: int
    status: str
    fingerprint: str
    failed_reason: str
    release: str = Field(default="", description="the release of the worker that captured it ('' when unknown)")

    @classmethod
    def of(cls, item: EntrySummary) -> EntrySummaryPublic:
        return cls(**vars(item))


class EntryPagePublic(BaseModel):
    """A page of entries, newest first; follow `next_cursor` until it is null (a sparse filter may answer short
    pages). `total` is given when one index answers the filter."""

    items: list[EntrySummaryPublic]
    next_cursor: str | None
    total: int | None


class EntryPublic(BaseModel):
    """Everything stored of an entry, with its replay history (who, when, the new job, and what became of it)."""

    id: str
    queue: str
    job_id: str
    name: str
    data: dict[str, Any]
    opts: dict[str, Any]
    failed_reason: str
    reason_pattern: str
    fingerprint: str
    stacktrace: list[str]
    attempts_made: int
    created_at: int
    processed_on: int
    failed_at: int
    captured_at: int
    replay_count: int
    status: str
    replays: list[dict[str, Any]]
    died_again: dict[str, Any] | None = Field(
        default=None, description="the same job dying again after capture (retried from its queue): count, at, reason"
    )

    release: str = Field(default="", description="the release of the worker that captured it ('' when unknown)")
    trace_id: str | None = Field(default=None, description="the trace the failed job's enqueuer was in")
    secret_fields: list[str] = Field(
        default_factory=list, description="the payload's secret fields, whose values are shown as the mask"
    )

    @classmethod
    def of(cls, entry: DeadLetterEntry, secrets: tuple[Path, ...] = ()) -> EntryPublic:
        """The entry with the values of the `secrets` paths masked in its payload and replay diffs, and their text
        wherever its reason, stack trace or later death quotes them."""
        values = {**vars(entry), "trace_id": trace_id(trace_of(entry.opts)[0])}
        if not secrets:
            return cls(**values)
        replays = [
            {**replay, "diff": masked_diff(replay["diff"], secrets)} if isinstance(replay.get("diff"), dict) else replay
            for replay in entry.replays
        ]
        quoted = secret_values(entry.data, secrets)
        values.update(
            data=mask(entry.data, secrets),
            replays=replays,
            failed_reason=redact(entry.failed_reason, quoted),
            reason_pattern=redact(entry.reason_pattern, quoted),
            stacktrace=redact(entry.stacktrace, quoted),
            died_again=redact(entry.died_again, quoted),
        )
        return cls(**values, secret_fields=dotted(secrets))


class RevealedPublic(BaseModel):
    """One entry's payload with its secret values shown, and which fields those are."""

    id: str
    name: str
    job_id: str
    data: dict[str, Any]
    secret_fields: list[str]


class ReplayCreate(BaseModel):
    """An optional edited payload for the replay; validated by the job type's current contract."""

    model_config = ConfigDict(extra="forbid")
    payload: dict[str, Any] | None = None


class ReplayedPublic(BaseModel):
    """The job a replay made."""

    entry_id: str
    queue: str
    name: str
    job_id: str
    replay: int
    diff: dict[str, dict[str, Any]]


class BulkCreate(BaseModel):
    """A bulk action by ids (up to 1,000) or by filter. A replay by ids its brake could stop runs as a background
    task (more ids than `brake_threshold`, or a `rate` or `slow_start` given), else at once; a replay by filter and
    every delete take two calls: a preview with a token, then the token (and, to delete, the typed phrase)."""

    model_config = ConfigDict(extra="forbid")
    ids: list[str] | None = Field(default=None, max_length=MAX_IDS)
    filter: FilterCreate | None = None
    rate: StrictInt | None = Field(
        default=None, ge=1, le=100_000, description="jobs per second (default from settings)"
    )
    brake_threshold: StrictInt | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        description="a bulk replay pauses when more of its jobs die again within brake_window (0: off)",
    )
    brake_window: StrictInt | None = Field(
        default=None, ge=1, le=86_400, description="seconds in which jobs that died again are counted"
    )
    slow_start: StrictInt | None = Field(
        default=None,
        ge=1,
        le=100,
        description="a bulk replay starts at this percent of `rate` and doubles it each brake window in which none "
        "of its jobs died again (100: full rate at once; default from settings)",
    )
    max_in_flight: StrictInt | None = Field(
        default=None,
        ge=0,
        le=WATCH_BATCH,
        description="a bulk replay waits while this many of its jobs have no outcome yet, so its brake stops it "
        "after at most brake_threshold + max_in_flight replays of jobs that keep dying (0: no limit, the default)",
    )
    confirmation_token: str | None = Field(default=None, max_length=200)
    phrase: str | None = Field(default=None, max_length=200, description="to delete: `delete dlq`, typed")


class ClearCreate(BaseModel):
    """Which entries to clear (all when none is given), and on the second call the token and typed phrase."""

    model_config = ConfigDict(extra="forbid")
    queue: str | None = Field(default=None, max_length=64)
    replays: int | None = Field(default=None, ge=0, le=5)
    older_than_hours: int | None = Field(default=None, ge=1, le=87_600)
    confirmation_token: str | None = Field(default=None, max_length=200)
    phrase: str | None = Field(default=None, max_length=200)


class TaskPublic(BaseModel):
    """A bulk task and its progress; `abandoned` means the process running it stopped."""

    id: str
    kind: str
    status: str
    filter: dict[str, Any]
    actor: str
    queues: list[str]
    rate: int
    total: int
    done: int
    succeeded: int
    failed: int
    skipped: int
    created_at: int
    updated_at: int
    finished_at: int | None
    errors: list[str]
    brake: dict[str, int] = Field(description="a replay's brake: brake_threshold and brake_window (seconds)")
    died_again: int = Field(description="replayed jobs of this task seen dying again")
    paused_at: int | None
    paused_reason: str | None
    paused_fingerprints: list[dict[str, Any]] = Field(
        description="when paused: the fingerprints of the jobs that died again, with count and a sample reason"
    )
    source: Literal["filter", "ids"] = Field(description="a task over a filter's entries or over a list of ids")
    slow_start: dict[str, int] = Field(
        description="a replay's slow start: slow_start (percent of rate), start_rate and ramp_window (seconds)"
    )
    current_rate: int = Field(description="the rate a replay runs at now (below `rate` while it ramps up)")
    ramp_steps: list[dict[str, Any]] = Field(
        description="the slow start's steps in this run: when (`at`), after how many entries (`done`), the new rate"
    )
    max_in_flight: int = Field(description="replayed jobs without an outcome the task waits at (0: no limit)")

    @classmethod
    def of(cls, state: TaskState) -> TaskPublic:
        return cls(**vars(state))


class PlanPublic(BaseModel):
    """How a bulk replay would run: its rate, its slow start and its brake."""

    rate: int
    slow_start: int = Field(description="percent of rate it starts at (100: full rate at once)")
    start_rate: int = Field(description="jobs per second of its first brake window")
    ramp_window: int = Field(description="seconds between two doublings of the rate")
    brake_threshold: int
    brake_window: int
    max_in_flight: int

    @classmethod
    def of(cls, rate: int, brake: BrakeLimits, slow: SlowStart, max_in_flight: int) -> PlanPublic:
        params = {**slow.as_params(rate, brake.window_seconds), **brake.as_params()}
        return cls(rate=rate, max_in_flight=max_in_flight, **params)


class BulkPublic(BaseModel):
    """A bulk action's answer: a preview with a confirmation token, a started task, or per-id results."""

    status: Literal["confirmation_required", "started", "done"]
    count: int
    sample: list[EntrySummaryPublic] = Field(default_factory=list)
    queues: list[str] = Field(default_factory=list)
    confirmation_token: str | None = None
    phrase: str | None = None
    expires_in: int | None = None
    task: TaskPublic | None = None
    results: dict[str, str] | None = None
    plan: PlanPublic | None = Field(default=None, description="a bulk replay's rate, slow start and brake")


def _preview(preview: Preview, ticket: Any, plan: PlanPublic | None = None) -> BulkPublic:
    return BulkPublic(
        status="confirmation_required",
        count=preview.count,
        sample=[EntrySummaryPublic.of(item) for item in preview.sample],
        queues=preview.queues,
        confirmation_token=ticket.token,
        phrase=ticket.phrase or None,
        expires_in=ticket.expires_in,
        plan=plan,
    )


@router.get("/entries", name="dlq.list", response_model=EntryPagePublic)
async def list_entries(
    dlq: Dlq,
    flt: QueryFilter,
    _: Reader,
    cursor: Annotated[str | None, Query(max_length=64, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> EntryPagePublic:
    """Entries newest first, filtered by queue, job name, fingerprint, failed-at range, replay count or status,
    or searched by job id, error text, payload `field:value` or free text; answered from indexes."""
    page = await dlq.query.page(flt, Cursor.parse(cursor) if cursor else None, limit)
    return EntryPagePublic(
        items=[EntrySummaryPublic.of(item) for item in page.items], next_cursor=page.next_cursor, total=page.total
    )


@router.get("/entries/{entry_id}", name="dlq.get", response_model=EntryPublic)
async def get_entry(entry_id: str, request: Request, api: Api, dlq: Dlq, principal: Reader) -> EntryPublic:
    """Everything stored of one entry and its replay history. Logged as a data access."""
    entry = await dlq.entry(entry_id)
    await api.audit.record_access(principal.actor, "dlq_entry", [entry_id], {}, client_ip(request, api.settings))
    return EntryPublic.of(entry, api.registry.secret_paths(entry.name))


@router.post("/entries/{entry_id}/reveal", name="dlq.reveal", response_model=RevealedPublic)
async def reveal_entry(
    entry_id: str, request: Request, api: Api, dlq: Dlq, note: Note, principal: Revealer
) -> RevealedPublic:
    """One entry's payload with its secret fields' real values (needs `payload:reveal`). Logged as a data access
    naming the entry, the job and the fields shown; the values themselves are never logged."""
    note.resource = f"dlq:{entry_id}"
    entry = await dlq.entry(entry_id)
    fields = dotted(api.registry.secret_paths(entry.name))
    details = {"job": entry.name, "job_id": entry.job_id, "fields": fields}
    await api.audit.record_access(
        principal.actor, "dlq_entry_secrets", [entry_id], details, client_ip(request, api.settings)
    )
    note.params, note.affected = details, 1
    return RevealedPublic(id=entry.id, name=entry.name, job_id=entry.job_id, data=entry.data, secret_fields=fields)


@router.post("/entries/{entry_id}/replay", name="dlq.replay", response_model=ReplayedPublic)
async def replay_entry(
    entry_id: str, dlq: Dlq, note: Note, principal: Replayer, body: ReplayCreate | None = None
) -> ReplayedPublic:
    """Re-add the job to its original queue (at most 5 replays per entry; a 6th answers 409). The payload, or
    the edited `payload`, is checked against the current contract (422 names the fields); an edit's diff is
    audited."""
    note.resource = f"dlq:{entry_id}"
    result = await dlq.replay(entry_id, principal.actor, body.payload if body else None)
    note.params, note.affected = {"job_id": result.job_id, "replay": result.number, "diff": result.diff}, 1
    return ReplayedPublic(
        entry_id=entry_id,
        queue=result.queue,
        name=result.name,
        job_id=result.job_id,
        replay=result.number,
        diff=result.diff,
    )


@router.delete("/entries/{entry_id}", name="dlq.delete", response_model=BulkPublic)
async def delete_entry(entry_id: str, dlq: Dlq, note: Note, _: Deleter) -> BulkPublic:
    """Delete one entry."""
    note.resource = f"dlq:{entry_id}"
    deleted = await dlq.delete([entry_id])
    if not deleted:
        raise NotFoundError(f"no DLQ entry {entry_id!r}")
    note.affected = 1
    return BulkPublic(status="done", count=1, results={entry_id: "deleted"})


async def _bulk(
    kind: Literal["replay", "delete"],
    body: BulkCreate,
    api: ApiServices,
    dlq: DlqService,
    principal: Principal,
    note: AuditNote,
) -> BulkPublic:
    note.resource = "dlq"
    if (body.ids is None) == (body.filter is None):
        raise InvalidRequestError("give either ids or a filter", [FieldError("ids", "either ids or filter")])
    if kind == "delete":
        return await _confirmed_delete(body, api, dlq, principal, note)
    brake = BrakeLimits(
        dlq.tasks.brake.threshold if body.brake_threshold is None else body.brake_threshold,
        body.brake_window or dlq.tasks.brake.window_seconds,
    )
    slow = SlowStart(dlq.tasks.slow_start.percent if body.slow_start is None else body.slow_start)
    in_flight = body.max_in_flight or 0
    plan = PlanPublic.of(body.rate or dlq.tasks.rate, brake, slow, in_flight)
    if body.ids is not None:
        return await _replay_ids(body, body.ids, brake, slow, plan, dlq, principal, note)
    assert body.filter is not None
    flt = body.filter.to_filter()
    dlq.query.validate(flt)
    action = "dlq.bulk_replay"
    params = {
        "filter": flt.as_params(),
        "rate": body.rate,
        **brake.as_params(),
        "slow_start": slow.percent,
        "max_in_flight": in_flight,
    }
    if body.confirmation_token is None:
        preview = await dlq.tasks.preview(flt)
        ticket = await api.confirmations.issue(principal.actor, action, params, phrase="")
        note.params = {"stage": "preview", "count": preview.count, **params}
        return _preview(preview, ticket, plan)
    await api.confirmations.redeem(body.confirmation_token, "", principal.actor, action, params)
    state = await dlq.tasks.start(
        "replay", flt, principal.actor, body.rate, brake=brake, slow_start=slow, max_in_flight=in_flight
    )
    note.params, note.affected = {"stage": "started", "task": state.id, **params}, state.total
    return BulkPublic(status="started", count=state.total, queues=state.queues, task=TaskPublic.of(state), plan=plan)


async def _replay_ids(
    body: BulkCreate,
    ids: list[str],
    brake: BrakeLimits,
    slow: SlowStart,
    plan: PlanPublic,
    dlq: DlqService,
    principal: Principal,
    note: AuditNote,
) -> BulkPublic:
    """Replay selected entries: at once when the brake could not stop it (no more ids than its threshold, or the
    brake off) and no rate, slow start or in-flight limit is asked; otherwise as a braked, throttled task."""
    count = len(set(ids))
    asked = body.rate is not None or slow.percent < FULL or plan.max_in_flight > 0
    if not asked and (brake.threshold == 0 or count <= brake.threshold):
        results = await dlq.replay_many(ids, principal.actor)
        done = sum(1 for value in results.values() if not value.startswith("error"))
        note.params, note.affected = {"ids": ids[:100]}, done
        return BulkPublic(status="done", count=done, results=results)
    state = await dlq.tasks.start_ids(
        ids, principal.actor, body.rate, brake=brake, slow_start=slow, max_in_flight=plan.max_in_flight
    )
    params = {
        "ids": ids[:100],
        "rate": body.rate,
        **brake.as_params(),
        "slow_start": slow.percent,
        "max_in_flight": plan.max_in_flight,
    }
    note.params, note.affected = {"stage": "started", "task": state.id, **params}, state.total
    return BulkPublic(status="started", count=state.total, queues=state.queues, task=TaskPublic.of(state), plan=plan)


async def _confirmed_delete(
    body: BulkCreate, api: ApiServices, dlq: DlqService, principal: Principal, note: AuditNote
) -> BulkPublic:
    """A bulk delete, by ids or by filter, in two calls: the impact and a token, then the token and the phrase."""
    action = "dlq.bulk_delete"
    flt = body.filter.to_filter() if body.filter is not None else None
    if flt is not None:
        dlq.query.validate(flt)
    params: dict[str, Any] = {"ids": body.ids} if flt is None else {"filter": flt.as_params(), "rate": body.rate}
    if body.confirmation_token is None:
        preview = await (dlq.tasks.preview(flt) if flt is not None else dlq.preview_ids(body.ids or []))
        ticket = await api.confirmations.issue(principal.actor, action, params, phrase=DELETE_PHRASE)
        note.params = {"stage": "preview", "count": preview.count, **_noted(params)}
        return _preview(preview, ticket)
    await api.confirmations.redeem(body.confirmation_token, body.phrase, principal.actor, action, params)
    if flt is None:
        ids = body.ids or []
        deleted = set(await dlq.delete(ids))
        results = {entry_id: "deleted" if entry_id in deleted else "error: not found" for entry_id in ids}
        note.params, note.affected = {"stage": "confirmed", **_noted(params)}, len(deleted)
        return BulkPublic(status="done", count=len(deleted), results=results)
    state = await dlq.tasks.start("delete", flt, principal.actor, body.rate)
    note.params, note.affected = {"stage": "started", "task": state.id, **params}, state.total
    return BulkPublic(status="started", count=state.total, queues=state.queues, task=TaskPublic.of(state))


def _noted(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as the audit row keeps them: at most 100 ids."""
    return {**params, "ids": params["ids"][:100]} if "ids" in params else params


@router.post("/replay", name="dlq.bulk_replay", response_model=BulkPublic)
async def bulk_replay(body: BulkCreate, api: Api, dlq: Dlq, note: Note, principal: Replayer) -> BulkPublic:
    """Replay entries by `ids` (at once, or as a braked background task when there are more than `brake_threshold`
    of them or a `rate` or `slow_start` is given), or by `filter`: the first call previews (count, sample, queues,
    plan) and hands out a confirmation token; the second call with the token starts a throttled background task.
    One bulk replay task runs per source queue at a time."""
    return await _bulk("replay", body, api, dlq, principal, note)


@router.post("/delete", name="dlq.bulk_delete", response_model=BulkPublic)
async def bulk_delete(body: BulkCreate, api: Api, dlq: Dlq, note: Note, principal: Deleter) -> BulkPublic:
    """Delete entries by `ids` (up to 1,000) or by `filter`, always in two calls: the first answers the impact
    (count, sample, queues) and a confirmation token; the second sends the token and the typed phrase
    `delete dlq` within 120 s (ids are then deleted at once, a filter starts a background task)."""
    return await _bulk("delete", body, api, dlq, principal, note)


@router.post("/clear", name="dlq.clear", response_model=BulkPublic)
async def clear(body: ClearCreate, api: Api, dlq: Dlq, note: Note, principal: Deleter) -> BulkPublic:
    """Clear every entry, or those of a queue, a replay count or older than some hours. First call: the impact
    and a token; second call: the token and the phrase `clear dlq` typed, within 120 s; then a background task."""
    note.resource = "dlq"
    until = int(time.time() * 1000) - body.older_than_hours * 3_600_000 if body.older_than_hours else None
    flt = DlqFilter(queue=body.queue or None, replays=body.replays, until_ms=until)
    params = {"queue": body.queue, "replays": body.replays, "older_than_hours": body.older_than_hours}
    if body.confirmation_token is None:
        preview = await dlq.tasks.preview(flt)
        ticket = await api.confirmations.issue(principal.actor, "dlq.clear", params, phrase=CLEAR_PHRASE)
        note.params = {"stage": "preview", "count": preview.count, **params}
        return _preview(preview, ticket)
    await api.confirmations.redeem(body.confirmation_token, body.phrase, principal.actor, "dlq.clear", params)
    state = await dlq.clear(flt, principal.actor)
    note.params, note.affected = {"stage": "confirmed", "task": state.id, **params}, state.total
    return BulkPublic(status="started", count=state.total, queues=state.queues, task=TaskPublic.of(state))


@router.get("/tasks", name="dlq.tasks", response_model=list[TaskPublic])
async def list_tasks(dlq: Dlq, _: Reader, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[TaskPublic]:
    """Bulk tasks, newest first, with their progress."""
    return [TaskPublic.of(state) for state in await dlq.tasks.recent(limit)]


@router.get("/tasks/{task_id}", name="dlq.task", response_model=TaskPublic)
async def get_task(task_id: str, dlq: Dlq, _: Reader) -> TaskPublic:
    """One bulk task's progress (also published as `bulk.progress` events)."""
    return TaskPublic.of(await dlq.tasks.get(task_id))


@router.post("/tasks/{task_id}/cancel", name="dlq.task_cancel", response_model=TaskPublic)
async def cancel_task(task_id: str, dlq: Dlq, note: Note, _: Replayer) -> TaskPublic:
    """Stop a bulk task after its current batch; a paused task is cancelled at once (its other entries stay)."""
    note.resource = f"dlq-task:{task_id}"
    state = await dlq.tasks.cancel(task_id)
    note.affected = 1
    return TaskPublic.of(state)


@router.post("/tasks/{task_id}/resume", name="dlq.task_resume", response_model=TaskPublic)
async def resume_task(task_id: str, dlq: Dlq, note: Note, principal: Replayer) -> TaskPublic:
    """Go on with a bulk replay its brake paused, from where it stopped, in this API process; anything but a
    paused task answers 409."""
    note.resource = f"dlq-task:{task_id}"
    state = await dlq.tasks.resume(task_id, principal.actor)
    note.params, note.affected = {"done": state.done, "total": state.total}, 1
    return TaskPublic.of(state)


@router.get("/analytics", name="dlq.analytics", response_model=None)
async def analytics(
    dlq: Dlq,
    _: Reader,
    top: Annotated[int, Query(ge=1, le=100)] = 10,
    window: Annotated[str | None, Query(description="24h, 7d or 30d: breakdowns of the entries failed in it")] = None,
    since: Annotated[int | None, Query(ge=0, description="a custom range from (epoch ms, at most 90 days)")] = None,
    until: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    """Totals; counts by queue, job name, hour and replay status; the top error fingerprints with first and last
    seen, count and a sample reason; the replay success rate. Of every entry (and the last 24 hours), or, given a
    `window` or `since`/`until`, of the entries that failed in that range (`in_range`); a reversed range is a 422."""
    found: Analytics
    if window is None and since is None and until is None:
        found = await dlq.analytics.summary(top)
    else:
        if since is None and until is not None:
            raise InvalidRequestError("invalid range", [FieldError("since", "give since with until")])
        found = await dlq.analytics.summary_in(top, window, since, until)
    return _plain(found)


@router.get("/trends", name="dlq.trends", response_model=None)
async def trends(
    dlq: Dlq,
    _: Reader,
    window: Annotated[str | None, Query(description="24h, 7d or 30d; omit for since/until")] = None,
    since: Annotated[int | None, Query(ge=0)] = None,
    until: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    """Entries per hour over a window or a custom range (at most 90 days), the peak hour and the average."""
    found: Trend = await dlq.analytics.trend(window or (None if since is not None else "24h"), since, until)
    return _plain(found)


@router.get("/fields", name="dlq.fields", response_model=dict[str, list[str]])
async def searchable_fields(dlq: Dlq, _: Reader) -> dict[str, list[str]]:
    """The payload fields searchable as `field:value`, by job name."""
    return dict(dlq.store.fields)


@router.get("/export", name="dlq.export", response_model=None)
async def export(
    request: Request,
    api: Api,
    dlq: Dlq,
    flt: QueryFilter,
    principal: Exporter,
    format: Annotated[Literal["csv", "jsonl"], Query(description="csv or jsonl")] = "csv",
) -> StreamingResponse:
    """Stream the matching entries with their payloads as CSV (cells neutralised) or JSON Lines. Logged as a
    data access."""
    dlq.query.validate(flt)
    fmt: ExportFormat = format
    await api.audit.record_access(
        principal.actor, "dlq_entry", [], {"export": fmt, **flt.as_params()}, client_ip(request, api.settings)
    )
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
    headers = {"Content-Disposition": f'attachment; filename="dlq.{fmt}"'}
    secrets = {name: api.registry.secret_paths(name) for name in api.registry.jobs}
    return StreamingResponse(export_lines(dlq.query, flt, fmt, secrets), media_type=media, headers=headers)


def _plain(value: Analytics | Trend) -> dict[str, Any]:
    """A dataclass tree as JSON-ready values."""
    return asdict(value)
