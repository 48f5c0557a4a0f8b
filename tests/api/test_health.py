"""The API app served on loopback: health check and offline OpenAPI docs."""

from __future__ import annotations

import httpx

from corral.api import create_app
from corral.server import free_port


def test_healthz_is_200_when_redis_answers(settings, valkey_url, serve_app) -> None:
    # Given the API app on the session's Valkey
    base = serve_app(create_app(settings, valkey_url))
    # When /healthz is asked
    response = httpx.get(f"{base}/healthz")
    # Then it answers 200 with the server's state
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_healthz_is_503_when_redis_is_down(settings, serve_app) -> None:
    # Given an app pointed at a port where nothing listens
    base = serve_app(create_app(settings, f"redis://127.0.0.1:{free_port()}"))
    # When /healthz is asked
    response = httpx.get(f"{base}/healthz", timeout=30)
    # Then health says unavailable instead of failing with a 500
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["redis"] == "unreachable"


def test_docs_are_served_to_owners_without_a_cdn_or_inline_script(live_api) -> None:
    api = live_api()
    owner = api.owner()
    page = owner.get("/docs")
    schema = owner.get("/openapi.json")
    bundle = owner.get("/docs/assets/swagger-ui-bundle.js")
    init = owner.get("/docs/init.js")
    assert page.status_code == 200
    assert "http" not in page.text
    assert "<script>" not in page.text
    assert bundle.status_code == 200 and len(bundle.content) > 100_000
    assert init.status_code == 200 and "openapi.json" in init.text
    assert schema.json()["info"]["title"] == "Corral"
    assert "/healthz" in schema.json()["paths"]
