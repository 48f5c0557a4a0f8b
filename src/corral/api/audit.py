"""The audit log (filters, pages, CSV export) and the accounts, for owners."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from corral.api.auth import AccountPublic
from corral.api.context import ApiServices, services
from corral.api.routing import AuditNote, audit_note, owner_router
from corral.api.security import Principal, client_ip, require
from corral.csvsafe import csv_lines
from corral.security.audit import AUDIT_COLUMNS, AccessFilter, AuditFilter, AuditRow
from corral.security.permissions import Permission, Role
from corral.security.ratelimit import Budget

router = owner_router(prefix="/owner", tags=["audit and accounts"])

Api = Annotated[ApiServices, Depends(services)]
Note = Annotated[AuditNote, Depends(audit_note)]
AuditReader = Annotated[Principal, require(Permission.AUDIT_READ)]
AuditExporter = Annotated[Principal, require(Permission.AUDIT_READ, Budget.EXPORT)]
UserReader = Annotated[Principal, require(Permission.USERS_READ)]
UserManager = Annotated[Principal, require(Permission.USERS_MANAGE)]


class AuditRowPublic(BaseModel):
    """One audited action."""

    id: int
    created_at: datetime
    actor: str
    action: str
    resource: str
    result: str
    affected: int
    duration_ms: int | None
    ip: str | None
    user_agent: str | None
    params: dict[str, Any]

    @classmethod
    def of(cls, row: AuditRow) -> AuditRowPublic:
        return cls(
            id=row.id,
            created_at=row.created_at,
            actor=row.actor,
            action=row.action,
            resource=row.resource,
            result=row.result,
            affected=row.affected,
            duration_ms=row.duration_ms,
            ip=row.ip,
            user_agent=row.user_agent,
            params=row.params,
        )


class AuditPagePublic(BaseModel):
    """A page of the audit log, newest first; pass `next_before` as `before` for the next page."""

    items: list[AuditRowPublic]
    next_before: int | None


class DataAccessPublic(BaseModel):
    """One sensitive read: who read which records of what kind, with which filter, when and from where."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    created_at: datetime
    actor: str
    target_type: str
    target_ids: list[str]
    details: dict[str, Any]
    ip: str | None


class DataAccessPagePublic(BaseModel):
    """A page of the data-access log, newest first; pass `next_before` as `before` for the next page."""

    items: list[DataAccessPublic]
    next_before: int | None


class UserCreate(BaseModel):
    """A new account."""

    model_config = ConfigDict(extra="forbid", strict=True)
    email: str = Field(min_length=3, max_length=320)
    role: Literal["owner", "admin", "editor", "viewer"]
    password: str = Field(min_length=1, max_length=1024)


def _filter(
    actor: str | None, action: str | None, resource: str | None, since: datetime | None, until: datetime | None
) -> AuditFilter:
    return AuditFilter(actor=actor or None, action=action or None, resource=resource or None, since=since, until=until)


ActorQ = Annotated[str | None, Query(max_length=320)]
ActionQ = Annotated[str | None, Query(max_length=64)]
ResourceQ = Annotated[str | None, Query(max_length=256, description="prefix of the resource")]


def _iso_datetime(value: object) -> object:
    """Refuse bare numbers, which pydantic would read as epoch seconds: times are ISO 8601 here."""
    if isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError("an ISO 8601 date-time, for example 2026-11-28T09:00:00Z")
    return value


TimeQ = Annotated[AwareDatetime | None, BeforeValidator(_iso_datetime), Query(description="ISO 8601 with a timezone")]


