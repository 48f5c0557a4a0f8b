"""Releases on the failure timeline: workers of two releases, the second introducing a failure; the DLQ tags entries,
filters by release, shows each fingerprint's first and last release and what is new, and draws release markers."""

from __future__ import annotations

from typing import Any

from corral.dlq.fingerprint import fingerprint
from corral.dlq.query import DlqFilter
from corral.dlq.service import DlqService
from corral.dlq.store import DeadLetterStore
from corral.engine import Engine
from corral.errors import InvalidRequestError, UnrecoverableJobError
from corral.handlers import JobContext
from corral.hooks import HookBus, JobEvent, JobEventKind
from corral.keys import Keys
from corral.producer import Producer
from corral.releases import Releases
from corral.runtime import Runtime
from dlq.dlq_peers import audit_indexes

from support import Echo, eventually, make_registry

OLD_BUG = "payment provider timed out"
NEW_BUG = "template 'welcome' is missing"
PER_RELEASE = 6


def _handlers(release: str) -> dict[str, Any]:
    """v1 has one bug (odd values time out); v2 keeps it and adds one (values divisible by 4 miss a template)."""

    async def echo(_ctx: JobContext, payload: Echo) -> dict[str, int]:
        if release == "v2" and payload.value % 4 == 0:
            raise UnrecoverableJobError(NEW_BUG)
        if payload.value % 2 == 1:
            raise UnrecoverableJobError(OLD_BUG)
        return {"value": payload.value}

    return {"test.echo": echo}


async def _run_release(settings, valkey_url, registry, release: str, first: int, events: list[JobEvent]) -> None:
    """A worker told `release` runs PER_RELEASE jobs (values first..) until each has finished, then stops."""
    hooks = HookBus()
    hooks.subscribe(events.append, JobEventKind.FAILED, JobEventKind.COMPLETED)
    told = settings.model_copy(update={"release": release})
    runtime = Runtime(told, valkey_url, registry, _handlers(release), dlq=DeadLetterStore, hooks=hooks)
    engine = Engine(valkey_url, Keys(settings.key_prefix))
    producer = Producer(engine, registry)
    try:
        await runtime.start()
        for value in range(first, first + PER_RELEASE):
            await producer.enqueue("test.echo", {"value": value})
        await eventually(lambda: _finished(events, release, PER_RELEASE))
    finally:
        await engine.close()
        await runtime.close(grace_seconds=2)


async def _finished(events: list[JobEvent], release: str, count: int) -> bool:
    return len([event for event in events if event.detail.get("release") == release]) >= count


async def test_a_release_that_introduces_a_failure_is_named_on_its_fingerprint(
    settings, valkey_url, redis_client, keys, engine
) -> None:
    registry = make_registry(attempts=1)
    dlq = DlqService(redis_client, keys, engine, registry)
    events: list[JobEvent] = []
    try:
        # Given a worker of release v1 (one bug), then one of release v2 (the same bug and a new one)
        await _run_release(settings, valkey_url, registry, "v1", 0, events)
        await _run_release(settings, valkey_url, registry, "v2", 100, events)
        # Then every attempt's event carried the release of the worker that ran it
        assert {event.detail["release"] for event in events} == {"v1", "v2"}
        assert all(e.detail["release"] == ("v1" if int(e.job_id) <= PER_RELEASE else "v2") for e in events)
        # And both releases are known, first seen in order, recorded by their workers
        known = await Releases(redis_client, keys).all()
        assert [r.name for r in known] == ["v1", "v2"] and {r.source for r in known} == {"worker"}
        assert await Releases(redis_client, keys).current() == "v2"
        # And each entry carries its release, and the DLQ filters by it
        v1 = await dlq.query.page(DlqFilter(release="v1"), None, 50)
        v2 = await dlq.query.page(DlqFilter(release="v2"), None, 50)
        assert {item.release for item in v1.items} == {"v1"} and len(v1.items) == 3  # values 1, 3, 5
        assert {item.release for item in v2.items} == {"v2"} and len(v2.items) == 5  # 101, 103, 105; 100, 104
        assert v1.total == 3 and v2.total == 5
        searched = await dlq.query.page(dlq.query.validate(DlqFilter(text="release:v2 error:template")), None, 50)
        assert len(searched.items) == 2 and {item.failed_reason for item in searched.items} == {NEW_BUG}
        entry = await dlq.store.get(v2.items[0].id)
        assert entry is not None and entry.release == "v2"
        # And the analytics name the first and last release of each fingerprint, and what v2 introduced
        summary = await dlq.analytics.summary()
        stats = {stat.fingerprint: stat for stat in summary.top_fingerprints}
        old, new = stats[fingerprint(OLD_BUG)], stats[fingerprint(NEW_BUG)]
        assert (old.releases, old.first_release, old.last_release, old.new_in) == (["v1", "v2"], "v1", "v2", None)
        assert (new.releases, new.first_release, new.last_release, new.new_in) == (["v2"], "v2", "v2", "v2")
        assert summary.by_release == {"v1": 3, "v2": 5}
        ranged = await dlq.analytics.summary_in(window="24h")
        assert {s.fingerprint: s.new_in for s in ranged.top_fingerprints}[fingerprint(NEW_BUG)] == "v2"
        assert ranged.by_release == {"v1": 3, "v2": 5}
        # And the trend draws a marker at each release
        trend = await dlq.analytics.trend("24h")
        assert [marker.name for marker in trend.releases] == ["v1", "v2"]
        assert trend.releases[0].at == known[0].first_seen
        # And every index, count and release set matches what a scan of the entries implies
        await audit_indexes(redis_client, keys, dict(dlq.store.fields))
        # When every entry of the new failure is deleted, its release set goes with its fingerprint
        await dlq.store.delete([item.id for item in v2.items if item.failed_reason == NEW_BUG])
        assert not await redis_client.exists(keys.dlq_fingerprint_releases(fingerprint(NEW_BUG)))
        assert (await dlq.analytics.summary()).by_release == {"v1": 3, "v2": 3}
        await audit_indexes(redis_client, keys, dict(dlq.store.fields))
    finally:
        await dlq.close()


