"""The owner web console: server-rendered pages, hand-written scripts and styles, no third-party code."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.routing import Mount

from corral.console.headers import ConsoleStatic
from corral.console.pages import login_route
from corral.console.pages import router as console_router
from corral.console.render import STATIC_DIR, STATIC_URL

__all__ = ["console_router", "mount_console"]


def mount_console(app: FastAPI) -> None:
    """Serve the console's static files and its sign-in form (public: they hold no data)."""
    # First, so that the console's catch-all page route never shadows its files.
    app.router.routes.insert(0, Mount(STATIC_URL, app=ConsoleStatic(directory=str(STATIC_DIR)), name="console-static"))
    app.router.routes.append(login_route)
