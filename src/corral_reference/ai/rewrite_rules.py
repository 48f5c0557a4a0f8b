"""Rule-based rewriting for the local provider: each instruction keyword maps to a deterministic transformation."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

from corral_reference.ai.summary import best_sentence_indices
from corral_reference.ai.text import sentences, truncate_words

_CONTRACTIONS = {
    "can't": "cannot",
    "won't": "will not",
    "shan't": "shall not",
    "let's": "let us",
    "it's": "it is",
    "that's": "that is",
    "there's": "there is",
    "what's": "what is",
    "i'm": "I am",
    "n't": " not",
    "'re": " are",
    "'ll": " will",
    "'ve": " have",
    "'d": " would",
}
_INFORMAL = {
    "gonna": "going to",
    "wanna": "want to",
    "gotta": "have to",
    "kids": "children",
    "a lot of": "many",
    "lots of": "many",
    "yeah": "yes",
    "nope": "no",
    "guys": "everyone",
    "stuff": "material",
    "awesome": "excellent",
    "super": "very",
    "thanks": "thank you",
    "big": "large",
    "okay": "acceptable",
    "get rid of": "remove",
    "find out": "determine",
}
_CASUAL = {
    "do not": "don't",
    "does not": "doesn't",
    "cannot": "can't",
    "will not": "won't",
    "is not": "isn't",
    "are not": "aren't",
    "it is": "it's",
    "we are": "we're",
    "you are": "you're",
    "they are": "they're",
    "i am": "I'm",
    "therefore": "so",
    "however": "but",
    "purchase": "buy",
    "utilize": "use",
}
_SIMPLER = {
    "due to the fact that": "because",
    "at this point in time": "now",
    "in the event that": "if",
    "with regard to": "about",
    "in order to": "to",
    "prior to": "before",
    "utilize": "use",
    "utilise": "use",
    "approximately": "about",
    "commence": "start",
    "terminate": "end",
    "facilitate": "help",
    "demonstrate": "show",
    "sufficient": "enough",
    "numerous": "many",
    "subsequently": "later",
    "assistance": "help",
    "additional": "more",
    "endeavor": "try",
    "endeavour": "try",
    "obtain": "get",
    "purchase": "buy",
    "require": "need",
    "regarding": "about",
    "individuals": "people",
    "nevertheless": "still",
    "consequently": "so",
    "modification": "change",
    "methodology": "method",
}
_FILLERS = {
    "it is important to note that ": "",
    "needless to say, ": "",
    "as a matter of fact, ": "",
    "basically ": "",
    "actually ": "",
    "really ": "",
    "very ": "",
    "quite ": "",
    "due to the fact that": "because",
    "in order to": "to",
}
_SPLIT_POINTS = re.compile(r"(?:;\s+|,\s+(?=(?:and|but|which|so)\s))")
LONG_SENTENCE_WORDS = 20
SHORTEN_RATIO = 0.6


def _match_case(original: str, replacement: str) -> str:
    if original.isupper() and len(original) > 1:
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def replace_phrases(text: str, mapping: Mapping[str, str]) -> str:
    """Replace every phrase of `mapping` (case-insensitive, whole words), keeping the original's capitalisation."""
    for phrase in sorted(mapping, key=len, reverse=True):
        suffix = phrase.startswith(("'", "n'"))  # contraction endings attach to the word before them
        start = r"\b" if phrase[0].isalnum() and not suffix else ""
        end = r"\b" if phrase[-1].isalnum() else ""
        pattern = re.compile(start + re.escape(phrase) + end, re.IGNORECASE)
        replacement = mapping[phrase]

        def substitute(match: re.Match[str], replacement: str = replacement) -> str:
            return _match_case(match.group(0), replacement)

        text = pattern.sub(substitute, text)
    return text


def _capitalise_sentences(items: list[str]) -> list[str]:
    return [item[:1].upper() + item[1:] for item in items if item]