@router.get("/audit", name="audit.list", response_model=AuditPagePublic)
async def list_audit(
    request: Request,
    api: Api,
    principal: AuditReader,
    actor: ActorQ = None,
    action: ActionQ = None,
    resource: ResourceQ = None,
    since: TimeQ = None,
    until: TimeQ = None,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AuditPagePublic:
    """Audit rows newest first, filtered by actor, action, resource prefix and time range. Logged as a data access."""
    where = _filter(actor, action, resource, since, until)
    rows = await api.audit.page(where, before, limit)
    await api.audit.record_access(
        principal.actor,
        "audit",
        [str(r.id) for r in rows],
        {"filter": where.__dict__},
        client_ip(request, api.settings),
    )
    return AuditPagePublic(
        items=[AuditRowPublic.of(r) for r in rows], next_before=rows[-1].id if len(rows) == limit else None
    )


@router.get("/audit.csv", name="audit.export", response_class=StreamingResponse)
async def export_audit(
    request: Request,
    api: Api,
    principal: AuditExporter,
    actor: ActorQ = None,
    action: ActionQ = None,
    resource: ResourceQ = None,
    since: TimeQ = None,
    until: TimeQ = None,
) -> StreamingResponse:
    """The filtered audit log as CSV, streamed; cells that could run as spreadsheet formulas are neutralised."""
    where = _filter(actor, action, resource, since, until)
    await api.audit.record_access(
        principal.actor, "audit-export", [], {"filter": where.__dict__}, client_ip(request, api.settings)
    )

    def rows() -> Any:
        for row in api.audit.rows(where):
            yield [
                row.id,
                row.created_at.isoformat(),
                row.actor,
                row.action,
                row.resource,
                row.result,
                row.affected,
                row.duration_ms,
                row.ip,
                row.user_agent,
                json.dumps(row.params, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
            ]

    async def stream() -> AsyncIterator[str]:
        lines = csv_lines(AUDIT_COLUMNS, rows())
        while True:
            chunk = await asyncio.to_thread(next, lines, None)
            if chunk is None:
                return
            yield chunk

    return StreamingResponse(
        stream(), media_type="text/csv", headers={"Content-Disposition": 'attachment; filename="corral-audit.csv"'}
    )


@router.get("/data-access", name="audit.data_access", response_model=DataAccessPagePublic)
async def list_data_access(
    request: Request,
    api: Api,
    principal: AuditReader,
    actor: ActorQ = None,
    target_type: Annotated[
        str | None, Query(max_length=64, description="kind of record read: job, dlq-entry, audit, ...")
    ] = None,
    since: TimeQ = None,
    until: TimeQ = None,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DataAccessPagePublic:
    """The data-access log newest first: every read of payloads, audit rows and other sensitive records, by whom,
    from where and with which filter. Reading it is itself logged."""
    where = AccessFilter(actor=actor or None, target_type=target_type or None, since=since, until=until)
    rows = await api.audit.accesses(limit, where, before)
    await api.audit.record_access(
        principal.actor,
        "data-access",
        [str(row.id) for row in rows],
        {"filter": where.__dict__},
        client_ip(request, api.settings),
    )
    return DataAccessPagePublic(
        items=[DataAccessPublic.model_validate(row) for row in rows],
        next_before=rows[-1].id if len(rows) == limit else None,
    )


@router.get("/users", name="users.list", response_model=list[AccountPublic])
async def list_users(api: Api, _: UserReader) -> list[AccountPublic]:
    """Every account."""
    return [AccountPublic.of(account) for account in await api.users.list()]


@router.post("/users", name="users.create", response_model=AccountPublic, status_code=201)
async def create_user(body: UserCreate, api: Api, note: Note, _: UserManager) -> AccountPublic:
    """Create an account (password at least 12 characters)."""
    account = await api.users.create(body.email, Role(body.role), body.password)
    note.resource, note.params, note.affected = f"user:{account.id}", {"email": account.email, "role": body.role}, 1
    return AccountPublic.of(account)


@router.post("/users/{email}/disable", name="users.disable", response_model=AccountPublic)
async def disable_user(email: str, api: Api, note: Note, _: UserManager) -> AccountPublic:
    """Disable an account and end its sessions; its tokens stop working. The last owner cannot be disabled."""
    account = await api.users.disable(email)
    await api.sessions.end_all(account.id)
    await api.tokens.forget_account(account.id)
    note.resource, note.affected = f"user:{account.id}", 1
    return AccountPublic.of(account)
