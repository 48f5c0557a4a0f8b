"""The ai-content worker on a real Valkey: the local provider, and an OpenAI-compatible endpoint on loopback."""

from __future__ import annotations

import logging
import socket

import pytest
from pydantic import SecretStr

from corral.errors import ConfigurationError, JobFailure, UnrecoverableJobError
from corral_reference.ai import ChatCompletionsProvider, GenerateRequest, LocalProvider, build_provider
from corral_reference.ai.chat_completions import retry_after_seconds
from corral_reference.workers import ai_content

from reference_peers.ai_search_peers import Scripted, WorkerRig, chat_server

ARTICLE = (
    "Composting turns kitchen scraps into rich soil for the garden. "
    "Many city flats have no garden, yet a small bin on a balcony still works. "
    "The weather was mild last spring. "
    "A compost bin needs air, moisture and a mix of green and brown scraps. "
    "Turning the compost every week keeps the bin from smelling. "
    "My neighbour owns a red bicycle."
)


@pytest.fixture
async def rig(settings, valkey_url, engine):
    rig = WorkerRig(settings, valkey_url, engine)
    yield rig
    await rig.close()


async def run_ai_job(rig, start_runtime, name, payload, **overrides):
    """Run one ai-content job to its end; returns the job and the DLQ entries left behind."""
    async with rig.running(start_runtime, "ai", ai_content.register, **overrides) as worker:
        job = await worker.run(name, payload)
        return job, await worker.runtime.dlq.recent()


# --- the local provider ----------------------------------------------------------------------------------------------


async def test_local_generation_is_labelled_deterministic_and_within_budget(rig, start_runtime) -> None:
    # Given the default settings (no ai_url): the local provider
    payload = {
        "articleId": "a-1",
        "prompt": "Write an article about composting in small flats. Cover smell, worms and bins.",
        "tone": "friendly",
        "maxWords": 60,
    }
    async with rig.running(start_runtime, "ai", ai_content.register) as worker:
        # When the same generate job runs twice
        first = await worker.run("ai.content.generate", payload)
        second = await worker.run("ai.content.generate", payload)
    # Then both completed with the same text, labelled local, about the topic, within maxWords
    assert first.state == second.state == "completed"
    result = first.return_value
    assert result == second.return_value
    assert (result["articleId"], result["provider"], result["model"]) == ("a-1", "local", "corral-local-1")
    assert result["method"] == "template" and result["tone"] == "friendly"
    assert "composting in small flats" in result["text"]
    assert {"smell", "worms", "bins"} <= set(result["keywords"])
    assert 0 < result["words"] <= 60


async def test_local_generation_honours_locale_and_word_budget() -> None:
    # Given the local provider
    provider = LocalProvider()
    prompt = "Write about urban beekeeping on rooftops"
    # When it writes in German with a 12-word budget, and in an unsupported locale
    german = await provider.generate(GenerateRequest(prompt, "formal", 12, "de-AT"))
    japanese = await provider.generate(GenerateRequest(prompt, "neutral", 500, "ja"))
    # Then the German text uses the German phrasebook and stays within 12 words
    assert german.details["language"] == "de" and german.details["truncated"] is True
    assert german.text.startswith("Der folgende Text untersucht urban beekeeping on rooftops")
    assert german.as_dict()["words"] <= 12
    # And the unsupported locale falls back to English and says so
    assert japanese.details["language"] == "en" and japanese.details["locale"] == "ja"
    assert japanese.text.startswith("This article looks at urban beekeeping on rooftops.")


async def test_local_summary_keeps_the_best_sentences_in_reading_order(rig, start_runtime) -> None:
    # Given an article whose off-topic sentences share no words with the rest
    payload = {"articleId": "a-2", "text": ARTICLE, "maxSentences": 4}
    # When it is summarised in four sentences
    job, _ = await run_ai_job(rig, start_runtime, "ai.content.summarize", payload)
    # Then the four compost sentences are kept, in order, and the two off-topic ones dropped
    assert job.state == "completed"
    result = job.return_value
    assert result["text"] == (
        "Composting turns kitchen scraps into rich soil for the garden. "
        "Many city flats have no garden, yet a small bin on a balcony still works. "
        "A compost bin needs air, moisture and a mix of green and brown scraps. "
        "Turning the compost every week keeps the bin from smelling."
    )
    assert result["sentencesKept"] == [0, 1, 3, 4] and result["sourceSentences"] == 6
    assert (result["provider"], result["method"]) == ("local", "extractive")