async def test_a_worker_not_told_its_release_tags_with_the_release_marked_current(
    settings, valkey_url, redis_client, keys, engine, dead_jobs
) -> None:
    # Given a failure from before any release was recorded
    now = dead_jobs.base_ms
    await dead_jobs.add("search.remove", {"docType": "article", "docId": "d0"}, "cache cold", failed_at=now - 10)
    # And a deploy marked v7 (by a person, not by the worker) and a store not told any release
    releases = Releases(redis_client, keys)
    await releases.mark("v7", "owner", "cli", at_ms=now)
    # When a job dies
    first = await dead_jobs.add(
        "search.remove", {"docType": "article", "docId": "d1"}, "index locked", failed_at=now + 1
    )
    # Then its entry carries v7; after a rollback marked v6 (then v7 again), new entries follow the mark
    await releases.mark("v6", "owner", "cli", at_ms=now + 2)
    second = await dead_jobs.add(
        "search.remove", {"docType": "article", "docId": "d2"}, "index locked", failed_at=now + 2
    )
    again, created = await releases.mark("v7", "someone-else", "api")
    assert created is False and again.marked_by == "owner" and again.source == "cli"
    third = await dead_jobs.add(
        "search.remove", {"docType": "article", "docId": "d3"}, "index locked", failed_at=now + 3
    )
    tagged = [(await dead_jobs.service.store.get(entry_id)).release for entry_id in (first, second, third)]
    assert tagged == ["v7", "v6", "v7"]
    # And the fingerprint is not "new" in any release: it was there in the first one
    stats = {s.fingerprint: s for s in (await dead_jobs.service.analytics.summary()).top_fingerprints}
    stat = stats[fingerprint("index locked")]
    assert stat.releases == ["v7", "v6"] and stat.first_release == "v7" and stat.last_release == "v7"
    assert stat.new_in is None
    # When the failure from before the releases comes back under v6 (made current again)
    await releases.mark("v6", "owner", "cli")
    await dead_jobs.add("search.remove", {"docType": "article", "docId": "d4"}, "cache cold", failed_at=now + 4)
    # Then v6 is its first release, but it is not new in v6: it was seen before v6 started
    stats = {s.fingerprint: s for s in (await dead_jobs.service.analytics.summary()).top_fingerprints}
    cold = stats[fingerprint("cache cold")]
    assert (cold.releases, cold.first_release, cold.new_in) == (["v6"], "v6", None)


async def test_a_bad_release_name_is_refused_naming_the_field(redis_client, keys, dlq) -> None:
    # When a release with a space is marked, or a filter names one with a slash
    for bad in ("two words", "", "-v1", "x" * 65):
        try:
            await Releases(redis_client, keys).mark(bad, "owner", "cli")
        except InvalidRequestError as exc:
            assert [error.field for error in exc.errors] == ["name"]
        else:
            raise AssertionError(f"{bad!r} was accepted")
    try:
        dlq.query.validate(DlqFilter(release="a/b"))
    except InvalidRequestError as exc:
        assert [error.field for error in exc.errors] == ["release"]
    else:
        raise AssertionError("a/b was accepted")
    # Then nothing was recorded
    assert await Releases(redis_client, keys).all() == []
