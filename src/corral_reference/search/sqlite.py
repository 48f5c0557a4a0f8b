"""SQLite FTS5 search back-end: a documents table, an external-content FTS5 index kept in sync by triggers."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from pathlib import Path

from corral_reference.search.index import SNIPPET_WORDS, SearchDocument, SearchHit

# bm25 column weights: title, body, tags. A title match outranks the same match in the body.
TITLE_WEIGHT, BODY_WEIGHT, TAGS_WEIGHT = 10.0, 1.0, 5.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS search_documents (
    id INTEGER PRIMARY KEY,
    doc_type TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    tags TEXT NOT NULL,
    tags_text TEXT NOT NULL,
    url TEXT,
    updated_at REAL NOT NULL,
    UNIQUE (doc_type, doc_id)
);
CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(
    title, body, tags_text,
    content='search_documents', content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS search_documents_ai AFTER INSERT ON search_documents BEGIN
    INSERT INTO search_fts(rowid, title, body, tags_text) VALUES (new.id, new.title, new.body, new.tags_text);
END;
CREATE TRIGGER IF NOT EXISTS search_documents_ad AFTER DELETE ON search_documents BEGIN
    INSERT INTO search_fts(search_fts, rowid, title, body, tags_text)
    VALUES ('delete', old.id, old.title, old.body, old.tags_text);
END;
CREATE TRIGGER IF NOT EXISTS search_documents_au AFTER UPDATE ON search_documents BEGIN
    INSERT INTO search_fts(search_fts, rowid, title, body, tags_text)
    VALUES ('delete', old.id, old.title, old.body, old.tags_text);
    INSERT INTO search_fts(rowid, title, body, tags_text) VALUES (new.id, new.title, new.body, new.tags_text);
END;
"""

_UPSERT = """
INSERT INTO search_documents (doc_type, doc_id, title, body, tags, tags_text, url, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (doc_type, doc_id) DO UPDATE SET
    title = excluded.title, body = excluded.body, tags = excluded.tags,
    tags_text = excluded.tags_text, url = excluded.url, updated_at = excluded.updated_at
"""

_SEARCH = f"""
SELECT d.doc_type, d.doc_id, d.title, d.tags, d.url,
       snippet(search_fts, 1, '', '', '…', {SNIPPET_WORDS}) AS snippet,
       bm25(search_fts, {TITLE_WEIGHT}, {BODY_WEIGHT}, {TAGS_WEIGHT}) AS rank
FROM search_fts JOIN search_documents AS d ON d.id = search_fts.rowid
WHERE search_fts MATCH ? AND (? IS NULL OR d.doc_type = ?)
ORDER BY rank, d.doc_type, d.doc_id
LIMIT ?
"""


def fts5_query(terms: list[str]) -> str:
    """An FTS5 MATCH expression requiring every term; each is quoted so user input is never FTS5 syntax."""
    return " ".join('"' + term.replace('"', '""') + '"' for term in terms)


class SqliteSearchIndex:
    """Full-text index in one SQLite file with FTS5 and bm25 ranking; safe to share between worker processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA busy_timeout=10000")
            connection.executescript(_SCHEMA)
            self._connection = connection
        return self._connection

    def _index(self, document: SearchDocument) -> None:
        with self._lock:
            connection = self._connect()
            connection.execute(
                _UPSERT,
                (
                    document.doc_type,
                    document.doc_id,
                    document.title,
                    document.body,
                    json.dumps(document.tags),
                    " ".join(document.tags),
                    document.url,
                    time.time(),
                ),
            )

    def _remove(self, doc_type: str, doc_id: str) -> bool:
        with self._lock:
            cursor = self._connect().execute(
                "DELETE FROM search_documents WHERE doc_type = ? AND doc_id = ?", (doc_type, doc_id)
            )
            return cursor.rowcount > 0

    def _search(self, terms: list[str], limit: int, doc_type: str | None) -> list[SearchHit]:
        if not terms:
            return []
        with self._lock:
            rows = self._connect().execute(_SEARCH, (fts5_query(terms), doc_type, doc_type, limit)).fetchall()
        return [
            SearchHit(
                doc_type=row[0],
                doc_id=row[1],
                title=row[2],
                snippet=row[5],
                score=-float(row[6]),  # bm25 is lower-is-better; hits carry higher-is-better scores
                url=row[4],
                tags=list(json.loads(row[3])),
            )
            for row in rows
        ]

    async def index(self, document: SearchDocument) -> None:
        """Insert or replace the document on (doc_type, doc_id)."""
        await asyncio.to_thread(self._index, document)

    async def remove(self, doc_type: str, doc_id: str) -> bool:
        """Delete the document; True when it existed."""
        return await asyncio.to_thread(self._remove, doc_type, doc_id)

    async def search(self, terms: list[str], limit: int, doc_type: str | None = None) -> list[SearchHit]:
        """Documents containing every term (stemmed, accents folded), ranked by weighted bm25."""
        return await asyncio.to_thread(self._search, terms, limit, doc_type)

    async def close(self) -> None:
        """Close the database file."""

        def close() -> None:
            with self._lock:
                if self._connection is not None:
                    self._connection.close()
                    self._connection = None

        await asyncio.to_thread(close)
