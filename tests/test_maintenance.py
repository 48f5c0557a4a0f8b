"""The platform's own retention, run by workers with no job asked for it: the DLQ, finished jobs, events, audit."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from corral.dlq.service import DlqService
from corral.maintenance import maintenance_loop
from corral.sql import upgrade
from corral.sql.models import AuditLog
from corral_reference.contracts import default_registry
from dlq.dlq_peers import DeadJobs

HOUR_MS = 3_600_000


async def test_worker_maintenance_enforces_retention_once_per_interval_across_processes(
    settings, valkey_url, redis_client, engine, keys, worker_services
) -> None:
    # Given a DLQ kept for 2 hours, with one entry of 3 hours ago and one of now, and audit rows of 400 and 1 days
    worker_services.settings = settings.model_copy(update={"dlq_max_age_hours": 2, "maintenance_interval_seconds": 60})
    service = DlqService(redis_client, keys, engine, default_registry())
    dead = DeadJobs(redis_client, service, keys)
    now = int(time.time() * 1000)
    old = await dead.add("search.remove", {"docType": "page", "docId": "1"}, "boom", failed_at=now - 3 * HOUR_MS)
    fresh = await dead.add("search.remove", {"docType": "page", "docId": "2"}, "boom", failed_at=now)
    upgrade(settings.resolved_database_url)
    with worker_services.database.transaction() as session:
        for days in (400, 1):
            session.add(AuditLog(actor="a", action="x", created_at=datetime.now(UTC) - timedelta(days=days), params={}))
    # When the maintenance of two worker processes comes round
    first, second = maintenance_loop(worker_services), maintenance_loop(worker_services)
    reports = await first.run_once()
    # Then one of them ran it, and the other found it done for this interval
    assert reports is not None and await second.run_once() is None
    # And the old DLQ entry and the old audit row are gone, the recent ones kept
    assert await service.store.get(old) is None and await service.store.get(fresh) is not None
    with worker_services.database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(AuditLog)) == 1
