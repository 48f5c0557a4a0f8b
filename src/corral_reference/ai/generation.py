"""Template generation for the local provider: an article outline from the prompt's topic and keywords."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from corral_reference.ai.provider import GenerateRequest
from corral_reference.ai.rewrite_rules import casual, formal
from corral_reference.ai.text import top_keywords, truncate_words

_REQUEST_VERBS = re.compile(
    r"^\s*(?:please\s+)?(?:write|create|draft|compose|generate|produce|explain|describe|give|prepare)\b"
    r"(?:[^.?!:]*?\b(?:about|on|of|for|explaining|describing|covering)\b)?\s*[:,-]?\s*",
    re.IGNORECASE,
)
MAX_TOPIC_WORDS = 12
KEYWORDS_PER_TEXT = 5
# Words that describe the request rather than its subject; never used as keywords.
_REQUEST_WORDS = frozenset(
    "write create draft compose generate produce explain describe give prepare cover covering article post blog "
    "essay text piece story words paragraph paragraphs tone please include mention discuss".split()
)


@dataclass(frozen=True)
class Phrasebook:
    """One language's sentences; `{topic}` and `{keyword}` are filled in, tones pick opener and closer."""

    openers: dict[str, str]
    closers: dict[str, str]
    points: tuple[str, ...]
    fallback: str


_TONE_GROUPS = {
    "formal": "formal",
    "professional": "formal",
    "informative": "formal",
    "casual": "casual",
    "friendly": "casual",
    "persuasive": "persuasive",
    "neutral": "neutral",
}

PHRASEBOOKS: dict[str, Phrasebook] = {
    "en": Phrasebook(
        openers={
            "neutral": "This article looks at {topic}.",
            "formal": "The following text examines {topic} in a structured manner.",
            "professional": "This overview covers {topic} with a focus on practical outcomes.",
            "informative": "Here are the key facts about {topic}.",
            "casual": "Let's talk about {topic}.",
            "friendly": "Welcome! Today we're exploring {topic} together.",
            "persuasive": "If you care about results, {topic} deserves your attention.",
        },
        closers={
            "neutral": "In short, {topic} rewards a clear plan and steady attention.",
            "formal": "In conclusion, {topic} warrants careful and continued consideration.",
            "professional": "Applied consistently, these points make {topic} a dependable part of the work.",
            "informative": "These facts give a solid starting point for further reading on {topic}.",
            "casual": "That's the gist of {topic}, so give it a try.",
            "friendly": "Thanks for reading, and good luck with {topic}!",
            "persuasive": "Start with {topic} today; the effort pays for itself.",
        },
        points=(
            "Getting {keyword} right shapes the practical side of {topic}.",
            "When looking at {keyword}, start with the basics and build from there.",
            "A common mistake is to treat {keyword} as an afterthought, so plan for it early.",
            "Measuring {keyword} over time shows whether the approach to {topic} is working.",
            "Small, regular improvements to {keyword} add up faster than occasional big changes.",
        ),
        fallback="the subject",
    ),
    "de": Phrasebook(
        openers={
            "neutral": "Dieser Artikel befasst sich mit {topic}.",
            "formal": "Der folgende Text untersucht {topic} in strukturierter Form.",
            "casual": "Reden wir über {topic}.",
            "persuasive": "Wer Ergebnisse will, sollte sich mit {topic} beschäftigen.",
        },
        closers={
            "neutral": "Kurz gesagt: {topic} lohnt einen klaren Plan.",
            "formal": "Abschließend verdient {topic} eine sorgfältige Betrachtung.",
            "casual": "Das war das Wichtigste zu {topic}, probier es einfach aus.",
            "persuasive": "Fangen Sie noch heute mit {topic} an.",
        },
        points=(
            "{Keyword} ist wichtig, weil es bestimmt, wie {topic} in der Praxis funktioniert.",
            "Bei {keyword} lohnt es sich, mit den Grundlagen zu beginnen.",
            "Ein häufiger Fehler ist, {keyword} erst spät zu bedenken.",
            "Wer {keyword} regelmäßig misst, sieht, ob der Ansatz für {topic} wirkt.",
        ),
        fallback="das Thema",
    ),
    "fr": Phrasebook(
        openers={
            "neutral": "Cet article porte sur {topic}.",
            "formal": "Le texte suivant examine {topic} de manière structurée.",
            "casual": "Parlons de {topic}.",
            "persuasive": "Si vous visez des résultats, {topic} mérite votre attention.",
        },
        closers={
            "neutral": "En bref, {topic} demande un plan clair.",
            "formal": "En conclusion, {topic} mérite une attention soutenue.",
            "casual": "Voilà l'essentiel sur {topic}, à vous de jouer.",
            "persuasive": "Commencez dès aujourd'hui avec {topic}.",
        },
        points=(
            "{Keyword} compte, car cela détermine comment {topic} fonctionne en pratique.",
            "Pour {keyword}, commencez par les bases.",
            "Une erreur fréquente consiste à traiter {keyword} trop tard.",
            "Mesurer {keyword} dans le temps montre si l'approche de {topic} fonctionne.",
        ),
        fallback="le sujet",
    ),
    "es": Phrasebook(
        openers={
            "neutral": "Este artículo trata sobre {topic}.",
            "formal": "El siguiente texto examina {topic} de forma estructurada.",
            "casual": "Hablemos de {topic}.",
            "persuasive": "Si buscas resultados, {topic} merece tu atención.",
        },
        closers={
            "neutral": "En resumen, {topic} requiere un plan claro.",
            "formal": "En conclusión, {topic} merece una consideración cuidadosa.",
            "casual": "Eso es lo esencial de {topic}, así que pruébalo.",
            "persuasive": "Empieza hoy mismo con {topic}.",
        },
        points=(
            "{Keyword} importa porque define cómo funciona {topic} en la práctica.",
            "Con {keyword}, conviene empezar por lo básico.",
            "Un error común es dejar {keyword} para el final.",
            "Medir {keyword} con el tiempo muestra si el enfoque de {topic} funciona.",
        ),
        fallback="el tema",
    ),
}


