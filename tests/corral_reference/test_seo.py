"""The ai-seo worker: the SEO report's numbers and checks, meta fields, and both job types on a real Valkey."""

from __future__ import annotations

import random

import pytest

from corral_reference.seo import META_MAX_CHARS, analyze, meta_description, meta_fields, plain_text, slugify
from corral_reference.workers import ai_seo

from reference_peers.ai_search_peers import WorkerRig

KNOWN_BODY = "The cat sat on the mat. The dog ran to the big red ball.\n\nA cat and a dog can be friends."

# A body that passes every check: 300+ words, short sentences and paragraphs, the keyword at about 1.5 %.
GOOD_LEDE = (
    "Balcony composting lets anyone in a flat turn kitchen scraps into rich soil. "
    "This guide shows how to start with one small bin and a few minutes a week."
)
GOOD_PARAGRAPH = (
    "Choose a bin with a lid and small vents. Put it in a shady corner of the balcony. "
    "Add greens such as peel and coffee grounds, then browns such as paper and dry leaves. "
    "Keep the mix as damp as a wrung sponge. Stir it once a week so air reaches the middle. "
    "After a few months the bottom layer turns dark and crumbly, and it is ready for your pots."
)


@pytest.fixture
async def rig(settings, valkey_url, engine):
    rig = WorkerRig(settings, valkey_url, engine)
    yield rig
    await rig.close()


def good_body() -> str:
    middle = [GOOD_PARAGRAPH.replace("balcony", "balcony composting" if i % 2 else "balcony") for i in range(5)]
    return "\n\n".join([GOOD_LEDE, *middle])


def codes(report) -> list[str]:
    return [issue["code"] for issue in report["issues"]]


def test_report_numbers_on_a_known_text() -> None:
    # Given a text of 22 one-syllable words in 3 sentences and 2 paragraphs, with "cat" twice
    # When it is analysed with the focus keyword "cat"
    report = analyze("Cat and dog", KNOWN_BODY, "cat")
    # Then the counts are exact
    assert report["counts"] == {
        "words": 22,
        "sentences": 3,
        "paragraphs": 2,
        "characters": 89,
        "readingTimeMinutes": 1,
    }
    # And readability follows the Flesch formulas with 22 syllables (textstat, English)
    words_per_sentence, syllables_per_word = 22 / 3, 22 / 22
    flesch = 206.835 - 1.015 * words_per_sentence - 84.6 * syllables_per_word
    grade = 0.39 * words_per_sentence + 11.8 * syllables_per_word - 15.59
    assert report["readability"] == {
        "fleschReadingEase": round(flesch, 2),
        "fleschKincaidGrade": round(grade, 2),
        "level": "very easy",
    }
    # And the keyword density is 2 / 22 = 9.09 %, found in the title, intro, meta description and slug
    assert report["keyword"] == {
        "focus": "cat",
        "occurrences": 2,
        "density": 9.09,
        "inTitle": True,
        "inIntro": True,
        "inMetaDescription": True,
        "inSlug": True,
    }
    assert report["topKeywords"][:2] == [
        {"keyword": "cat", "count": 2, "density": 9.09},
        {"keyword": "dog", "count": 2, "density": 9.09},
    ]
    assert report["sentences"] == {"averageWords": 7.33, "overLimit": 0, "limitWords": 20}
    assert report["paragraphs"] == {"averageWords": 11.0, "overLimit": 0, "limitWords": 150}
    # And the issues and score follow: warning -10, info -3, two errors -20 each
    assert codes(report) == ["title-too-short", "meta-description-short", "content-thin", "keyword-stuffing"]
    assert all(issue["suggestion"] for issue in report["issues"])
    assert report["score"] == 100 - 10 - 3 - 20 - 20


def test_a_well_written_article_has_no_issues() -> None:
    # Given a 300+ word article with the keyword in its title, lede and at a moderate density
    body = good_body()
    # When it is analysed
    report = analyze("Balcony composting: a beginner's guide for flats", body, "balcony composting")
    # Then nothing is flagged and the score is full
    assert report["issues"] == [], report["issues"]
    assert report["score"] == 100
    assert 0.5 <= report["keyword"]["density"] <= 2.5
    assert report["title"]["ok"] and report["metaDescription"]["ok"]


