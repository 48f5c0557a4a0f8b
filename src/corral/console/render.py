"""Renders the console's Jinja2 templates (autoescaped) into responses that carry the security headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, Response

from corral import __version__
from corral.console.headers import secure

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
STATIC_URL = "/console/static"

NAVIGATION = (
    ("queues", "Queues", "/console"),
    ("workers", "Workers", "/console/workers"),
    ("alerts", "Alerts", "/console/alerts"),
    ("schedules", "Schedules", "/console/schedules"),
    ("dlq", "DLQ", "/console/dlq"),
    ("analytics", "DLQ analytics", "/console/dlq/analytics"),
    ("live", "Live", "/console/live"),
    ("audit", "Audit", "/console/audit"),
)

_environment = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def page(template: str, status_code: int = 200, **context: Any) -> Response:
    """The rendered template as an HTML response with the console's headers."""
    html = _environment.get_template(template).render(
        static=STATIC_URL, version=__version__, navigation=NAVIGATION, **context
    )
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return secure(response)
