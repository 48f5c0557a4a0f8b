"""The local deterministic AI provider: offline, no model, the same input always gives the same output."""

from __future__ import annotations

from corral_reference.ai.generation import generate_text
from corral_reference.ai.provider import AiResult, GenerateRequest
from corral_reference.ai.rewrite_rules import apply_rewrite
from corral_reference.ai.summary import extractive_summary

LOCAL_PROVIDER = "local"
LOCAL_MODEL = "corral-local-1"


class LocalProvider:
    """Extractive summaries, rule-based rewrites and template generation; every result is labelled "local"."""

    name = LOCAL_PROVIDER

    async def generate(self, request: GenerateRequest) -> AiResult:
        """An outline-style text about the prompt's topic and keywords, in its tone and language."""
        text, details = generate_text(request)
        return AiResult(text, LOCAL_PROVIDER, LOCAL_MODEL, {"method": "template", **details})

    async def rewrite(self, text: str, instruction: str) -> AiResult:
        """The text transformed by the rules the instruction names (formal, casual, simplify, shorten, bullets)."""
        rewritten, operations = apply_rewrite(text, instruction)
        details = {"method": "rules", "operations": operations, "instructionMatched": operations != ["normalise"]}
        return AiResult(rewritten, LOCAL_PROVIDER, LOCAL_MODEL, details)

    async def summarize(self, text: str, max_sentences: int) -> AiResult:
        """The best-scoring sentences of the text, at most `max_sentences`, in their original order."""
        summary, kept, total = extractive_summary(text, max_sentences)
        details = {"method": "extractive", "sentencesKept": kept, "sourceSentences": total}
        return AiResult(summary, LOCAL_PROVIDER, LOCAL_MODEL, details)

    async def close(self) -> None:
        """Nothing to release."""
