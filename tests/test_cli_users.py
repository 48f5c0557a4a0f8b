"""`corral users set-password` and `set-role` against a served API: the account's sessions end at once and its
cached tokens are dropped, so the change takes effect on the next request."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from api.api_peers import OWNER_EMAIL, OWNER_PASSWORD, live_api
from corral.cli import app

__all__ = ["live_api"]

OPS = {"email": "ops@example.com", "role": "owner", "password": "ops owner password"}


@pytest.fixture
def run_users(settings):
    runner = CliRunner()
    env = {"CORRAL_REDIS_URL": settings.redis_url, "CORRAL_DATA_DIR": str(settings.data_dir)}

    def run(*args: str, input: str | None = None):
        return runner.invoke(app, ["users", *args], env=env, input=input)

    return run


def test_a_password_change_ends_the_accounts_sessions(live_api, run_users) -> None:
    # Given the owner signed in twice (two browsers) and a third client with her API token
    api = live_api()
    first, _ = api.signed_in()
    second, _ = api.signed_in()
    token_client = api.owner()
    assert first.get("/owner/queues").status_code == second.get("/owner/queues").status_code == 200
    # When her password is changed from the command line
    changed = run_users("set-password", "--email", OWNER_EMAIL, "--password-stdin", input="a brand new password\n")
    assert changed.exit_code == 0, changed.output
    assert "sessions were ended" in changed.output
    # Then both sessions are refused on their next request, and the old password no longer signs in
    assert first.get("/owner/queues").status_code == 401
    assert second.get("/owner/queues").status_code == 401
    old = api.anonymous().post("/auth/login", json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD})
    assert old.status_code == 401
    # And her API token, a separate credential she did not lose, still works
    assert token_client.get("/owner/queues").status_code == 200


def test_a_role_change_ends_the_sessions_and_drops_the_cached_tokens(live_api, run_users) -> None:
    # Given a second owner, signed in and with an API token that has just been used (so it is cached)
    api = live_api()
    assert api.owner().post("/owner/users", json=OPS).status_code == 201
    session = api.anonymous()
    csrf = session.post("/auth/login", json={"email": OPS["email"], "password": OPS["password"]}).json()["csrf_token"]
    token = session.post("/auth/tokens", json={"name": "ops"}, headers={"X-CSRF-Token": csrf}).json()["token"]
    ops = api.client(headers={"Authorization": f"Bearer {token}"})
    assert ops.get("/owner/queues").status_code == 200
    # When the account becomes a viewer
    changed = run_users("set-role", "--email", OPS["email"], "--role", "viewer")
    assert changed.exit_code == 0, changed.output
    # Then its session is ended and its token answers with the new role at once (no cached owner left)
    assert session.get("/owner/queues").status_code == 401
    refused = ops.get("/owner/queues")
    assert refused.status_code == 403, refused.text
    # And the last active owner cannot lose the role
    last = run_users("set-role", "--email", OWNER_EMAIL, "--role", "viewer")
    assert last.exit_code == 2 and "last active owner" in last.output