def test_structure_and_keyword_checks_flag_problems() -> None:
    # Given one long paragraph of long sentences that never uses the focus keyword, under a very long title
    sentence = (
        "Municipal waste management programmes increasingly encourage residents of apartment buildings "
        "to separate all organic material from general refuse before weekly collection."
    )
    body = " ".join([sentence] * 12)
    title = "A comprehensive examination of organic waste separation policies in contemporary cities"
    # When it is analysed for "balcony composting"
    report = analyze(title, body, "balcony composting")
    # Then long sentences and paragraphs, hard reading and every keyword problem are reported
    assert {
        "title-too-long",
        "content-short",
        "long-sentences",
        "long-paragraphs",
        "hard-to-read",
        "keyword-not-in-title",
        "keyword-not-in-intro",
        "keyword-density-low",
    } <= set(codes(report))
    assert report["sentences"]["overLimit"] == 12 and report["paragraphs"]["overLimit"] == 1
    assert report["readability"]["fleschReadingEase"] < 50
    assert report["keyword"]["occurrences"] == 0 and report["keyword"]["density"] == 0.0


def test_without_a_focus_keyword_the_report_suggests_one() -> None:
    report = analyze("Balcony composting: a beginner's guide for flats", good_body())
    assert report["keyword"] is None
    [issue] = report["issues"]
    assert issue["code"] == "no-focus-keyword" and "'balcony'" in issue["suggestion"]
    assert report["score"] == 97


def test_markup_is_read_as_text() -> None:
    # Given a body in HTML with a script, and one in Markdown
    html_body = "<h1>Title</h1><p>Hello <b>world</b> &amp; friends.</p><script>var x = 1;</script>"
    markdown = "# Heading\n\nSome **bold** words and a [link](https://example.com).\n\n- a list item"
    # Then only the readable words remain
    assert plain_text(html_body).split() == ["Title", "Hello", "world", "&", "friends."]
    assert " ".join(plain_text(markdown).split()) == "Heading Some bold words and a link. a list item"


@pytest.mark.parametrize("seed", range(40))
def test_meta_description_never_exceeds_160_characters(seed) -> None:
    # Given a random body of words of random lengths in sentences of random lengths
    rng = random.Random(seed)
    sentences = []
    for _ in range(rng.randint(1, 12)):
        words = ["".join(rng.choices("abcdefghij", k=rng.randint(1, 14))) for _ in range(rng.randint(1, 40))]
        sentences.append(" ".join(words).capitalize() + ".")
    body = " ".join(sentences)
    # When its meta description is derived
    description = meta_description(body)
    # Then it fits in 160 characters and is the body's opening, cut at a word boundary when cut
    assert 0 < len(description) <= META_MAX_CHARS
    if description.endswith("…"):
        kept = description[:-1]
        assert body.startswith(kept) and body[len(kept)] in " .", (body, description)
    else:
        assert body.startswith(description)


def test_meta_description_prefers_whole_sentences() -> None:
    # Given an opening whose first two sentences fit in 160 characters
    body = good_body()
    # Then the description is exactly those sentences
    assert meta_description(body) == GOOD_LEDE
    # And a single over-long sentence is cut at a word with an ellipsis
    long_sentence = "word " * 60
    description = meta_description(long_sentence)
    assert len(description) == 160 and description.endswith("word…")


def test_slugs() -> None:
    assert slugify("Crème brûlée: the Ultimate Guide — 2024!") == "creme-brulee-the-ultimate-guide-2024"
    assert slugify("Über Straßen in Köln") == "uber-straßen-in-koln"
    assert slugify("東京の 観光") == "東京の-観光"
    assert slugify("!!!") == "article"
    long = slugify("composting " * 20)
    assert len(long) <= 80 and long.endswith("composting") and not long.endswith("-")


async def test_seo_jobs_run_through_the_worker(rig, start_runtime) -> None:
    # Given the ai-seo worker consuming the ai queue
    async with rig.running(start_runtime, "ai", ai_seo.register) as worker:
        # When an analyze job and a meta job run for the same article
        title = "Balcony composting: a beginner's guide for flats"
        payload = {"articleId": "art-9", "title": title, "body": good_body(), "focusKeyword": "balcony composting"}
        report_job = await worker.run("ai.seo.analyze", payload)
        meta_job = await worker.run("ai.seo.meta", {"articleId": "art-9", "title": title, "body": good_body()})
    # Then the report is the article's, with a full score
    assert report_job.state == "completed", report_job.failed_reason
    report = report_job.return_value
    assert report["articleId"] == "art-9" and report["score"] == 100
    assert report == {"articleId": "art-9", **analyze(title, good_body(), "balcony composting")}
    # And the meta fields are the description, the slug and the leading keywords
    assert meta_job.state == "completed", meta_job.failed_reason
    meta = meta_job.return_value
    expected = meta_fields(title, good_body())
    assert meta == {
        "articleId": "art-9",
        "description": expected.description,
        "slug": "balcony-composting-a-beginner-s-guide-for-flats",
        "keywords": expected.keywords,
    }
    assert meta["description"] == GOOD_LEDE and len(meta["description"]) <= 160
    assert meta["keywords"][0] == "balcony" and "composting" in meta["keywords"] and len(meta["keywords"]) == 8
