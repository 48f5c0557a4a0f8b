"""Demo traffic: a realistic mix of all nineteen catalogue job types, some failing transiently or for good."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from corral.producer import BulkItem

WORDS = (
    "queue worker latency retry backoff payload contract replay dashboard metric release feature customer "
    "invoice shipment newsletter onboarding search article editor summary launch pricing analytics report "
    "incident deploy webhook plugin schedule inventory checkout refund session campaign audience"
).split()
CHANNELS = ("web", "newsletter", "rss", "social")
EVENT_TYPES = ("page.view", "article.read", "signup", "click", "share")
UNREACHABLE = "https://hooks.unreachable.invalid/corral"  # .invalid never resolves (RFC 6761): retried, then DLQ


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def _paragraphs(rng: random.Random, sentences: int) -> str:
    return " ".join(_sentence(rng, rng.randint(6, 16)) for _ in range(sentences))


def _article(rng: random.Random) -> str:
    return f"art-{rng.randint(1, 400)}"


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


Payload = dict[str, Any]
Maker = Callable[[random.Random, bool], Payload]


def _generate(rng: random.Random, fail: bool) -> Payload:
    return {
        "articleId": _article(rng),
        "prompt": f"Write about {rng.choice(WORDS)} and {rng.choice(WORDS)}",
        "tone": rng.choice(["neutral", "friendly", "professional"]),
        "maxWords": rng.randint(80, 300),
    }


def _rewrite(rng: random.Random, fail: bool) -> Payload:
    return {
        "articleId": _article(rng),
        "text": _paragraphs(rng, 4),
        "instruction": rng.choice(["shorten", "make it formal", "simplify", "bullet points"]),
    }


def _summarize(rng: random.Random, fail: bool) -> Payload:
    return {"articleId": _article(rng), "text": _paragraphs(rng, 8), "maxSentences": rng.randint(1, 3)}


def _seo_analyze(rng: random.Random, fail: bool) -> Payload:
    return {
        "articleId": _article(rng),
        "title": _sentence(rng, 6)[:-1],
        "body": _paragraphs(rng, 10),
        "focusKeyword": rng.choice(WORDS),
    }


def _seo_meta(rng: random.Random, fail: bool) -> Payload:
    return {"articleId": _article(rng), "title": _sentence(rng, 7)[:-1], "body": _paragraphs(rng, 6)}


def _workflow_run(rng: random.Random, fail: bool) -> Payload:
    run = f"run-{rng.getrandbits(40):x}"
    article = _article(rng)
    last_action: Payload = {"id": "notify", "action": "delay", "params": {"ms": 50}, "dependsOn": ["seo", "index"]}
    if fail:
        last_action = {
            "id": "notify",
            "action": "http",
            "dependsOn": ["seo", "index"],
            "params": {"method": "POST", "url": UNREACHABLE, "json": {"run": run}},
        }
    return {
        "workflowId": "publish-pipeline",
        "runId": run,
        "input": {"articleId": article},
        "steps": [
            {"id": "wait", "action": "delay", "params": {"ms": 20}},
            {
                "id": "seo",
                "action": "ai.seo.meta",
                "dependsOn": ["wait"],
                "params": {"articleId": article, "title": "Release notes", "body": _paragraphs(rng, 3)},
            },
            {
                "id": "index",
                "action": "search.index",
                "dependsOn": ["wait"],
                "params": {
                    "docType": "article",
                    "docId": article,
                    "title": "Release notes",
                    "body": _paragraphs(rng, 3),
                    "tags": ["release"],
                },
            },
            last_action,
        ],
    }


def _workflow_step(rng: random.Random, fail: bool) -> Payload:
    return {
        "workflowId": "adhoc",
        "runId": f"run-{rng.getrandbits(40):x}",
        "stepId": "pause",
        "action": "delay",
        "params": {"ms": rng.randint(5, 50)},
    }


def _ingest(rng: random.Random, fail: bool) -> Payload:
    now = _now()
    return {
        "events": [
            {
                "type": rng.choice(EVENT_TYPES),
                "ts": _iso(now - timedelta(seconds=rng.randint(0, 3600))),
                "articleId": _article(rng),
                "userId": f"user-{rng.randint(1, 500)}",
                "sessionId": f"s-{rng.randint(1, 2000)}",
                "props": {"referrer": rng.choice(["search", "social", "direct"])},
            }
            for _ in range(rng.randint(5, 50))
        ]
    }


def _rollup(rng: random.Random, fail: bool) -> Payload:
    granularity = rng.choice(["hour", "day"])
    start = _now().replace(minute=0, second=0, microsecond=0)
    if granularity == "day":
        start = start.replace(hour=0)
    return {"granularity": granularity, "start": _iso(start)}


def _report(rng: random.Random, fail: bool) -> Payload:
    end = _now()
    return {
        "reportId": f"report-{rng.getrandbits(32):x}",
        "from": _iso(end - timedelta(days=1)),
        "to": _iso(end),
        "metrics": ["page.view", "article.read"],
        "format": rng.choice(["csv", "json"]),
    }


def _email(rng: random.Random, fail: bool) -> Payload:
    person = f"reader{rng.randint(1, 900)}"
    return {
        "to": [f"{person}@example.com"],
        "subject": f"Your {rng.choice(WORDS)} digest",
        "text": _paragraphs(rng, 3),
        "html": f"<p>{_paragraphs(rng, 3)}</p>",
    }


def _otp(rng: random.Random, fail: bool) -> Payload:
    return {
        "userId": f"user-{rng.randint(1, 500)}",
        "to": f"user{rng.randint(1, 500)}@example.com",
        "purpose": rng.choice(["login", "verify-email"]),
        "ttlSeconds": 300,
    }


def _plugin(rng: random.Random, fail: bool) -> Payload:
    if fail:  # no such plugin: fails for good, straight to the DLQ
        return {"pluginId": "thumbnails", "hook": "image.resize", "payload": {"width": 320}, "timeoutMs": 5_000}
    return {
        "pluginId": "text-stats",
        "hook": "text.stats",
        "payload": {"text": _paragraphs(rng, 5)},
        "timeoutMs": 10_000,
    }


def _webhook(rng: random.Random, fail: bool) -> Payload:
    # Without a receiver the demo's webhooks all fail; they are only sent when a failure is wanted.
    return {
        "pluginId": "crm-sync",
        "url": UNREACHABLE,
        "event": "article.published",
        "body": {"articleId": _article(rng)},
    }


def _search_index(rng: random.Random, fail: bool) -> Payload:
    article = _article(rng)
    return {
        "docType": "article",
        "docId": article,
        "title": _sentence(rng, 5)[:-1],
        "body": _paragraphs(rng, 6),
        "tags": rng.sample(WORDS, 3),
        "url": f"https://blog.example.com/{article}",
    }


def _search_remove(rng: random.Random, fail: bool) -> Payload:
    return {"docType": "article", "docId": _article(rng)}


def _publish(rng: random.Random, fail: bool) -> Payload:
    # When a failure is wanted the article was never saved: the publication fails for good.
    article = f"draft-{rng.getrandbits(32):x}" if fail else _article(rng)
    payload: Payload = {"articleId": article, "channels": rng.sample(CHANNELS, 2)}
    if rng.random() < 0.2:
        payload["scheduledFor"] = _iso(_now() + timedelta(minutes=rng.randint(1, 30)))
    return payload


def _autosave(rng: random.Random, fail: bool) -> Payload:
    return {
        "articleId": _article(rng),
        "userId": f"editor-{rng.randint(1, 20)}",
        "revision": rng.randint(1, 10_000),
        "title": _sentence(rng, 5)[:-1],
        "body": _paragraphs(rng, 5),
    }


def _cleanup(rng: random.Random, fail: bool) -> Payload:
    return {"target": rng.choice(["completed", "events"]), "olderThanHours": 24 * 7}


# Job type -> (relative weight, payload maker, whether it can be made to fail)
MIX: dict[str, tuple[int, Maker, bool]] = {
    "ai.content.generate": (6, _generate, False),
    "ai.content.rewrite": (4, _rewrite, False),
    "ai.content.summarize": (4, _summarize, False),
    "ai.seo.analyze": (4, _seo_analyze, False),
    "ai.seo.meta": (4, _seo_meta, False),
    "workflow.run": (2, _workflow_run, True),
    "article.publish": (4, _publish, True),
    "workflow.step": (2, _workflow_step, False),
    "analytics.events.ingest": (10, _ingest, False),
    "analytics.rollup": (1, _rollup, False),
    "analytics.report": (1, _report, False),
    "email.send": (12, _email, False),
    "email.otp": (5, _otp, False),
    "plugin.execute": (4, _plugin, True),
    "plugin.webhook": (3, _webhook, True),
    "search.index": (8, _search_index, False),
    "search.remove": (2, _search_remove, False),
    "article.autosave": (10, _autosave, False),
    "system.cleanup": (1, _cleanup, False),
}
FAILING = [name for name, (_w, _m, can_fail) in MIX.items() if can_fail]


def demo_jobs(rng: random.Random, failure_rate: float) -> Iterator[BulkItem]:
    """An endless stream of demo jobs; about `failure_rate` of them are built to fail (transiently or for good).

    Publications name articles the stream autosaved earlier (an unknown article would fail), unless a failure
    is wanted.
    """
    names = list(MIX)
    weights = [MIX[name][0] for name in names]
    saved: list[str] = []
    while True:
        if rng.random() < failure_rate:
            name = rng.choice(FAILING)
            yield BulkItem(name, MIX[name][1](rng, True))
            continue
        name = rng.choices(names, weights)[0]
        if name == "plugin.webhook":  # a webhook with no receiver can only fail; send a plugin call instead
            name = "plugin.execute"
        if name == "article.publish" and not saved:
            name = "article.autosave"
        payload = MIX[name][1](rng, False)
        if name == "article.autosave":
            saved.append(payload["articleId"])
            del saved[:-200]
        elif name == "article.publish":
            payload["articleId"] = rng.choice(saved)
        yield BulkItem(name, payload)
