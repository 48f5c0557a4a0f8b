"""The search-index worker and the search service on SQLite FTS5 and on PostgreSQL, through a real Valkey."""

from __future__ import annotations

import sqlite3

import pytest

from corral.errors import ConfigurationError
from corral_reference.search import PostgresSearchIndex, SearchDocument, SqliteSearchIndex, open_search_index, search
from corral_reference.search.index import query_terms
from corral_reference.workers import search_index

from reference_peers.ai_search_peers import WorkerRig, postgres_schema

FILLERS = [
    ("article", f"filler-{n}", f"Weekly notes {n}", f"Notes about city cycling and bridges, issue {n}.", [])
    for n in range(6)
]
CORPUS = [
    # term in the title (and body): should rank first
    (
        "article",
        "compost-guide",
        "Compost for balconies",
        "Turn kitchen scraps into compost in a small bin.",
        ["garden"],
        "https://example.com/compost",
    ),
    # term only once, in a long body
    (
        "article",
        "flat-life",
        "Living in a small flat",
        "Small flats need clever storage, folding furniture, good light, quiet neighbours, plants on the sill, "
        "and perhaps a compost bin on the balcony if there is room for one.",
        ["home"],
        None,
    ),
    # term as a tag only, of another type
    ("page", "garden-club", "Garden club", "We meet on Sundays to share seeds.", ["compost", "seeds"], None),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def search_url(request):
    """Empty for the SQLite default, or a URL into a fresh PostgreSQL schema dropped after the test."""
    if request.param == "sqlite":
        yield ""
    else:
        with postgres_schema() as url:
            yield url


@pytest.fixture
async def rig(settings, valkey_url, engine):
    rig = WorkerRig(settings, valkey_url, engine)
    yield rig
    await rig.close()


def index_payload(doc_type, doc_id, title, body, tags, url=None):
    payload = {"docType": doc_type, "docId": doc_id, "title": title, "body": body, "tags": tags}
    if url:
        payload["url"] = url
    return payload


async def index_corpus(worker) -> None:
    for row in [*FILLERS, *CORPUS]:
        job = await worker.run("search.index", index_payload(*row))
        assert job.state == "completed", job.failed_reason
        assert job.return_value == {"docType": row[0], "docId": row[1], "indexed": True}


async def test_indexed_documents_are_found_ranked(rig, start_runtime, settings, search_url) -> None:
    # Given the search-index worker on the configured back-end
    async with rig.running(start_runtime, "system", search_index.register, search_url=search_url) as worker:
        # When a corpus is indexed through search.index jobs
        await index_corpus(worker)
    index = open_search_index(settings.model_copy(update={"search_url": search_url}))
    try:
        # Then a search finds every document mentioning the term, the title match first
        hits = await search(index, "compost")
        assert [hit.doc_id for hit in hits][0] == "compost-guide"
        assert {hit.doc_id for hit in hits} == {"compost-guide", "flat-life", "garden-club"}
        assert hits[0].score > hits[-1].score
        assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
        # And hits carry the document's fields and a snippet of its body
        first = hits[0].as_dict()
        assert first["docType"] == "article" and first["title"] == "Compost for balconies"
        assert first["url"] == "https://example.com/compost" and first["tags"] == ["garden"]
        assert "compost" in first["snippet"].lower()
        # And every word must match, stemming applies, and the type filter narrows the hits
        assert [hit.doc_id for hit in await search(index, "compost balcony")] == ["compost-guide", "flat-life"]
        assert [hit.doc_id for hit in await search(index, "composting balconies")][0] == "compost-guide"
        assert [hit.doc_id for hit in await search(index, "compost", doc_type="page")] == ["garden-club"]
        assert [hit.doc_id for hit in await search(index, "seeds")] == ["garden-club"]
        assert len(await search(index, "notes", limit=3)) == 3
        assert await search(index, "submarine") == []
    finally:
        await index.close()


async def test_reindexing_replaces_and_remove_deletes(rig, start_runtime, settings, search_url) -> None:
    async with rig.running(start_runtime, "system", search_index.register, search_url=search_url) as worker:
        # Given an indexed document
        await worker.run("search.index", index_payload("article", "a1", "Old title about tulips", "Tulips.", []))
        # When it is indexed again with new content
        await worker.run("search.index", index_payload("article", "a1", "New title about roses", "Roses.", ["red"]))
        index = open_search_index(settings.model_copy(update={"search_url": search_url}))
        try:
            # Then only the new version is found, once
            assert await search(index, "tulips") == []
            [hit] = await search(index, "roses")
            assert (hit.doc_id, hit.title, hit.tags) == ("a1", "New title about roses", ["red"])
            # When it is removed, twice
            first = await worker.run("search.remove", {"docType": "article", "docId": "a1"})
            second = await worker.run("search.remove", {"docType": "article", "docId": "a1"})
            # Then the first removal found it, the second did not, and searches no longer find it
            assert first.return_value == {"docType": "article", "docId": "a1", "removed": True}
            assert second.return_value == {"docType": "article", "docId": "a1", "removed": False}
            assert await search(index, "roses") == []
        finally:
            await index.close()


@pytest.mark.parametrize(
    "query",
    ['"unbalanced', "NOT", "a*b(", "title:roses", "'; DROP TABLE search_documents; --", "roses OR", "   ", "¿¡"],
)
async def test_query_syntax_from_users_is_never_interpreted(tmp_path, query) -> None:
    # Given a SQLite index with one document
    index = SqliteSearchIndex(tmp_path / "search.db")
    await index.index(SearchDocument("article", "a1", "Roses", "Red roses and a title.", []))
    # When a query full of FTS5 operators and quotes runs
    hits = await search(index, query)
    # Then it is read as plain words: no error, and a hit only when every word matches
    expected = ["a1"] if query_terms(query) and all(t in ("roses", "title") for t in query_terms(query)) else []
    assert [hit.doc_id for hit in hits] == expected
    await index.close()
    # And the table is still there
    with sqlite3.connect(tmp_path / "search.db") as connection:
        assert connection.execute("SELECT count(*) FROM search_documents").fetchone() == (1,)


async def test_search_service_validates_its_limit(tmp_path) -> None:
    index = SqliteSearchIndex(tmp_path / "search.db")
    with pytest.raises(ValueError, match="limit"):
        await search(index, "roses", limit=0)
    with pytest.raises(ValueError, match="limit"):
        await search(index, "roses", limit=101)
    await index.close()


def test_back_end_follows_settings(settings) -> None:
    default = open_search_index(settings)
    assert isinstance(default, SqliteSearchIndex) and default.path == settings.data_dir / "search.db"
    postgres = open_search_index(settings.model_copy(update={"search_url": "postgresql+psycopg://u@db:5432/app"}))
    assert isinstance(postgres, PostgresSearchIndex) and postgres.url == "postgresql://u@db:5432/app"
    with pytest.raises(ConfigurationError, match="search_url"):
        open_search_index(settings.model_copy(update={"search_url": "elasticsearch://localhost:9200"}))
