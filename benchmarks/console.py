"""The console in a real browser over a large DLQ: how long each page takes until it is usable.

    python benchmarks/console.py [--entries 1000000] [--waiting 10000] [--runs 5]

Seeds N dead-lettered entries with the DLQ benchmark's seeder (benchmarks/dlq_scale.py: realistic payloads, 40
fingerprints per queue family, 30 days of failures) and W waiting jobs on the email queue, serves the API and console on
loopback, signs in with Debian's chromium (playwright) and opens each page R times (after one warm-up). "Usable" is
the time from navigation start until the page shows its data (its ready condition below), read from the browser's
performance clock. Baseline, measured in the same run: the API calls the page makes, timed back to back with httpx
(no browser); the ratio shows what the browser, the page's scripts and rendering add. The target is < 1 s per page.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright
from redis.asyncio import Redis

from corral.dlq.service import DlqService
from corral.engine import Engine
from corral.keys import Keys
from corral.producer import Producer
from corral.security.permissions import Role
from corral.security.tokens import TokenService
from corral.security.users import UserService
from corral.server import EmbeddedValkey
from corral.settings import Settings
from corral.sql import Database, upgrade
from corral_reference.contracts import default_registry
from dlq_scale import seed, serve

EMAIL, PASSWORD = "owner@example.com", "benchmark owner password"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
QUEUES = ["ai", "workflows", "analytics", "email", "plugins", "system"]

# page -> (ready condition in the page, the API calls the page makes to show it)
PAGES: dict[str, tuple[str, list[str]]] = {
    "/console": (
        "document.querySelectorAll('#queues-table tbody tr').length === 6"
        " && document.querySelector('[data-card=dlq] .value').textContent !== '…'"
        " && document.querySelector('[data-card=health] .value').textContent !== '…'",
        ["/auth/me", "/owner/queues", "/owner/stats", "/owner/health"]
        + [f"/owner/metrics/{q}?points=60" for q in QUEUES],
    ),
    "/console/queues/email": (
        "document.querySelectorAll('#jobs-table tbody tr').length === 50"
        " && document.querySelector('#tab-waiting .count').textContent !== '…'",
        ["/auth/me", "/owner/queues/email", "/owner/queues/email/jobs?state=waiting&page=1&size=50"],
    ),
    "/console/dlq": (
        "document.querySelectorAll('#entries-table tbody tr').length === 50"
        " && document.querySelector('#entries-state').hidden",
        [
            "/auth/me",
            "/owner/queues",
            "/owner/dlq/fields",
            "/owner/dlq/entries?limit=50",
            "/owner/dlq/tasks?limit=5",
        ],
    ),
    "/console/dlq?search=queue%3Aemail+timed+out": (
        "document.querySelectorAll('#entries-table tbody tr').length > 0"
        " && document.querySelector('#entries-state').hidden",
        [
            "/auth/me",
            "/owner/queues",
            "/owner/dlq/fields",
            "/owner/dlq/entries?queue=email&q=timed+out&limit=50",
            "/owner/dlq/tasks?limit=5",
        ],
    ),
    "/console/dlq/analytics": (
        "document.querySelector('[data-card=total] .value').textContent !== '…'"
        " && document.querySelector('#last-day svg') !== null",
        ["/auth/me", "/owner/dlq/analytics?top=20", "/owner/dlq/trends?window=24h"],
    ),
    "/console/dlq/analytics?tab=trends&range=30d": (
        "document.querySelector('#trend-chart svg') !== null",
        ["/auth/me", "/owner/dlq/analytics?top=20", "/owner/dlq/trends?window=30d"],
    ),
    "/console/live": (
        "document.querySelectorAll('#health .health-card').length === 6"
        " && document.querySelector('#throughput svg') !== null"
        " && document.querySelector('#connection').dataset.state === 'open'",
        ["/auth/me", "/owner/stats", "/owner/health"] + [f"/owner/metrics/{q}?points=60" for q in QUEUES],
    ),
    "/console/audit": (
        "document.querySelector('#audit-state').dataset.kind !== 'loading'"
        " && document.querySelectorAll('#audit-table tbody tr').length > 0",
        ["/auth/me", "/owner/audit?limit=50"],
    ),
}


def make_owner(settings: Settings) -> str:
    """Migrate the store, create the owner and an API token for the baseline calls."""
    upgrade(settings.resolved_database_url)
    database = Database(settings.resolved_database_url)

    async def make() -> str:
        owner = await UserService(database).create(EMAIL, Role.OWNER, PASSWORD)
        token, _ = await TokenService(database).create(owner.id, "benchmark")
        return token

    try:
        return asyncio.run(make())
    finally:
        database.dispose()


async def enqueue_waiting(url: str, count: int) -> None:
    engine = Engine(url, Keys("corral"))
    producer = Producer(engine, default_registry())
    try:
        for start in range(0, count, 500):
            await asyncio.gather(
                *(
                    producer.enqueue("email.send", {"to": [f"reader{i}@example.com"], "subject": "Digest", "text": "x"})
                    for i in range(start, min(count, start + 500))
                )
            )
    finally:
        await engine.close()


def timed_ms(call: Callable[[], Any], runs: int) -> list[float]:
    call()
    samples = []
    for _ in range(runs):
        begun = time.perf_counter()
        call()
        samples.append((time.perf_counter() - begun) * 1000)
    return samples


def usable_ms(page: Page, url: str, ready: str) -> float:
    page.goto(url, wait_until="commit")
    page.wait_for_function(f"() => {ready}", timeout=60_000, polling="raf")
    return float(page.evaluate("performance.now()"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000, help="DLQ entries to seed")
    parser.add_argument("--waiting", type=int, default=10_000, help="waiting jobs on the email queue")
    parser.add_argument("--runs", type=int, default=5, help="timed loads of each page")
    parser.add_argument("--seed", type=int, default=20261128)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="corral-console-bench-") as directory:
        valkey = EmbeddedValkey(Path(directory) / "valkey", persist=False)
        url = valkey.start()
        try:
            run(url, Path(directory), args)
        finally:
            valkey.stop()


def run(url: str, directory: Path, args: argparse.Namespace) -> None:
    settings = Settings(
        redis_url=url,
        data_dir=directory / "data",
        rate_limit_reads="100000000/minute",
        rate_limit_mutations="100000000/minute",
    )
    keys = Keys("corral")

    async def prepare() -> None:
        redis = Redis.from_url(url, decode_responses=True)
        engine = Engine(url, keys)
        service = DlqService(redis, keys, engine, default_registry())
        try:
            print(f"seeding {args.entries:,} DLQ entries through the capture script ...")
            seeded = await seed(redis, keys, service, args.entries, args.seed)
            print(f"seeded in {seeded['seconds']:.0f}s")
        finally:
            await service.close()
            await engine.close()
            await redis.aclose()
        print(f"enqueueing {args.waiting:,} waiting email jobs ...")
        await enqueue_waiting(url, args.waiting)

    asyncio.run(prepare())
    token = make_owner(settings)
    server, thread, base = serve(settings, url)
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    for _ in range(20):  # audit rows for the audit page
        api.post("/owner/queues/system/pause")
        api.post("/owner/queues/system/resume")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            context = browser.new_context(base_url=base, viewport={"width": 1366, "height": 850})
            assert context.request.post("/auth/login", data={"email": EMAIL, "password": PASSWORD}).ok
            page = context.new_page()
            print(f"\n{args.entries:,} DLQ entries, {args.waiting:,} waiting jobs; {args.runs} loads per page\n")
            header = f"{'page':<46} {'usable p50':>10} {'max':>7} {'API p50':>8} {'ratio':>6}  target < 1 s"
            print(header)
            print("-" * len(header))
            worst = 0.0
            for path, (ready, calls) in PAGES.items():
                usable_ms(page, base + path, ready)  # warm-up
                samples = [usable_ms(page, base + path, ready) for _ in range(args.runs)]

                def fetch_all(calls: list[str] = calls) -> None:
                    for call in calls:
                        answer = api.get(call)
                        assert answer.status_code == 200, (call, answer.status_code, answer.text[:200])

                baseline = statistics.median(timed_ms(fetch_all, args.runs))
                p50, top = statistics.median(samples), max(samples)
                worst = max(worst, top)
                verdict = "ok" if top < 1000 else "OVER"
                print(f"{path:<46} {p50:>8.0f}ms {top:>5.0f}ms {baseline:>6.0f}ms {p50 / baseline:>5.1f}x  {verdict}")
            print(f"\nslowest load of any page: {worst:.0f} ms ({'under' if worst < 1000 else 'OVER'} the 1 s target)")
            context.close()
            browser.close()
    finally:
        api.close()
        server.should_exit = True
        thread.join(timeout=10)


if __name__ == "__main__":
    main()
