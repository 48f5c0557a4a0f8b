"""The reference catalogue as one Corral application."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from corral.app import Corral
from corral.contracts.base import JobType
from corral_reference.contracts import CATALOGUE_JOBS, CATALOGUE_QUEUES, PRIVATE_AI_JOBS
from corral_reference.demo import demo_jobs
from corral_reference.workers import register_all


def _catalogue(jobs: Iterable[JobType]) -> Corral:
    built = Corral("corral-reference")
    for queue in CATALOGUE_QUEUES:
        if queue.name != "dlq":
            built.add_queue(queue)
    for job in jobs:
        built.add_job(job)
    built.on_worker(register_all)
    built.demo_traffic = demo_jobs
    built.add_migrations(Path(__file__).parent / "migrations" / "versions", "corral_reference_version")
    return built


app = _catalogue(CATALOGUE_JOBS)
# The same catalogue whose AI prompts and texts are secret fields: `CORRAL_APP=corral_reference:private_ai_app`.
private_ai_app = _catalogue(PRIVATE_AI_JOBS)
