"""Liveness and readiness, both without credentials, both answering within a bound.

`/livez`: the API process runs (it never waits on Redis). `/healthz`: the process can use its Redis/Valkey: a
write of a short-lived probe key answered within `CORRAL_REDIS_PROBE_TIMEOUT_SECONDS`, else 503 saying what is
wrong (unreachable, not answering, loading, refusing writes).
"""

from __future__ import annotations

import asyncio
import time
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from redis.exceptions import BusyLoadingError, RedisError, ResponseError

from corral import __version__
from corral.availability import unavailable_reason

router = APIRouter(tags=["health"])

RedisState = Literal["ok", "unreachable", "not answering", "loading", "refusing writes"]


class HealthPublic(BaseModel):
    """Whether the API and its server are usable, and if not, why."""

    status: Literal["ok", "unavailable"]
    redis: RedisState
    reason: str | None = None
    version: str


class LivePublic(BaseModel):
    """The API process is up."""

    status: Literal["ok"]
    version: str


@router.get("/livez", response_model=LivePublic)
async def livez() -> LivePublic:
    """Answer 200 while the API process runs; it asks nothing of Redis. Needs no credentials."""
    return LivePublic(status="ok", version=__version__)


def _state(exc: BaseException) -> RedisState:
    if isinstance(exc, TimeoutError):
        return "not answering"
    if isinstance(exc, BusyLoadingError):
        return "loading"
    if isinstance(exc, ResponseError):
        return "refusing writes"
    return "unreachable"


@router.get("/healthz", response_model=HealthPublic, responses={503: {"model": HealthPublic}})
async def healthz(request: Request) -> JSONResponse:
    """Answer 200 when Redis/Valkey accepts a write within the probe timeout, else 503 with the reason."""
    api = request.app.state.services
    asked = time.monotonic()
    try:
        async with asyncio.timeout(api.settings.redis_probe_timeout_seconds):
            await api.availability.redis.set(api.keys.health_probe, "1", px=10_000)
    except (RedisError, OSError, TimeoutError) as exc:
        reason = unavailable_reason(exc) or str(exc)
        body = HealthPublic(status="unavailable", redis=_state(exc), reason=reason, version=__version__)
        return JSONResponse(body.model_dump(), status_code=503)
    # None of the other routes answers 503 once /healthz answered 200 (a failed write is left to the probe: a server
    # refusing writes still serves reads).
    api.availability.record(None, asked)
    return JSONResponse(HealthPublic(status="ok", redis="ok", version=__version__).model_dump())
