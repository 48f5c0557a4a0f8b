"""Browser peers: Debian's chromium driven by playwright, a served API with an owner, and a real worker runtime."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Response,
    expect,
    sync_playwright,
)
from redis.asyncio import Redis

from api.api_peers import OWNER_EMAIL, OWNER_PASSWORD, LiveApi, prepare_accounts
from corral.api import create_app
from corral.app import load_app
from corral.contracts.base import Registry
from corral.dlq.store import DeadLetterStore
from corral.engine import Engine
from corral.handlers import Handler
from corral.hooks import HookBus
from corral.keys import Keys
from corral.observers import install_observers
from corral.producer import Producer
from corral.runtime import Runtime
from corral.settings import Settings
from corral.worker_services import WorkerServices
from corral_reference.contracts import default_registry

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
T = TypeVar("T")
LAPTOP = {"width": 1366, "height": 850}
# How long a browser wait or an `expect` may take before it fails.
WAIT_MS = 60_000
expect.set_options(timeout=WAIT_MS)
PHONE = {"width": 390, "height": 844}


def launch(playwright: Playwright) -> Browser:
    """Debian's chromium (never a downloaded browser)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One chromium per test module; without Debian's chromium the browser tests skip (and fail under CI)."""
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = launch(playwright)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Console:
    """A signed-in browser tab on the served console, recording console errors and failed answers."""

    api: LiveApi
    context: BrowserContext
    page: Page
    console_errors: list[str] = field(default_factory=list)
    failed_responses: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.api.base + path

    def goto(self, path: str) -> Page:
        """Open a console path and wait until its scripts have loaded their data."""
        self.page.goto(self.url(path))
        self.page.wait_for_load_state("networkidle")
        return self.page

    def assert_clean(self) -> None:
        """No browser console error and no 4xx/5xx answer so far."""
        assert not self.console_errors, self.console_errors
        assert not self.failed_responses, self.failed_responses

    def forget_problems(self) -> None:
        self.console_errors.clear()
        self.failed_responses.clear()


def watch(page: Page, console: Console) -> None:
    """Record the page's console errors, uncaught exceptions and 4xx/5xx answers into `console`."""

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            console.console_errors.append(f"{page.url}: {message.text}")

    def on_response(response: Response) -> None:
        if response.status >= 400:
            console.failed_responses.append(f"{response.request.method} {response.url} -> {response.status}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: console.console_errors.append(f"{page.url}: uncaught {error}"))
    page.on("response", on_response)


def open_console(api: LiveApi, browser: Browser, viewport: Mapping[str, int] = LAPTOP, sign_in: bool = True) -> Console:
    """A new browser context on the API's console, signed in as the owner through POST /auth/login."""
    context = browser.new_context(base_url=api.base, viewport=dict(viewport), accept_downloads=True)  # type: ignore[arg-type]
    # Waits are deadlines on a condition: generous, since a loaded CI machine can take many seconds to hash a
    # password, open a WebSocket or render a page (15 s was exceeded there).
    context.set_default_timeout(WAIT_MS)
    if sign_in:
        answer = context.request.post("/auth/login", data={"email": OWNER_EMAIL, "password": OWNER_PASSWORD})
        assert answer.ok, answer.text()
    page = context.new_page()
    console = Console(api, context, page)
    watch(page, console)
    return console


@pytest.fixture
def console(served: Callable[..., LiveApi], browser: Browser) -> Iterator[Console]:
    """A signed-in owner's tab on a freshly served console; its browser context is closed after the test."""
    opened = open_console(served(), browser)
    try:
        yield opened
    finally:
        opened.context.close()


class LoopThread:
    """An event loop in its own thread: playwright's sync API owns the test thread's loop, so async helpers
    (account setup, seeding, a worker runtime) run here."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, awaitable: Awaitable[T], timeout: float = 30) -> T:
        """Run a coroutine on the loop and wait for its result."""

        async def wrapped() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout=timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def background() -> Iterator[LoopThread]:
    """A loop thread for the test's async helpers."""
    made = LoopThread()
    yield made
    made.close()


@pytest.fixture
def served(
    settings: Settings, valkey_url: str, serve_app: Callable[[Any], str], background: LoopThread
) -> Iterator[Callable[..., LiveApi]]:
    """Factory: serve the API and console with setting overrides, with an owner and a viewer (as `live_api`)."""
    started: list[LiveApi] = []

    def start(**overrides: Any) -> LiveApi:
        configured = settings.model_copy(update=overrides)
        with ThreadPoolExecutor(max_workers=1) as pool:
            owner_token, viewer_token = pool.submit(prepare_accounts, configured).result(timeout=60)
        base = serve_app(create_app(configured, valkey_url))
        started.append(LiveApi(base, configured, owner_token, viewer_token))
        return started[-1]

    yield start
    for api in started:
        for client in api.clients:
            client.close()


def start_worker(
    background: LoopThread, settings: Settings, redis_url: str, registry: Registry, handlers: Mapping[str, Handler]
) -> Runtime:
    """A real worker runtime for the handlers' queues, on the loop thread; close it with `stop_worker`."""
    queues = sorted({registry.job(name).queue for name in handlers})
    runtime = Runtime(settings, redis_url, registry, handlers, queues=queues, dlq=DeadLetterStore)
    background.run(runtime.start())
    return runtime


def stop_worker(background: LoopThread, runtime: Runtime) -> None:
    background.run(runtime.close(grace_seconds=2))


class ObservedWorker:
    """A worker process's runtime with every observer a worker installs (heartbeat, metrics, realtime), built and
    run on the loop thread (observers start tasks on the running loop); `handlers` None runs the application's own
    handlers, `overrides` changes settings (faster heartbeats, say)."""

    def __init__(
        self,
        background: LoopThread,
        settings: Settings,
        redis_url: str,
        queues: list[str],
        handlers: Mapping[str, Handler] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self.background = background
        self.settings = settings.model_copy(update=dict(overrides or {}))
        self.redis_url = redis_url
        self.queues = queues
        self.handlers = handlers

    def start(self) -> ObservedWorker:
        async def start() -> None:
            registry = default_registry()
            keys = Keys(self.settings.key_prefix)
            self.redis = Redis.from_url(self.redis_url, decode_responses=True)
            self.engine = Engine(self.redis_url, keys)
            self.services = WorkerServices(self.settings, self.redis, Producer(self.engine, registry), keys)
            handlers = self.handlers
            if handlers is None:
                handlers = load_app(self.settings.app).handlers(self.services)
            hooks = HookBus()
            self.runtime = Runtime(
                self.settings, self.redis_url, registry, handlers, queues=self.queues, dlq=DeadLetterStore, hooks=hooks
            )
            install_observers(hooks, self.services, self.runtime)
            await self.runtime.start()

        self.background.run(start())
        return self

    def stop(self) -> None:
        async def stop() -> None:
            await self.runtime.close(grace_seconds=2)
            await self.services.close()
            await self.engine.close()
            await self.redis.aclose()

        self.background.run(stop())
