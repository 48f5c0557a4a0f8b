"""The HTTP API: a thin FastAPI adapter over Corral's services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute

from corral import __version__
from corral.api.audit import router as audit_router
from corral.api.auth import router as auth_router
from corral.api.availability import AvailabilityMiddleware
from corral.api.body_limit import BodyLimit
from corral.api.context import build_services
from corral.api.dlq import router as dlq_router
from corral.api.docs import mount_docs_assets
from corral.api.docs import router as docs_router
from corral.api.errors import install_error_handlers
from corral.api.health import router as health_router
from corral.api.job_types import router as job_types_router
from corral.api.monitoring import alert_evaluation, metrics_router
from corral.api.monitoring import router as monitoring_router
from corral.api.queues import router as queues_router
from corral.api.realtime import router as realtime_router
from corral.api.releases import router as releases_router
from corral.api.routing import check_routes_are_guarded
from corral.api.schedules import router as schedules_router
from corral.app import load_app
from corral.console import console_router, mount_console
from corral.contracts.base import Registry
from corral.settings import Settings

DESCRIPTION = """Owner API of Corral, a job-queue platform on the BullMQ engine.

Every route except `/healthz` and `/auth/login` needs an owner: a session cookie from `POST /auth/login`
(state-changing requests then also send the `X-CSRF-Token` header), or a personal API token sent as
`Authorization: Bearer <token>`. Errors are `application/problem+json` with the invalid fields listed.
"""


def create_app(settings: Settings, redis_url: str, registry: Registry | None = None) -> FastAPI:
    """The API application for one settings object and one Redis/Valkey server."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        api = build_services(settings, redis_url, registry or load_app(settings.app).registry)
        app.state.services = api
        app.state.redis = api.redis
        api.availability.start()
        try:
            async with alert_evaluation(api):
                yield
        finally:
            await api.close()

    app = FastAPI(
        title="Corral",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.api_routes = []
    install_error_handlers(app)
    app.add_middleware(AvailabilityMiddleware)
    for router in (
        health_router,
        auth_router,
        queues_router,
        audit_router,
        docs_router,
        realtime_router,
        monitoring_router,
        metrics_router,
        dlq_router,
        job_types_router,
        schedules_router,
        releases_router,
        console_router,
    ):
        app.include_router(router)
        app.state.api_routes.extend(route for route in router.routes if isinstance(route, APIRoute))
    mount_docs_assets(app)
    mount_console(app)
    check_routes_are_guarded(app)
    # Outermost of Corral's own layers: a body over the limit is refused while it is read, before any route runs.
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app
