"""DLQ test helpers: dead jobs written as bullmq leaves them, captured by the real capture script; index audits."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from redis.asyncio import Redis

from corral.dlq.entry import META
from corral.dlq.fingerprint import fingerprint, search_tokens
from corral.dlq.service import DlqService
from corral.engine import Engine
from corral.keys import Keys
from corral_reference.contracts import default_registry

from support import prefixed_keys

HOUR_MS = 3_600_000


@dataclass
class DeadJobs:
    """Writes failed jobs into bullmq's keys and captures them, as a worker's final failure does."""

    redis: Redis
    service: DlqService
    keys: Keys
    counter: int = 0
    base_ms: int = field(default_factory=lambda: int(time.time() * 1000))

    async def add(
        self,
        name: str,
        data: dict[str, Any],
        reason: str,
        *,
        queue: str | None = None,
        failed_at: int | None = None,
        job_id: str | None = None,
    ) -> str:
        """One dead job of type `name`, captured into the DLQ; returns its entry id."""
        self.counter += 1
        queue = queue or default_registry().job(name).queue
        job_id = job_id or f"job-{self.counter}"
        failed_at = failed_at or self.base_ms - self.counter
        await self.redis.hset(
            self.keys.job(queue, job_id),
            mapping={
                "name": name,
                "data": json.dumps(data),
                "opts": json.dumps({"attempts": 3}),
                "failedReason": reason,
                "stacktrace": json.dumps([f"Traceback ...\nJobFailure: {reason}\n"]),
                "atm": 3,
                "timestamp": failed_at - 5_000,
                "processedOn": failed_at - 1_000,
                "finishedOn": failed_at,
            },
        )
        await self.redis.zadd(self.keys.queue(queue, "failed"), {job_id: failed_at})
        entry_id = await self.service.store.capture(queue, job_id)
        assert entry_id is not None
        return entry_id

    async def finish(self, entry_id: str, status: str = "succeeded") -> None:
        """Record that the entry's latest replay completed (`succeeded`) or died, as a worker would."""
        entry = await self.service.entry(entry_id)
        outcome = {"status": "completed" if status == "succeeded" else "died", "at": int(time.time() * 1000)}
        assert await self.service.store.record_outcome(entry_id, entry.replay_count, status, outcome)


@pytest.fixture
async def dlq(redis_client: Redis, keys: Keys, engine: Engine) -> AsyncIterator[DlqService]:
    """The DLQ service over the session's Valkey with the catalogue registry; its bulk tasks stop after the test."""
    service = DlqService(redis_client, keys, engine, default_registry(), bulk_rate=500)
    yield service
    await service.close()


@pytest.fixture
def dead_jobs(redis_client: Redis, dlq: DlqService, keys: Keys) -> DeadJobs:
    return DeadJobs(redis_client, dlq, keys)


def email(to: str, subject: str = "Weekly digest") -> dict[str, Any]:
    """A valid email.send payload."""
    return {"to": [to], "subject": subject, "templateId": "digest", "vars": {"n": 1}}


async def scan_keys(redis: Redis, pattern: str) -> list[str]:
    return sorted([key async for key in redis.scan_iter(match=pattern, count=1_000)])


