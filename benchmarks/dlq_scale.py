"""The DLQ at scale: reads, searches, analytics, export and bulk replay over a million entries, through the real API.

    python benchmarks/dlq_scale.py [--entries 1000000] [--requests 200] [--replay-entries 5000]

Seeds N dead jobs the way a worker leaves them (bullmq job hash + failed set) and captures each with the real capture
script (pipelined): all six queues and nineteen job types with realistic payloads, 40 error fingerprints with a long
tail, failures spread over 30 days with an outage burst. Then serves the API on loopback and prints p50/p95 over
repeated HTTP requests, each against a baseline measured in the same run:
pages, filters and searches against the raw Redis work of the same answer (no HTTP, no framework), searches also
against a full scan of the entries (timed on a 20,000-entry slice and scaled to N); export rows/s; bulk replay jobs/s
against its throttle; Redis memory per entry (INFO used_memory before/after capture) beyond the payload.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from redis.asyncio import Redis

from corral.api import create_app
from corral.dlq.fingerprint import search_tokens
from corral.dlq.service import DlqService
from corral.engine import Engine
from corral.keys import Keys
from corral.security.permissions import Role
from corral.security.tokens import TokenService
from corral.security.users import UserService
from corral.server import EmbeddedValkey, free_port
from corral.settings import Settings
from corral.sql import Database, upgrade
from corral_reference.contracts import default_registry

DAY_MS = 86_400_000
CHUNK = 5_000
STACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/app/.venv/lib/python3.11/site-packages/corral/runtime.py", line 131, in process\n'
    "    result = await handler(JobContext(job, self.services), payload)\n"
    '  File "/srv/app/corral/workers/{worker}.py", line 27, in handle\n'
    "    return await service.run(payload)\n"
    "corral.errors.JobFailure: {reason}\n"
)

# 40 failure reasons per queue family; weights fall off like 1/rank (a long tail).
REASONS: dict[str, list[str]] = {
    "email": [
        "SMTP 421 4.7.0 Try again later, closing connection to {addr}",
        "SMTP 550 5.1.1 <{addr}>: Recipient address rejected: User unknown",
        "connection refused by smtp.example.net:587 after {n} ms",
        "SMTP 452 4.2.2 mailbox of {addr} is full",
        "template '{tpl}' renders an undefined variable 'firstName'",
        "TLS handshake with smtp.example.net timed out after {n}s",
        "SMTP 554 5.7.1 message from {addr} rejected as spam",
    ],
    "ai": [
        "provider returned 429 Too Many Requests (retry after {n}s)",
        "provider returned 503 Service Unavailable for model gpt-4o-mini",
        "timed out after {n}s waiting for the provider",
        "article {id} not found",
        "prompt of {n} tokens exceeds the model's context window",
        "provider response was not valid JSON at offset {n}",
    ],
    "workflows": [
        "step {id} action http.request answered 502 from https://hooks.example.com/{id}",
        "step {id} depends on a failed step",
        "workflow run {id} cancelled by its owner",
        "step {id} timed out after {n}s",
    ],
    "analytics": [
        "rollup of hour {n} conflicts with a running rollup",
        "event batch rejected: {n} events older than retention",
        "report {id} metric 'bounce_rate' unknown",
        "database is locked (sqlite3.OperationalError) after {n} ms",
    ],
    "plugins": [
        "plugin {id} exited with status {n}",
        "plugin {id} exceeded its time limit of {n} ms",
        "webhook https://hooks.example.com/{id} answered 500",
        "webhook https://hooks.example.com/{id} answered 410 Gone",
        "plugin {id} is not installed",
        "secretRef '{id}' is not configured",
    ],
    "system": [
        "search index is locked by another writer ({n} ms)",
        "article {id} revision {n} is older than the stored revision",
        "article {id} is not found",
        "document {id} body exceeds {n} characters",
        "cleanup of target events failed: stream missing",
        "publish of article {id} failed: channel 'rss' unavailable",
        'FTS5 syntax error near "{id}"',
        "disk full while writing /var/lib/corral/search.db ({n} bytes)",
        "database is locked (sqlite3.OperationalError) after {n} ms",
        "article {id} scheduled in the past",
        "search index {id} corrupt; rebuild needed",
        "publish of article {id} failed: {n} subscribers unreachable",
        "SMTP 421 4.7.0 Try again later, closing connection to {addr}",
    ],
}
NAMES = {
    "email": ["email.send", "email.otp"],
    "ai": ["ai.content.generate", "ai.content.rewrite", "ai.content.summarize", "ai.seo.analyze", "ai.seo.meta"],
    "workflows": ["workflow.run", "workflow.step"],
    "analytics": ["analytics.events.ingest", "analytics.rollup", "analytics.report"],
    "plugins": ["plugin.execute", "plugin.webhook"],
    "system": ["search.index", "search.remove", "article.publish", "article.autosave", "system.cleanup"],
}
QUEUE_WEIGHTS = {"email": 45, "ai": 20, "workflows": 10, "analytics": 8, "plugins": 7, "system": 10}
WORDS = "queue worker retry lambda vector ocean mountain river summer planet signal garden".split()


def payload(name: str, i: int, rng: random.Random) -> dict[str, Any]:
    """A realistic valid payload of job `name`."""
    art = f"art-{rng.randrange(200_000)}"
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(20, 80)))
    to = f"user{rng.randrange(300_000)}@example.com"
    ts = "2026-11-20T10:00:00+00:00"
    return {
        "email.send": {"to": [to], "subject": "Your weekly digest", "templateId": "digest", "vars": {"name": f"U{i}"}},
        "email.otp": {"userId": f"u{i % 90_000}", "to": to, "purpose": "login", "ttlSeconds": 300},
        "ai.content.generate": {"articleId": art, "prompt": text, "tone": "friendly", "maxWords": 400},
        "ai.content.rewrite": {"articleId": art, "text": text, "instruction": "make it shorter"},
        "ai.content.summarize": {"articleId": art, "text": text, "maxSentences": 3},
        "ai.seo.analyze": {"articleId": art, "title": "How queues work", "body": text, "focusKeyword": "queue"},
        "ai.seo.meta": {"articleId": art, "title": "How queues work", "body": text},
        "workflow.run": {
            "workflowId": f"wf-{i % 50}",
            "runId": f"run-{i}",
            "steps": [
                {"id": "fetch", "action": "http.request"},
                {"id": "save", "action": "store", "dependsOn": ["fetch"]},
            ],
        },
        "workflow.step": {
            "workflowId": f"wf-{i % 50}",
            "runId": f"run-{i}",
            "stepId": "fetch",
            "action": "http.request",
        },
        "analytics.events.ingest": {"events": [{"type": "page_view", "ts": ts, "articleId": art} for _ in range(3)]},
        "analytics.rollup": {"granularity": "hour", "start": ts},
        "analytics.report": {"reportId": f"r-{i}", "from": ts, "to": "2026-11-21T10:00:00+00:00", "metrics": ["views"]},
        "plugin.execute": {"pluginId": f"p-{i % 30}", "hook": "on_publish", "payload": {"articleId": art}},
        "plugin.webhook": {"pluginId": f"p-{i % 30}", "url": "https://hooks.example.com/x", "event": "published"},
        "search.index": {"docType": "article", "docId": art, "title": "How queues work", "body": text, "tags": ["q"]},
        "search.remove": {"docType": "article", "docId": art},
        "article.publish": {"articleId": art, "channels": ["web", "rss"]},
        "article.autosave": {"articleId": art, "userId": f"u{i % 90_000}", "revision": 3, "title": "t", "body": text},
        "system.cleanup": {"target": "events", "olderThanHours": 24},
    }[name]


def reason_of(queue: str, rng: random.Random) -> tuple[str, dict[str, str]]:
    templates = REASONS[queue]
    weights = [1 / (rank + 1) ** 1.2 for rank in range(len(templates))]
    template = rng.choices(templates, weights)[0]
    values = {
        "addr": f"user{rng.randrange(300_000)}@example.com",
        "n": str(rng.randrange(1, 90_000)),
        "id": f"x{rng.randrange(1_000_000)}",
        "tpl": "digest",
    }
    return template.format(**values), values


async def seed(redis: Redis, keys: Keys, service: DlqService, entries: int, seed_value: int) -> dict[str, Any]:
    """Seed `entries` captured entries; returns memory figures and samples for the queries."""
    rng = random.Random(seed_value)
    now = int(time.time() * 1000)
    outage_start = now - 3 * DAY_MS
    queues = list(QUEUE_WEIGHTS)
    weights = list(QUEUE_WEIGHTS.values())
    data_bytes = content_bytes = delta = 0
    recipients: list[str] = []
    articles: list[str] = []
    started = time.perf_counter()
    for start in range(0, entries, CHUNK):
        count = min(CHUNK, entries - start)
        rows = []
        async with redis.pipeline(transaction=False) as pipe:
            for i in range(start, start + count):
                queue = rng.choices(queues, weights)[0]
                name = rng.choice(NAMES[queue])
                reason, _ = reason_of(queue, rng)
                if rng.random() < 0.3:  # an hour-long provider outage three days ago
                    failed_at = outage_start + rng.randrange(3_600_000)
                else:
                    failed_at = now - rng.randrange(30 * DAY_MS)
                data = json.dumps(payload(name, i, rng), separators=(",", ":"))
                attempts = rng.randint(1, 5)
                stack = json.dumps([STACK.format(worker=queue, reason=reason)] * min(attempts, 2))
                opts = json.dumps({"attempts": 5, "backoff": {"type": "corral-exponential", "delay": 5000}})
                job_id = str(i + 1)
                pipe.hset(
                    keys.job(queue, job_id),
                    mapping={
                        "name": name,
                        "data": data,
                        "opts": opts,
                        "failedReason": reason,
                        "stacktrace": stack,
                        "atm": attempts,
                        "timestamp": failed_at - 60_000,
                        "processedOn": failed_at - 2_000,
                        "finishedOn": failed_at,
                    },
                )
                pipe.zadd(keys.queue(queue, "failed"), {job_id: failed_at})
                rows.append((queue, job_id, reason))
                data_bytes += len(data)
                content_bytes += len(data) + len(reason) + len(stack) + len(opts)
                if name == "email.send" and len(recipients) < 2_000:
                    recipients.append(json.loads(data)["to"][0])
                if "articleId" in data and len(articles) < 2_000:
                    articles.append(json.loads(data).get("articleId", ""))
            await pipe.execute()
        before = int((await redis.info("memory"))["used_memory"])
        async with redis.pipeline(transaction=False) as pipe:
            for queue, job_id, reason in rows:
                await service.store.capture_in(pipe, queue, job_id, reason)  # type: ignore[arg-type]
            await pipe.execute()
        delta += int((await redis.info("memory"))["used_memory"]) - before
        # What bullmq would trim by its own retention: drop the job hashes and failed-set members again.
        async with redis.pipeline(transaction=False) as pipe:
            for queue, job_id, _reason in rows:
                pipe.delete(keys.job(queue, job_id))
                pipe.zrem(keys.queue(queue, "failed"), job_id)
            await pipe.execute()
        if (start // CHUNK) % 20 == 0:
            print(f"  seeded {start + count:,} entries ({(start + count) / (time.perf_counter() - started):,.0f}/s)")
    return {
        "seconds": time.perf_counter() - started,
        "per_entry": delta / entries,
        "beyond_payload": (delta - data_bytes) / entries,
        "beyond_content": (delta - content_bytes) / entries,
        "payload": data_bytes / entries,
        "content": content_bytes / entries,
        "recipients": recipients,
        "articles": [a for a in articles if a],
    }


def owner_token(settings: Settings) -> str:
    upgrade(settings.resolved_database_url)
    database = Database(settings.resolved_database_url)

    async def make() -> str:
        owner = await UserService(database).create("owner@example.com", Role.OWNER, "benchmark owner password")
        token, _ = await TokenService(database).create(owner.id, "benchmark")
        return token

    try:
        return asyncio.run(make())
    finally:
        database.dispose()


def serve(settings: Settings, url: str) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, url), host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


def timed(requests: int, call: Callable[[int], Any]) -> tuple[float, float]:
    """p50 and p95 in milliseconds of `requests` calls (after two warm-up calls)."""
    call(0)
    call(1)
    samples = []
    for i in range(requests):
        begun = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - begun) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--replay-entries", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=20261128)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="corral-dlq-bench-") as directory:
        valkey = EmbeddedValkey(Path(directory) / "valkey", persist=False)
        url = valkey.start()
        try:
            run(url, Path(directory), args)
        finally:
            valkey.stop()


def run(url: str, directory: Path, args: argparse.Namespace) -> None:
    keys = Keys("corral")
    settings = Settings(
        redis_url=url,
        data_dir=directory / "data",
        rate_limit_reads="100000000/minute",
        rate_limit_mutations="100000000/minute",
        rate_limit_exports="100000/minute",
    )
    loop = asyncio.new_event_loop()
    redis = Redis.from_url(url, decode_responses=True)
    engine = Engine(url, keys)
    service = DlqService(redis, keys, engine, default_registry())
    print(f"seeding {args.entries:,} DLQ entries through the capture script ...")
    seeded = loop.run_until_complete(seed(redis, keys, service, args.entries, args.seed))
    print(f"seeded in {seeded['seconds']:.0f}s ({args.entries / seeded['seconds']:,.0f} captures/s)\n")
    summary = loop.run_until_complete(service.analytics.summary(top=40))
    email_fp = next(s.fingerprint for s in summary.top_fingerprints if s.queue == "email")
    patterns = [s.pattern for s in summary.top_fingerprints]
    by_time: list[tuple[str, float]] = loop.run_until_complete(
        redis.zrevrange(keys.dlq_by_time, args.entries // 2, args.entries // 2 + 999, withscores=True)
    )
    deep_cursors = [f"{int(score)}:{entry_id}" for entry_id, score in by_time]

    server, thread, base = serve(settings, url)
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {owner_token(settings)}"}, timeout=120)
    results: list[tuple[str, float, float, str]] = []

    def get(path: str, **params: Any) -> Any:
        response = client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def raw(coro_factory: Callable[[], Any]) -> Callable[[int], Any]:
        return lambda _i: loop.run_until_complete(coro_factory())

    def raw_page(key: str, low: str = "-inf", high: str = "+inf", start: int = 0) -> Any:
        async def page() -> Any:
            ids = await redis.zrevrangebyscore(key, high, low, start=start, num=50)
            return await service.query.rows(ids, "summary")

        return page

    def record(label: str, call: Callable[[int], Any], baseline: Callable[[int], Any] | None, note: str = "") -> None:
        p50, p95 = timed(args.requests, call)
        ratio = ""
        if baseline is not None:
            b50, _ = timed(min(args.requests, 100), baseline)
            ratio = f"{p50 / b50:5.1f}x raw Redis ({b50:.2f} ms)"
        results.append((label, p50, p95, ratio or note))
        print(f"{label:<34} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  {ratio or note}")

    tokens_pool = [" ".join(search_tokens(p)[:2]) for p in patterns if len(search_tokens(p)) >= 2]
    print(f"HTTP API over {args.entries:,} entries, {args.requests} requests each (2 cores shared with other work):")
    record("first page (50)", lambda _i: get("/owner/dlq/entries"), raw(raw_page(keys.dlq_by_time)))
    record(
        "deep page by cursor (~N/2)",
        lambda i: get("/owner/dlq/entries", cursor=deep_cursors[i % len(deep_cursors)]),
        raw(raw_page(keys.dlq_by_time, start=args.entries // 2)),
    )
    record(
        "filter queue + fingerprint",
        lambda _i: get("/owner/dlq/entries", queue="email", fingerprint=email_fp),
        raw(raw_page(keys.dlq_index("fp", email_fp))),
    )
    record(
        "filter queue + 24h range",
        lambda _i: get("/owner/dlq/entries", queue="ai", since=int(time.time() * 1000) - DAY_MS),
        None,
        "",
    )
    record(
        "payload field search (to:...)",
        lambda i: get("/owner/dlq/entries", field=f"to:{seeded['recipients'][i % len(seeded['recipients'])]}"),
        None,
    )
    record(
        "free-text search (articleId value)",
        lambda i: get("/owner/dlq/entries", q=seeded["articles"][i % len(seeded["articles"])]),
        None,
    )
    record(
        "error-text search (2 words)",
        lambda i: get("/owner/dlq/entries", error=tokens_pool[i % len(tokens_pool)]),
        None,
    )

    def bump_version(_i: int) -> None:
        loop.run_until_complete(redis.incr(keys.dlq_version))

    def uncached(path: str, **params: Any) -> Callable[[int], Any]:
        def call(i: int) -> Any:
            bump_version(i)
            return get(path, **params)

        return call

    record("analytics (uncached)", uncached("/owner/dlq/analytics"), None)
    record("analytics (cached)", lambda _i: get("/owner/dlq/analytics"), None)
    record("trends 24h (uncached)", uncached("/owner/dlq/trends", window="24h"), None)
    record("trends 7d (uncached)", uncached("/owner/dlq/trends", window="7d"), None)
    record("trends 30d (uncached)", uncached("/owner/dlq/trends", window="30d"), None)

    # A full scan for the same searches, timed on a slice and scaled: what indexes save.
    slice_ids = [entry_id for entry_id, _ in by_time[:1000]] * 20

    async def scan_slice() -> None:
        for start in range(0, len(slice_ids), 1000):
            async with redis.pipeline(transaction=False) as pipe:
                for entry_id in slice_ids[start : start + 1000]:
                    pipe.hmget(keys.dlq_entry(entry_id), ["data", "reason"])
                await pipe.execute()

    begun = time.perf_counter()
    loop.run_until_complete(scan_slice())
    scan_full = (time.perf_counter() - begun) * args.entries / len(slice_ids)
    print(f"{'full-scan baseline (scaled)':<34} {scan_full:7.1f} s per search: what an index-free search would cost\n")

    # Export: every entry, streamed.
    for fmt in ("csv", "jsonl"):
        begun = time.perf_counter()
        rows = size = 0
        with client.stream("GET", "/owner/dlq/export", params={"format": fmt}) as response:
            for chunk in response.iter_text():
                size += len(chunk)
                rows += chunk.count("\n")
        seconds = time.perf_counter() - begun
        rows -= 1 if fmt == "csv" else 0
        print(f"export {fmt:<5} {rows:,} rows, {size / 1e6:,.0f} MB in {seconds:.1f}s: {rows / seconds:,.0f} rows/s")
        results.append((f"export {fmt} rows/s", rows / seconds, 0, ""))

    # Bulk replay at the default throttle, over the entries of one fingerprint (at most --replay-entries).
    replay_fp = min(
        (s for s in summary.top_fingerprints if s.count >= 500), key=lambda s: abs(s.count - args.replay_entries)
    )
    flt = {"fingerprint": replay_fp.fingerprint}
    preview = client.post("/owner/dlq/replay", json={"filter": flt}).json()
    begun = time.perf_counter()
    started = client.post(
        "/owner/dlq/replay", json={"filter": flt, "confirmation_token": preview["confirmation_token"]}
    ).json()
    task_id = started["task"]["id"]
    while (state := get(f"/owner/dlq/tasks/{task_id}"))["status"] == "running":
        if time.perf_counter() - begun > 20:
            client.post(f"/owner/dlq/tasks/{task_id}/cancel")
        time.sleep(0.25)
    seconds = (state["finished_at"] - state["created_at"]) / 1000
    rate = state["done"] / seconds
    print(
        f"bulk replay: {state['done']:,} of {preview['count']:,} entries in {seconds:.1f}s = {rate:,.0f} jobs/s "
        f"(throttle {state['rate']}/s: {rate / state['rate']:.0%}); {state['succeeded']:,} replayed, "
        f"{state['failed']:,} refused by the contract, status {state['status']}"
    )

    print(
        f"\nmemory per entry: {seeded['per_entry']:,.0f} B in all; payload (data) {seeded['payload']:,.0f} B; "
        f"beyond the payload {seeded['beyond_payload']:,.0f} B; beyond the whole stored job document "
        f"(data, options, reason, stack trace: {seeded['content']:,.0f} B) {seeded['beyond_content']:,.0f} B"
    )
    client.close()
    server.should_exit = True
    thread.join(timeout=30)
    loop.run_until_complete(service.close())
    loop.run_until_complete(engine.close())
    loop.run_until_complete(redis.aclose())
    loop.close()


if __name__ == "__main__":
    main()
