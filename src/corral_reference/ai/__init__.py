"""AI text providers for the ai-content worker: a local deterministic default and an OpenAI-compatible client."""

from __future__ import annotations

from urllib.parse import urlsplit

from corral.errors import ConfigurationError
from corral.settings import Settings
from corral_reference.ai.chat_completions import ChatCompletionsProvider
from corral_reference.ai.local import LocalProvider
from corral_reference.ai.provider import AiProvider, AiResult, GenerateRequest
from corral_reference.settings import ReferenceSettings

__all__ = ["AiProvider", "AiResult", "ChatCompletionsProvider", "GenerateRequest", "LocalProvider", "build_provider"]


def build_provider(settings: Settings) -> AiProvider:
    """The provider the settings choose: local when `ai_url` is empty, else the chat-completions endpoint."""
    settings = ReferenceSettings.of(settings)
    if not settings.ai_url:
        return LocalProvider()
    parts = urlsplit(settings.ai_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError("ai_url: an http(s) base URL such as https://api.openai.com/v1 is required")
    return ChatCompletionsProvider(
        settings.ai_url,
        settings.ai_api_key.get_secret_value(),
        settings.ai_model,
        timeout_seconds=settings.ai_timeout_seconds,
        max_retries=settings.ai_max_retries,
    )
