"""Full-text search for the search-index worker: SQLite FTS5 by default, PostgreSQL by URL."""

from __future__ import annotations

from corral.errors import ConfigurationError
from corral.settings import Settings
from corral_reference.search.index import MAX_LIMIT, SearchDocument, SearchHit, SearchIndex, query_terms
from corral_reference.search.postgres import PostgresSearchIndex
from corral_reference.search.sqlite import SqliteSearchIndex
from corral_reference.settings import ReferenceSettings

__all__ = [
    "PostgresSearchIndex",
    "SearchDocument",
    "SearchHit",
    "SearchIndex",
    "SqliteSearchIndex",
    "open_search_index",
    "search",
]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_search_index(settings: Settings) -> SearchIndex:
    """The index the settings choose: `<data_dir>/search.db` when `search_url` is empty, else PostgreSQL."""
    settings = ReferenceSettings.of(settings)
    url = settings.search_url
    if not url:
        return SqliteSearchIndex(settings.data_dir / "search.db")
    if url.startswith(POSTGRES_SCHEMES):
        return PostgresSearchIndex(url)
    if url.startswith("postgresql+"):
        # An SQLAlchemy-style URL (postgresql+psycopg://): psycopg wants the plain scheme.
        return PostgresSearchIndex("postgresql://" + url.split("://", 1)[1])
    raise ConfigurationError("search_url: leave empty for SQLite FTS5, or give a postgresql:// URL")


async def search(index: SearchIndex, query: str, *, limit: int = 10, doc_type: str | None = None) -> list[SearchHit]:
    """Ranked hits for a free-text query (every word must match); an empty or punctuation-only query finds nothing."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    return await index.search(query_terms(query), limit, doc_type)