async def audit_indexes(redis: Redis, keys: Keys, fields: dict[str, list[str]]) -> None:
    """Assert every index, count and search structure equals what a full scan of the entries implies."""
    entry_keys = await scan_keys(redis, keys.dlq_entry_prefix + "*")
    expected_ix: dict[str, dict[str, int]] = defaultdict(dict)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    hours: Counter[str] = Counter()
    job_ids: dict[str, set[str]] = defaultdict(set)
    fps: set[str] = set()
    by_time: dict[str, int] = {}
    replayed: dict[str, int] = {}
    for key in entry_keys:
        entry_id = key.removeprefix(keys.dlq_entry_prefix)
        raw = await redis.hgetall(key)
        meta = dict(zip(META, json.loads(raw["meta"]), strict=True))
        score = int(meta["failed_at"])
        count_text, _, status = raw["replays"].partition(":")
        by_time[entry_id] = score
        for kind, value in (("queue", meta["queue"]), ("name", meta["name"]), ("fp", meta["fingerprint"])):
            expected_ix[keys.dlq_index(kind, value)][entry_id] = score
            counts[kind][value] += 1
        counts["status"][status] += 1
        if raw.get("release"):
            expected_ix[keys.dlq_index("release", raw["release"])][entry_id] = score
            counts["release"][raw["release"]] += 1
        if status != "never":
            expected_ix[keys.dlq_index("status", status)][entry_id] = score
        if int(count_text):
            expected_ix[keys.dlq_index("replays", count_text)][entry_id] = score
            replayed[entry_id] = score
        data = json.loads(raw["data"])
        for name in fields.get(meta["name"], []):
            values = data.get(name)
            for value in values if isinstance(values, list) else [values]:
                if isinstance(value, str):
                    expected_ix[keys.dlq_index("f", f"{name}:{value.lower()}")][entry_id] = score
                    words = re.findall(r"[a-z0-9]+", value.lower())
                    if len(words) > 1 and len(words[0]) >= 3:
                        expected_ix[keys.dlq_index("w", words[0])][entry_id] = score
        hours[str(score // HOUR_MS)] += 1
        job_ids[meta["job_id"]].add(entry_id)
        fps.add(meta["fingerprint"])
        assert meta["fingerprint"] == fingerprint(raw["reason"])
    # Every index key holds exactly the entries the scan puts there, with their failed-at scores.
    actual_keys = set(await scan_keys(redis, keys.dlq_index_prefix + "*")) - {keys.dlq_replayed}
    assert actual_keys == set(expected_ix), sorted(actual_keys ^ set(expected_ix))
    for key, members in expected_ix.items():
        stored = {member: int(score) for member, score in await redis.zrange(key, 0, -1, withscores=True)}
        assert stored == members, key
    assert {m: int(s) for m, s in await redis.zrange(keys.dlq_by_time, 0, -1, withscores=True)} == by_time
    assert {m: int(s) for m, s in await redis.zrange(keys.dlq_replayed, 0, -1, withscores=True)} == replayed
    for dimension in ("queue", "name", "fp", "status", "release"):
        stored_counts = {m: int(s) for m, s in await redis.zrange(keys.dlq_counts(dimension), 0, -1, withscores=True)}
        assert stored_counts == dict(counts[dimension]), dimension
    assert {h: int(c) for h, c in (await redis.hgetall(keys.dlq_hours)).items()} == dict(hours)
    stored_jobs = {job: set(ids.split()) for job, ids in (await redis.hgetall(keys.dlq_job_ids)).items()}
    assert stored_jobs == dict(job_ids)
    # Fingerprint records and the error-text token index cover exactly the fingerprints still present.
    fp_keys = {
        key.removeprefix(keys.dlq_fingerprint_prefix)
        for key in await scan_keys(redis, keys.dlq_fingerprint_prefix + "*")
    }
    assert fp_keys == fps
    release_sets = await scan_keys(redis, keys.dlq_fingerprint_releases_prefix + "*")
    assert {key.removeprefix(keys.dlq_fingerprint_releases_prefix) for key in release_sets} <= fps
    expected_tokens: dict[str, set[str]] = defaultdict(set)
    for fp in fps:
        pattern = await redis.hget(keys.dlq_fingerprint(fp), "pattern")
        for token in search_tokens(pattern or ""):
            expected_tokens[token].add(fp)
    token_keys = await scan_keys(redis, keys.dlq_token_prefix + "*")
    stored_tokens = {key.removeprefix(keys.dlq_token_prefix): set(await redis.smembers(key)) for key in token_keys}
    assert stored_tokens == dict(expected_tokens)
    assert set(await redis.zrange(keys.dlq_fingerprint_names, 0, -1)) == fps
    assert set(await redis.zrange(keys.dlq_token_names, 0, -1)) == set(expected_tokens)


class Seeder:
    """Captures dead jobs into the served app's Valkey from the test's own event loop."""

    def __init__(self, valkey_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.redis = Redis.from_url(valkey_url, decode_responses=True)
        self.engine = Engine(valkey_url, prefixed_keys())
        self.service = DlqService(self.redis, prefixed_keys(), self.engine, default_registry())
        self.jobs = DeadJobs(self.redis, self.service, prefixed_keys())

    def add(self, name: str, data: dict[str, Any], reason: str, **kwargs: Any) -> str:
        return self.loop.run_until_complete(self.jobs.add(name, data, reason, **kwargs))

    def finish(self, entry_id: str, status: str = "succeeded") -> None:
        self.loop.run_until_complete(self.jobs.finish(entry_id, status))

    def waiting(self, queue: str) -> int:
        return self.loop.run_until_complete(self.engine.counts(queue))["waiting"]

    def close(self) -> None:
        self.loop.run_until_complete(self.engine.close())
        self.loop.run_until_complete(self.redis.aclose())
        self.loop.close()


@pytest.fixture
def seeder(valkey_url: str) -> Iterator[Seeder]:
    made = Seeder(valkey_url)
    yield made
    made.close()
