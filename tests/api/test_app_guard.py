"""The app refuses to start with a route that declares no permission."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from corral.api.routing import check_routes_are_guarded, owner_router
from corral.errors import ConfigurationError


def test_an_unguarded_route_is_refused() -> None:
    router = owner_router()

    @router.get("/owner/leak")
    async def leak() -> dict[str, str]:
        return {"secret": "data"}

    app = FastAPI()
    app.include_router(router)
    app.state.api_routes = list(router.routes)
    with pytest.raises(ConfigurationError, match="/owner/leak"):
        check_routes_are_guarded(app)