def _capitalise_starts(text: str) -> str:
    """Upper-case the first letter of the text and of every sentence (after a removal left it lower-case)."""
    return re.sub(r"(^\s*|[.!?]\s+)([a-z])", lambda match: match.group(1) + match.group(2).upper(), text)


def formal(text: str) -> str:
    """Expand contractions, replace informal words, and calm exclamations."""
    text = replace_phrases(text, _INFORMAL)
    text = replace_phrases(text, _CONTRACTIONS)
    return re.sub(r"!+", ".", text)


def casual(text: str) -> str:
    """Use contractions and everyday words."""
    return replace_phrases(text, _CASUAL)


def simplify(text: str) -> str:
    """Use plain words and split long sentences at semicolons and coordinating commas."""
    text = replace_phrases(text, _SIMPLER)
    result: list[str] = []
    for sentence in sentences(text):
        if len(sentence.split()) <= LONG_SENTENCE_WORDS:
            result.append(sentence)
            continue
        parts = [part.strip().rstrip(".") for part in _SPLIT_POINTS.split(sentence) if part.strip()]
        result.extend(part + "." for part in _capitalise_sentences(parts))
    return " ".join(result)


def shorten(text: str, target_words: int | None = None, target_sentences: int | None = None) -> str:
    """Drop filler phrases and keep the highest-scoring sentences (60 %, or the requested count of words/sentences)."""
    text = _capitalise_starts(replace_phrases(text, _FILLERS))
    found = sentences(text)
    keep = target_sentences or (max(1, math.ceil(len(found) * SHORTEN_RATIO)) if len(found) > 2 else len(found))
    text = " ".join(found[index] for index in best_sentence_indices(text, keep))
    if target_words is not None:
        text, _ = truncate_words(text, target_words)
    return text


def bullets(text: str) -> str:
    """One bullet point per sentence."""
    return "\n".join(f"- {sentence}" for sentence in sentences(text))


def _number_before(instruction: str, unit: str) -> int | None:
    match = re.search(rf"(\d{{1,5}})\s+{unit}", instruction)
    return int(match.group(1)) if match and int(match.group(1)) > 0 else None


# Instruction keywords (matched as word prefixes) -> operation name; operations run in the order below.
_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("formal", ("formal", "professional", "polite")),
    ("casual", ("casual", "informal", "friendly", "conversational", "relaxed")),
    ("simplify", ("simpl", "plain", "easier", "easy", "clear")),
    ("shorten", ("short", "concise", "brief", "condense", "trim", "tighten", "summar")),
    ("bullets", ("bullet", "list", "points")),
)


def operations_for(instruction: str) -> list[str]:
    """The rewrite operations an instruction asks for, in application order."""
    lowered = instruction.lower()
    tokens = re.findall(r"[a-z]+", lowered)
    chosen = [name for name, stems in _KEYWORDS if any(token.startswith(stems) for token in tokens)]
    if "formal" in chosen and "casual" in chosen:
        chosen.remove("formal" if re.search(r"\b(less|not|un)\s*formal", lowered) else "casual")
    if _number_before(lowered, "words?") or _number_before(lowered, "sentences?"):
        if "shorten" not in chosen:
            chosen.insert(len([c for c in chosen if c != "bullets"]), "shorten")
    return chosen


def apply_rewrite(text: str, instruction: str) -> tuple[str, list[str]]:
    """`text` rewritten by the operations `instruction` asks for, and their names ("normalise" when none matched)."""
    operations = operations_for(instruction)
    steps: dict[str, Callable[[str], str]] = {
        "formal": formal,
        "casual": casual,
        "simplify": simplify,
        "shorten": lambda value: shorten(
            value,
            target_words=_number_before(instruction.lower(), "words?"),
            target_sentences=_number_before(instruction.lower(), "sentences?"),
        ),
        "bullets": bullets,
    }
    if not operations:
        return " ".join(sentences(text)), ["normalise"]
    for name in operations:
        text = steps[name](text)
    return text, operations