@pytest.mark.parametrize(
    ("instruction", "operations"),
    [
        ("Make it more formal", ["formal"]),
        ("Simplify this for beginners", ["simplify"]),
        ("Shorten it to 2 sentences", ["shorten"]),
        ("Turn it into bullet points", ["bullets"]),
        ("Make it casual and concise", ["casual", "shorten"]),
        ("Translate to Klingon", ["normalise"]),
    ],
)
async def test_local_rewrite_follows_the_instruction(instruction, operations) -> None:
    # Given an informal text with contractions, filler and a long sentence
    text = (
        "We can't utilize this stuff! It's really important to note that kids don't like it; "
        "they would rather play outside, and their parents want them to play outside as well because it is fun. "
        "Basically the methodology requires approximately ten steps. This is the end."
    )
    # When the local provider rewrites it
    result = await LocalProvider().rewrite(text, instruction)
    # Then it applied the operations the instruction names, and the text shows it
    assert result.provider == "local" and result.details["operations"] == operations
    assert result.details["instructionMatched"] is (operations != ["normalise"])
    if "formal" in operations:
        assert "can't" not in result.text and "cannot" in result.text and "children" in result.text
        assert "!" not in result.text
    if "casual" in operations:
        assert "it's fun" in result.text.lower() or "it's" in result.text
    if "simplify" in operations:
        assert "use this" in result.text and "about ten steps" in result.text and "method requires" in result.text
    if instruction.startswith("Shorten"):
        assert result.text.count(". ") + result.text.count("! ") == 1  # two sentences
        assert "really" not in result.text
    if "bullets" in operations:
        lines = result.text.splitlines()
        assert len(lines) == 4 and all(line.startswith("- ") for line in lines)
    # And the same input always gives the same output
    assert (await LocalProvider().rewrite(text, instruction)).text == result.text


# --- the OpenAI-compatible provider ---------------------------------------------------------------------------------


def http_settings(server, **more):
    return {"ai_url": server.url, "ai_api_key": SecretStr(server.api_key), "ai_model": server.model, **more}


async def test_http_provider_generates_through_the_runtime(rig, start_runtime) -> None:
    # Given a chat-completions server on loopback that checks the bearer token and the request shape
    with chat_server() as server:
        server.reply = "Bees thrive on rooftops when water is close by."
        # When an ai.content.generate job runs against it
        payload = {"articleId": "a-3", "prompt": "Rooftop bees", "tone": "casual", "maxWords": 50, "locale": "en-GB"}
        job, _ = await run_ai_job(rig, start_runtime, "ai.content.generate", payload, **http_settings(server))
    # Then the job completed with the model's text, labelled with the remote provider
    assert job.state == "completed", job.failed_reason
    result = job.return_value
    assert result["text"] == "Bees thrive on rooftops when water is close by."
    assert (result["provider"], result["model"], result["finishReason"]) == ("openai-compatible", "test-model", "stop")
    assert result["usage"] == {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18}
    # And the request carried the prompt as the user message and the tone, locale and budget in the system one
    [request] = server.requests
    system, user = request["messages"]
    assert user == {"role": "user", "content": "Rooftop bees"}
    assert "casual" in system["content"] and "en-GB" in system["content"] and "50 words" in system["content"]


async def test_http_429_is_retried_after_retry_after(rig, start_runtime) -> None:
    # Given a server that first answers 429 with Retry-After: 1, then succeeds
    with chat_server() as server:
        server.script = [Scripted(429, {"Retry-After": "1"}, {"error": {"message": "slow down"}})]
        # When a summarize job runs
        payload = {"articleId": "a-4", "text": ARTICLE, "maxSentences": 2}
        job, _ = await run_ai_job(rig, start_runtime, "ai.content.summarize", payload, **http_settings(server))
    # Then the same attempt retried after about a second and completed
    assert job.state == "completed", job.failed_reason
    assert job.return_value["text"] == server.reply
    assert len(server.requests) == 2
    assert server.request_times[1] - server.request_times[0] >= 0.95


