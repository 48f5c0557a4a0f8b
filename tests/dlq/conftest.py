"""Fixtures of the DLQ tests."""

from dlq.dlq_peers import dead_jobs, dlq

__all__ = ["dead_jobs", "dlq"]
