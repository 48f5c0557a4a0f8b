"""Job contracts, queue configs and the registry that holds them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from corral.contracts.secrets import Path, mask, redact, secret_paths, secret_values
from corral.errors import ConfigurationError, FieldError, PayloadValidationError, UnknownJobError

MAX_PAYLOAD_BYTES = 1_048_576
RESERVED_QUEUES = frozenset({"dlq"})


class JobContract(BaseModel):
    """Base of every job payload: unknown fields are refused and strings are bounded."""

    model_config = ConfigDict(extra="forbid", str_max_length=100_000, frozen=True)


@dataclass(frozen=True)
class RateLimit:
    """At most `max_jobs` started per `per_ms` milliseconds across all workers of a queue."""

    max_jobs: int
    per_ms: int


@dataclass(frozen=True)
class Retention:
    """How many finished jobs a queue keeps, and for how long."""

    count: int
    age_seconds: int

    def as_keep_jobs(self) -> dict[str, int]:
        """The shape bullmq's `removeOnComplete`/`removeOnFail` take."""
        return {"count": self.count, "age": self.age_seconds}


@dataclass(frozen=True)
class QueueConfig:
    """One queue's processing policy."""

    name: str
    attempts: int = 3
    backoff_ms: int = 1_000
    backoff_jitter: float = 0.2
    concurrency: int = 10
    timeout_seconds: float = 60.0
    rate_limit: RateLimit | None = None
    keep_completed: Retention = field(default_factory=lambda: Retention(count=1_000, age_seconds=86_400))
    keep_failed: Retention = field(default_factory=lambda: Retention(count=5_000, age_seconds=7 * 86_400))
    # On a Redis/Valkey Cluster, the hash tag of the queue's keys (its name when empty): queues whose jobs are a flow's
    # parent and children (a workflow and the job types its steps run) must share one, as a flow's scripts touch
    # both queues' keys; other queues keep their own, so they spread over the cluster's masters.
    hash_tag: str = ""

    @property
    def cluster_tag(self) -> str:
        """The hash tag the queue's keys carry on a cluster."""
        return self.hash_tag or self.name

    def __post_init__(self) -> None:
        problems = []
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            problems.append("name: letters, digits, '-' and '_' only")
        if self.hash_tag and not self.hash_tag.replace("-", "").replace("_", "").replace(":", "").isalnum():
            problems.append("hash_tag: letters, digits, '-', '_' and ':' only")
        if not 1 <= self.attempts <= 100:
            problems.append("attempts: between 1 and 100")
        if not 0 <= self.backoff_ms <= 86_400_000:
            problems.append("backoff_ms: between 0 and 86400000")
        if not 0.0 <= self.backoff_jitter <= 1.0:
            problems.append("backoff_jitter: between 0 and 1")
        if not 1 <= self.concurrency <= 10_000:
            problems.append("concurrency: between 1 and 10000")
        if not 0 < self.timeout_seconds <= 86_400:
            problems.append("timeout_seconds: above 0 and at most 86400")
        if self.keep_failed.count < 1:
            # The DLQ captures from the failed set; a job removed on failure could not be captured.
            problems.append("keep_failed.count: at least 1")
        if problems:
            raise ConfigurationError(f"queue {self.name!r}: " + "; ".join(problems))


@dataclass(frozen=True)
class JobType:
    """A job name bound to its queue, the worker that runs it and its payload contract."""

    name: str
    queue: str
    worker: str
    contract: type[JobContract]
    description: str = ""

    def validate(self, payload: Any) -> JobContract:
        """The payload parsed by the contract; raises PayloadValidationError naming every bad field."""
        if isinstance(payload, self.contract):
            return payload
        if isinstance(payload, BaseModel):
            # Another contract's model (the base of this one, whose variant marks more fields secret): its fields.
            payload = payload.model_dump(mode="json", by_alias=True)
        try:
            return self.contract.model_validate(payload)
        except ValidationError as exc:
            raise PayloadValidationError(self.name, field_errors(exc)) from None


