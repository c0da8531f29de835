"""The plot embedding's weight follows the catalog's share of films with curated keywords,
and the store counts those films as tags are saved, changed and dropped."""

import random

import pytest

from service.core.catalog import build_catalog, embedding_weight
from service.core.simparams import SimilarityParams
from service.storage.tags import COUNTED


def test_the_count_follows_saves_changes_and_drops(store):
    rng = random.Random(4)
    has_keywords: dict[str, bool] = {}
    for step in range(60):
        fid = f"f{rng.randrange(12)}"
        if fid in has_keywords and rng.random() < 0.2:
            store.delete_film(fid)
            store.drop_tags(fid)
            del has_keywords[fid]
        else:
            if fid not in has_keywords:
                store.create_film({"id": fid, "title": fid})
            keywords = rng.random() < 0.5
            vector = {"genre:drama": 1.0, **({"kw:grief": 1.0} if keywords else {})}
            rev = store.get_film(fid)["rev"]
            assert store.save_tags(fid, {"rev": rev, "tags": {}}, vector)
            has_keywords[fid] = keywords
        stats = store.catalog_stats(["genre:drama"])
        assert stats["keyword_films"] == sum(has_keywords.values()), step
        assert set(stats["df"]) == {"genre:drama"}  # the count is no tag


def test_films_saved_before_the_count_are_counted_by_their_next_save(store, monkeypatch):
    from service.storage import tags as tag_index

    store.create_film({"id": "old", "title": "Old"})
    # as an earlier version saved it: keywords, but neither marked nor counted
    monkeypatch.setattr(tag_index, "_has_keywords", lambda vector: False)
    assert store.save_tags("old", {"rev": 1, "tags": {}}, {"kw:grief": 1.0})
    assert not store.get_tags("old")[COUNTED]
    assert store.catalog_stats([])["keyword_films"] == 0
    monkeypatch.undo()
    assert store.save_tags("old", {"rev": 1, "tags": {}}, {"kw:grief": 1.0})  # the same tags
    assert store.get_tags("old")[COUNTED]
    assert store.catalog_stats([])["keyword_films"] == 1


def films(n_keywords: int, n_text: int) -> list[dict]:
    out = []
    for i in range(n_keywords + n_text):
        vector = {"genre:drama": 1.0, f"plot:w{i % 3}": 1.0}
        if i < n_keywords:
            vector["kw:grief"] = 1.0
        out.append({"id": f"f{i}", "vector": vector, "year": 2000})
    return out


@pytest.mark.parametrize("n_keywords, n_text, share", [(10, 0, 1.0), (0, 10, 0.0), (3, 9, 0.25)])
def test_the_weight_moves_with_the_share(n_keywords, n_text, share):
    params = SimilarityParams(plot_embedding_weight=0.1, plot_embedding_weight_text=0.3)
    cat = build_catalog(films(n_keywords, n_text), params)
    assert cat.keyword_share == pytest.approx(share)
    assert embedding_weight(cat, params) == pytest.approx(0.1 * share + 0.3 * (1 - share))


def test_a_candidate_catalog_takes_the_share_from_the_stats():
    params = SimilarityParams()
    small = build_catalog(films(0, 4), params, stats={"n": 100, "keyword_films": 75})
    assert small.keyword_share == pytest.approx(0.75)
