"""A real `corral up` under attack-shaped use: no secret in any log line after every way of signing in, a private
data directory and a password on the embedded Valkey, forwarded headers believed from nobody by default."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from corral.server import free_port

from owned_processes import OutputWatcher, ProcessGroup

CORRAL = [sys.executable, "-m", "corral"]
OWNER_EMAIL = "owner@example.com"
OWNER_PASSWORD = "owner-password-" + secrets.token_hex(8)
METRICS_TOKEN = "metrics-" + secrets.token_hex(20)
SECRET_KEY = "secret-key-" + secrets.token_hex(20)


class Up:
    """`corral up --verbose` in a fresh data directory, owned by the test; everything it prints is kept."""

    def __init__(self, processes: ProcessGroup, data_dir: Path, **settings: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {key: value for key, value in os.environ.items() if not key.startswith("CORRAL_")}
        env.update(
            CORRAL_KEY_PREFIX=os.environ["CORRAL_KEY_PREFIX"],
            CORRAL_DATA_DIR=str(data_dir),
            CORRAL_PORT=str(self.port),
            CORRAL_OWNER_PASSWORD=OWNER_PASSWORD,
            CORRAL_METRICS_TOKEN=METRICS_TOKEN,
            CORRAL_SECRET_KEY=SECRET_KEY,
            **settings,
        )
        self.process = processes.spawn(
            [*CORRAL, "up", "--verbose"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self.process.stdout is not None
        self.output = OutputWatcher(self.process.stdout)
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"corral up did not come up:\n{self.output.text()[-4_000:]}")
            time.sleep(0.2)

    def stop(self) -> str:
        """SIGTERM, wait for the clean stop, and everything it printed."""
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=120) == 0, self.output.text()[-4_000:]
        self.output.wait_for("embedded Valkey stopped", timeout=60)
        return self.output.text()


async def _websocket_closes(url: str, **options) -> int | None:
    """Open a socket, read until the server closes it; the close code (None if it closed without one)."""
    try:
        async with connect(url, open_timeout=60, **options) as ws:
            try:
                async with asyncio.timeout(60):
                    while True:
                        await ws.recv()
                        await ws.close()
            except ConnectionClosed:
                pass
            return ws.close_code
    except InvalidStatus as refused:
        return refused.response.status_code


def sign_in_every_way(up: Up) -> dict[str, str]:
    """Use every way Corral authenticates, with right and wrong secrets; returns the secrets used."""
    used = {"owner password": OWNER_PASSWORD, "metrics token": METRICS_TOKEN, "secret key": SECRET_KEY}
    wrong_token = "crl_" + secrets.token_urlsafe(32)
    wrong_metrics = "wrong-metrics-" + secrets.token_hex(16)
    wrong_password = "wrong-password-" + secrets.token_hex(8)
    used |= {"wrong API token": wrong_token, "wrong metrics token": wrong_metrics, "wrong password": wrong_password}
    with httpx.Client(base_url=up.base, timeout=60) as client:
        # Password: wrong, then right (session cookie and CSRF token)
        assert client.post("/auth/login", json={"email": OWNER_EMAIL, "password": wrong_password}).status_code == 401
        login = client.post("/auth/login", json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD})
        assert login.status_code == 200, login.text
        csrf, cookie = login.json()["csrf_token"], client.cookies["corral_session"]
        used |= {"CSRF token": csrf, "session cookie": cookie}
        # The session on a read and on a mutation; a personal API token made with it
        assert client.get("/auth/me").status_code == 200
        made = client.post("/auth/tokens", json={"name": "logs"}, headers={"X-CSRF-Token": csrf})
        assert made.status_code == 201, made.text
        token = used["API token"] = made.json()["token"]
        # Bearer tokens, right and wrong
        assert client.get("/owner/queues", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert client.get("/owner/queues", headers={"Authorization": f"Bearer {wrong_token}"}).status_code == 401
        # The metrics token, right and wrong
        assert client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).status_code == 200
        assert client.get("/metrics", headers={"Authorization": f"Bearer {wrong_metrics}"}).status_code == 401
        # Every credential of the WebSocket gateway: subprotocol, header, query, cookie; right and wrong
        ws = up.base.replace("http://", "ws://") + "/owner/realtime"
        codes = asyncio.run(
            _all(
                _websocket_closes(ws, subprotocols=["corral.v1", f"bearer.{token}"]),
                _websocket_closes(ws, additional_headers={"Authorization": f"Bearer {token}"}),
                _websocket_closes(f"{ws}?token={token}"),
                _websocket_closes(f"{ws}?rooms=global&token={wrong_token}"),
                _websocket_closes(ws, subprotocols=["corral.v1", f"bearer.{wrong_token}"]),
                _websocket_closes(ws, additional_headers={"Cookie": f"corral_session={cookie}", "Origin": up.base}),
                _websocket_closes(ws, additional_headers={"Cookie": f"corral_session={cookie}"}),
            )
        )
        assert codes == [1000, 1000, 1000, 4401, 4401, 1000, 1000], codes
        assert client.post("/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    return used


async def _all(*waits):
    return list(await asyncio.gather(*waits))


@pytest.mark.timeout(300)
def test_no_secret_reaches_any_log_after_every_way_of_signing_in(tmp_path: Path, processes: ProcessGroup) -> None:
    # Given `corral up`, logging at debug level, with its embedded Valkey
    data_dir = tmp_path / "data"
    up = Up(processes, data_dir)
    # When every way of authenticating is used, with right and wrong secrets
    used = sign_in_every_way(up)
    used["Valkey password"] = (data_dir / "valkey" / "password").read_text().strip()
    # And Corral is stopped
    printed = up.stop()
    # Then it did log the WebSocket connections (with their query strings)...
    assert "/owner/realtime" in printed and "[accepted]" in printed
    # ... but no secret appears in what it printed nor in any log file it wrote
    logs = {"corral up output": printed}
    for path in data_dir.rglob("*.log"):
        logs[str(path.relative_to(data_dir))] = path.read_text(errors="replace")
    leaks = [(name, where) for name, secret in used.items() for where, text in logs.items() if secret in text]
    assert leaks == []
    # And the token of a query string is shown redacted
    assert "token=***" in printed


@pytest.mark.timeout(300)
def test_the_data_directory_is_private_and_valkey_needs_its_password(tmp_path: Path, processes: ProcessGroup) -> None:
    # Given `corral up` in a fresh data directory, which has run a job (mail written to its outbox)
    data_dir = tmp_path / "data"
    up = Up(processes, data_dir)
    try:
        with httpx.Client(base_url=up.base, timeout=60) as client:
            login = client.post("/auth/login", json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD})
            job = {"name": "email.send", "payload": {"to": ["a@example.com"], "subject": "Hi", "text": "Hello"}}
            created = client.post("/owner/jobs", json=job, headers={"X-CSRF-Token": login.json()["csrf_token"]})
            assert created.status_code == 201, created.text
            deadline = time.monotonic() + 120
            while client.get(f"/owner/queues/email/jobs/{created.json()['id']}").json()["state"] != "completed":
                assert time.monotonic() < deadline
                time.sleep(0.2)
        # Then the announced URL carries the server's password, in a file only its owner reads
        announced = data_dir / "run" / "redis-url"
        password = (data_dir / "valkey" / "password").read_text().strip()
        assert len(password) >= 32
        url = announced.read_text().strip()
        assert url.startswith(f"redis://:{password}@127.0.0.1:")
        # And the server refuses a client without the password, and serves one with it
        port = int(url.rsplit(":", 1)[1])
        anonymous = redis.Redis(host="127.0.0.1", port=port, socket_timeout=30)
        try:
            with pytest.raises(redis.exceptions.AuthenticationError):
                anonymous.get(f"{os.environ['CORRAL_KEY_PREFIX']}:session:x")
        finally:
            anonymous.close()
        authenticated = redis.Redis.from_url(url, socket_timeout=30)
        try:
            assert authenticated.ping()
        finally:
            authenticated.close()
        # And the data directory, and every directory and file in it, is its owner's alone
        modes = {str(path.relative_to(data_dir)): stat.S_IMODE(path.stat().st_mode) for path in data_dir.rglob("*")}
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        assert {"run/redis-url", "valkey/password", "valkey/valkey.conf", "corral.db"} <= set(modes)
        assert any(name.startswith("outbox/new/") for name in modes), sorted(modes)
        readable_by_others = {name: oct(mode) for name, mode in modes.items() if mode & 0o077}
        assert readable_by_others == {}
    finally:
        up.stop()


@pytest.mark.timeout(300)
def test_forwarded_headers_from_a_loopback_client_are_not_believed(tmp_path: Path, processes: ProcessGroup) -> None:
    # Given `corral up` with its defaults: no trusted proxy, 5 sign-in attempts per address and minute
    up = Up(
        processes, tmp_path / "data", CORRAL_RATE_LIMIT_LOGIN_IP="5/minute", CORRAL_RATE_LIMIT_LOGIN_ACCOUNT="99/minute"
    )
    try:
        with httpx.Client(base_url=up.base, timeout=60) as client:
            # When a client on loopback claims https and another address on each attempt
            login = client.post(
                "/auth/login",
                json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD},
                headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.1"},
            )
            attempts = [
                client.post(
                    "/auth/login",
                    json={"email": OWNER_EMAIL, "password": "wrong password"},
                    headers={"X-Forwarded-For": f"203.0.113.{n}"},
                ).status_code
                for n in range(5)
            ]
            csrf = login.json()["csrf_token"]
            audit = client.get("/owner/audit", params={"action": "auth.login"}, headers={"X-CSRF-Token": csrf})
        # Then the cookie is not Secure, the attempts count against its real address, and the audit log says so
        assert login.status_code == 200 and "Secure" not in login.headers["set-cookie"]
        assert attempts == [401, 401, 401, 401, 429]
        assert audit.status_code == 200, audit.text
        assert {row["ip"] for row in audit.json()["items"]} == {"127.0.0.1"}
    finally:
        up.stop()
