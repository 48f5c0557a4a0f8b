"""Extractive summarisation: score sentences by the frequency of their content words and keep the best."""

from __future__ import annotations

import math
from collections import Counter

from corral_reference.ai.text import content_words, sentences

LEAD_BONUS = 0.25


def score_sentences(text: str) -> list[tuple[str, float]]:
    """Each sentence of `text` with its score: mean normalised content-word frequency, plus a lead bonus."""
    found = sentences(text)
    frequency = Counter(content_words(text))
    top = max(frequency.values(), default=1)
    scored: list[tuple[str, float]] = []
    for index, sentence in enumerate(found):
        terms = content_words(sentence)
        weight = sum(frequency[term] / top for term in terms) / math.sqrt(len(terms)) if terms else 0.0
        if index == 0:
            weight += LEAD_BONUS
        scored.append((sentence, round(weight, 6)))
    return scored


def best_sentence_indices(text: str, count: int) -> list[int]:
    """Indices of the `count` best-scoring sentences, in reading order; earlier sentences win ties."""
    scored = score_sentences(text)
    ranked = sorted(range(len(scored)), key=lambda index: (-scored[index][1], index))
    return sorted(ranked[:count])


def extractive_summary(text: str, max_sentences: int) -> tuple[str, list[int], int]:
    """The summary, the indices of the sentences kept, and how many sentences the text had."""
    found = sentences(text)
    keep = best_sentence_indices(text, max_sentences)
    return " ".join(found[index] for index in keep), keep, len(found)
