"""Screenshots of every console page, made with the real browser, for the README.

    python scripts/screenshots.py [--out docs/screenshots] [--entries 5000] [--only NAME ...]

Starts an embedded Valkey, seeds DLQ entries (the DLQ benchmark's seeder), runs a worker with the observers every
worker installs on the email and ai queues (some jobs succeed, some fail, so metrics, health and live events are
real), serves the API and console on loopback, signs in with Debian's chromium and saves one PNG per page (laptop
size), plus the Queues page at phone size. Retention warnings look 7 days ahead here, so the DLQ's oldest entries
(30 days' retention) and email's failed jobs (7 days) show in the retention banner. `--only` makes just the named
pages (e.g. `--only retention`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from playwright.sync_api import sync_playwright
from redis.asyncio import Redis

from corral.dlq.service import DlqService
from corral.dlq.store import DeadLetterStore
from corral.engine import Engine
from corral.errors import JobFailure, UnrecoverableJobError
from corral.handlers import JobContext
from corral.hooks import HookBus
from corral.keys import Keys
from corral.observers import install_observers
from corral.producer import Producer
from corral.releases import Releases
from corral.runtime import Runtime
from corral.security.permissions import Role
from corral.security.tokens import TokenService
from corral.security.users import UserService
from corral.server import EmbeddedValkey
from corral.settings import Settings
from corral.sql import Database, upgrade
from corral.worker_services import WorkerServices
from corral_reference.contracts import default_registry
from dlq_scale import seed, serve

DAY_MS = 86_400_000
EMAIL, PASSWORD = "owner@example.com", "screenshot owner password"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
SHOTS = [
    ("queues", "/console", "#queues-table tbody tr"),
    ("queue-detail", "/console/queues/email?state=failed", "#jobs-table tbody tr"),
    ("queue-monitoring", "/console/queues/email#processing", "#processing-summary dt"),
    ("job-detail", "/console/queues/email?state=failed&job={failed}", "#job-timeline li"),
    ("enqueue-form", "/console/queues/email", "#jobs-table tbody tr"),
    ("dlq", "/console/dlq", "#entries-table tbody tr"),
    ("dlq-entry", "/console/dlq", "#entries-table tbody tr"),
    ("dlq-secrets", "/console/dlq?search=name%3Aemail.otp", "#entries-table tbody tr"),
    ("dlq-analytics", "/console/dlq/analytics", "#last-day svg"),
    ("dlq-failures", "/console/dlq/analytics?tab=failures", "#by-fingerprint tbody tr"),
    ("dlq-trends", "/console/dlq/analytics?tab=trends&range=7d", "#trend-chart svg"),
    ("dlq-releases", "/console/dlq/analytics?tab=failures&range=7d", "#by-fingerprint .badge"),
    ("live", "/console/live", "#feed li"),
    ("schedules", "/console/schedules", "#schedules-table tbody tr"),
    ("audit", "/console/audit", "#audit-table tbody tr"),
    ("data-access", "/console/audit/data-access", "#access-table tbody tr"),
    ("workers", "/console/workers", "#workers-table tbody tr"),
    ("alerts", "/console/alerts", "#rules dt"),
    ("retention", "/console/dlq", "#retention-banner .retention-warning"),
    ("dlq-paused", "/console/dlq", '#tasks li[data-status="paused"] [data-plan]'),
]
CLOSED = "closed.example.com"


def say(path: Path) -> None:
    sys.stdout.write(f"wrote {path}\n")


async def deliver(context: JobContext, payload: Any) -> dict[str, Any]:
    await context.progress(100)
    if payload.to[0].endswith("@" + CLOSED):
        raise UnrecoverableJobError(f"SMTP 550 5.7.1 <{payload.to[0]}>: mailbox closed by the domain")
    roll = random.random()
    if roll < 0.2:
        raise UnrecoverableJobError(f"SMTP 550 5.1.1 <{payload.to[0]}>: Recipient address rejected: User unknown")
    if roll < 0.3:
        raise JobFailure(f"SMTP 421 4.7.0 Try again later, closing connection to {payload.to[0]}")
    return {"delivered": payload.to[0]}


async def generate(context: JobContext, payload: Any) -> dict[str, Any]:
    await context.log(f"prompt of {len(payload.prompt)} characters")
    if random.random() < 0.2:
        raise JobFailure("provider answered 503 Service Unavailable")
    return {"words": payload.maxWords}


class Worker:
    """A worker on its own loop thread with the standard observers (metrics, realtime events, DLQ)."""

    def __init__(self, settings: Settings, url: str) -> None:
        self.settings, self.url = settings, url
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=120)

    async def start(self) -> None:
        registry = default_registry()
        keys = Keys(self.settings.key_prefix)
        self.redis = Redis.from_url(self.url, decode_responses=True)
        self.engine = Engine(self.url, keys)
        self.services = WorkerServices(self.settings, self.redis, Producer(self.engine, registry), keys)
        hooks = HookBus()
        handlers = {"email.send": deliver, "ai.content.generate": generate}
        self.runtime = Runtime(
            self.settings, self.url, registry, handlers, queues=["email", "ai"], dlq=DeadLetterStore, hooks=hooks
        )
        install_observers(hooks, self.services, self.runtime)
        await self.runtime.start()

    async def stop(self) -> None:
        await self.runtime.close(grace_seconds=2)
        await self.services.close()
        await self.engine.close()
        await self.redis.aclose()


async def new_failure(redis: Redis, keys: Keys, service: DlqService, count: int) -> None:
    """`count` email jobs dead in the last two days of a failure release v2.4.0 brought, captured by the DLQ."""
    rng = random.Random(24)
    now = int(time.time() * 1000)
    for i in range(count):
        job_id, failed_at = f"v240-{i}", now - rng.randrange(2 * DAY_MS)
        reason = "template 'digest' has no variable 'unsubscribe_url'"
        await redis.hset(
            keys.job("email", job_id),
            mapping={
                "name": "email.send",
                "data": json.dumps({"to": [f"reader{i}@example.com"], "subject": "Digest", "templateId": "digest"}),
                "opts": json.dumps({"attempts": 5}),
                "failedReason": reason,
                "stacktrace": json.dumps([f"Traceback ...\nJobFailure: {reason}\n"]),
                "atm": 1,
                "timestamp": failed_at - 2_000,
                "processedOn": failed_at - 500,
                "finishedOn": failed_at,
            },
        )
        await redis.zadd(keys.queue("email", "failed"), {job_id: failed_at})
        await service.store.capture("email", job_id)


def make_owner(settings: Settings) -> str:
    upgrade(settings.resolved_database_url)
    database = Database(settings.resolved_database_url)

    async def make() -> str:
        owner = await UserService(database).create(EMAIL, Role.OWNER, PASSWORD)
        token, _ = await TokenService(database).create(owner.id, "screenshots")
        return token

    try:
        return asyncio.run(make())
    finally:
        database.dispose()


def enqueue_mix(api: httpx.Client, count: int) -> None:
    for i in range(count):
        if i % 3:
            payload = {"to": [f"reader{i}@example.com"], "subject": f"Weekly digest #{i}", "text": "Hello"}
            api.post("/owner/jobs", json={"name": "email.send", "payload": payload})
        else:
            payload = {"articleId": f"article-{i}", "prompt": "Write about queues", "maxWords": 300}
            api.post("/owner/jobs", json={"name": "ai.content.generate", "payload": payload})


def add_schedules(api: httpx.Client) -> None:
    cleanup = {"name": "system.cleanup", "payload": {"target": "completed", "olderThanHours": 24}}
    digest = {
        "to": ["team@example.com"],
        "subject": "Daily digest",
        "templateId": "notification",
        "vars": {"heading": "Your digest", "message": "Yesterday in numbers"},
    }
    for body in (
        {"id": "nightly-cleanup", **cleanup, "cron": "0 3 * * *"},
        {
            "id": "dlq-retention",
            "name": "system.cleanup",
            "payload": {"target": "dlq", "olderThanHours": 720},
            "every_ms": 6 * 3_600_000,
        },
        {"id": "daily-digest", "name": "email.send", "payload": digest, "cron": "30 8 * * 1-5", "tz": "Europe/Paris"},
        {
            "id": "hourly-rollup",
            "name": "analytics.rollup",
            "payload": {"granularity": "hour", "start": "2030-01-01T00:00:00Z"},
            "every_ms": 3_600_000,
        },
    ):
        api.post("/owner/schedules", json=body)
    api.post("/owner/schedules/system/dlq-retention/pause")


async def seed_closed(url: str, keys: Keys, count: int) -> list[str]:
    """`count` dead email jobs to a domain whose mailboxes are closed, so every replay of them dies again."""
    redis = Redis.from_url(url, decode_responses=True)
    engine = Engine(url, keys)
    service = DlqService(redis, keys, engine, default_registry())
    ids: list[str] = []
    try:
        for i in range(count):
            job_id, now = f"closed-{i}", int(time.time() * 1000) - i
            data = {"to": [f"member{i}@{CLOSED}"], "subject": "Your March invoice", "text": "Hello"}
            await redis.hset(
                keys.job("email", job_id),
                mapping={"name": "email.send", "data": json.dumps(data), "opts": json.dumps({"attempts": 3}),
                         "failedReason": f"SMTP 421 4.4.2 <member{i}@{CLOSED}>: connection dropped", "atm": 3,
                         "stacktrace": "[]", "timestamp": now - 5_000, "processedOn": now - 1_000, "finishedOn": now},
            )  # fmt: skip
            await redis.zadd(keys.queue("email", "failed"), {job_id: now})
            entry = await service.store.capture("email", job_id)
            assert entry is not None
            ids.append(entry)
    finally:
        await service.close()
        await engine.close()
        await redis.aclose()
    return ids


def pause_a_replay(api: httpx.Client, worker: Worker, keys: Keys) -> None:
    """Replay 40 selected entries whose jobs all die again, with a brake of 5, until the brake pauses the task."""
    ids = worker.run(seed_closed(worker.url, keys, 40))
    body = {"ids": ids, "rate": 10, "brake_threshold": 5, "brake_window": 300, "max_in_flight": 4}
    task = api.post("/owner/dlq/replay", json=body).json()["task"]["id"]
    deadline = time.monotonic() + 120
    while api.get(f"/owner/dlq/tasks/{task}").json()["status"] != "paused":
        assert time.monotonic() < deadline, "the replay did not pause"
        time.sleep(0.25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--entries", type=int, default=5_000)
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these pages (names of the PNG files)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="corral-screenshots-") as directory:
        valkey = EmbeddedValkey(Path(directory) / "valkey", persist=False)
        url = valkey.start()
        try:
            shoot(url, Path(directory), args)
        finally:
            valkey.stop()


def shoot(url: str, directory: Path, args: argparse.Namespace) -> None:
    settings = Settings(
        redis_url=url,
        data_dir=directory / "data",
        rate_limit_reads="100000/minute",
        rate_limit_mutations="100000/minute",
        metrics_flush_seconds=0.2,
        retention_warning_hours=7 * 24,
    )
    keys = Keys("corral")

    async def seed_dlq() -> None:
        redis = Redis.from_url(url, decode_responses=True)
        engine = Engine(url, keys)
        service = DlqService(redis, keys, engine, default_registry())
        try:
            # Release v2.3.0 ran the last 30 days; v2.4.0, deployed two days ago, brought a new failure.
            releases = Releases(redis, keys)
            await releases.mark("v2.3.0", "deploy-bot", "cli", at_ms=int(time.time() * 1000) - 31 * DAY_MS)
            await seed(redis, keys, service, args.entries, 7)
            await releases.mark("v2.4.0", "deploy-bot", "cli", at_ms=int(time.time() * 1000) - 2 * DAY_MS)
            await new_failure(redis, keys, service, 40)
        finally:
            await service.close()
            await engine.close()
            await redis.aclose()

    asyncio.run(seed_dlq())
    token = make_owner(settings)
    server, thread, base = serve(settings, url)
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    worker = Worker(settings, url)
    try:
        worker.run(worker.start())
        enqueue_mix(api, 120)
        api.post("/owner/queues/system/pause")
        entry = api.get("/owner/dlq/entries", params={"limit": 1}).json()["items"][0]["id"]
        api.post(f"/owner/dlq/entries/{entry}/replay")
        add_schedules(api)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            context = browser.new_context(base_url=base, viewport={"width": 1366, "height": 900})
            assert context.request.post("/auth/login", data={"email": EMAIL, "password": PASSWORD}).ok
            page = context.new_page()
            page.goto(base + "/console/live")
            page.wait_for_load_state("networkidle")
            enqueue_mix(api, 40)  # live events while the live page is open
            failed = api.get("/owner/queues/email/jobs", params={"state": "failed", "size": 1}).json()["items"]
            for name, path, ready in SHOTS:
                if args.only and name not in args.only:
                    continue
                if name == "dlq-paused":
                    pause_a_replay(api, worker, keys)
                page.goto(base + path.format(failed=failed[0]["id"] if failed else ""))
                page.wait_for_load_state("networkidle")
                page.locator(ready).first.wait_for(timeout=20_000)
                if name == "enqueue-form":
                    page.click("#open-enqueue")
                    page.locator("#enqueue-fields [data-field]").first.wait_for()
                if name in {"dlq-entry", "dlq-secrets"}:
                    page.locator("#entries-table tbody tr button.link").first.click()
                    page.locator("#entry-facts dt").first.wait_for()
                if name == "dlq-secrets":
                    page.locator("#entry-secrets").wait_for()
                page.wait_for_timeout(300)
                page.screenshot(
                    path=str(args.out / f"{name}.png"),
                    full_page=name
                    not in {"job-detail", "enqueue-form", "dlq-entry", "retention", "dlq-secrets", "dlq-paused"},
                )
                say(args.out / f"{name}.png")
            if args.only:
                browser.close()
                return
            phone = browser.new_context(base_url=base, viewport={"width": 390, "height": 844}, device_scale_factor=2)
            assert phone.request.post("/auth/login", data={"email": EMAIL, "password": PASSWORD}).ok
            small = phone.new_page()
            small.goto(base + "/console")
            small.wait_for_load_state("networkidle")
            small.screenshot(path=str(args.out / "queues-phone.png"))
            say(args.out / "queues-phone.png")
            page.goto(base + "/login")
            context.clear_cookies()
            page.goto(base + "/login")
            page.screenshot(path=str(args.out / "login.png"))
            say(args.out / "login.png")
            browser.close()
    finally:
        worker.run(worker.stop())
        api.close()
        server.should_exit = True
        thread.join(timeout=10)


if __name__ == "__main__":
    main()
