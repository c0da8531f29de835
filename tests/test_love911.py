"""Love 911's related titles: themes on the seed catalog, and the right kinds of film after TMDB."""

import json
from pathlib import Path

import pytest

from service.core.borrow import lend
from service.core.similarity import build_catalog, related_rows
from service.core.tmdb import read_tmdb
from service.core.vocab import load_vocabulary
from workers.index import film_input
from workers.jobs import tag_film

ROOT = Path(__file__).resolve().parents[1]
THEME_KINDS = {
    "theme",
    "profession",
    "sport",
    "setting",
    "event",
    "relationship",
    "tone",
    "era",
    "keyword",
}


def seed_love_911() -> tuple[dict, list[dict]]:
    """Return Love 911 as a site adds it (German plot, genres, year, no keywords) and its review."""
    film = json.loads((ROOT / "seeds/films.jsonl").read_text(encoding="utf-8").splitlines()[0])
    reviews = [
        json.loads(line)
        for line in (ROOT / "seeds/reviews.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    film = {k: film[k] for k in ("id", "title", "year", "original_language", "genres")} | {
        "synopsis": {"de": film["synopsis"]["de"]}
    }
    return film, [r for r in reviews if r["film_id"] == film["id"]]


def test_each_seed_card_of_love_911_shares_a_theme_not_only_a_genre(client, seeded):
    vocab = load_vocabulary()
    body = client.get("/api/v1/films/love-911/recommendations?limit=12").get_json()
    assert len(body["results"]) == 12
    for item in body["results"]:
        kinds = {vocab.kind(r["tag"]) for r in item["reasons"]}
        assert kinds & THEME_KINDS, (item["title"], item["reasons"])


@pytest.fixture(scope="module")
def love_911_top_10_after_tmdb(tmdb_csv):
    """Return Love 911's top 10 after TMDB and the tags of every TMDB film, ranked in-process
    with the service's tagging and maths (bench/relevance.py does it through the service)."""
    films = [f for _, f in read_tmdb(tmdb_csv)]
    # what a full rebuild learns to lend (service/core/borrow.py): Love 911 borrows keywords
    borrower, _ = lend(films, load_vocabulary().ignores_keyword, 50000, 20, 20, 10)
    tagged = {f["id"]: tag_film({**f, "rev": 0}, [], borrower) for f in films}
    love, reviews = seed_love_911()
    inputs = [film_input(f["id"], tagged[f["id"]][1], f, tagged[f["id"]][2]) for f in films]
    _, love_vector, love_embedding = tag_film({**love, "rev": 0}, reviews, borrower)
    assert any(t.startswith("kwb:") for t in love_vector)
    inputs.append(film_input(love["id"], love_vector, love, love_embedding))
    cat = build_catalog(inputs)
    top = [other for other, _, _ in related_rows(cat, [cat.row_of["love-911"]])[0][:10]]
    return top, {fid: doc["tags"] for fid, (doc, _, _) in tagged.items()}


def holding(top_and_tags, *tags) -> list[str]:
    top, tags_of = top_and_tags
    return [fid for fid in top if {*tags} & set(tags_of[fid])]


def test_love_911_after_tmdb_lists_medical_and_grief_or_romance_films(love_911_top_10_after_tmdb):
    assert holding(love_911_top_10_after_tmdb, "medical", "doctor", "hospital", "malpractice")
    assert holding(love_911_top_10_after_tmdb, "grief", "widowhood", "romance")


def test_love_911_after_tmdb_lists_firefighter_films(love_911_top_10_after_tmdb):
    assert holding(love_911_top_10_after_tmdb, "firefighter")
