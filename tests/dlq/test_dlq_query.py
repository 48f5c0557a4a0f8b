"""Listing and searching the DLQ from its indexes: filters, cursors, searches, analytics, trends, retention."""

from __future__ import annotations

import time

import pytest

from corral.dlq.fingerprint import fingerprint
from corral.dlq.query import Cursor, DlqFilter
from corral.errors import InvalidRequestError
from dlq.dlq_peers import HOUR_MS, email

SMTP = "SMTP 421 4.7.0 try again later for {to}"
TIMEOUT = "timed out after {n}s talking to provider"


async def _seed(dead_jobs, count: int = 30) -> list[str]:
    ids = []
    for i in range(count):
        if i % 3 == 0:
            ids.append(
                await dead_jobs.add("ai.content.generate", {"articleId": f"a{i}", "prompt": "p"}, TIMEOUT.format(n=i))
            )
        else:
            to = f"user{i}@example.com"
            ids.append(await dead_jobs.add("email.send", email(to), SMTP.format(to=to)))
    return ids


async def _all_pages(dlq, flt: DlqFilter, limit: int) -> list[str]:
    seen, cursor = [], None
    while True:
        page = await dlq.query.page(flt, cursor, limit)
        seen.extend(item.id for item in page.items)
        if page.next_cursor is None:
            return seen
        cursor = Cursor.parse(page.next_cursor)


async def test_pages_follow_cursors_newest_first_without_gaps(dlq, dead_jobs) -> None:
    # Given 30 entries failing one millisecond apart
    ids = await _seed(dead_jobs)
    # When every page of 7 is read by cursor
    seen = await _all_pages(dlq, DlqFilter(), 7)
    # Then each entry appears once, newest first, and the first page knows the total
    assert seen == ids  # the seed makes later entries older
    assert (await dlq.query.page(DlqFilter(), None, 7)).total == 30


async def test_entries_sharing_a_millisecond_page_exactly(dlq, dead_jobs) -> None:
    # Given 12 entries that failed in the same millisecond
    at = int(time.time() * 1000)
    ids = [await dead_jobs.add("email.send", email(f"u{i}@x.org"), "refused", failed_at=at) for i in range(12)]
    # When they are paged 5 at a time
    seen = await _all_pages(dlq, DlqFilter(), 5)
    # Then none is lost or repeated
    assert sorted(seen) == sorted(ids) and len(seen) == 12


async def test_filters_combine_and_use_indexes(dlq, dead_jobs) -> None:
    # Given a mix of email and AI failures
    await _seed(dead_jobs)
    smtp_fp = fingerprint(SMTP.format(to="someone@example.com"))
    # When filtering by queue, by name, by fingerprint, and by queue and fingerprint together
    by_queue = await _all_pages(dlq, DlqFilter(queue="email"), 4)
    by_name = await _all_pages(dlq, DlqFilter(name="ai.content.generate"), 4)
    both = await _all_pages(dlq, DlqFilter(queue="email", fingerprint=smtp_fp), 4)
    none = await dlq.query.page(DlqFilter(queue="ai", fingerprint=smtp_fp))
    # Then each answers exactly its entries
    assert len(by_queue) == 20 and len(by_name) == 10
    assert both == by_queue
    assert none.items == [] and none.next_cursor is None


async def test_time_range_filter(dlq, dead_jobs) -> None:
    # Given entries an hour apart
    now = int(time.time() * 1000)
    old = await dead_jobs.add("email.send", email("a@x.org"), "refused", failed_at=now - 3 * HOUR_MS)
    mid = await dead_jobs.add("email.send", email("b@x.org"), "refused", failed_at=now - 2 * HOUR_MS)
    new = await dead_jobs.add("email.send", email("c@x.org"), "refused", failed_at=now - HOUR_MS)
    # When asking for [now-2.5h, now-1h)
    page = await dlq.query.page(DlqFilter(since_ms=now - int(2.5 * HOUR_MS), until_ms=now - HOUR_MS))
    # Then only the middle one is in range
    assert [item.id for item in page.items] == [mid]
    assert {old, new}.isdisjoint(item.id for item in page.items)


