"""Every error Corral raises on purpose.

CorralError
├── ConfigurationError
├── ServerError
│   ├── ServerUnavailableError
│   └── DataDirectoryInUseError
├── ContractError
│   ├── UnknownJobError
│   ├── PayloadValidationError
│   └── BatchValidationError
├── EnqueueError
├── NotFoundError
├── ConflictError
│   └── ReplayLimitError
├── InvalidRequestError
├── AuthenticationError
├── PermissionDeniedError
├── CsrfError
├── RateLimitedError
├── ConfirmationRequiredError
└── JobFailure
    ├── UnrecoverableJobError
    │   ├── ContractViolationError
    │   └── NoHandlerError
    └── JobTimeoutError
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One invalid field: its dotted location and the reason."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class CorralError(Exception):
    """Raised for any failure Corral reports on purpose; the root of the tree."""


class ConfigurationError(CorralError):
    """Raised when settings or a queue/job registration are inconsistent."""


class ServerError(CorralError):
    """Raised when the embedded Valkey cannot start or an external Redis is unusable."""


class ServerUnavailableError(ServerError):
    """Raised when Redis/Valkey cannot be reached, does not answer in time, or refuses writes right now."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DataDirectoryInUseError(ServerError):
    """Raised when another live `corral up` already owns the data directory."""


class ContractError(CorralError):
    """Raised when a job name or payload does not satisfy the registered contracts."""


class UnknownJobError(ContractError):
    """Raised when a job name has no registered contract."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown job type {name!r}")
        self.name = name


class PayloadValidationError(ContractError):
    """Raised when one payload fails its contract; carries every field error."""

    def __init__(self, job_name: str, errors: list[FieldError]) -> None:
        detail = "; ".join(str(e) for e in errors)
        super().__init__(f"invalid payload for {job_name}: {detail}")
        self.job_name = job_name
        self.errors = errors


class BatchValidationError(ContractError):
    """Raised when any item of a bulk enqueue is invalid; nothing of the batch was enqueued."""

    def __init__(self, failures: dict[int, CorralError]) -> None:
        parts = [f"item {index}: {error}" for index, error in sorted(failures.items())]
        super().__init__(f"{len(failures)} invalid item(s), nothing enqueued: " + " | ".join(parts))
        self.failures = failures


class EnqueueError(CorralError):
    """Raised when enqueue options are invalid (negative delay, bad priority, bad idempotency key)."""


class NotFoundError(CorralError):
    """Raised when a queue, job, DLQ entry, user or token does not exist."""


class ConflictError(CorralError):
    """Raised when an operation cannot run in the resource's current state (locked, already done, limits)."""


class ReplayLimitError(ConflictError):
    """Raised when a DLQ entry has already been replayed the maximum number of times."""


class InvalidRequestError(CorralError):
    """Raised when a request's parameters are invalid; carries the field errors."""

    def __init__(self, message: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class AuthenticationError(CorralError):
    """Raised when a request carries no valid session or token, or a login fails."""


class PermissionDeniedError(CorralError):
    """Raised when an authenticated account lacks the permission a route or operation requires."""


class CsrfError(CorralError):
    """Raised when a cookie-authenticated state-changing request lacks the session's CSRF token."""


class RateLimitedError(CorralError):
    """Raised when a budget of requests is spent; carries when to retry and the limit's numbers."""

    def __init__(self, message: str, *, retry_after: int, limit: int, reset: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.limit = limit
        self.reset = reset


class ConfirmationRequiredError(CorralError):
    """Raised when a destructive action lacks a valid confirmation token or typed phrase; nothing was done."""


class JobFailure(CorralError):
    """Raised inside a worker to fail the current attempt; retried while attempts remain."""


class UnrecoverableJobError(JobFailure):
    """Raised inside a worker to fail the job at once and send it to the DLQ, skipping retries."""


class ContractViolationError(UnrecoverableJobError):
    """Raised when a consumed job's payload fails its contract (for example from a foreign producer)."""

    def __init__(self, errors: list[FieldError]) -> None:
        first = errors[0] if errors else FieldError("payload", "invalid")
        super().__init__(f"contract violation: {first.field}: {first.reason}")
        self.errors = errors


class NoHandlerError(UnrecoverableJobError):
    """Raised when a consumed job's name has no handler in this worker process."""


class JobTimeoutError(JobFailure):
    """Raised when a job attempt runs past its queue's timeout; it counts as a failed attempt."""
