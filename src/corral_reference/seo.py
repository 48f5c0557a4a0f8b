"""SEO for articles: a report (readability, keyword density, lengths, issues, score) and meta fields."""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import asdict, dataclass
from typing import Any, Literal

from textstat.textstat import textstatistics  # type: ignore[import-untyped]

from corral_reference.ai.text import clip, paragraphs, sentences, top_keywords, words

Severity = Literal["error", "warning", "info"]

TITLE_MIN_CHARS, TITLE_MAX_CHARS = 30, 60
META_MIN_CHARS, META_MAX_CHARS = 120, 160
MIN_WORDS, THIN_WORDS = 300, 100
LONG_SENTENCE_WORDS, MAX_LONG_SENTENCE_SHARE = 20, 0.25
LONG_PARAGRAPH_WORDS = 150
DENSITY_MIN, DENSITY_MAX, DENSITY_STUFFED = 0.5, 2.5, 4.0
READABLE_FLESCH = 50.0
WORDS_PER_MINUTE = 200
SLUG_MAX_CHARS = 80
META_KEYWORDS = 8
TOP_KEYWORDS = 10
PENALTY: dict[Severity, int] = {"error": 20, "warning": 10, "info": 3}


def _readability() -> Any:
    # "en-US" (not "en_US") makes textstat count syllables with pyphen's English dictionary instead of
    # nltk's cmudict, which it would otherwise try to download at run time: offline and deterministic.
    stats = textstatistics()
    stats.set_lang("en-US")
    return stats


_STATS = _readability()


@dataclass(frozen=True)
class SeoIssue:
    """One finding: a stable code, how bad it is, what is wrong and what to do about it."""

    code: str
    severity: Severity
    message: str
    suggestion: str


@dataclass(frozen=True)
class MetaFields:
    """Search-engine metadata derived from an article."""

    description: str
    slug: str
    keywords: list[str]