async def test_searches_by_field_error_text_job_id_and_free_text(dlq, dead_jobs) -> None:
    # Given entries with distinct recipients, articles and reasons
    ids = await _seed(dead_jobs)
    alice = await dead_jobs.add(
        "email.send", email("Alice@Example.com"), SMTP.format(to="alice@example.com"), job_id="j-alice"
    )
    # When searching by a payload field, error words, a job id and free text
    field = await dlq.query.page(DlqFilter(fields=(("to", "alice@example.com"),)))
    article = await dlq.query.page(DlqFilter(fields=(("articleId", "a3"),)))
    error = await _all_pages(dlq, DlqFilter(error="timed out provider"), 100)
    job = await dlq.query.page(DlqFilter(job_id="j-alice"))
    free_field = await dlq.query.page(DlqFilter(text="to:alice@example.com"))
    free_value = await dlq.query.page(DlqFilter(text="alice@example.com"))
    free_error = await _all_pages(dlq, DlqFilter(text="try again later"), 100)
    free_job = await dlq.query.page(DlqFilter(text="j-alice"))
    # Then each finds exactly its entries
    assert [i.id for i in field.items] == [alice]
    assert [i.id for i in article.items] == [ids[3]]
    assert len(error) == 10
    assert [i.id for i in job.items] == [alice]
    assert [i.id for i in free_field.items] == [alice] == [i.id for i in free_value.items]
    assert len(free_error) == 21 and free_error[-1] == alice
    assert [i.id for i in free_job.items] == [alice]


async def test_the_shown_fingerprint_prefix_finds_its_entries(dlq, dead_jobs) -> None:
    # Given entries of two fingerprints
    ids = await _seed(dead_jobs)
    smtp = fingerprint(SMTP.format(to="x@y.org"))
    # When the 10 characters the list shows are given as the fingerprint filter, or as fp: in the search
    by_filter = await dlq.query.page(DlqFilter(fingerprint=smtp[:10]))
    by_search = await dlq.query.page(DlqFilter(text=f"fp:{smtp[:10]}"), limit=100)
    upper = await dlq.query.page(DlqFilter(fingerprint=smtp[:6].upper(), queue="email"))
    # Then each finds the 20 SMTP entries, with their count
    expected = sorted((i for n, i in enumerate(ids) if n % 3), key=int, reverse=True)
    assert by_filter.total == 20 and len(by_search.items) == 20 and upper.total == 20
    assert sorted((i.id for i in by_search.items), key=int, reverse=True) == expected
    # And entries captured before the lexical sets existed are found too (the sets are filled once)
    names = (dlq.store.keys.dlq_fingerprint_names, dlq.store.keys.dlq_token_names)
    await dlq.store.redis.delete(*names)
    assert len(await _all_pages(dlq, DlqFilter(error="tim provid"), 100)) == 10
    await dlq.store.redis.delete(*names)
    assert (await dlq.query.page(DlqFilter(fingerprint=smtp[:10]))).total == 20
    # And a prefix too short or not hexadecimal is refused, naming the field
    for bad in ("ab", "zzzzzz"):
        with pytest.raises(InvalidRequestError) as caught:
            await dlq.query.page(DlqFilter(fingerprint=bad))
        assert caught.value.errors[0].field == "fingerprint"


async def test_search_syntax_prefixes_words_in_identifiers_and_counts(dlq, dead_jobs) -> None:
    # Given AI entries about draft articles, emails, and system entries
    ids = await _seed(dead_jobs)
    drafts = [
        await dead_jobs.add(
            "ai.content.generate", {"articleId": f"draft-{n:x}ab", "prompt": "p"}, f"article 'draft-{n:x}ab' is locked"
        )
        for n in range(3)
    ]
    system = await dead_jobs.add("search.remove", {"docType": "article", "docId": "d1"}, "index unavailable")
    # When searching by a word inside identifiers, by word prefixes, and by key:value terms
    draft = await dlq.query.page(DlqFilter(text="draft"))
    prefix = await dlq.query.page(DlqFilter(text="unavail"))
    error_prefix = await _all_pages(dlq, DlqFilter(error="tim provid"), 100)
    by_queue = await dlq.query.page(DlqFilter(text="queue:system"))
    combined = await dlq.query.page(DlqFilter(text='queue:ai error:"timed out" name:ai.content.generate'))
    both = await dlq.query.page(DlqFilter(queue="email", name="email.send"), limit=5)
    # Then each finds its entries, and a combination still counts them
    assert [i.id for i in draft.items] == drafts
    assert [i.id for i in prefix.items] == [system] == [i.id for i in by_queue.items]
    assert by_queue.total == 1
    assert len(error_prefix) == 10
    assert {i.id for i in combined.items} == set(ids[::3])
    assert both.total == 20 and len(both.items) == 5
    # And an unknown key is refused, naming it
    with pytest.raises(InvalidRequestError) as caught:
        await dlq.query.page(DlqFilter(text="bogus:thing"))
    assert caught.value.errors[0].field == "q" and "'bogus'" in caught.value.errors[0].reason
    assert "'bogus'" in str(caught.value)


