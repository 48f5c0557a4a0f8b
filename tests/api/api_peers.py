"""A served API with an owner, a non-owner and their tokens, for API tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from corral.api import create_app
from corral.security.permissions import Role
from corral.security.tokens import TokenService
from corral.security.users import UserService
from corral.settings import Settings
from corral.sql import Database, upgrade

OWNER_EMAIL = "owner@example.com"
OWNER_PASSWORD = "correct horse battery staple"
VIEWER_EMAIL = "viewer@example.com"


@dataclass
class LiveApi:
    """A running API and the credentials to call it."""

    base: str
    settings: Settings
    owner_token: str
    viewer_token: str
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, **kwargs: Any) -> httpx.Client:
        """An HTTP client on the API, closed after the test."""
        made = httpx.Client(base_url=self.base, timeout=30, **kwargs)
        self.clients.append(made)
        return made

    def owner(self, **kwargs: Any) -> httpx.Client:
        """A client authenticated with the owner's API token."""
        return self.client(headers={"Authorization": f"Bearer {self.owner_token}"}, **kwargs)

    def viewer(self) -> httpx.Client:
        """A client authenticated as an account that is not an owner."""
        return self.client(headers={"Authorization": f"Bearer {self.viewer_token}"})

    def anonymous(self) -> httpx.Client:
        """A client without credentials."""
        return self.client()

    def signed_in(self) -> tuple[httpx.Client, str]:
        """A client with the owner's session cookie, and the session's CSRF token."""
        client = self.client()
        response = client.post("/auth/login", json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD})
        assert response.status_code == 200, response.text
        return client, response.json()["csrf_token"]


def prepare_accounts(settings: Settings) -> tuple[str, str]:
    """Migrate the store and create the owner and a viewer with one token each."""
    upgrade(settings.resolved_database_url)
    database = Database(settings.resolved_database_url)
    users, tokens = UserService(database), TokenService(database)

    async def make() -> tuple[str, str]:
        owner = await users.create(OWNER_EMAIL, Role.OWNER, OWNER_PASSWORD)
        viewer = await users.create(VIEWER_EMAIL, Role.VIEWER, "another long password")
        owner_token, _ = await tokens.create(owner.id, "tests")
        viewer_token, _ = await tokens.create(viewer.id, "tests")
        return owner_token, viewer_token

    try:
        return asyncio.run(make())
    finally:
        database.dispose()


@pytest.fixture
def live_api(settings: Settings, valkey_url: str, serve_app: Callable[[Any], str]) -> Iterator[Callable[..., LiveApi]]:
    """Factory: serve the API with setting overrides; returns the base URL and tokens."""
    started: list[LiveApi] = []

    def start(**overrides: Any) -> LiveApi:
        configured = settings.model_copy(update=overrides)
        owner_token, viewer_token = prepare_accounts(configured)
        base = serve_app(create_app(configured, valkey_url))
        started.append(LiveApi(base, configured, owner_token, viewer_token))
        return started[-1]

    yield start
    for api in started:
        for client in api.clients:
            client.close()
