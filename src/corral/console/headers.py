"""The security headers of console responses: a Content-Security-Policy that allows no inline script."""

from __future__ import annotations

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def secure(response: Response) -> Response:
    """The response with the console's security headers set."""
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


class ConsoleStatic(StaticFiles):
    """The console's own scripts and styles, with the security headers; revalidated so updates show at once."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = secure(await super().get_response(path, scope))
        response.headers["Cache-Control"] = "no-cache"
        return response
