"""OpenAPI schema and documentation pages for owners, from the installed Swagger UI bundle: no CDN, no inline script."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles

from corral.api.routing import owner_router
from corral.api.security import Principal, require
from corral.security.permissions import Permission

router = owner_router(tags=["docs"])
Reader = Annotated[Principal, require(Permission.QUEUES_READ)]

DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>
"""

DOCS_CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        # Swagger UI sets style attributes on its elements; no script may run inline, styles may.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
DOCS_HEADERS = {
    "Content-Security-Policy": DOCS_CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

INIT_SCRIPT = """window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout"});
"""


@router.get("/openapi.json", name="docs.openapi", include_in_schema=False)
async def openapi(request: Request, _: Reader) -> JSONResponse:
    """The OpenAPI schema of the API."""
    app: FastAPI = request.app
    if app.openapi_schema is None:
        app.openapi_schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
    return JSONResponse(app.openapi_schema)


@router.get("/docs", name="docs.page", include_in_schema=False)
async def docs(request: Request, _: Reader) -> HTMLResponse:
    """Swagger UI for the API, under a Content-Security-Policy that allows no inline script."""
    return HTMLResponse(DOCS_PAGE.format(title=request.app.title), headers=DOCS_HEADERS)


@router.get("/docs/init.js", name="docs.init", include_in_schema=False)
async def docs_init(_: Reader) -> PlainTextResponse:
    """The script that starts Swagger UI on the schema."""
    return PlainTextResponse(INIT_SCRIPT, media_type="text/javascript", headers=DOCS_HEADERS)


def mount_docs_assets(app: FastAPI) -> None:
    """Serve Swagger UI's files from the `swagger-ui-bundle` package installed with Corral."""
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs/assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")
