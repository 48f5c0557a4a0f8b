"""OpenAPI documentation pages served from the installed Swagger UI bundle: no CDN, no inline script."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles

DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>
"""

INIT_SCRIPT = """window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout"});
"""


def mount_docs(app: FastAPI) -> None:
    """Serve `/docs` (Swagger UI) from the `swagger-ui-bundle` package installed with Corral."""
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs/assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_PAGE.format(title=app.title))

    @app.get("/docs/init.js", include_in_schema=False)
    async def docs_init() -> PlainTextResponse:
        return PlainTextResponse(INIT_SCRIPT, media_type="text/javascript")
