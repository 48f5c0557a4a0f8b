"""Typed job contracts: the payload models, queue configs, the registry and the reference catalogue."""

from corral.contracts.base import (
    EnqueueOptions,
    JobContract,
    JobType,
    QueueConfig,
    RateLimit,
    Registry,
    Retention,
)
from corral.contracts.catalogue import CATALOGUE_JOBS, CATALOGUE_QUEUES, CATALOGUE_WORKERS, default_registry

__all__ = [
    "CATALOGUE_JOBS",
    "CATALOGUE_QUEUES",
    "CATALOGUE_WORKERS",
    "EnqueueOptions",
    "JobContract",
    "JobType",
    "QueueConfig",
    "RateLimit",
    "Registry",
    "Retention",
    "default_registry",
]
