"""What every `corral` command that acts on a server shares: its services (from the composition root), its actor."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from corral.operations import cli_actor
from corral.services import Services, StoreServices, build_services, build_store_services
from corral.settings import Settings

ACTOR_ENV = "CORRAL_ACTOR"


def actor() -> str:
    """Who runs this command: `corral --actor NAME` (or CORRAL_ACTOR), else `cli:<os user>`."""
    return cli_actor(os.environ.get(ACTOR_ENV) or None)


async def migrated(settings: Settings) -> None:
    """Bring the SQL store (and the application's tables) up to date, so the command's audit rows can be written."""
    from corral.app import load_app
    from corral.sql import upgrade

    apps = load_app(settings.app).migrations
    await asyncio.to_thread(upgrade, settings.resolved_database_url, "head", apps)


@asynccontextmanager
async def cli_services(settings: Settings, migrate: bool = True) -> AsyncIterator[Services]:
    """The services of one command against the configured server and the command's application, closed after.

    `migrate` brings the SQL store up to date first, for commands that act (and so write audit rows).
    """
    from corral.app import load_app
    from corral.connection import resolve_redis_url

    url = resolve_redis_url(settings)
    if migrate:
        await migrated(settings)
    services = build_services(settings, url, load_app(settings.app).registry, "cli", Services, publish_queued=True)
    try:
        yield services
    finally:
        await services.close()


@asynccontextmanager
async def cli_store_services(settings: Settings) -> AsyncIterator[StoreServices]:
    """Accounts and the audit trail, for a command that works without a server."""
    await migrated(settings)
    services = build_store_services(settings, "cli")
    try:
        yield services
    finally:
        await services.close()
