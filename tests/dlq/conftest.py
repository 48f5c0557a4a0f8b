"""Fixtures of the DLQ tests."""

from dlq.dlq_peers import dead_jobs, dlq, seeder

__all__ = ["dead_jobs", "dlq", "seeder"]