def plain_text(markup: str) -> str:
    """The readable text of a body that may contain HTML tags or Markdown emphasis, links and headings."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", markup, flags=re.IGNORECASE | re.DOTALL)
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # [text](url) -> text
    text = re.sub(r"^\s{0,3}(?:#{1,6}|[-*+>])\s+", "", text, flags=re.MULTILINE)
    return re.sub(r"(\*{1,3}|_{2,3}|`+)(\S.*?\S|\S)\1", r"\2", text)


def slugify(title: str, max_chars: int = SLUG_MAX_CHARS) -> str:
    """A URL slug: lower-case words joined by '-', accents dropped, non-Latin letters kept, cut at a word."""
    decomposed = unicodedata.normalize("NFKD", title)
    bare = "".join(char for char in decomposed if unicodedata.category(char) != "Mn").lower()
    slug = re.sub(r"[\W_]+", "-", bare).strip("-")
    if len(slug) > max_chars:
        cut = slug[: max_chars + 1]
        slug = cut[: cut.rfind("-")] if "-" in cut else slug[:max_chars]
    return slug.strip("-") or "article"


def meta_description(body: str, max_chars: int = META_MAX_CHARS) -> str:
    """The opening sentences that fit in `max_chars`; cut at a word boundary with '…' when they fall short."""
    text = plain_text(body)
    chosen = ""
    for sentence in sentences(text):
        candidate = f"{chosen} {sentence}".strip()
        if len(candidate) > max_chars:
            break
        chosen = candidate
    if len(chosen) < META_MIN_CHARS and len(" ".join(text.split())) > len(chosen):
        return clip(text, max_chars)
    return chosen


def meta_keywords(title: str, body: str, limit: int = META_KEYWORDS) -> list[str]:
    """The most frequent content words of the article, title words counting double."""
    return [word for word, _ in top_keywords(f"{title}\n\n{title}\n\n{plain_text(body)}", limit)]


def meta_fields(title: str, body: str) -> MetaFields:
    """Description (<= 160 characters), slug and keywords for an article."""
    return MetaFields(meta_description(body), slugify(title), meta_keywords(title, body))


def phrase_occurrences(text: str, phrase: str) -> int:
    """How often the words of `phrase` appear consecutively in `text`, case-insensitively."""
    haystack = [word.lower() for word in words(text)]
    needle = [word.lower() for word in words(phrase)]
    if not needle:
        return 0
    size = len(needle)
    return sum(1 for index in range(len(haystack) - size + 1) if haystack[index : index + size] == needle)


def _density(occurrences: int, total_words: int) -> float:
    return round(occurrences / total_words * 100, 2) if total_words else 0.0


def _readability_level(flesch: float) -> str:
    bands = ((90, "very easy"), (70, "easy"), (60, "standard"), (50, "fairly difficult"), (30, "difficult"))
    return next((label for floor, label in bands if flesch >= floor), "very difficult")


@dataclass(frozen=True)
class _TextFacts:
    """What the checks need to know about a body, computed once."""

    text: str
    total_words: int
    sentence_lengths: list[int]
    paragraph_texts: list[str]
    paragraph_lengths: list[int]
    flesch: float
    grade: float
    description: str

    @property
    def long_sentences(self) -> int:
        return sum(1 for length in self.sentence_lengths if length > LONG_SENTENCE_WORDS)

    @property
    def long_paragraphs(self) -> int:
        return sum(1 for length in self.paragraph_lengths if length > LONG_PARAGRAPH_WORDS)


def _facts(body: str) -> _TextFacts:
    text = plain_text(body)
    total = len(words(text))
    found_paragraphs = paragraphs(text)
    return _TextFacts(
        text=text,
        total_words=total,
        sentence_lengths=[len(words(sentence)) for sentence in sentences(text)],
        paragraph_texts=found_paragraphs,
        paragraph_lengths=[len(words(paragraph)) for paragraph in found_paragraphs],
        flesch=round(float(_STATS.flesch_reading_ease(text)), 2) if total else 0.0,
        grade=round(float(_STATS.flesch_kincaid_grade(text)), 2) if total else 0.0,
        description=meta_description(body),
    )


def _length_issues(title: str, facts: _TextFacts) -> list[SeoIssue]:
    issues: list[SeoIssue] = []
    if len(title) < TITLE_MIN_CHARS:
        message = f"The title has {len(title)} characters."
        advice = f"Use {TITLE_MIN_CHARS}-{TITLE_MAX_CHARS} characters so the title describes the page."
        issues.append(SeoIssue("title-too-short", "warning", message, advice))
    elif len(title) > TITLE_MAX_CHARS:
        message = f"The title has {len(title)} characters; search results cut it."
        issues.append(SeoIssue("title-too-long", "warning", message, f"Keep it within {TITLE_MAX_CHARS} characters."))
    if len(facts.description) < META_MIN_CHARS:
        message = f"The meta description taken from the opening has {len(facts.description)} characters."
        advice = f"Open with {META_MIN_CHARS}-{META_MAX_CHARS} characters that summarise the article."
        issues.append(SeoIssue("meta-description-short", "info", message, advice))
    if facts.total_words < THIN_WORDS:
        message = f"The body has only {facts.total_words} words."
        issues.append(SeoIssue("content-thin", "error", message, f"Write at least {MIN_WORDS} words of substance."))
    elif facts.total_words < MIN_WORDS:
        message = f"The body has {facts.total_words} words."
        issues.append(SeoIssue("content-short", "warning", message, f"Aim for at least {MIN_WORDS} words."))
    return issues


def _structure_issues(facts: _TextFacts) -> list[SeoIssue]:
    issues: list[SeoIssue] = []
    count = len(facts.sentence_lengths)
    if count and facts.long_sentences / count > MAX_LONG_SENTENCE_SHARE:
        message = f"{facts.long_sentences} of {count} sentences exceed {LONG_SENTENCE_WORDS} words."
        advice = f"Split long sentences; keep at most a quarter of them above {LONG_SENTENCE_WORDS} words."
        issues.append(SeoIssue("long-sentences", "warning", message, advice))
    if facts.long_paragraphs:
        message = f"{facts.long_paragraphs} paragraph(s) exceed {LONG_PARAGRAPH_WORDS} words."
        advice = "Break long paragraphs up with a blank line or a subheading."
        issues.append(SeoIssue("long-paragraphs", "warning", message, advice))
    if facts.total_words and facts.flesch < READABLE_FLESCH:
        message = f"Flesch reading ease is {facts.flesch:g} ({_readability_level(facts.flesch)})."
        advice = f"Use shorter sentences and plainer words to reach {READABLE_FLESCH:g} or more."
        issues.append(SeoIssue("hard-to-read", "warning", message, advice))
    return issues


def _keyword_report(title: str, facts: _TextFacts, focus: str) -> tuple[dict[str, Any], list[SeoIssue]]:
    occurrences = phrase_occurrences(facts.text, focus)
    density = _density(occurrences, facts.total_words)
    intro = facts.paragraph_texts[0] if facts.paragraph_texts else ""
    report = {
        "focus": focus,
        "occurrences": occurrences,
        "density": density,
        "inTitle": phrase_occurrences(title, focus) > 0,
        "inIntro": phrase_occurrences(intro, focus) > 0,
        "inMetaDescription": phrase_occurrences(facts.description, focus) > 0,
        "inSlug": slugify(focus) in slugify(title),
    }
    issues: list[SeoIssue] = []
    if not report["inTitle"]:
        message = f"The title does not contain {focus!r}."
        advice = "Put the focus keyword in the title, preferably near its start."
        issues.append(SeoIssue("keyword-not-in-title", "warning", message, advice))
    if not report["inIntro"]:
        message = "The first paragraph does not use the focus keyword."
        issues.append(SeoIssue("keyword-not-in-intro", "warning", message, "Mention it in the opening paragraph."))
    band = f"{DENSITY_MIN:g}%-{DENSITY_MAX:g}%"
    if density > DENSITY_STUFFED:
        advice = f"Use the keyword much less; aim for {band}."
        issues.append(SeoIssue("keyword-stuffing", "error", f"Keyword density is {density:g}%.", advice))
    elif density > DENSITY_MAX:
        advice = f"Use the keyword less; aim for {band}."
        issues.append(SeoIssue("keyword-density-high", "warning", f"Keyword density is {density:g}%.", advice))
    elif density < DENSITY_MIN:
        advice = f"Use the keyword a little more; aim for {band}."
        issues.append(SeoIssue("keyword-density-low", "warning", f"Keyword density is {density:g}%.", advice))
    return report, issues


def analyze(title: str, body: str, focus_keyword: str | None = None) -> dict[str, Any]:
    """The SEO report of an article: counts, readability, keyword use, length checks, issues and a 0-100 score."""
    facts = _facts(body)
    issues = _length_issues(title, facts) + _structure_issues(facts)
    keyword: dict[str, Any] | None = None
    if focus_keyword:
        keyword, keyword_issues = _keyword_report(title, facts, focus_keyword)
        issues += keyword_issues
    else:
        leading = top_keywords(facts.text, 1)
        advice = "Choose a focus keyword" + (f" such as {leading[0][0]!r}" if leading else "") + " to check its use."
        issues.append(SeoIssue("no-focus-keyword", "info", "No focus keyword was given.", advice))
    total = facts.total_words
    sentence_count, paragraph_count = len(facts.sentence_lengths), len(facts.paragraph_lengths)
    description = facts.description
    return {
        "score": max(0, 100 - sum(PENALTY[issue.severity] for issue in issues)),
        "counts": {
            "words": total,
            "sentences": sentence_count,
            "paragraphs": paragraph_count,
            "characters": len(facts.text.strip()),
            "readingTimeMinutes": max(1, round(total / WORDS_PER_MINUTE)) if total else 0,
        },
        "readability": {
            "fleschReadingEase": facts.flesch,
            "fleschKincaidGrade": facts.grade,
            "level": _readability_level(facts.flesch),
        },
        "title": {"text": title, "length": len(title), "ok": TITLE_MIN_CHARS <= len(title) <= TITLE_MAX_CHARS},
        "metaDescription": {
            "text": description,
            "length": len(description),
            "ok": META_MIN_CHARS <= len(description) <= META_MAX_CHARS,
        },
        "sentences": {
            "averageWords": round(sum(facts.sentence_lengths) / sentence_count, 2) if sentence_count else 0.0,
            "overLimit": facts.long_sentences,
            "limitWords": LONG_SENTENCE_WORDS,
        },
        "paragraphs": {
            "averageWords": round(sum(facts.paragraph_lengths) / paragraph_count, 2) if paragraph_count else 0.0,
            "overLimit": facts.long_paragraphs,
            "limitWords": LONG_PARAGRAPH_WORDS,
        },
        "keyword": keyword,
        "topKeywords": [
            {"keyword": word, "count": count, "density": _density(count, total)}
            for word, count in top_keywords(facts.text, TOP_KEYWORDS)
        ],
        "issues": [asdict(issue) for issue in issues],
    }
