"""PostgreSQL search back-end: a weighted tsvector column with a GIN index, ranked by ts_rank."""

from __future__ import annotations

import asyncio
import json
import re

import psycopg
from psycopg import sql

from corral.errors import ConfigurationError
from corral_reference.search.index import SNIPPET_WORDS, SearchDocument, SearchHit

DEFAULT_TABLE = "corral_search_documents"
TEXT_CONFIG = "english"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_HEADLINE_OPTIONS = f'StartSel="",StopSel="",MaxWords={SNIPPET_WORDS},MinWords=8,MaxFragments=1,FragmentDelimiter=" … "'

_SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (
    doc_type TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    tags JSONB NOT NULL,
    url TEXT,
    document TSVECTOR NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (doc_type, doc_id)
);
CREATE INDEX IF NOT EXISTS {index} ON {table} USING GIN (document);
"""

# Title matches weigh most (A), then tags (B), then the body (C).
_UPSERT = """
INSERT INTO {table} (doc_type, doc_id, title, body, tags, url, document, updated_at)
VALUES (%(doc_type)s, %(doc_id)s, %(title)s, %(body)s, %(tags)s, %(url)s,
        setweight(to_tsvector(%(config)s::regconfig, %(title)s), 'A')
        || setweight(to_tsvector(%(config)s::regconfig, %(tags_text)s), 'B')
        || setweight(to_tsvector(%(config)s::regconfig, %(body)s), 'C'),
        now())
ON CONFLICT (doc_type, doc_id) DO UPDATE SET
    title = excluded.title, body = excluded.body, tags = excluded.tags, url = excluded.url,
    document = excluded.document, updated_at = excluded.updated_at
"""

# Rank first, then build headlines only for the rows returned (ts_headline re-parses the body).
_SEARCH = """
SELECT hit.doc_type, hit.doc_id, hit.title, hit.tags, hit.url,
       ts_headline(%(config)s::regconfig, hit.body, hit.query, %(headline)s), hit.rank
FROM (
    SELECT d.doc_type, d.doc_id, d.title, d.body, d.tags, d.url, q.query, ts_rank(d.document, q.query) AS rank
    FROM {table} AS d, plainto_tsquery(%(config)s::regconfig, %(query)s) AS q(query)
    WHERE d.document @@ q.query AND (%(doc_type)s::text IS NULL OR d.doc_type = %(doc_type)s)
    ORDER BY rank DESC, d.doc_type, d.doc_id
    LIMIT %(limit)s
) AS hit
ORDER BY hit.rank DESC, hit.doc_type, hit.doc_id
"""


class PostgresSearchIndex:
    """Full-text index in one PostgreSQL table; one connection per worker process, used one query at a time."""

    def __init__(self, url: str, table: str = DEFAULT_TABLE) -> None:
        if not _IDENTIFIER.match(table):
            raise ConfigurationError(f"search table name {table!r} must be a lower-case SQL identifier")
        self.url = url
        self.table = table
        self._connection: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._lock = asyncio.Lock()

    def _sql(self, template: str) -> sql.Composed:
        return sql.SQL(template).format(table=sql.Identifier(self.table), index=sql.Identifier(f"{self.table}_fts"))

    async def _connect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        if self._connection is None or self._connection.closed or self._connection.broken:
            connection = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
            async with connection.transaction():
                # Serialise schema creation: concurrent CREATE ... IF NOT EXISTS can still collide.
                await connection.execute("SELECT pg_advisory_xact_lock(hashtext('corral_reference.search.schema'))")
                await connection.execute(self._sql(_SCHEMA))
            self._connection = connection
        return self._connection

    async def index(self, document: SearchDocument) -> None:
        """Insert or replace the document on (doc_type, doc_id)."""
        params = {
            "doc_type": document.doc_type,
            "doc_id": document.doc_id,
            "title": document.title,
            "body": document.body,
            "tags": json.dumps(document.tags),
            "tags_text": " ".join(document.tags),
            "url": document.url,
            "config": TEXT_CONFIG,
        }
        async with self._lock:
            connection = await self._connect()
            await connection.execute(self._sql(_UPSERT), params)

    async def remove(self, doc_type: str, doc_id: str) -> bool:
        """Delete the document; True when it existed."""
        statement = self._sql("DELETE FROM {table} WHERE doc_type = %s AND doc_id = %s")
        async with self._lock:
            connection = await self._connect()
            cursor = await connection.execute(statement, (doc_type, doc_id))
            return cursor.rowcount > 0

    async def search(self, terms: list[str], limit: int, doc_type: str | None = None) -> list[SearchHit]:
        """Documents matching every term (English stemming, stop words ignored), ranked by ts_rank."""
        if not terms:
            return []
        params = {
            "config": TEXT_CONFIG,
            "query": " ".join(terms),
            "headline": _HEADLINE_OPTIONS,
            "doc_type": doc_type,
            "limit": limit,
        }
        async with self._lock:
            connection = await self._connect()
            cursor = await connection.execute(self._sql(_SEARCH), params)
            rows = await cursor.fetchall()
        return [
            SearchHit(
                doc_type=str(row[0]),
                doc_id=str(row[1]),
                title=str(row[2]),
                snippet=str(row[5]),
                score=float(str(row[6])),
                url=None if row[4] is None else str(row[4]),
                tags=[str(tag) for tag in row[3]] if isinstance(row[3], list) else [],
            )
            for row in rows
        ]

    async def close(self) -> None:
        """Close the connection."""
        async with self._lock:
            if self._connection is not None:
                await self._connection.close()
                self._connection = None
