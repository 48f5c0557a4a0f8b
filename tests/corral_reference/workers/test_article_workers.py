"""The article-publish and article-autosave workers on a real Valkey and SQL store (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from corral.dlq.store import DeadLetterStore
from corral.engine import Engine, JobRecord
from corral.handlers import HandlerSet, JobContext
from corral_reference.articles import ArticleStore
from corral_reference.contracts import SearchIndex, default_registry
from corral_reference.workers import article_autosave, article_publish

from sql.sql_peers import database, postgres_schemas, postgres_store_url, store_url  # noqa: F401
from support import eventually

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def settings(settings, store_url):  # noqa: F811
    """The shared test settings, with the SQL store under test."""
    return settings.model_copy(update={"database_url": store_url})


@pytest.fixture
async def system_worker(start_runtime, worker_services) -> list[dict[str, Any]]:
    """Runs the article workers on the system queue; returns what `search.index` jobs asked to index."""
    indexed: list[dict[str, Any]] = []
    handlers = HandlerSet()
    article_publish.register(handlers, worker_services)
    article_autosave.register(handlers, worker_services)

    # The search worker is another module's; this handler stands in for it and records its payloads.
    @handlers.handles("search.index")
    async def record(_ctx: JobContext, payload: SearchIndex) -> dict[str, Any]:
        indexed.append(payload.model_dump())
        return {"indexed": payload.docId}

    await start_runtime(default_registry(), handlers, queues=["system"])
    return indexed


async def finished(engine: Engine, job_id: str, timeout: float = 60.0) -> JobRecord:
    # The engine reads a job's hash and its state separately; finishedOn proves the hash is the final one.
    async def check() -> JobRecord | None:
        job = await engine.get_job("system", job_id)
        return job if job is not None and job.state in ("completed", "failed") and job.finished_on else None

    return await eventually(check, timeout=timeout)


async def autosave(producer, article_id: str, revision: int, user: str = "ada") -> str:
    return await producer.article_autosave(
        {
            "articleId": article_id,
            "userId": user,
            "revision": revision,
            "title": f"Title r{revision}",
            "body": f"Body of revision {revision}.",
        }
    )


async def test_publish_now_marks_published_and_enqueues_search_index(
    system_worker,
    worker_services,
    engine,
    database,  # noqa: F811
) -> None:
    producer = worker_services.producer
    # Given an article saved by an autosave job
    saved = await finished(engine, await autosave(producer, "art-1", 1))
    assert saved.state == "completed" and saved.return_value["applied"] is True
    # When it is published now on two channels
    job = await finished(
        engine, await producer.article_publish({"articleId": "art-1", "channels": ["web", "newsletter"]})
    )
    # Then the job reports it published and the store agrees
    assert job.state == "completed", job.failed_reason
    result = job.return_value
    assert result["status"] == "published" and result["channels"] == ["web", "newsletter"]
    article = ArticleStore(database).get("art-1")
    assert article is not None
    assert article.status == "published" and article.published_at is not None
    assert article.published_at.isoformat() == result["publishedAt"]
    # And a search.index job for the article was enqueued on the system queue, and ran
    index_job = await finished(engine, result["searchJobId"])
    assert index_job.name == "search.index" and index_job.state == "completed"
    assert index_job.data["docId"] == "art-1" and index_job.data["docType"] == "article"
    assert index_job.data["title"] == "Title r1" and index_job.data["body"] == "Body of revision 1."
    assert [item["docId"] for item in system_worker] == ["art-1"]


async def test_publishing_twice_keeps_the_first_publication_and_indexes_once(
    system_worker,
    worker_services,
    engine,
    database,  # noqa: F811
) -> None:
    producer = worker_services.producer
    # Given a published article
    await finished(engine, await autosave(producer, "art-2", 1))
    first = await finished(engine, await producer.article_publish({"articleId": "art-2", "channels": ["web"]}))
    # When the same publication is requested again
    second = await finished(engine, await producer.article_publish({"articleId": "art-2", "channels": ["web"]}))
    # Then it stays published at the first time, and the second request maps to the same index job
    assert first.return_value["publishedAt"] == second.return_value["publishedAt"]
    assert first.return_value["searchJobId"] == second.return_value["searchJobId"]
    await finished(engine, first.return_value["searchJobId"])
    assert len(system_worker) == 1


async def test_publish_in_the_future_schedules_then_really_publishes(
    system_worker,
    worker_services,
    engine,
    database,  # noqa: F811
) -> None:
    producer = worker_services.producer
    await finished(engine, await autosave(producer, "art-3", 1))
    # Given a publication 1.5 s ahead
    when = datetime.now(UTC) + timedelta(seconds=1.5)
    # When article.publish runs
    job = await finished(
        engine, await producer.article_publish({"articleId": "art-3", "scheduledFor": when, "channels": ["web"]})
    )
    # Then the article is scheduled and a delayed article.publish waits for that time
    assert job.return_value["status"] == "scheduled", job.return_value
    assert datetime.fromisoformat(job.return_value["scheduledFor"]) == when
    delayed = await engine.get_job("system", job.return_value["publishJobId"])
    assert delayed is not None and delayed.state == "delayed" and delayed.name == "article.publish"
    assert 0 < delayed.delay_ms <= 1_500
    store = ArticleStore(database)
    scheduled = store.get("art-3")
    assert scheduled is not None and scheduled.status == "scheduled" and scheduled.scheduled_for == when
    assert system_worker == []
    # And when that time comes the delayed job publishes it and triggers indexing
    ran = await finished(engine, job.return_value["publishJobId"])
    assert ran.return_value["status"] == "published"
    published = store.get("art-3")
    assert published is not None and published.status == "published" and published.scheduled_for is None
    assert published.published_at is not None and published.published_at >= when
    await finished(engine, ran.return_value["searchJobId"])
    assert [item["docId"] for item in system_worker] == ["art-3"]


async def test_a_rescheduled_publication_supersedes_the_earlier_delayed_job(
    system_worker,
    worker_services,
    engine,
    database,  # noqa: F811
) -> None:
    producer = worker_services.producer
    await finished(engine, await autosave(producer, "art-4", 1))
    soon = datetime.now(UTC) + timedelta(seconds=1)
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    # Given a publication scheduled soon
    first = await finished(
        engine, await producer.article_publish({"articleId": "art-4", "scheduledFor": soon, "channels": ["web"]})
    )
    # When it is moved to tomorrow, twice (the repeat must not add a third delayed job)
    moved = [
        await finished(
            engine,
            await producer.article_publish({"articleId": "art-4", "scheduledFor": tomorrow, "channels": ["web"]}),
        )
        for _ in range(2)
    ]
    assert moved[0].return_value["publishJobId"] == moved[1].return_value["publishJobId"]
    assert (await engine.counts("system"))["delayed"] == 2
    # Then the earlier delayed job, when it fires, finds itself superseded and publishes nothing
    stale = await finished(engine, first.return_value["publishJobId"])
    assert stale.return_value["status"] == "superseded"
    article = ArticleStore(database).get("art-4")
    assert article is not None and article.status == "scheduled" and article.scheduled_for == tomorrow
    later = await engine.get_job("system", moved[0].return_value["publishJobId"])
    assert later is not None and later.state == "delayed"
    assert 86_000_000 < later.delay_ms <= 86_400_000
    assert system_worker == []


async def test_publishing_an_unknown_article_fails_at_once_into_the_dlq(
    system_worker, worker_services, engine, redis_client, keys
) -> None:
    # Given no article "ghost"
    # When it is published
    job = await finished(
        engine, await worker_services.producer.article_publish({"articleId": "ghost", "channels": ["web"]})
    )
    # Then the job fails after one attempt and lands in the DLQ with the reason
    assert job.state == "failed" and job.attempts_made == 1
    assert job.failed_reason == "article 'ghost' does not exist"
    dlq = DeadLetterStore(redis_client, keys)
    await eventually(dlq.count)
    assert (await dlq.recent())[0].job_id == job.id


async def test_an_older_autosave_never_overwrites_a_newer_one(
    system_worker,
    worker_services,
    engine,
    database,  # noqa: F811
) -> None:
    producer = worker_services.producer
    # Given revision 5 saved
    await finished(engine, await autosave(producer, "art-5", 5))
    # When revision 3 arrives late
    late = await finished(engine, await autosave(producer, "art-5", 3, user="bob"))
    # Then it is kept in the history but the article still shows revision 5
    assert late.return_value == {"articleId": "art-5", "revision": 3, "applied": False, "currentRevision": 5}
    store = ArticleStore(database)
    article = store.get("art-5")
    assert article is not None and article.current_revision == 5 and article.title == "Title r5"
    assert [(r.revision, r.user_id) for r in store.revisions("art-5")] == [(3, "bob"), (5, "ada")]


async def test_racing_autosave_jobs_keep_the_newest_revision(
    system_worker,
    worker_services,
    engine,
    database,  # noqa: F811
) -> None:
    # Given 30 autosaves of one article enqueued at once, the newest among the first, the rest shuffled
    # (the queue runs 5 at a time, so older revisions keep arriving after the newest)
    older = list(range(1, 30))
    random.Random(7).shuffle(older)
    revisions = [*older[:2], 30, *older[2:]]
    ids = await worker_services.producer.enqueue_bulk(
        [
            (
                "article.autosave",
                {"articleId": "race", "userId": "ada", "revision": r, "title": f"Title r{r}", "body": f"b{r}"},
            )
            for r in revisions
        ]
    )
    # When they all complete
    jobs = [await finished(engine, job_id, timeout=60) for job_id in ids]
    assert all(job.state == "completed" for job in jobs)
    # Then the newest revision won, every revision is in the history, and revision 30 was applied
    store = ArticleStore(database)
    article = store.get("race")
    assert article is not None
    assert (article.current_revision, article.title, article.body) == (30, "Title r30", "b30")
    assert [r.revision for r in store.revisions("race")] == list(range(1, 31))
    by_revision = {job.return_value["revision"]: job.return_value for job in jobs}
    assert by_revision[30]["applied"] is True


async def test_concurrent_autosaves_from_many_threads_keep_the_newest(database) -> None:  # noqa: F811
    # Given three articles, each with 40 revisions saved concurrently from worker threads in random order
    store = ArticleStore(database)
    rng = random.Random(11)
    calls = []
    for article in ("a", "b", "c"):
        revisions = list(range(1, 41))
        rng.shuffle(revisions)
        calls += [(article, r) for r in revisions]
    rng.shuffle(calls)
    # When they all run at once
    outcomes = await asyncio.gather(
        *(asyncio.to_thread(store.autosave, a, "ada", r, f"{a} r{r}", f"{a} body {r}") for a, r in calls)
    )
    # Then each article holds its newest revision, whatever the order of arrival
    for article in ("a", "b", "c"):
        saved = store.get(article)
        assert saved is not None
        assert (saved.current_revision, saved.title, saved.body) == (40, f"{article} r40", f"{article} body 40")
        assert len(store.revisions(article)) == 40
    # And every save that was not applied names a newer current revision
    assert all(o.current_revision > o.revision for o in outcomes if not o.applied)
    assert {(o.article_id, o.revision) for o in outcomes if o.applied} >= {("a", 40), ("b", 40), ("c", 40)}
