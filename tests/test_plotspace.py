"""The plot space (service/core/plotspace.py): the model, the joined embedding, mixed widths in
one catalog, and how a rebuild and a refresh bring it to the store."""

import numpy as np
import pytest

from config.settings import Settings
from service.core.borrow import borrow_text
from service.core.embedding import DIM, decode, embed_texts, joined
from service.core.plotspace import MostVoted, PlotSpace, learn
from service.core.similarity import (
    SimilarityParams,
    build_catalog,
    related_for_vector,
    related_rows,
)
from service.queue import enqueue_rebuild, enqueue_refresh
from tests.test_borrow import lenders

DIMS = 8  # the tests' catalogs are small: a few dozen terms


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return [borrow_text(f) for f in lenders()]


def test_the_space_is_learned_the_same_each_time_and_stored_without_loss(texts):
    space = PlotSpace.learn(texts, DIMS, 0.5, 0)
    assert space.dims == DIMS and space.components.dtype == np.float16
    blob = space.to_bytes()
    assert PlotSpace.learn(texts, DIMS, 0.5, 0).to_bytes() == blob  # a fixed random state
    again = PlotSpace.from_bytes(blob)
    assert again.share == 0.5 and again.to_bytes() == blob
    points = space.project(texts)
    assert points.shape == (len(texts), DIMS) and points.dtype == np.float32
    assert np.array_equal(again.project(texts), points)
    # a film alone projects to the point it gets in a chunk: a refresh writes a rebuild's bytes
    for n in (0, 17, len(texts) - 1):
        assert np.array_equal(space.project([texts[n]])[0], points[n])
    assert not space.project(["zzz qqq"]).any()  # no word of the space: the origin
    # the same story lies nearer than another one
    fire, doctor = space.project(["firefighters rescue a family from the flames", texts[40]])
    firefighter = points[30]  # lenders(): films 30-39 are the firefighters'
    assert fire @ firefighter > doctor @ firefighter


def test_few_terms_keep_the_most_frequent(texts):
    space = PlotSpace.learn(texts, DIMS, 0.5, 20)
    assert len(space.vectorizer.idf_) == 20 and space.components.shape == (DIMS, 20)
    assert learn(texts, 1000, DIMS, 0.5, 0) is None  # fewer films than the minimum
    assert learn(texts, 10, 0, 0.5, 0) is None  # no dims: no space
    assert learn(texts[:DIMS], 1, DIMS, 0.5, 0) is None  # no more texts than dims


def test_the_most_voted_films_are_learned_from():
    sample = MostVoted(3)
    films = [{"id": f"f{n}", "title": f"Film {n}", "vote_count": votes}
             for n, votes in enumerate([5, 9, 1, 9, None, 7])]  # fmt: skip
    for f in films:
        sample.add(f)
    assert sample.texts() == ["Film 1", "Film 3", "Film 5"]
    tie = MostVoted(1)
    for f in ({"id": "b", "title": "B"}, {"id": "a", "title": "A"}, {"id": "c", "title": "C"}):
        tie.add(f)
    assert tie.texts() == ["A"]  # equal votes: the smaller id


def test_a_joined_embedding_reads_both_parts_at_their_shares():
    a, b = embed_texts(["a firefighter rescues a child", "a surgeon in a hospital"])
    pa, pb = np.eye(DIMS, dtype=np.float32)[0], np.eye(DIMS, dtype=np.float32)[:2].sum(axis=0)
    ja, jb = joined(a.tobytes(), pa, 0.25), joined(b.tobytes(), pb, 0.25)
    assert len(ja) == len(jb) == DIM + DIMS
    (m, norms) = decode([ja, jb])
    got = float(m[0].astype(np.int64) @ m[1].astype(np.int64) / (norms[0] * norms[1]))
    (w, wn) = decode([a.tobytes(), b.tobytes()])
    words = float(w[0].astype(np.int64) @ w[1].astype(np.int64) / (wn[0] * wn[1]))
    assert got == pytest.approx(0.75 * words + 0.25 * (pa @ pb / np.linalg.norm(pb)), abs=0.01)
    assert joined(None, pa, 0.5) is None  # no plot: no embedding
    assert joined(a.tobytes(), None, 0.5) == a.tobytes()  # no plot space: the encoder's alone


def test_stored_embeddings_of_both_widths_decode_together():
    plain = embed_texts(["a boxer"])[0].tobytes()
    wide = joined(plain, np.ones(DIMS, np.float32), 0.5)
    m, norms = decode([plain, wide, None, b"short"])
    assert m.shape == (4, DIM + DIMS) and not m[0, DIM:].any()  # padded with zeros
    assert norms[0] > 0 and norms[1] > 0 and norms[2] == norms[3] == 0
    assert decode([wide], DIM)[0].shape == (1, DIM)  # cut to a narrower catalog


