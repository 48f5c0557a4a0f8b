"""A handler that quotes its payload's secret in a log line, its progress, a failure and a result: the secret reaches
no realtime event, no API answer, no stored failure, no failure group, no DLQ search and no log line; the mask shows
where it was."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from api.realtime_peers import next_frame, open_socket
from corral.contracts.base import EnqueueOptions
from corral.contracts.secrets import MASK
from corral.dlq.observer import observe_dlq
from corral.errors import JobFailure
from corral.handlers import HandlerSet, JobContext
from corral.hooks import HookBus
from corral.monitoring.observer import observe_monitoring
from corral.realtime.observer import publish_job_events
from corral_reference.contracts import PluginWebhook, default_registry

from support import eventually

SECRET = "vault:whsec-leak-8Hq3"


def leaky_handlers() -> HandlerSet:
    """A webhook handler of the application's own that is careless with its payload's secret."""
    found = HandlerSet()

    @found.handles("plugin.webhook")
    async def deliver(ctx: JobContext, payload: PluginWebhook) -> dict[str, Any]:
        logging.getLogger("corral.tests.leaky").info("attempt %d of a webhook job", ctx.attempt)
        await ctx.log(f"signing {payload.event} with {payload.secretRef}")
        await ctx.progress({"step": "signing", "ref": payload.secretRef})
        if payload.event == "article.echo":
            return {"signedWith": payload.secretRef, "event": payload.event}
        raise JobFailure(f"hook refused {json.dumps(payload.model_dump(mode='json'))}")

    return found


def webhook(event: str) -> dict[str, Any]:
    return {"pluginId": "crm", "url": "http://127.0.0.1:9/hook", "event": event, "secretRef": SECRET}


async def events_until(ws: Any, done: Any, timeout: float = 90.0) -> list[dict[str, Any]]:
    """Every event received until `done(events)` holds."""
    found: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while not done(found):
            body = json.loads(await ws.recv())
            if body["type"] == "events":
                found.extend(body["events"])
    return found


async def test_a_secret_quoted_by_a_handler_reaches_no_event_answer_store_search_or_log(
    live_api, start_runtime, worker_services, make_producer, engine, redis_client, keys, caplog
) -> None:
    # Given every log record captured, the served API with an owner subscribed to realtime events,
    caplog.set_level(logging.DEBUG)
    api = await asyncio.to_thread(live_api)
    ws = await open_socket(api.base, api.owner_token)
    await next_frame(ws, "hello")
    # and a worker on the plugins queue whose webhook handler quotes the secret everywhere it can
    registry = default_registry()
    hooks = HookBus()
    runtime = await start_runtime(registry, leaky_handlers(), queues=["plugins"], hooks=hooks)
    for observe in (publish_job_events, observe_dlq, observe_monitoring):
        observe(hooks, worker_services, runtime)
    producer = make_producer(registry)
    # When one job fails twice (a retry, then for good) quoting its payload, and one returns the secret
    dead = await producer.enqueue("plugin.webhook", webhook("article.published"), EnqueueOptions(attempts=2))
    echoed = await producer.enqueue("plugin.webhook", webhook("article.echo"))

    def finished(events: list[dict[str, Any]]) -> bool:
        seen = {(e["type"], e["jobId"]) for e in events}
        return ("dlq.added", dead) in seen and ("job.completed", echoed) in seen

    events = await events_until(ws, finished)
    await ws.close()
    # Then no event holds the secret; the failures' reasons and the progress show the mask where it was
    assert SECRET not in json.dumps(events)
    failures = [e for e in events if e["type"] in ("job.failed", "dlq.added") and e["jobId"] == dead]
    assert len(failures) == 3 and all(f'"secretRef": "{MASK}"' in e["data"]["reason"] for e in failures)
    progress = [e for e in events if e["type"] == "job.progress"]
    assert progress and all(e["data"]["progress"]["ref"] == MASK for e in progress)
    # And what the job stores (reason, stack traces, log lines, progress) holds the mask, never the secret
    stored = await redis_client.hgetall(keys.job("plugins", dead))
    stored_text = json.dumps({field: value for field, value in stored.items() if field != "data"})
    assert SECRET not in stored_text and MASK in json.loads(stored_text)["failedReason"]
    assert json.loads(stored["data"])["secretRef"] == SECRET  # the payload itself keeps the real value
    logged, _count = await engine.job_logs("plugins", dead)
    assert logged == [f"signing article.published with {MASK}"] * 2

    # When the owner reads both jobs, the DLQ entry, its failure groups, and searches jobs and the DLQ
    owner = api.owner()

    def read(path: str, **params: Any) -> Any:
        answer = owner.get(path, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def both_attempts_recorded() -> Any:
        # The worker's monitoring recorder writes in batches, off the job's path.
        deadline = time.monotonic() + 60
        while True:
            found = read("/owner/failures", queue="plugins", window="1h")
            if sum(reason["failed_attempts"] for reason in found["reasons"]) >= 2 or time.monotonic() > deadline:
                return found
            time.sleep(0.1)

    def answers() -> dict[str, Any]:
        entries = read("/owner/dlq/entries")["items"]
        return {
            "dead": read(f"/owner/queues/plugins/jobs/{dead}"),
            "echoed": read(f"/owner/queues/plugins/jobs/{echoed}"),
            "entries": entries,
            "entry": read(f"/owner/dlq/entries/{entries[0]['id']}"),
            "groups": read("/owner/dlq/analytics"),
            "queue_failures": both_attempts_recorded(),
            "failed_jobs": read("/owner/queues/plugins/jobs", state="failed"),
            "by_secret": read("/owner/dlq/entries", q=f'"{SECRET}"'),
            "by_secret_words": read("/owner/dlq/entries", q="whsec leak 8Hq3"),
            "by_secret_error": read("/owner/dlq/entries", error="whsec"),
            "jobs_by_secret": read("/owner/queues/plugins/jobs", state="failed", q="whsec-leak"),
            "by_plugin": read("/owner/dlq/entries", q="pluginId:crm"),
            "jobs_by_plugin": read("/owner/queues/plugins/jobs", state="failed", q="crm"),
        }

    shown = await asyncio.to_thread(answers)
    # Then no answer holds the secret, and each shows the mask where the handler quoted it
    assert SECRET not in json.dumps(shown)
    assert f'"secretRef": "{MASK}"' in shown["dead"]["failed_reason"]
    assert shown["dead"]["logs"] == [f"signing article.published with {MASK}"] * 2
    assert shown["dead"]["secret_fields"] == ["secretRef"] and shown["dead"]["data"]["secretRef"] == MASK
    assert shown["echoed"]["return_value"] == {"signedWith": MASK, "event": "article.echo"}
    assert shown["echoed"]["progress"] == {"step": "signing", "ref": MASK}
    assert [e["job_id"] for e in shown["entries"]] == [dead] and MASK in shown["entries"][0]["failed_reason"]
    assert MASK in shown["entry"]["failed_reason"] and all(MASK in line for line in shown["entry"]["stacktrace"])
    # And the failure groups (the DLQ's and the queue's) hold the masked reason as their sample
    assert f'"secretRef": "{MASK}"' in shown["groups"]["top_fingerprints"][0]["sample_reason"]
    reasons = shown["queue_failures"]["reasons"]
    assert len(reasons) == 1 and reasons[0]["failed_attempts"] == 2 and MASK in reasons[0]["sample"]
    # And a guess of the secret finds nothing, while the entry is found by its other fields
    assert shown["by_secret"]["items"] == [] and shown["by_secret_words"]["items"] == []
    assert shown["by_secret_error"]["items"] == [] and shown["jobs_by_secret"]["items"] == []
    assert [e["job_id"] for e in shown["by_plugin"]["items"]] == [dead]
    assert [j["id"] for j in shown["jobs_by_plugin"]["items"]] == [dead]
    # And no log line of the whole run holds the secret
    assert await eventually(lambda: asyncio.sleep(0, result=bool(caplog.records)))
    assert "attempt 2 of a webhook job" in caplog.text and SECRET not in caplog.text
