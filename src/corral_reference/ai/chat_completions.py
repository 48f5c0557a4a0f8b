"""An AI provider over any OpenAI-compatible chat-completions endpoint, with bounded retries."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from typing import Any

import httpx

from corral.errors import JobFailure, UnrecoverableJobError
from corral_reference.ai.provider import AiResult, GenerateRequest
from corral_reference.ai.text import truncate_words

logger = logging.getLogger(__name__)

HTTP_PROVIDER = "openai-compatible"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 30.0
MAX_BACKOFF_SECONDS = 8.0
ERROR_EXCERPT_CHARS = 300


def retry_after_seconds(header: str | None, now: float | None = None) -> float | None:
    """Seconds a `Retry-After` header asks to wait (delta-seconds or an HTTP date), None if absent or unreadable."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return float(header)
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class ChatCompletionsProvider:
    """POSTs to `<base_url>/chat/completions`; 429/5xx/network errors retried with backoff, other 4xx final."""

    name = HTTP_PROVIDER

    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str,
        *,
        timeout_seconds: float = 30.0,
        max_retries: int = 3,
        backoff_seconds: float = 0.5,
    ) -> None:
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.model = model
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/") + "/", headers=headers, timeout=timeout_seconds)

    async def generate(self, request: GenerateRequest) -> AiResult:
        """Article text for the prompt, in the requested tone, locale and word budget."""
        system = (
            "You are a writing assistant for a publishing platform. Write the article text only, no preamble. "
            f"Tone: {request.tone}. Language/locale: {request.locale}. At most {request.max_words} words."
        )
        result = await self._complete(system, request.prompt, max_tokens=min(16_000, request.max_words * 2 + 64))
        text, truncated = truncate_words(result.text, request.max_words)
        details = {**result.details, "tone": request.tone, "locale": request.locale, "truncated": truncated}
        return AiResult(text, result.provider, result.model, details)

    async def rewrite(self, text: str, instruction: str) -> AiResult:
        """The text rewritten by the model following the instruction."""
        system = (
            "Rewrite the user's text following this instruction, keeping its meaning and language. "
            f"Answer with the rewritten text only.\nInstruction: {instruction}"
        )
        return await self._complete(system, text)

    async def summarize(self, text: str, max_sentences: int) -> AiResult:
        """A summary of the text by the model, in at most `max_sentences` sentences."""
        system = (
            f"Summarise the user's text in at most {max_sentences} sentences, in its language. "
            "Answer with the summary only."
        )
        return await self._complete(system, text)

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()

    async def _complete(self, system: str, user: str, max_tokens: int | None = None) -> AiResult:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "temperature": 0.3,
        }
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        response = await self._post_with_retries(body)
        return self._parse(response)

    async def _post_with_retries(self, body: dict[str, Any]) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._client.post("chat/completions", json=body)
            except httpx.TransportError as exc:  # connection refused, reset, timeouts
                problem, wait = f"{type(exc).__name__}: {exc}", None
            else:
                if response.is_success:
                    return response
                if response.status_code not in RETRYABLE_STATUSES:
                    raise UnrecoverableJobError(
                        f"AI provider refused the request: HTTP {response.status_code}: {_excerpt(response)}"
                    )
                problem = f"HTTP {response.status_code}"
                wait = retry_after_seconds(response.headers.get("Retry-After"))
            if attempt > self.max_retries:
                raise JobFailure(f"AI provider unavailable after {attempt} attempt(s): {problem}")
            delay = wait if wait is not None else self.backoff_seconds * 2 ** (attempt - 1)
            delay = min(delay, MAX_RETRY_AFTER_SECONDS if wait is not None else MAX_BACKOFF_SECONDS)
            logger.warning("AI provider attempt %d failed (%s); retrying in %.2fs", attempt, problem, delay)
            await asyncio.sleep(delay)

    def _parse(self, response: httpx.Response) -> AiResult:
        try:
            document = response.json()
            choice = document["choices"][0]
            text = choice["message"]["content"]
            if not isinstance(text, str):
                raise TypeError("message content is not a string")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise JobFailure(f"AI provider answered an unreadable completion: {exc}") from None
        details: dict[str, Any] = {"finishReason": choice.get("finish_reason")}
        usage = document.get("usage")
        if isinstance(usage, dict):
            details["usage"] = {key: value for key, value in usage.items() if isinstance(value, int)}
        return AiResult(text.strip(), HTTP_PROVIDER, str(document.get("model") or self.model), details)


def _excerpt(response: httpx.Response) -> str:
    """The error message of an error response (OpenAI's `error.message` when present), shortened."""
    try:
        document = response.json()
        message = document["error"]["message"] if isinstance(document.get("error"), dict) else document
    except (ValueError, KeyError, AttributeError):
        message = response.text
    return " ".join(str(message).split())[:ERROR_EXCERPT_CHARS]
