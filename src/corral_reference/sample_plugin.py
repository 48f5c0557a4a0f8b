"""A plugin shipped with Corral (entry point `text-stats`): text statistics, and an example of the plugin contract."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

WORD = re.compile(r"[A-Za-z\u00C0-\u024F']+")
READING_WORDS_PER_MINUTE = 230


class TextStatsPlugin:
    """Hook `text.stats`: word, sentence and character counts, reading time and the most frequent words."""

    def text_stats(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Statistics of `payload["text"]` (a string)."""
        text = payload.get("text")
        if not isinstance(text, str):
            error = ValueError("payload.text must be a string")
            error.unrecoverable = True  # type: ignore[attr-defined]
            raise error
        words = [word.lower() for word in WORD.findall(text)]
        sentences = [part for part in re.split(r"[.!?]+", text) if part.strip()]
        common = Counter(word for word in words if len(word) > 3).most_common(5)
        return {
            "characters": len(text),
            "words": len(words),
            "sentences": len(sentences),
            "reading_minutes": round(len(words) / READING_WORDS_PER_MINUTE, 2),
            "top_words": [{"word": word, "count": count} for word, count in common],
        }