def test_a_catalog_of_both_widths_ranks():
    rng = np.random.default_rng(3)
    films = []
    for n in range(40):
        plain = embed_texts([f"story {n % 4} of a boxer"])[0].tobytes()
        emb = joined(plain, rng.normal(size=DIMS), 0.5) if n % 2 else plain
        films.append({"id": f"f{n}", "vector": {"genre:drama": 1.0, f"kw:k{n % 4}": 1.0},
                      "embedding": emb, "year": 2000, "original_language": "en"})  # fmt: skip
    params = SimilarityParams(plot_embedding_weight=0.5)
    cat = build_catalog(films, params)
    assert cat.emb.shape == (40, DIM + DIMS)
    assert all(len(r) > 0 for r in related_rows(cat, range(40), params))
    # chunks of films decoded apart (a rebuild's snapshot): the narrow one padded
    from service.core.catalog import CatalogParts

    parts = CatalogParts().add(films[:1]).add(films[1:])
    assert np.array_equal(parts.build(params).emb, cat.emb)
    query = {**films[0], "id": "new"}  # a film's list outside the catalog, narrower
    assert related_for_vector(cat, query, params)


def test_a_rebuild_learns_the_space_and_a_refresh_writes_the_same(app, client, store, run_jobs):
    for f in lenders():  # a catalog without keywords: nothing to lend, a space to learn
        body = {k: f[k] for k in ("id", "title", "synopsis", "vote_count")}
        assert client.post("/api/v1/films", json=body).status_code == 201
    queue = app.extensions["recs"]["queue"]
    run_jobs()
    # too few films for the default minimum: no space, the encoder's bytes alone
    enqueue_rebuild(store, queue)
    run_jobs()
    assert store.plot_space() is None
    assert {len(e) for e in store.get_embeddings(store.film_ids())} == {DIM}
    knobs = {"PLOT_MIN_FILMS": 20, "PLOT_DIMS": DIMS}
    enqueue_rebuild(store, queue)
    run_jobs(**knobs)
    space = store.plot_space()
    assert (
        space is not None and space.dims == DIMS and space.share == Settings.from_env({}).PLOT_SHARE
    )
    ids = store.film_ids()
    rebuilt = dict(zip(ids, store.get_embeddings(ids)))
    assert {len(e) for e in rebuilt.values()} == {DIM + DIMS}
    version = store.index_version()
    probes = ["firefighter-2", "doctor-5", "other-3-1"]
    lists = store.get_lists(version, probes)
    for fid in probes:
        enqueue_refresh(store, queue, fid)
    run_jobs(**knobs)
    assert store.get_embeddings(probes) == [rebuilt[fid] for fid in probes]
    for before, after in zip(lists, store.get_lists(version, probes)):
        ranked = [sorted((-i[1], i[0]) for i in got["items"]) for got in (before, after)]
        assert ranked[0] == ranked[1]  # the same items and scores (ties in either order)
    # ranking alone (--reuse-tags) keeps the space it has
    stored = space.to_bytes()
    enqueue_rebuild(store, queue, reuse_tags=True)
    run_jobs(PLOT_MIN_FILMS=20, PLOT_DIMS=2 * DIMS)
    assert store.plot_space().to_bytes() == stored
    # a catalog that lends keywords learns none: borrowing reads the same words
    for f in lenders():
        client.patch(f"/api/v1/films/{f['id']}", json={"keywords": f["keywords"]})
    enqueue_rebuild(store, queue)
    run_jobs(**knobs)
    assert store.borrower() is not None and store.plot_space() is None
    assert {len(e) for e in store.get_embeddings(store.film_ids())} == {DIM}


def test_a_worker_reads_the_space_before_it_forks(app, store, texts):
    from service.storage import rebuilds
    from workers.context import use_settings
    from workers.worker import make_worker

    store.save_plot_space(PlotSpace.learn(texts, DIMS, 0.5, 0).to_bytes())
    rebuilds._MODELS.pop((store.p, store.keys.plot_space()), None)
    try:
        worker = make_worker(app.extensions["recs"]["queue"], store=store)
        worker.prefetch_models()  # what fork_work_horse does first
    finally:
        use_settings(None)
    version, space = rebuilds._MODELS[(store.p, store.keys.plot_space())]
    assert space.dims == DIMS and store.plot_space() is space  # the horse inherits it