async def test_invalid_filters_name_their_fields(dlq) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await dlq.query.page(DlqFilter(status="lost", replays=9, fields=(("subject", "x"),)))
    assert {e.field for e in caught.value.errors} == {"status", "replays", "field"}
    with pytest.raises(InvalidRequestError):
        Cursor.parse("nonsense")


async def test_analytics_and_trends_follow_inserts_and_deletes(dlq, dead_jobs) -> None:
    # Given entries in the current hour and two hours ago
    now = int(time.time() * 1000)
    ids = await _seed(dead_jobs, 9)
    old = await dead_jobs.add("email.send", email("z@x.org"), "refused", failed_at=now - 2 * HOUR_MS)
    # When reading analytics, then deleting two entries and reading again
    first = await dlq.analytics.summary(top=2)
    await dlq.delete([ids[0], old])
    second = await dlq.analytics.summary(top=2)
    trend = await dlq.analytics.trend("24h")
    week = await dlq.analytics.trend("7d")
    # Then counts follow every change (the cache is invalidated), top fingerprints carry first/last seen and samples
    assert first.total == 10 and second.total == 8
    assert first.by_queue == {"email": 7, "ai": 3} and second.by_queue == {"email": 6, "ai": 2}
    assert second.by_name == {"email.send": 6, "ai.content.generate": 2}
    top = second.top_fingerprints[0]
    assert top.count == 6 and top.first_seen <= top.last_seen and "try again later" in top.sample_reason
    assert second.by_status == {"never": 8, "pending": 0, "succeeded": 0, "died": 0, "limit_reached": 0}
    assert second.replay_success_rate is None
    assert trend.total == 8 and len(trend.buckets) == 24 and trend.peak is not None and trend.peak.count == 8
    assert len(week.buckets) == 168 and week.average_per_hour == pytest.approx(8 / 168, abs=1e-3)
    assert sum(h.count for h in second.by_hour) == 8


async def test_retention_drops_old_entries_then_the_oldest_beyond_the_cap(dlq, dead_jobs) -> None:
    # Given entries 1, 2, 3 and 50 hours old
    now = int(time.time() * 1000)
    for hours in (1, 2, 3, 50):
        await dead_jobs.add("email.send", email(f"h{hours}@x.org"), "refused", failed_at=now - hours * HOUR_MS)
    # When retention keeps 48 hours and at most 2 entries
    removed = await dlq.store.enforce_retention(max_age_hours=48, max_entries=2)
    # Then the 50-hour-old and the 3-hour-old entries are gone
    assert removed == 2
    left = await dlq.query.page(DlqFilter())
    assert [item.failed_at for item in left.items] == [now - HOUR_MS, now - 2 * HOUR_MS]


async def test_system_cleanup_enforces_the_retention_settings(dlq, dead_jobs, engine, redis_client, keys, settings):
    # Given four recent entries and a store whose settings keep at most three
    from corral.dlq.store import DeadLetterStore, Retention
    from corral.maintenance import Maintenance

    ids = [await dead_jobs.add("email.send", email(f"r{i}@x.org"), "refused") for i in range(4)]
    retention = Retention.of(settings.model_copy(update={"dlq_max_entries": 3}))
    store = DeadLetterStore(redis_client, keys, retention=retention)
    maintenance = Maintenance(engine, ["email"], redis_client, store, lambda: None)  # type: ignore[arg-type,return-value]
    # When system.cleanup runs on the DLQ with a generous age
    report = await maintenance.cleanup("dlq", 48)
    # Then the oldest entry beyond the cap is gone
    assert report.removed["retention"] == 1
    assert [item.id for item in (await dlq.query.page(DlqFilter())).items] == ids[:3]
