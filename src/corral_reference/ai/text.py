"""Plain-text helpers shared by the local AI provider and the SEO report: sentences, words, keywords."""

from __future__ import annotations

import re
from collections import Counter

_SENTENCE_END = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"')\]]))\s+(?=[\"'(\[]?[A-Z0-9À-Ý])")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")

# Function words that carry no topic; used to pick keywords and score sentences.
STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just let me more most my myself
    no nor not now of off on once only or other our ours ourselves out over own same she should so some such
    than that the their theirs them themselves then there these they this those through to too under until up
    us very was we were what when where which while who whom why will with would you your yours yourself
    yourselves may might must shall one two new many much every via per yet however thus therefore like
    """.split()
)


def paragraphs(text: str) -> list[str]:
    """The text's non-empty paragraphs (blocks separated by blank lines), whitespace-normalised."""
    return [" ".join(block.split()) for block in _PARAGRAPH_BREAK.split(text.strip()) if block.strip()]


def sentences(text: str) -> list[str]:
    """The text's sentences, split at terminal punctuation followed by a capital or digit, in order."""
    found: list[str] = []
    for paragraph in paragraphs(text):
        found.extend(part.strip() for part in _SENTENCE_END.split(paragraph) if part.strip())
    return found


def words(text: str) -> list[str]:
    """The text's words (letters and digits, inner apostrophes kept), in order."""
    return _WORD.findall(text)


def content_words(text: str) -> list[str]:
    """Lower-cased words that are not stopwords and are longer than two characters."""
    return [word for word in (w.lower() for w in words(text)) if len(word) > 2 and word not in STOPWORDS]


def top_keywords(text: str, limit: int) -> list[tuple[str, int]]:
    """The `limit` most frequent content words with their counts; ties broken by first appearance."""
    counts = Counter(content_words(text))
    order = {word: index for index, word in reversed(list(enumerate(content_words(text))))}
    ranked = sorted(counts.items(), key=lambda item: (-item[1], order[item[0]]))
    return ranked[:limit]


def truncate_words(text: str, max_words: int) -> tuple[str, bool]:
    """Cut `text` to at most `max_words` words, preferring the last full sentence that fits; says if it cut."""
    if len(words(text)) <= max_words:
        return text, False
    kept: list[str] = []
    count = 0
    for sentence in sentences(text):
        size = len(words(sentence))
        if count + size > max_words:
            break
        kept.append(sentence)
        count += size
    if kept:
        return " ".join(kept), True
    tokens = text.split()
    cut: list[str] = []
    for token in tokens:
        if len(words(" ".join([*cut, token]))) > max_words:
            break
        cut.append(token)
    return " ".join(cut).rstrip(",;:") + "…", True


def clip(text: str, max_chars: int, ellipsis: str = "…") -> str:
    """`text` whitespace-normalised and cut at a word boundary to at most `max_chars` characters."""
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    room = max_chars - len(ellipsis)
    cut = text[: room + 1]
    boundary = cut.rfind(" ")
    cut = cut[:boundary] if boundary > 0 else text[:room]
    return cut.rstrip(" ,;:-–—") + ellipsis
