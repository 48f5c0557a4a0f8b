"""The AI provider interface the ai-content worker talks to, and the value every call returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from corral_reference.ai.text import words


@dataclass(frozen=True)
class GenerateRequest:
    """What to write: a prompt, a tone, a word budget and a locale (`en`, `de-AT`, ...)."""

    prompt: str
    tone: str = "neutral"
    max_words: int = 500
    locale: str = "en"


@dataclass(frozen=True)
class AiResult:
    """A provider's answer: the text, who produced it, and how (operations applied, token usage...)."""

    text: str
    provider: str
    model: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serialisable view for job results; `provider` says whether the text is local or remote."""
        return {
            "text": self.text,
            "words": len(words(self.text)),
            "provider": self.provider,
            "model": self.model,
            **self.details,
        }


class AiProvider(Protocol):
    """Generates, rewrites and summarises text; raises JobFailure (retryable) or UnrecoverableJobError."""

    name: str

    async def generate(self, request: GenerateRequest) -> AiResult:
        """Write new text from `request.prompt` in its tone and locale, within `request.max_words`."""
        ...

    async def rewrite(self, text: str, instruction: str) -> AiResult:
        """Rewrite `text` following `instruction` (shorten, formal, simplify, bullet points, ...)."""
        ...

    async def summarize(self, text: str, max_sentences: int) -> AiResult:
        """Summarise `text` in at most `max_sentences` sentences."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
