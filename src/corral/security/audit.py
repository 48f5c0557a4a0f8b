"""The audit log (every mutation) and the data-access log (every sensitive read), in the SQL store."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from corral.sql import AuditLog, Database
from corral.sql.security_models import DataAccessRecord

SECRET_NAME = re.compile(r"pass(word)?|secret|token|api[_-]?key|authorization|cookie|otp|code$", re.I)
REDACTED = "[redacted]"
MAX_PARAM_TEXT = 2_000


def redact(value: Any, name: str = "") -> Any:
    """`value` as JSON-ready data: fields whose names look secret replaced, long text cut, other types as text."""
    if name and SECRET_NAME.search(name):
        return REDACTED
    if isinstance(value, Mapping):
        return {str(key): redact(item, str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value[:100]]
    if isinstance(value, str):
        return value[:MAX_PARAM_TEXT] + "..." if len(value) > MAX_PARAM_TEXT else value
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class AuditEntry:
    """One mutation to record."""

    actor: str
    action: str
    resource: str
    params: dict[str, Any] = field(default_factory=dict)
    ip: str | None = None
    user_agent: str | None = None
    result: str = "ok"
    affected: int = 0
    duration_ms: int | None = None


@dataclass(frozen=True)
class AuditFilter:
    """Which audit rows to read."""

    actor: str | None = None
    action: str | None = None
    resource: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AccessFilter:
    """Which data-access records to read."""

    actor: str | None = None
    target_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditRow:
    """A stored audit row."""

    id: int
    actor: str
    action: str
    resource: str
    params: dict[str, Any]
    ip: str | None
    user_agent: str | None
    result: str
    affected: int
    duration_ms: int | None
    created_at: datetime

    @classmethod
    def of(cls, row: AuditLog) -> AuditRow:
        return cls(
            row.id,
            row.actor,
            row.action,
            row.resource,
            row.params,
            row.ip,
            row.user_agent,
            row.result,
            row.affected,
            row.duration_ms,
            row.created_at,
        )


AUDIT_COLUMNS = (
    "id",
    "created_at",
    "actor",
    "action",
    "resource",
    "result",
    "affected",
    "duration_ms",
    "ip",
    "user_agent",
    "params",
)


class AuditTrail:
    """Writes and reads the audit and data-access logs."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def _record(self, entry: AuditEntry) -> None:
        with self.database.transaction() as session:
            session.add(
                AuditLog(
                    actor=entry.actor[:128],
                    action=entry.action[:64],
                    resource=entry.resource[:256],
                    params=redact(entry.params),
                    ip=entry.ip,
                    user_agent=(entry.user_agent or "")[:512] or None,
                    result=entry.result[:32],
                    affected=entry.affected,
                    duration_ms=entry.duration_ms,
                )
            )

    async def record(self, entry: AuditEntry) -> None:
        """Store one audit row, secrets redacted."""
        await asyncio.to_thread(self._record, entry)

    @staticmethod
    def _filtered(query: Select[Any], where: AuditFilter) -> Select[Any]:
        if where.actor:
            query = query.where(AuditLog.actor == where.actor)
        if where.action:
            query = query.where(AuditLog.action == where.action)
        if where.resource:
            query = query.where(AuditLog.resource.startswith(where.resource, autoescape=True))
        if where.since:
            query = query.where(AuditLog.created_at >= where.since)
        if where.until:
            query = query.where(AuditLog.created_at < where.until)
        return query

    def _page(self, where: AuditFilter, before_id: int | None, limit: int) -> list[AuditRow]:
        query = self._filtered(select(AuditLog), where)
        if before_id is not None:
            query = query.where(AuditLog.id < before_id)
        with self.database.transaction() as session:
            rows = session.scalars(query.order_by(AuditLog.id.desc()).limit(limit))
            return [AuditRow.of(row) for row in rows]

    async def page(self, where: AuditFilter, before_id: int | None = None, limit: int = 50) -> list[AuditRow]:
        """Newest rows first matching `where`, older than `before_id` (a cursor)."""
        return await asyncio.to_thread(self._page, where, before_id, limit)

    def rows(self, where: AuditFilter, batch: int = 1_000) -> Iterator[AuditRow]:
        """Every matching row, newest first, read in batches (for exports)."""
        before: int | None = None
        while True:
            chunk = self._page(where, before, batch)
            yield from chunk
            if len(chunk) < batch:
                return
            before = chunk[-1].id

    def _record_access(
        self, actor: str, target_type: str, target_ids: list[str], details: dict[str, Any], ip: str | None
    ) -> None:
        with self.database.transaction() as session:
            session.add(
                DataAccessRecord(
                    actor=actor[:320],
                    target_type=target_type[:64],
                    target_ids=[str(i)[:256] for i in target_ids[:1_000]],
                    details=redact(details),
                    ip=ip,
                )
            )

    async def record_access(
        self,
        actor: str,
        target_type: str,
        target_ids: list[str],
        details: dict[str, Any] | None = None,
        ip: str | None = None,
    ) -> None:
        """Store one sensitive read in the data-access log."""
        await asyncio.to_thread(self._record_access, actor, target_type, target_ids, details or {}, ip)

    def _accesses(self, limit: int, where: AccessFilter, before_id: int | None) -> list[DataAccessRecord]:
        query = select(DataAccessRecord)
        if where.actor:
            query = query.where(DataAccessRecord.actor == where.actor)
        if where.target_type:
            query = query.where(DataAccessRecord.target_type == where.target_type)
        if where.since:
            query = query.where(DataAccessRecord.created_at >= where.since)
        if where.until:
            query = query.where(DataAccessRecord.created_at < where.until)
        if before_id is not None:
            query = query.where(DataAccessRecord.id < before_id)
        with self.database.transaction() as session:
            return list(session.scalars(query.order_by(DataAccessRecord.id.desc()).limit(limit)))

    async def accesses(
        self, limit: int = 50, where: AccessFilter | None = None, before_id: int | None = None
    ) -> list[DataAccessRecord]:
        """The newest data-access records matching `where`, older than `before_id` (a cursor)."""
        return await asyncio.to_thread(self._accesses, limit, where or AccessFilter(), before_id)
