"""The services an API process shares, built once in the app's lifespan by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from corral.availability import Availability
from corral.connection import probe_client
from corral.contracts.base import Registry
from corral.security.ratelimit import RateLimits
from corral.services import Services
from corral.services import build_services as compose
from corral.settings import Settings


@dataclass(kw_only=True)
class ApiServices(Services):
    """The process's services plus what only an API process has: request budgets and the server's availability."""

    limits: RateLimits
    availability: Availability

    async def close(self) -> None:
        """Release connections."""
        await self.availability.stop()
        await self.limits.close()
        await super().close()


def build_services(settings: Settings, redis_url: str, registry: Registry) -> ApiServices:
    """Every service of an API process, from settings."""
    from corral.keys import Keys

    api = compose(
        settings,
        redis_url,
        registry,
        "api",
        ApiServices,
        publish_queued=True,
        limits=RateLimits(settings, redis_url, Keys.for_server(settings.key_prefix, redis_url, registry.hash_tags)),
        availability=Availability(
            probe_client(redis_url, settings.redis_probe_timeout_seconds),
            redis_url,
            timeout=settings.redis_probe_timeout_seconds,
        ),
    )
    return api


def services(request: Request) -> ApiServices:
    """The API process's services (a FastAPI dependency)."""
    found: ApiServices = request.app.state.services
    return found
