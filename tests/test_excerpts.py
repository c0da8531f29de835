"""Tests for excerpts stored by reference (service/core/excerpts.py) and read back by the API."""

import json

import pytest

from service.core.excerpts import by_reference, needs_reviews, resolved
from service.core.tagging import extract_tags
from service.core.vocab import load_vocabulary
from service.storage import documents

SYNOPSIS = (
    "Ein Film über Verlust. Der verwitwete Feuerwehrmann trauert um seine Frau, "
    + "und jeden Abend sitzt er allein am Fluss, " * 6
    + "bis ihn eine Ärztin rettet."
)
FILM = {"id": "f1", "synopsis": {"de": SYNOPSIS}, "keywords": ["firemen"]}
REVIEWS = [
    {"id": "r1", "language": "en", "body": "A sweet film. The fireman grieves for his wife."}
]


@pytest.fixture(scope="module")
def tags():
    return extract_tags(FILM, REVIEWS, load_vocabulary())


def quotes(tags: dict) -> list[dict]:
    return [e for info in tags.values() for e in info["excerpts"]]


def test_excerpts_are_stored_as_where_they_stand_and_read_back_the_same(tags):
    stored = by_reference(tags, FILM, REVIEWS)
    assert quotes(tags) and all("at" in e and "text" not in e for e in quotes(stored))
    # a long sentence is quoted cut short, with "…": that reads back too
    assert any(e["text"].endswith("…") for e in quotes(tags))
    assert needs_reviews(stored)
    assert resolved(stored, FILM, REVIEWS) == tags
    # the stored document no longer repeats the film's sentences
    assert "Feuerwehrmann trauert" not in json.dumps(stored, ensure_ascii=False)
    assert len(json.dumps(stored)) < len(json.dumps(tags))


def test_a_quote_the_texts_no_longer_hold_is_left_out_never_shown_wrong(tags):
    stored = by_reference(tags, FILM, REVIEWS)
    edited = {**FILM, "synopsis": {"de": SYNOPSIS.replace("Feuerwehrmann", "Bademeister")}}
    read = resolved(stored, edited, REVIEWS)
    texts = [e["text"] for e in quotes(read)]
    assert texts and not any("Bademeister" in t or "Feuerwehrmann" in t for t in texts)
    assert any("fireman" in t for t in texts)  # the review's quote is unchanged
    # without its reviews a review's quote cannot be read: it is left out as well
    assert all(e["source"] == "synopsis" for e in quotes(resolved(stored, FILM, [])))


def test_a_quote_not_found_word_for_word_keeps_its_text():
    tags = {
        "grief": {
            "weight": 0.6,
            "excerpts": [{"source": "review", "words": ["x"], "text": "elsewhere"}],
        }
    }
    assert by_reference(tags, FILM, REVIEWS) == tags  # and a review without an id has none
    assert by_reference(tags, FILM, [{"body": "elsewhere"}]) == tags
    assert resolved(tags, FILM, REVIEWS) == tags


def test_the_api_stores_references_and_shows_the_sentences(client, seeded, run_jobs):
    raw = seeded.r.get(seeded.keys.tags("love-911"))
    stored = json.loads(documents.tags_json(raw))["tags"]
    assert all("at" in e for e in quotes(stored))
    body = client.get("/api/v1/films/love-911/tags").get_json()
    shown = [e for t in body["tags"] for e in t["excerpts"]]
    assert len(shown) == len(quotes(stored))
    assert all(set(e) == {"source", "words", "text"} for e in shown)
    assert any(e["source"] == "review" for e in shown)  # read from the stored reviews
    film = client.get("/api/v1/films/love-911").get_json()
    synopsis = film["synopsis"]["de"]
    assert all(e["text"].strip("…") in synopsis for e in shown if e["source"] == "synopsis")
