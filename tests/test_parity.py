"""The incremental path (index.rank_one) gives the same lists as a full rebuild, on TMDB films."""

import itertools

import pytest

from service.core.embedding import DIM
from service.core.tmdb import TmdbRowError, read_tmdb
from service.importer import import_rows
from service.queue import enqueue_rebuild
from workers import index

N_FILMS = 300


@pytest.fixture(
    params=[(300, False), (20, False), (300, True)],
    ids=["max_posting=300", "max_posting=20", "text-only"],
)
def tmdb_store(request, app, store, run_jobs, tmdb_csv):
    """The first N_FILMS of TMDB, rebuilt with max_posting set to the param, with their keywords
    or (text-only) without any; (store, knobs, text_only)."""
    # 20 caps the postings of common tags (genres), so candidates come from capped lists
    max_posting, text_only = request.param
    settings = app.extensions["recs"]["settings"]
    similarity = {**settings.SIMILARITY, "max_posting": max_posting}
    knobs = index.params(settings.replace(SIMILARITY=similarity))
    assert knobs.max_posting == max_posting
    rows = itertools.islice(
        ((n, f) for n, f in read_tmdb(tmdb_csv, strict=False) if not isinstance(f, TmdbRowError)),
        N_FILMS,
    )
    # every tenth film as a site adds it, without keywords: it borrows some (core/borrow.py);
    # text-only, none lends, and the catalog learns a plot space instead (core/plotspace.py)
    rows = ((n, {**f, "keywords": []} if n % 10 == 0 or text_only else f) for n, f in rows)
    report = import_rows(store, rows)
    assert not report.skipped
    enqueue_rebuild(store, app.extensions["recs"]["queue"])
    # the plot space's minimum lowered, though only the text-only catalog learns one
    run_jobs(SIMILARITY=similarity, PLOT_MIN_FILMS=N_FILMS // 3)
    return store, knobs, text_only


def test_rank_one_matches_the_rebuild(tmdb_store):
    store, knobs, text_only = tmdb_store
    ids = store.film_ids()
    vectors = dict(zip(ids, store.get_vectors(ids)))
    embeddings = dict(zip(ids, store.get_embeddings(ids)))
    assert sum(e is not None for e in embeddings.values()) == len(ids)  # every film has a plot
    # films with many tags reach many candidates: the hardest cases for parity
    probes = sorted(ids, key=lambda fid: (-len(vectors[fid] or {}), fid))[:5] + ids[:3]
    borrowed = [fid for fid in ids if any(t.startswith("kwb:") for t in vectors[fid] or {})]
    space = store.plot_space()
    if text_only:  # every film's embedding joins its point in the plot space
        assert not borrowed and {len(e) for e in embeddings.values()} == {DIM + space.dims}
    else:
        assert len(borrowed) >= N_FILMS // 10 - 3  # the films without keywords borrowed
        assert space is None and {len(e) for e in embeddings.values()} == {DIM}
    probes += borrowed[:4]
    version = store.index_version()
    for fid, rebuilt in zip(probes, store.get_lists(version, probes)):
        film = store.get_film(fid)
        own, _ = index.rank_one(store, fid, vectors[fid], film, knobs, embeddings[fid])
        assert [item[0] for item in own] == [item[0] for item in rebuilt["items"]], fid
        for mine, theirs in zip(own, rebuilt["items"]):
            assert mine[1] == pytest.approx(theirs[1], rel=1e-4, abs=1e-6)
            assert [r[0] for r in mine[2]] == [r[0] for r in theirs[2]]