async def test_http_503_is_retried_with_backoff(rig, start_runtime) -> None:
    # Given a server that answers 503 twice, then succeeds, and three retries allowed
    with chat_server() as server:
        server.script = [Scripted(503), Scripted(503)]
        # When a rewrite job runs
        payload = {"articleId": "a-5", "text": ARTICLE, "instruction": "shorten"}
        overrides = http_settings(server, ai_max_retries=3)
        job, entries = await run_ai_job(rig, start_runtime, "ai.content.rewrite", payload, **overrides)
    # Then it completed on its first job attempt after three requests, waiting longer each time
    assert job.state == "completed", job.failed_reason
    assert len(server.requests) == 3
    first_gap = server.request_times[1] - server.request_times[0]
    second_gap = server.request_times[2] - server.request_times[1]
    assert 0.45 <= first_gap < second_gap
    assert entries == []


async def test_http_400_is_unrecoverable_and_lands_in_the_dlq_after_one_attempt(rig, start_runtime, caplog) -> None:
    # Given a server that refuses the request with 400
    caplog.set_level(logging.DEBUG)
    with chat_server() as server:
        server.script = [Scripted(400, {}, {"error": {"message": "maxWords too large for this model"}})]
        # When a generate job runs
        payload = {"articleId": "a-6", "prompt": "Anything"}
        job, entries = await run_ai_job(rig, start_runtime, "ai.content.generate", payload, **http_settings(server))
    # Then the job failed after a single attempt and request, and its DLQ entry says why
    assert job.state == "failed" and job.attempts_made == 1
    assert len(server.requests) == 1
    assert [entry.job_id for entry in entries] == [job.id]
    assert entries[0].failed_reason == "AI provider refused the request: HTTP 400: maxWords too large for this model"
    # And the API key appears in no log line, failure reason or stored job data
    assert server.api_key not in caplog.text
    assert server.api_key not in str(entries[0].data) + entries[0].failed_reason + "".join(entries[0].stacktrace)


async def test_http_provider_gives_up_with_a_retryable_failure_when_5xx_persists() -> None:
    # Given a server that always answers 502 and a client allowed one retry
    with chat_server() as server:
        server.script = [Scripted(502)] * 5
        provider = ChatCompletionsProvider(
            server.url, server.api_key, server.model, max_retries=1, backoff_seconds=0.01
        )
        # When it asks for a summary
        with pytest.raises(JobFailure) as raised:
            await provider.summarize(ARTICLE, 2)
        await provider.close()
    # Then it tried twice and raised a retryable (not unrecoverable) failure
    assert not isinstance(raised.value, UnrecoverableJobError)
    assert str(raised.value) == "AI provider unavailable after 2 attempt(s): HTTP 502"
    assert len(server.requests) == 2


async def test_http_provider_retries_network_errors() -> None:
    # Given a base URL where nothing listens
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = ChatCompletionsProvider(f"http://127.0.0.1:{port}/v1", "k", "m", max_retries=2, backoff_seconds=0.01)
    # When it is asked to rewrite
    with pytest.raises(JobFailure) as raised:
        await provider.rewrite("Some text.", "shorten")
    await provider.close()
    # Then it made three attempts and failed retryably
    assert not isinstance(raised.value, UnrecoverableJobError)
    assert str(raised.value).startswith("AI provider unavailable after 3 attempt(s): ConnectError")


async def test_wrong_api_key_is_unrecoverable() -> None:
    # Given a server expecting another key
    with chat_server() as server:
        provider = ChatCompletionsProvider(server.url, "sk-wrong", server.model, max_retries=3, backoff_seconds=0.01)
        # When the client calls it
        with pytest.raises(UnrecoverableJobError, match="HTTP 401: missing or wrong bearer token"):
            await provider.generate(GenerateRequest("Bees"))
        await provider.close()


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_provider_choice_follows_settings(settings) -> None:
    assert isinstance(build_provider(settings), LocalProvider)
    remote = build_provider(settings.model_copy(update={"ai_url": "https://api.example.com/v1"}))
    assert isinstance(remote, ChatCompletionsProvider)
    with pytest.raises(ConfigurationError, match="ai_url"):
        build_provider(settings.model_copy(update={"ai_url": "ftp://example.com"}))
