"""The reference catalogue as one Corral application."""

from __future__ import annotations

from pathlib import Path

from corral.app import Corral
from corral_reference.contracts import CATALOGUE_JOBS, CATALOGUE_QUEUES
from corral_reference.demo import demo_jobs
from corral_reference.workers import register_all

app = Corral("corral-reference")
for _queue in CATALOGUE_QUEUES:
    if _queue.name != "dlq":
        app.add_queue(_queue)
for _job in CATALOGUE_JOBS:
    app.add_job(_job)
app.on_worker(register_all)
app.demo_traffic = demo_jobs
app.add_migrations(Path(__file__).parent / "migrations" / "versions", "corral_reference_version")