def field_errors(exc: ValidationError) -> list[FieldError]:
    """Pydantic's errors as (dotted field, reason) pairs."""
    errors = []
    for item in exc.errors(include_url=False):
        location = ".".join(str(part) for part in item["loc"]) or "payload"
        errors.append(FieldError(location, item["msg"]))
    return errors


class Registry:
    """The queues and job types a Corral deployment knows; applications add their own."""

    def __init__(self) -> None:
        self._queues: dict[str, QueueConfig] = {}
        self._jobs: dict[str, JobType] = {}

    def add_queue(self, config: QueueConfig) -> None:
        """Register a queue, or replace the config of one already registered."""
        self._queues[config.name] = config

    def add_job(self, job_type: JobType) -> None:
        """Register a job type; its queue must be registered and its name unused."""
        if job_type.queue not in self._queues or job_type.queue in RESERVED_QUEUES:
            raise ConfigurationError(f"job {job_type.name!r}: queue {job_type.queue!r} is not a registered work queue")
        if job_type.name in self._jobs:
            raise ConfigurationError(f"job {job_type.name!r} is already registered")
        self._jobs[job_type.name] = job_type

    def queue(self, name: str) -> QueueConfig:
        """The config of a registered queue."""
        try:
            return self._queues[name]
        except KeyError:
            raise ConfigurationError(f"unknown queue {name!r}") from None

    def job(self, name: str) -> JobType:
        """The registered job type of that name; raises UnknownJobError."""
        try:
            return self._jobs[name]
        except KeyError:
            raise UnknownJobError(name) from None

    @property
    def queues(self) -> Mapping[str, QueueConfig]:
        """Every registered queue by name, the DLQ included."""
        return dict(self._queues)

    @property
    def hash_tags(self) -> dict[str, str]:
        """Each queue's hash tag on a cluster."""
        return {name: config.cluster_tag for name, config in self._queues.items()}

    @property
    def work_queues(self) -> list[str]:
        """Names of the queues that workers consume (all but the DLQ)."""
        return [name for name in self._queues if name not in RESERVED_QUEUES]

    @property
    def jobs(self) -> Mapping[str, JobType]:
        """Every registered job type by name."""
        return dict(self._jobs)

    def jobs_of(self, queue: str) -> list[JobType]:
        """The job types that run on one queue."""
        return [job for job in self._jobs.values() if job.queue == queue]

    def validate(self, name: str, payload: Any) -> JobContract:
        """The payload of job `name` parsed by its contract."""
        return self.job(name).validate(payload)

    def secret_paths(self, name: str) -> tuple[Path, ...]:
        """The secret fields of job `name`'s contract; none for a job name that is not registered."""
        job = self._jobs.get(name)
        return secret_paths(job.contract) if job is not None else ()

    def masked(self, name: str, data: Any) -> Any:
        """`data` of a job `name` with its secret fields' values masked (unchanged for an unknown name)."""
        paths = self.secret_paths(name)
        return mask(data, paths) if paths else data

    def redacted(self, name: str, data: Any, value: Any) -> Any:
        """`value` (a failure reason, log line, progress or result of a job `name` whose payload is `data`) with the
        exact text of that payload's secret values replaced by the mask."""
        paths = self.secret_paths(name)
        return redact(value, secret_values(data, paths)) if paths else value

    def extend(self, queues: Iterable[QueueConfig] = (), jobs: Iterable[JobType] = ()) -> Registry:
        """Add queues then job types; returns self for chaining."""
        for queue in queues:
            self.add_queue(queue)
        for job in jobs:
            self.add_job(job)
        return self


@dataclass(frozen=True)
class EnqueueOptions:
    """Per-job options: a delay, a priority (1 is highest), an idempotency key, an attempts override."""

    delay_ms: int = 0
    priority: int = 0
    idempotency_key: str | None = None
    attempts: int | None = None
