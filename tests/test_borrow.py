"""Borrowed keywords (service/core/borrow.py): what a film without keywords borrows, from
whom, how it ranks with them, and how a rebuild and a refresh bring them to the store."""

import pytest

from service.core.borrow import Borrower, borrow_text, lend, mirror_df, mirrored, twin
from service.core.similarity import SimilarityParams, build_catalog, related_rows
from service.core.vocab import load_vocabulary
from service.recommendations import labelled_reasons
from workers.jobs import tag_film, tag_films

STORIES = {  # three kinds of story, ten films each, told in other words each time
    ("firefighter", "rescue"): "firefighters {} a burning {} and rescue the {} from the flames",
    ("doctor", "hospital"): "a surgeon {} patients in a {} hospital ward while the {} waits",
    ("sailing", "ocean"): "a sailor {} across the ocean on a {} yacht chasing the {} storm",
}
FILLERS = [
    "brave",
    "quiet",
    "old",
    "young",
    "northern",
    "small",
    "lonely",
    "famous",
    "tired",
    "new",
]


OTHERS = "chef detective painter pilot farmer judge dancer miner baker tailor".split()


def lenders() -> list[dict]:
    # 30 films of other stories, so that no story's words are in 30% of the texts (those
    # say little, as "Drama" does: the TF-IDF leaves them out)
    films = [
        {
            "id": f"other-{i}-{j % 10}",
            "title": f"The {who.title()}",
            "keywords": [f"{who} life"],
            "synopsis": {"en": f"a {who} in the {FILLERS[i % 10]} town meets a {OTHERS[j]}"},
            "vote_count": 10,
        }  # fmt: skip
        for i, who in enumerate(OTHERS)
        for j in (i - 1, i - 2, i - 3)
    ]
    for (a, b), story in STORIES.items():
        for i, word in enumerate(FILLERS):
            films.append({
                "id": f"{a}-{i}",
                "title": f"{a.title()} {word.title()}",
                "synopsis": {"en": story.format(word, FILLERS[-1 - i], FILLERS[(i + 3) % 10])},
                "keywords": [a, b, f"only {a} {i}"],
                "vote_count": 100 + i,
            })  # fmt: skip
    return films


@pytest.fixture(scope="module")
def borrower() -> Borrower:
    made, lent = lend(lenders(), load_vocabulary().ignores_keyword, 1000, 20, k=5, n=3)
    assert lent == 60
    return made


def test_a_film_borrows_the_keywords_of_the_films_that_read_alike(borrower):
    (got,) = borrower.borrow(["A young firefighter must rescue a family from a burning house"])
    assert list(got)[:2] == ["kwb:firefighter", "kwb:rescue"]  # held by all five neighbours
    assert got["kwb:firefighter"] == 1.0 and all(0 < w <= 1 for w in got.values())
    assert not any("doctor" in t or "sailing" in t for t in got)
    # a German plot reads as its gloss, as the plot embedding reads it
    film = {"title": "Die Wache", "synopsis": {"de": "Ein Feuerwehrmann rettet eine Familie."}}
    (german,) = borrower.borrow([borrow_text(film)])
    assert "kwb:firefighter" in german
    assert borrower.borrow(["zzz qqq"]) == [{}]  # no word in common: nothing borrowed


def test_the_stored_borrower_lends_the_same(borrower):
    # the rows are stored as term counts; their weights are scikit-learn's TF-IDF again
    texts = [borrow_text(f) for f in lenders()]
    made = Borrower.build(texts, [f["keywords"] for f in lenders()])
    assert abs(made.rows - made.vectorizer.transform(texts)).max() < 1e-6
    again = Borrower.from_bytes(borrower.to_bytes())
    assert again.lenders == borrower.lenders and len(borrower.lenders) == 60
    assert abs(again.rows - borrower.rows).max() == 0
    texts = ["a surgeon in a hospital", "a storm at sea", "firefighters and flames"]
    assert again.borrow(texts) == borrower.borrow(texts)


def test_only_enough_films_with_keywords_lend_the_most_voted_first():
    ignores = load_vocabulary().ignores_keyword
    films = lenders() + [{"id": "bare", "title": "Bare", "synopsis": {"en": "x"}}]
    assert lend(films, ignores, 1000, 61, 5, 3) == (None, 0)  # 60 lenders: too few
    few, lent = lend(films, ignores, 12, 2, 5, 3)
    assert lent == 12 and len(few.rows.indptr) == 13
    # the 12 most voted lend: four of each story (votes 106-109)
    assert {kw for kw in few.keywords if kw.startswith("only")} == {
        f"only {a} {i}" for a in ("firefighter", "doctor", "sailing") for i in range(6, 10)
    }


