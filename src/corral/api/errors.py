"""Maps Corral's errors to HTTP statuses and `application/problem+json` bodies (RFC 9457)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

from corral.availability import as_unavailable
from corral.errors import (
    AuthenticationError,
    BatchValidationError,
    ConfigurationError,
    ConfirmationRequiredError,
    ConflictError,
    ContractError,
    CorralError,
    CsrfError,
    EnqueueError,
    FieldError,
    InvalidRequestError,
    NotFoundError,
    PayloadValidationError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    ServerUnavailableError,
    UnknownJobError,
)

logger = logging.getLogger(__name__)

PROBLEM = "application/problem+json"

STATUS_BY_ERROR: tuple[tuple[type[CorralError], int, str], ...] = (
    (AuthenticationError, 401, "authentication required"),
    (CsrfError, 403, "CSRF token missing or wrong"),
    (PermissionDeniedError, 403, "permission denied"),
    (NotFoundError, 404, "not found"),
    (UnknownJobError, 404, "unknown job type"),
    (ConfirmationRequiredError, 409, "confirmation required"),
    (ConflictError, 409, "conflict"),
    (PayloadValidationError, 422, "invalid payload"),
    (BatchValidationError, 422, "invalid batch"),
    (InvalidRequestError, 422, "invalid request"),
    (EnqueueError, 422, "invalid options"),
    (ContractError, 422, "contract violation"),
    (RateLimitedError, 429, "too many requests"),
    (ConfigurationError, 503, "service misconfigured"),
    (ServerUnavailableError, 503, "Redis/Valkey unavailable"),
    (ServerError, 503, "Redis/Valkey unusable"),
)


def problem(
    status: int,
    title: str,
    detail: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response; `errors` lists the fields and reasons."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    if errors is not None:
        body["errors"] = [{"field": e.field, "reason": e.reason} for e in errors]
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _field_errors(exc: CorralError) -> list[FieldError] | None:
    if isinstance(exc, PayloadValidationError | InvalidRequestError):
        return exc.errors
    if isinstance(exc, BatchValidationError):
        found: list[FieldError] = []
        for index, failure in sorted(exc.failures.items()):
            if isinstance(failure, PayloadValidationError):
                found.extend(FieldError(f"items.{index}.{e.field}", e.reason) for e in failure.errors)
            else:
                found.append(FieldError(f"items.{index}", str(failure)))
        return found
    return None


def corral_error_response(exc: CorralError) -> JSONResponse:
    """The HTTP answer for one of Corral's errors."""
    for error_type, status, title in STATUS_BY_ERROR:
        if isinstance(exc, error_type):
            headers = {"WWW-Authenticate": 'Bearer realm="corral"'} if status == 401 else None
            if isinstance(exc, RateLimitedError):
                headers = {
                    "Retry-After": str(exc.retry_after),
                    "RateLimit-Limit": str(exc.limit),
                    "RateLimit-Remaining": "0",
                    "RateLimit-Reset": str(exc.retry_after),
                }
            if isinstance(exc, ServerUnavailableError):
                headers = {"Retry-After": str(exc.retry_after)}
            return problem(status, title, str(exc), _field_errors(exc), headers)
    logger.error("unmapped Corral error: %s", exc)
    return problem(400, "request refused", str(exc))


def redis_error_response(exc: RedisError, url: str) -> JSONResponse:
    """503 with the reason when the server cannot be used now (refused, silent, loading, refusing writes); else 500."""
    unavailable = as_unavailable(exc, url)
    if unavailable is not None:
        return corral_error_response(unavailable)
    logger.error("unexpected Redis error: %s", exc)
    return problem(500, "internal error", "an unexpected error occurred; it has been logged")


def validation_response(exc: RequestValidationError) -> JSONResponse:
    """422 naming every invalid field of a request's path, query or body."""
    errors = []
    for item in exc.errors():
        location = [str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path", "header")]
        errors.append(FieldError(".".join(location) or "request", str(item.get("msg", "invalid"))))
    return problem(422, "invalid request", "; ".join(str(e) for e in errors), errors)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error as problem+json: Corral's by type, validation as 422, anything unexpected as 500."""

    @app.exception_handler(CorralError)
    async def _corral(_request: Request, exc: CorralError) -> JSONResponse:
        return corral_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(RedisError)
    async def _redis(request: Request, exc: RedisError) -> JSONResponse:
        return redis_error_response(exc, getattr(getattr(request.app.state, "services", None), "redis_url", ""))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error while handling a request")
        return problem(500, "internal error", "an unexpected error occurred; it has been logged")
