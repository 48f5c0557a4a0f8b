"""Typed job contracts: the payload models, queue configs and the registry."""

from corral.contracts.base import (
    EnqueueOptions,
    JobContract,
    JobType,
    QueueConfig,
    RateLimit,
    Registry,
    Retention,
)

__all__ = [
    "EnqueueOptions",
    "JobContract",
    "JobType",
    "QueueConfig",
    "RateLimit",
    "Registry",
    "Retention",
]