def test_only_a_film_without_curated_keywords_borrows(borrower):
    plain = {"rev": 1, "title": "Flammen", "synopsis": {"en": "Firefighters rescue a child."}}
    _, vector, _ = tag_film(plain, [], borrower)
    assert "kwb:firefighter" in vector and not any(t.startswith("kw:") for t in vector)
    _, curated, _ = tag_film({**plain, "keywords": ["fire"]}, [], borrower)
    assert not any(t.startswith("kwb:") for t in curated)
    assert tag_film(plain, [], None)[1] == {t: w for t, w in vector.items() if "kwb:" not in t}


def test_a_batch_borrows_for_each_film_what_it_would_alone(borrower):
    # tag_films borrows for the films without keywords of a chunk in one call: each film
    # gets what tag_film gives it alone, its blocked tags left out, a German plot glossed
    films = [
        ({"rev": 1, "title": "Flammen", "synopsis": {"en": "Firefighters rescue a child."}}, []),
        ({"rev": 1, "title": "Kai", "keywords": ["fire"], "synopsis": {"en": "A sailor."}}, []),
        ({"rev": 2, "title": "Station", "synopsis": {"de": "Eine Chirurgin rettet Patienten."}},
         [{"language": "en", "body": "A surgeon in a hospital ward."}]),
        ({"rev": 1, "title": "See", "synopsis": {"en": "A sailor crosses the ocean."},
          "blocked_tags": ["kwb:sailing"]}, []),
        ({"rev": 1, "title": "Leer"}, []),
    ]  # fmt: skip
    batch = tag_films(films, borrower)
    assert batch == [tag_film(film, reviews, borrower) for film, reviews in films]
    vectors = [vector for _, vector, _ in batch]
    assert "kwb:doctor" in vectors[2] and "kwb:ocean" in vectors[3]
    assert "kwb:sailing" not in vectors[3] and not any("kwb:" in t for t in vectors[1])


def test_curated_keywords_count_as_borrowed_ones_too():
    vector = {"kw:fire": 1.0, "genre:drama": 1.0}
    assert mirrored(vector) == {**vector, "kwb:fire": 1.0}
    assert mirrored({"genre:drama": 1.0}) == {"genre:drama": 1.0}
    assert twin("kwb:fire") == "kw:fire"
    assert mirror_df({"kw:fire": 3, "kwb:fire": 2, "kwb:sea": 1}) == {
        "kw:fire": 3,
        "kwb:fire": 5,
        "kwb:sea": 1,
    }


def film(fid, vector, votes=100):
    return {"id": fid, "vector": vector, "year": 2000, "original_language": "en",
            "vote_count": votes, "vote_average": 7.0}  # fmt: skip


def test_a_borrowed_keyword_finds_the_films_that_hold_it_and_reads_as_the_plot():
    params = SimilarityParams(year_scale=0, lang_penalty=0, pop_weight=0, consensus_weight=0)
    keyword_films = [
        film("ladder", {"kw:firefighter": 1.0, "genre:drama": 1.0, "kw:rescue": 1.0}),
        film("tower", {"kw:firefighter": 1.0, "genre:action": 1.0}),
        film("ward", {"kw:doctor": 1.0, "genre:drama": 1.0}),
        film("other", {"kw:doctor": 1.0, "kw:rescue": 1.0, "genre:action": 1.0}),
    ]
    site = film("site", {"genre:comedy": 1.0, "kwb:firefighter": 1.0, "kwb:rescue": 0.5})
    cat = build_catalog([*keyword_films, site], params)
    got = related_rows(cat, [cat.row_of["site"]], params)[0]
    assert [o for o, _, _ in got][:2] == ["ladder", "tower"]  # shares nothing else
    chips = labelled_reasons([list(r) for r in got[0][2]], "de")
    assert [c["label"] for c in chips] == ["Ähnliche Handlung"]
    assert cat.matrix.nnz == 13 + 6  # each film's tags, and its keywords as borrowed ones
    # a film with curated keywords ranks as before: the borrowed ones are not its to share
    alone = build_catalog([*keyword_films, {**site, "vector": {"genre:comedy": 1.0}}], params)
    assert "kwb" not in alone.family_names  # where no film borrowed, nothing is mirrored
    for fid in ("ladder", "ward"):
        assert related_rows(cat, [cat.row_of[fid]], params) == related_rows(
            alone, [alone.row_of[fid]], params
        )


