"""Routes that audit every mutation, answer errors as problem+json and report rate-limit headers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

from corral.api.errors import corral_error_response, problem, redis_error_response, validation_response
from corral.api.security import SAFE_METHODS, Principal, Require, client_ip
from corral.errors import ConfigurationError, CorralError
from corral.operations import OperatorEvent

logger = logging.getLogger(__name__)

# `/metrics` is not open: it checks its own bearer token (CORRAL_METRICS_TOKEN), meant for a Prometheus scraper.
PUBLIC_PATHS = frozenset({"/livez", "/healthz", "/auth/login", "/metrics"})


@dataclass
class AuditNote:
    """What a mutation handler tells the audit log beyond what the route knows: resource, params, count."""

    resource: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    affected: int = 0


def audit_note(request: Request) -> AuditNote:
    """The note of the current request (a FastAPI dependency)."""
    note: AuditNote = request.state.audit
    return note


class CorralRoute(APIRoute):
    """An API route that records mutations in the audit log, whatever their outcome."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()
        action = self.name

        async def handler(request: Request) -> Response:
            started = time.perf_counter()
            request.state.audit = AuditNote()
            try:
                response = await original(request)
            except CorralError as exc:
                response = corral_error_response(exc)
            except RequestValidationError as exc:
                response = validation_response(exc)
            except StarletteHTTPException as exc:
                response = problem(exc.status_code, str(exc.detail), str(exc.detail))
            except RedisError as exc:
                response = redis_error_response(exc, request.app.state.services.redis_url)
            except Exception:
                logger.exception("unexpected error in %s", action)
                response = problem(500, "internal error", "an unexpected error occurred; it has been logged")
            rate = getattr(request.state, "rate", None)
            if rate is not None:
                limit, remaining, reset = rate
                response.headers["RateLimit-Limit"] = str(limit)
                response.headers["RateLimit-Remaining"] = str(remaining)
                response.headers["RateLimit-Reset"] = str(max(reset - int(time.time()), 0))
            principal: Principal | None = getattr(request.state, "principal", None)
            if request.method not in SAFE_METHODS and principal is not None:
                await _audit(request, principal, action, response, started)
            return response

        return handler


async def _audit(request: Request, principal: Principal, action: str, response: Response, started: float) -> None:
    """Emit the mutation's operator event: the audit row, cache invalidation and realtime events subscribe."""
    note: AuditNote = request.state.audit
    api = request.app.state.services
    status = response.status_code
    result = "ok" if status < 400 else ("denied" if status in (401, 403) else f"error {status}")
    params = {**request.path_params, **dict(request.query_params), **note.params}
    event = OperatorEvent(
        actor=principal.actor,
        action=action,
        resource=note.resource or request.url.path,
        params=params,
        affected=note.affected,
        result=result,
        duration_ms=int((time.perf_counter() - started) * 1000),
        source=api.events.source,
        ip=client_ip(request, api.settings),
        user_agent=request.headers.get("user-agent"),
    )
    await api.events.emit(event)


class FieldErrorPublic(BaseModel):
    """One invalid field and why."""

    field: str
    reason: str


class ProblemPublic(BaseModel):
    """An error, as `application/problem+json` (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldErrorPublic] | None = None


def problem_response(description: str) -> dict[str, Any]:
    """An OpenAPI response entry for a problem+json answer."""
    schema = {"$ref": "#/components/schemas/ProblemPublic"}
    return {
        "model": ProblemPublic,
        "description": description,
        "content": {"application/problem+json": {"schema": schema}},
    }


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: problem_response("The body is not valid JSON"),
    401: problem_response("No valid session or token"),
    403: problem_response("Authenticated, but the role lacks the permission, or the CSRF token is missing"),
    404: problem_response("No such resource"),
    409: problem_response("The resource's state forbids it, or a confirmation is required"),
    422: problem_response("Invalid parameters; `errors` names each field"),
    429: problem_response("A request budget is spent; see Retry-After"),
}


def owner_router(prefix: str = "", tags: list[str] | None = None) -> APIRouter:
    """A router whose routes audit mutations; each route still declares its permission with `require(...)`."""
    return APIRouter(prefix=prefix, tags=list(tags or []), route_class=CorralRoute, responses=PROBLEM_RESPONSES)


def route_permission(route: APIRoute) -> Require | None:
    """The Require guard a route declares, if any."""
    for dependency in route.dependant.dependencies:
        if isinstance(dependency.call, Require):
            return dependency.call
    return None


def check_routes_are_guarded(app: FastAPI) -> None:
    """Refuse to start when any API route (as listed in `app.state.api_routes`) is neither public nor guarded."""
    routes: list[APIRoute] = app.state.api_routes
    unguarded = [
        route.path
        for route in routes
        if route.path not in PUBLIC_PATHS and (route_permission(route) is None or not isinstance(route, CorralRoute))
    ]
    if unguarded:
        raise ConfigurationError(f"routes without a permission: {', '.join(sorted(unguarded))}")