def topic_of(prompt: str) -> str:
    """The prompt's subject: its first sentence without a leading request ("Write an article about ...")."""
    first = re.split(r"(?<=[.?!])\s+|\n", prompt.strip(), maxsplit=1)[0]
    topic = _REQUEST_VERBS.sub("", first, count=1).strip().rstrip(".?!:;,")
    topic = " ".join(topic.split()[:MAX_TOPIC_WORDS]) or " ".join(first.split()[:MAX_TOPIC_WORDS]).rstrip(".?!:;,")
    head = topic.split(" ", 1)[0]
    if (
        head[:1].isupper() and head[1:].islower()
    ):  # a sentence-initial capital, not an acronym, reads wrong mid-sentence
        topic = topic[:1].lower() + topic[1:]
    return topic


def _pick(options: dict[str, str], tone: str) -> str:
    return options.get(tone) or options.get(_TONE_GROUPS.get(tone, "neutral")) or options["neutral"]


def generate_text(request: GenerateRequest) -> tuple[str, dict[str, object]]:
    """Deterministic text for `request` and details (language used, topic, keywords, whether it was cut)."""
    language = request.locale.split("-")[0]
    book = PHRASEBOOKS.get(language)
    if book is None:
        book, language = PHRASEBOOKS["en"], "en"
    topic = topic_of(request.prompt) or book.fallback
    ranked = top_keywords(request.prompt, KEYWORDS_PER_TEXT + len(_REQUEST_WORDS))
    candidates = [word for word, _ in ranked if word not in _REQUEST_WORDS]
    # Details the prompt adds beyond its topic come first: they make the points say something new.
    in_topic = set(topic.lower().split())
    keywords = sorted(candidates, key=lambda word: word in in_topic)[:KEYWORDS_PER_TEXT] or [topic]
    # A stable digest (not Python's salted hash) rotates the point templates, so output depends on input only.
    offset = int.from_bytes(hashlib.sha256(request.prompt.encode()).digest()[:4], "big")
    points = [
        book.points[(offset + index) % len(book.points)].format(
            topic=topic, keyword=keyword, Keyword=keyword[:1].upper() + keyword[1:]
        )
        for index, keyword in enumerate(keywords)
    ]
    opener = _pick(book.openers, request.tone).format(topic=topic)
    closer = _pick(book.closers, request.tone).format(topic=topic)
    text = "\n\n".join([opener, " ".join(points), closer])
    if language == "en" and _TONE_GROUPS.get(request.tone) == "formal":
        text = formal(text)
    elif language == "en" and _TONE_GROUPS.get(request.tone) == "casual":
        text = casual(text)
    text, truncated = truncate_words(text, request.max_words)
    details: dict[str, object] = {
        "tone": request.tone,
        "locale": request.locale,
        "language": language,
        "topic": topic,
        "keywords": keywords,
        "truncated": truncated,
    }
    return text, details
