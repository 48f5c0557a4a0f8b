"""The full-text search interface: documents in, ranked hits out, whichever back-end holds them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

MAX_QUERY_CHARS = 500
MAX_QUERY_TERMS = 32
MAX_LIMIT = 100
SNIPPET_WORDS = 24
_TERM = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class SearchDocument:
    """One indexable document, identified by its type and id (indexing it again replaces it)."""

    doc_type: str
    doc_id: str
    title: str
    body: str
    tags: list[str] = field(default_factory=list)
    url: str | None = None


@dataclass(frozen=True)
class SearchHit:
    """One ranked result; a higher score is a better match."""

    doc_type: str
    doc_id: str
    title: str
    snippet: str
    score: float
    url: str | None
    tags: list[str]

    def as_dict(self) -> dict[str, Any]:
        """The hit in the catalogue's camelCase shape."""
        return {
            "docType": self.doc_type,
            "docId": self.doc_id,
            "title": self.title,
            "snippet": self.snippet,
            "score": self.score,
            "url": self.url,
            "tags": list(self.tags),
        }


class SearchIndex(Protocol):
    """A full-text index: upsert by (doc_type, doc_id), remove, and ranked search."""

    async def index(self, document: SearchDocument) -> None:
        """Add the document, replacing any earlier version with the same type and id."""
        ...

    async def remove(self, doc_type: str, doc_id: str) -> bool:
        """Remove a document; True when it was there."""
        ...

    async def search(self, terms: list[str], limit: int, doc_type: str | None = None) -> list[SearchHit]:
        """Documents matching every term, best first; at most `limit`."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def query_terms(query: str) -> list[str]:
    """The words of a user's query, lower-cased and de-duplicated; operators and punctuation are ignored."""
    terms: list[str] = []
    for term in _TERM.findall(query[:MAX_QUERY_CHARS].lower()):
        if term not in terms:
            terms.append(term)
    return terms[:MAX_QUERY_TERMS]
