"""The HTTP API: a thin FastAPI adapter over Corral's services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import Redis

from corral import __version__
from corral.api.docs import mount_docs
from corral.api.health import router as health_router
from corral.settings import Settings


def create_app(settings: Settings, redis_url: str) -> FastAPI:
    """The API application for one settings object and one Redis/Valkey server."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.redis = Redis.from_url(redis_url, decode_responses=True)
        try:
            yield
        finally:
            await app.state.redis.aclose()

    app = FastAPI(
        title="Corral",
        version=__version__,
        description="Owner API of Corral, a job-queue platform on the BullMQ engine.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.include_router(health_router)
    mount_docs(app)
    return app