def test_a_rebuild_learns_to_lend_and_a_new_film_borrows(app, client, store, run_jobs):
    from service.queue import enqueue_rebuild

    for f in lenders():
        body = {k: f[k] for k in ("id", "title", "synopsis", "keywords", "vote_count")}
        assert client.post("/api/v1/films", json=body).status_code == 201
    enqueue_rebuild(store, app.extensions["recs"]["queue"])
    run_jobs()
    assert store.borrower() is not None
    new = {"id": "flames", "title": "Flames", "synopsis": {"en": "Firefighters rescue a child."}}
    assert client.post("/api/v1/films", json=new).status_code == 201
    run_jobs()
    (vector,) = store.get_vectors(["flames"])
    assert "kwb:firefighter" in vector
    items = client.get("/api/v1/films/flames/recommendations").get_json()["results"]
    assert items and items[0]["id"].startswith("firefighter-")
    # the tags show what it borrowed, and from whom; a blocked one is borrowed no more
    tags = {t["tag"]: t for t in client.get("/api/v1/films/flames/tags").get_json()["tags"]}
    lent = tags["kwb:firefighter"]
    assert lent["kind"] == "borrowed" and lent["label"] == "firefighter"
    assert lent["sources"] == ["borrowed"] and 1 <= len(lent["evidence"]) <= 5
    assert all(fid.startswith("firefighter-") for fid in lent["evidence"])
    client.patch("/api/v1/films/flames", json={"blocked_tags": ["kwb:firefighter"]})
    run_jobs()
    assert "kwb:firefighter" not in store.get_vectors(["flames"])[0]
    tags = {t["tag"] for t in client.get("/api/v1/films/flames/tags").get_json()["tags"]}
    assert "kwb:firefighter" not in tags and "kwb:rescue" in tags
    # a catalog whose films have no keywords left has nothing to lend
    for f in lenders():
        client.patch(f"/api/v1/films/{f['id']}", json={"keywords": []})
    enqueue_rebuild(store, app.extensions["recs"]["queue"])
    run_jobs()
    assert store.borrower() is None
    assert not any(t.startswith("kwb:") for t in store.get_vectors(["flames"])[0])


def test_a_worker_reads_the_borrower_before_it_forks(app, store, borrower, monkeypatch):
    """Read in the parent, the borrower is every work horse's for free; a new one is read
    once, when its version changes."""
    from rq import Worker

    from service.storage import rebuilds
    from workers.worker import make_worker

    forked = []
    monkeypatch.setattr(Worker, "fork_work_horse", lambda self, job, queue: forked.append(job))
    worker = make_worker(app.extensions["recs"]["queue"], store=store)
    key = (store.p, store.keys.borrower())
    worker.fork_work_horse("job-1", None)  # no borrower stored: nothing to read
    assert key not in rebuilds._MODELS
    store.save_borrower(borrower.to_bytes())
    worker.fork_work_horse("job-2", None)
    first = rebuilds._MODELS[key]
    worker.fork_work_horse("job-3", None)
    assert rebuilds._MODELS[key] is first  # the same version is not read again
    assert forked == ["job-1", "job-2", "job-3"]
    assert first[1].borrow(["firefighters rescue a family"]) == borrower.borrow(
        ["firefighters rescue a family"]
    )


def test_a_keyword_films_rows_leave_the_borrowed_family_out_entry_by_entry():
    """without_borrowed drops exactly the kwb: entries of the marked rows (it once built a
    dense rows x tags mask: 0.6 GiB and 2 s at TMDB size)."""
    import numpy as np
    import scipy.sparse as sp

    from service.core.borrow import without_borrowed

    films = [film("a", {"kw:fire": 1.0, "genre:drama": 1.0}), film("b", {"kwb:fire": 0.5})]
    cat = build_catalog(films, SimilarityParams())
    rng = np.random.default_rng(3)
    q = sp.random(6, len(cat.tags) + 2, density=0.6, format="csr", random_state=rng)  # +2: unseen
    rows = np.array([True, False, True, True, False, False])
    got = without_borrowed(cat, q, rows).toarray()
    want = q.toarray()
    kwb = [cat.tags.index(t) for t in cat.tags if t.startswith("kwb:")]
    assert kwb  # the twin of kw:fire, and b's own
    want[np.ix_(rows, kwb)] = 0
    assert np.array_equal(got, want)
    assert without_borrowed(cat, q, np.zeros(6, bool)) is q
