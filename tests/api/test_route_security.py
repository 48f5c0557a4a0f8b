"""Every route of the app is closed to anonymous callers and non-owners, and every mutation is audited."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute
from pydantic import SecretStr

from corral.api import create_app
from corral.api.routing import PUBLIC_PATHS
from corral.security.audit import AuditFilter, AuditTrail
from corral.sql import Database

SAMPLE_PATH_VALUES = {"queue": "email", "job_id": "1", "token_id": "999", "email": "nobody@example.com"}


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PATH_VALUES.get(m.group(1), "x"), path)


def all_routes(settings, valkey_url) -> list[tuple[str, str, str]]:
    app = create_app(settings, valkey_url)
    found = []
    for route in app.state.api_routes:
        if isinstance(route, APIRoute) and route.path not in PUBLIC_PATHS:
            for method in sorted(route.methods - {"HEAD"}):
                found.append((method, concrete(route.path), route.name))
    return found


def test_every_route_answers_401_without_credentials_and_403_to_a_non_owner(live_api, settings, valkey_url) -> None:
    # Given the served API and the list of every route it has
    api = live_api()
    routes = all_routes(settings, valkey_url)
    assert len(routes) >= 20
    anonymous, viewer = api.anonymous(), api.viewer()
    for method, path, name in routes:
        # When a route is called without credentials, then with a non-owner's token
        unauthenticated = anonymous.request(method, path, json={})
        forbidden = viewer.request(method, path, json={})
        # Then the first is 401 and the second 403, both as problem+json
        assert unauthenticated.status_code == 401, (name, unauthenticated.text)
        assert forbidden.status_code == 403, (name, forbidden.text)
        assert forbidden.headers["content-type"].startswith("application/problem+json")


def test_every_mutation_route_writes_an_audit_row(live_api, settings, valkey_url) -> None:
    # Given the owner's client
    api = live_api()
    owner = api.owner()
    mutations = [(m, p, n) for m, p, n in all_routes(settings, valkey_url) if m in {"POST", "PUT", "PATCH", "DELETE"}]
    assert len(mutations) >= 10
    trail = AuditTrail(Database(settings.resolved_database_url))
    for method, path, name in mutations:
        # When each mutation is called (whatever its outcome)
        response = owner.request(method, path, json={})
        assert response.status_code < 500, (name, response.text)
        # Then an audit row names the owner and the action
        rows = list(trail.rows(AuditFilter(action=name)))
        assert rows, f"no audit row for {name} ({method} {path})"
        assert rows[0].actor == "owner@example.com"
        assert rows[0].ip == "127.0.0.1"


def test_public_routes_are_only_health_and_login(live_api) -> None:
    api = live_api(metrics_token=SecretStr("scrape-token-for-tests-0123456789ab"))
    # /metrics authenticates with its own token (tests/api/test_monitoring_api.py covers it)
    assert PUBLIC_PATHS == frozenset({"/livez", "/healthz", "/auth/login", "/metrics"})
    anonymous = api.anonymous()
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/livez").json()["status"] == "ok"
    assert anonymous.get("/metrics").status_code == 401
    assert api.owner().get("/metrics").status_code == 401
    assert anonymous.get("/openapi.json").status_code == 401
    assert anonymous.get("/docs").status_code == 401
    owner = api.owner()
    assert owner.get("/docs").status_code == 200
    assert "/owner/queues" in owner.get("/openapi.json").json()["paths"]


def test_the_docs_page_has_a_content_security_policy_without_inline_scripts(live_api) -> None:
    # Given the owner
    owner = live_api().owner()
    # When the documentation page and its start script are fetched
    page = owner.get("/docs")
    script = owner.get("/docs/init.js")
    # Then both carry a policy that allows scripts only from this site (no inline or eval) and no framing
    for response in (page, script):
        policy = response.headers["content-security-policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["script-src"] == "'self'"
        assert directives["default-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
        assert response.headers["x-content-type-options"] == "nosniff"
    # And the page loads no script inline
    assert "<script>" not in page.text
