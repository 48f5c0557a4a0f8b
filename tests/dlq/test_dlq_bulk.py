"""Bulk DLQ tasks: previews, throttled background replay and delete, cancel, one replay task per queue, abandon."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
import time

import pytest

from corral.dlq.bulk import BulkTasks
from corral.dlq.export import export_lines
from corral.dlq.query import DlqFilter
from corral.errors import ConflictError
from corral.realtime.bus import EventBus
from dlq.dlq_peers import audit_indexes, email

from support import eventually


async def _emails(dead_jobs, count: int) -> list[str]:
    return [await dead_jobs.add("email.send", email(f"b{i}@x.org"), f"refused for b{i}@x.org") for i in range(count)]


async def test_preview_counts_samples_and_names_queues(dlq, dead_jobs) -> None:
    # Given email and AI entries
    await _emails(dead_jobs, 12)
    await dead_jobs.add("ai.seo.meta", {"articleId": "a1", "title": "t", "body": "b"}, "provider down")
    # When previewing all entries and only the email ones
    everything = await dlq.tasks.preview(DlqFilter())
    emails = await dlq.tasks.preview(DlqFilter(queue="email"))
    # Then counts, samples and queues match
    assert (everything.count, everything.queues, len(everything.sample)) == (13, ["ai", "email"], 10)
    assert (emails.count, emails.queues) == (12, ["email"])


async def test_bulk_replay_keeps_its_throttle_reports_progress_and_publishes(
    dlq, dead_jobs, engine, redis_client, keys
) -> None:
    # Given 60 dead email jobs
    await _emails(dead_jobs, 60)
    bus = EventBus(redis_client, keys)
    # When they are replayed by filter at 100 jobs/s
    started = time.monotonic()
    state = await dlq.tasks.start("replay", DlqFilter(queue="email"), "owner", rate=100)
    assert state.status == "running" and state.total == 60
    final = await dlq.tasks.wait(state.id)
    elapsed = time.monotonic() - started
    # Then all were replayed, no faster than the throttle, and progress events were published
    assert (final.status, final.done, final.succeeded) == ("completed", 60, 60)
    assert elapsed >= 0.5
    assert (await engine.counts("email"))["waiting"] == 60
    events = [e for e in await bus.latest("global") if e.type == "bulk.progress"]
    assert events and events[-1].data["done"] == 60 and events[-1].data["status"] == "completed"


async def test_cancel_stops_a_running_bulk_replay(dlq, dead_jobs, engine) -> None:
    # Given a slow bulk replay of 200 entries (20 jobs/s)
    await _emails(dead_jobs, 200)
    state = await dlq.tasks.start("replay", DlqFilter(), "owner", rate=20)
    await eventually(lambda: _done_at_least(dlq, state.id, 4))
    # When it is cancelled
    cancelling = await dlq.tasks.cancel(state.id)
    final = await dlq.tasks.wait(state.id)
    # Then it stops short, and what it did is exactly what the queue holds
    assert cancelling.status in ("cancelling", "cancelled")
    assert final.status == "cancelled" and 4 <= final.done < 200
    assert (await engine.counts("email"))["waiting"] == final.succeeded


async def test_only_one_bulk_replay_per_source_queue(dlq, dead_jobs) -> None:
    # Given a running bulk replay of the email queue
    await _emails(dead_jobs, 50)
    first = await dlq.tasks.start("replay", DlqFilter(queue="email"), "owner", rate=10)
    # When a second one is started on the same queue
    with pytest.raises(ConflictError) as caught:
        await dlq.tasks.start("replay", DlqFilter(), "owner")
    # Then it is refused naming the running task; after cancelling, a new one may start
    assert first.id in str(caught.value)
    await dlq.tasks.cancel(first.id)
    await dlq.tasks.wait(first.id)
    second = await dlq.tasks.start("replay", DlqFilter(queue="email"), "owner", rate=10_000)
    assert (await dlq.tasks.wait(second.id)).status == "completed"


async def test_a_task_whose_runner_died_reads_as_abandoned(dlq, dead_jobs) -> None:
    # Given a bulk task run by a runner that stops without finishing (its process died)
    await _emails(dead_jobs, 50)
    tasks = BulkTasks(dlq.store, dlq.query, dlq.replayer, 5, dlq.publish, stale_after_ms=300)
    state = await tasks.start("replay", DlqFilter(), "owner")
    await tasks.close()
    # When its state is read after the heartbeat went stale
    await asyncio.sleep(0.5)
    # Then it is reported abandoned, and cancelling it closes it
    assert (await tasks.get(state.id)).status == "abandoned"
    assert (await tasks.cancel(state.id)).status == "cancelled"


async def test_bulk_delete_and_clear_by_filter(dlq, dead_jobs) -> None:
    # Given email and AI entries
    await _emails(dead_jobs, 30)
    ai = [
        await dead_jobs.add("ai.seo.meta", {"articleId": f"a{i}", "title": "t", "body": "b"}, "down") for i in range(5)
    ]
    # When the email entries are cleared by filter
    state = await dlq.clear(DlqFilter(queue="email"), "owner")
    final = await dlq.tasks.wait(state.id)
    # Then only the AI entries remain
    assert (final.status, final.succeeded) == ("completed", 30)
    assert sorted(item.id for item in (await dlq.query.page(DlqFilter())).items) == sorted(ai)


async def test_every_index_matches_a_full_scan_after_replays_deletes_and_clears(
    dlq, dead_jobs, redis_client, keys
) -> None:
    # Given 150 entries of several types, reasons, recipients and hours
    rng = random.Random(7)
    now = int(time.time() * 1000)
    ids = []
    for i in range(150):
        at = now - rng.randrange(0, 48) * 3_600_000 - i
        kind = rng.choice(["email", "otp", "ai", "publish"])
        if kind == "email":
            payload = {"to": [f"r{i % 7}@x.org", f"cc{i % 3}@x.org"], "subject": "s", "text": "t"}
            ids.append(await dead_jobs.add("email.send", payload, f"SMTP 55{i % 3} rejected r{i}", failed_at=at))
        elif kind == "otp":
            payload = {"userId": f"u{i % 5}", "to": f"U{i % 5}@X.org", "purpose": "login"}
            ids.append(await dead_jobs.add("email.otp", payload, "mailbox full", failed_at=at))
        elif kind == "ai":
            payload = {"articleId": f"a{i % 11}", "prompt": "p", "tone": "formal"}
            ids.append(await dead_jobs.add("ai.content.generate", payload, f"timed out after {i}s", failed_at=at))
        else:
            payload = {"articleId": f"a{i % 11}", "channels": ["web", "rss"]}
            ids.append(await dead_jobs.add("article.publish", payload, f"article {i} is locked", failed_at=at))
    # When some are replayed (some several times, with outcomes), some deleted, and one queue cleared
    for entry_id in rng.sample(ids, 40):
        for _ in range(rng.randint(1, 6)):
            try:
                await dlq.replay(entry_id, "owner")
            except ConflictError:
                break
            if rng.random() < 0.7:
                await dead_jobs.finish(entry_id, rng.choice(["succeeded", "died"]))
    for entry_id in rng.sample(ids, 20):
        entry = await dlq.store.get(entry_id)
        if entry is not None and entry.replay_count:
            await dlq.store.record_outcome(entry_id, entry.replay_count, rng.choice(["succeeded", "died"]), {})
    await dlq.delete(rng.sample(ids, 30))
    await audit_indexes(redis_client, keys, dict(dlq.store.fields))
    final = await dlq.tasks.wait((await dlq.clear(DlqFilter(queue="system"), "owner")).id)
    assert final.status == "completed"
    await dlq.tasks.wait((await dlq.tasks.start("delete", DlqFilter(fingerprint=_fp("mailbox full")), "owner")).id)
    # Then every index, count, hour bucket, job-id map, fingerprint and token set equals a full scan
    await audit_indexes(redis_client, keys, dict(dlq.store.fields))
    remaining = await dlq.store.count()
    assert 0 < remaining < 120
    # And clearing everything leaves no index, count or search structure behind
    await dlq.tasks.wait((await dlq.clear(DlqFilter(), "owner")).id)
    await audit_indexes(redis_client, keys, dict(dlq.store.fields))
    assert await dlq.store.count() == 0


def _fp(reason: str) -> str:
    from corral.dlq.fingerprint import fingerprint

    return fingerprint(reason)


async def test_exports_stream_filtered_rows_with_neutralised_csv_cells(dlq, dead_jobs) -> None:
    # Given entries whose reason and payload begin like spreadsheet formulas
    hostile = await dead_jobs.add(
        "email.send", email("x@x.org", subject='=HYPERLINK("http://evil")'), "=cmd|' /C calc'!A0"
    )
    await dead_jobs.add("email.send", email("y@x.org"), "+SUM(1,2)")
    await dead_jobs.add("ai.seo.meta", {"articleId": "a1", "title": "t", "body": "b"}, "@attack")
    # When exporting the email entries as CSV and everything as JSON Lines
    text = "".join([chunk async for chunk in export_lines(dlq.query, DlqFilter(queue="email"), "csv")])
    lines = "".join([chunk async for chunk in export_lines(dlq.query, DlqFilter(), "jsonl")]).splitlines()
    # Then CSV cells that start with =, +, -, @ are prefixed with a quote; JSON Lines keep values as they are
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0] == "entry_id" and len(rows) == 3
    reasons = {row[0]: row[9] for row in rows[1:]}
    assert reasons[hostile] == "'=cmd|' /C calc'!A0"
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    documents = [json.loads(line) for line in lines]
    assert len(documents) == 3 and {d["failedReason"] for d in documents} >= {"@attack", "+SUM(1,2)"}
    assert documents[0]["id"] == hostile and documents[0]["data"]["subject"].startswith("=HYPERLINK")


async def _done_at_least(dlq, task_id: str, count: int) -> bool:
    return (await dlq.tasks.get(task_id)).done >= count


async def test_old_ended_task_records_are_trimmed_and_live_ones_kept(dlq, dead_jobs, redis_client, keys) -> None:
    # Given a runner that keeps 3 task records, a paused-to-be task among the oldest and four ended tasks
    await _emails(dead_jobs, 40)
    tasks = BulkTasks(dlq.store, dlq.query, dlq.replayer, 10_000, dlq.publish, keep_tasks=3)
    live = await tasks.start("replay", DlqFilter(queue="email"), "owner", rate=1)
    await tasks.cancel(live.id)
    await tasks.wait(live.id)
    await redis_client.hset(keys.dlq_task(live.id), "status", "paused")  # a paused task can still go on
    ended = []
    for _ in range(4):
        state = await tasks.start("delete", DlqFilter(queue="nothing-here"), "owner")
        ended.append((await tasks.wait(state.id)).id)
    # When one more task starts
    newest = await tasks.start("delete", DlqFilter(queue="nothing-here"), "owner")
    await tasks.wait(newest.id)
    # Then the records past the newest 3 that ended are gone, hash and index entry, and the paused one stays
    listed = [state.id for state in await tasks.recent(100)]
    assert listed == [newest.id, ended[3], ended[2], live.id]
    for gone in ended[:2]:
        assert not await redis_client.exists(keys.dlq_task(gone))
        assert await redis_client.zscore(keys.dlq_tasks, gone) is None
