"""The catalogue's sensitive fields: OTP recipients and webhook secret references always; the AI provider's input
text when the deployment serves `corral_reference:private_ai_app`."""

from __future__ import annotations

import asyncio

from api.api_peers import live_api
from corral.contracts.secrets import MASK
from corral.handlers import HandlerSet
from corral.keys import Keys
from corral.worker_services import WorkerServices
from corral_reference import app, private_ai_app
from corral_reference.producer import ReferenceProducer
from corral_reference.workers import ai_content

from reference_peers.ai_search_peers import finished_job

__all__ = ["live_api"]

PROMPT = "Write about composting in small flats, confidential launch plan 7Q"
AI_TEXT_FIELDS = {
    "ai.content.generate": [("prompt",)],
    "ai.content.rewrite": [("text",), ("instruction",)],
    "ai.content.summarize": [("text",)],
    "ai.seo.analyze": [("body",)],
    "ai.seo.meta": [("body",)],
}


def test_the_catalogue_marks_otp_recipients_and_webhook_secrets_and_private_ai_marks_the_ai_text() -> None:
    # When the secret fields of both applications' job types are read
    default, private = app.registry, private_ai_app.registry
    # Then both mask who receives a one-time code and a webhook's secret reference
    for registry in (default, private):
        assert registry.secret_paths("email.otp") == (("to",),)
        assert registry.secret_paths("plugin.webhook") == (("secretRef",),)
    # And only the private one masks the text sent to the AI provider, with the same job types and queues
    for name, paths in AI_TEXT_FIELDS.items():
        assert default.secret_paths(name) == ()
        assert sorted(private.secret_paths(name)) == sorted(paths)
    assert {n: (j.queue, j.worker) for n, j in default.jobs.items()} == {
        n: (j.queue, j.worker) for n, j in private.jobs.items()
    }
    other = set(default.jobs) - set(AI_TEXT_FIELDS)
    assert all(default.secret_paths(name) == private.secret_paths(name) for name in other)


async def test_a_private_prompt_is_masked_by_the_api_and_the_worker_runs_with_it(
    live_api, settings, engine, start_runtime, redis_client
) -> None:
    # Given the API serving the private AI catalogue, and an ai worker on it (the local provider)
    api = await asyncio.to_thread(live_api, app="corral_reference:private_ai_app")
    registry = private_ai_app.registry
    services = WorkerServices(settings, redis_client, ReferenceProducer(engine, registry), Keys(settings.key_prefix))
    handlers = HandlerSet()
    ai_content.register(handlers, services)
    runtime = await start_runtime(registry, handlers, queues=["ai"])
    # When a generate job is enqueued with a confidential prompt and runs
    job_id = await services.producer.enqueue("ai.content.generate", {"articleId": "a-1", "prompt": PROMPT})
    done = await finished_job(engine, "ai", job_id)
    owner = api.owner()
    shown = await asyncio.to_thread(lambda: owner.get(f"/owner/queues/ai/jobs/{job_id}").json())
    revealed = await asyncio.to_thread(lambda: owner.post(f"/owner/queues/ai/jobs/{job_id}/reveal").json())
    await runtime.close(grace_seconds=2)
    await services.close()
    # Then the worker wrote from the real prompt; the API shows the prompt masked and reveals it on request
    assert done.state == "completed" and "composting in small flats" in done.return_value["text"]
    assert shown["data"]["prompt"] == MASK and shown["secret_fields"] == ["prompt"]
    assert PROMPT not in str(shown)
    assert revealed["data"]["prompt"] == PROMPT
