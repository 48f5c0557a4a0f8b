"""Liveness and readiness: `/healthz` answers 200 when the API process can reach its Redis/Valkey."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from redis.exceptions import RedisError

router = APIRouter(tags=["health"])


class HealthPublic(BaseModel):
    """Whether the API and its server are up."""

    status: Literal["ok", "unavailable"]
    redis: Literal["ok", "unreachable"]
    version: str


@router.get("/healthz", response_model=HealthPublic, responses={503: {"model": HealthPublic}})
async def healthz(request: Request) -> JSONResponse:
    """Answer 200 when the API process is up and reaches Redis/Valkey, 503 otherwise. Needs no credentials."""
    from corral import __version__

    try:
        await request.app.state.redis.ping()
    except (RedisError, OSError):
        body = HealthPublic(status="unavailable", redis="unreachable", version=__version__)
        return JSONResponse(body.model_dump(), status_code=503)
    return JSONResponse(HealthPublic(status="ok", redis="ok", version=__version__).model_dump())
