"""Tests for the pure similarity maths on small hand-made catalogs."""

import io
from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp

from service.core.embedding import DIM
from service.core.similarity import (
    AGREEMENT_REASON,
    EMBEDDING_REASON,
    SimilarityParams,
    build_catalog,
    catalog_from_bytes,
    catalog_to_bytes,
    family_weight,
    iter_related_packed,
    related_for_vector,
    related_rows,
    related_rows_packed,
    score_pair,
    split_rows,
)
from service.core.vocab import load_vocabulary

PLAIN = SimilarityParams(
    year_scale=0, lang_penalty=0, pop_weight=0, reserve_slots=0, consensus_weight=0
)


def film(fid, tags, year=2000, lang="en", votes=100, **extra):
    vector = tags if isinstance(tags, dict) else {t: 1.0 for t in tags}
    return {
        "id": fid,
        "vector": vector,
        "year": year,
        "original_language": lang,
        "popularity": 10.0,
        "vote_count": votes,
        **extra,
    }


def filler(n, seed=0):
    """Return n films over a small tag space, with metadata spread out, and plot embeddings
    (three stories, each film near one of them; every fourth film has none)."""
    rng = np.random.default_rng(seed)
    stories = rng.normal(size=(3, DIM))
    tags = (
        [f"genre:g{i}" for i in range(6)] + [f"kw:k{i}" for i in range(40)] + ["plot:p1", "plot:p2"]
    )
    out = []
    for i in range(n):
        chosen = rng.choice(len(tags), size=rng.integers(1, 8), replace=False)
        out.append(
            film(
                f"f{i}",
                {tags[c]: float(rng.uniform(0.2, 1.0)) for c in chosen},
                year=int(rng.integers(1950, 2020)) if i % 7 else None,
                lang=["en", "fr", "de"][i % 3] if i % 11 else None,
                votes=int(rng.integers(0, 5000)) if i % 5 else None,
                embedding=story_embedding(stories[i % 3] + rng.normal(size=DIM)) if i % 4 else None,
            )
        )
    return out


def strands(b_weight=1.0):
    """Return films where a query ("sq") states two themes: one with many films sharing three
    tags with it (strand a), one with a few films sharing one tag (strand b), so that the
    first strand fills the top 10 unless the second gets a place."""
    out = [
        film("sq", {"kw:a1": 1.0, "kw:a2": 1.0, "kw:a3": 0.9, "kw:b1": b_weight, "genre:g0": 1.0})
    ]
    out += [
        film(f"a{i}", {"kw:a1": 1.0, "kw:a2": 1.0, "kw:a3": 1.0, "genre:g0": 1.0}, votes=1000 + i)
        for i in range(14)
    ]
    out += [film(f"b{i}", {"kw:b1": 1.0, "genre:g0": 1.0}, votes=50 + i) for i in range(4)]
    return out


def story_embedding(vector) -> bytes:
    return np.clip(np.round(vector * 40), -127, 127).astype(np.int8).tobytes()


@pytest.fixture
def small():
    films = [
        film("q", ["genre:drama", "kw:widow", "kw:firefighter"]),
        film("rare", ["kw:widow", "kw:firefighter"]),
        film("common", ["genre:drama"]),
    ] + [film(f"d{i}", ["genre:drama", f"kw:x{i}"]) for i in range(10)]
    return build_catalog(films)


def test_rare_tags_rank_above_common(small):
    ids = [other for other, _, _ in related_rows(small, [0], PLAIN)[0]]
    assert ids[0] == "rare"
    assert ids.index("rare") < ids.index("common")


@pytest.mark.parametrize("params", [PLAIN, SimilarityParams()])
def test_never_itself_and_reasons(params):
    cat = build_catalog(filler(200))
    for row, lst in enumerate(related_rows(cat, range(len(cat.ids)), params)):
        assert cat.ids[row] not in {other for other, _, _ in lst}
        assert len(lst) <= params.k
        for _, score, reasons in lst:
            assert 0.0 <= score <= 1.0
            assert 1 <= len(reasons) <= 5
            assert sum(share for _, share in reasons) <= 1.0 + 1e-9
            assert all(0 < share <= 1 for _, share in reasons)


def test_only_films_sharing_a_tag():
    cat = build_catalog([film("a", ["kw:x"]), film("b", ["kw:x"]), film("c", ["kw:y"])])
    assert [o for o, _, _ in related_rows(cat, [0])[0]] == ["b"]
    assert related_rows(cat, [2])[0] == []


def test_scores_follow_the_order():
    cat = build_catalog(filler(300, seed=3))
    for lst in related_rows(cat, range(50)):
        scores = [s for _, s, _ in lst]
        assert scores == sorted(scores, reverse=True)


def test_reserved_slots_go_to_specific_matches():
    # popular genre-only matches would fill the top; the reserve keeps slots for a shared keyword
    films = [film("q", ["genre:a", "kw:k1", "kw:k2"], votes=10)]
    films += [film(f"g{i}", ["genre:a"], votes=10**6) for i in range(12)]
    films += [film(f"s{i}", ["genre:b", f"kw:k{1 + i % 2}"], votes=1, year=1950) for i in range(8)]
    # the raw priors (mix 1) would let the popular films win everywhere else
    params = SimilarityParams(
        reserve_slots=7,
        reserve_window=10,
        pop_weight=3.0,
        specific_max_df=1.0,
        prior_mix=1.0,
        context_mix=1.0,
    )
    top = [o for o, _, _ in related_rows(build_catalog(films, params), [0], params)[0][:10]]
    assert sum(o.startswith("s") for o in top) == 7


@pytest.mark.parametrize("max_posting", [3, 2000])
def test_vector_agrees_with_rows(max_posting):
    films = filler(400, seed=1)
    params = SimilarityParams(max_posting=max_posting, shrink=2.0)
    cat = build_catalog(films, params)
    rows = related_rows(cat, range(40), params)
    for row in range(40):
        single = related_for_vector(cat, films[row], params)
        assert [o for o, _, _ in single] == [o for o, _, _ in rows[row]]
        assert np.allclose([s for _, s, _ in single], [s for _, s, _ in rows[row]])


def test_capped_posting_keeps_exact_scores():
    # with a tiny cap, candidates are fewer but every candidate's score is the exact one (the
    # neighbours' agreement left out: it reads the best matches the candidates hold)
    films = filler(300, seed=2)
    exact = build_catalog(films, SimilarityParams(max_posting=10**6))
    capped = build_catalog(films, SimilarityParams(max_posting=5))
    params = SimilarityParams(k=300, reserve_slots=0, consensus_weight=0)
    full = {o: s for o, s, _ in related_rows(exact, [0], params)[0]}
    for other, score, _ in related_rows(capped, [0], params)[0]:
        assert score == pytest.approx(full[other])


def test_new_film_not_in_catalog():
    cat = build_catalog(filler(100))
    new = film("new", {"kw:k1": 1.0, "kw:k2": 0.5, "kw:unseen": 1.0, "genre:g0": 1.0}, year=1990)
    lst = related_for_vector(cat, new)
    assert lst and all(reasons for _, _, reasons in lst)
    other, score, _reasons = lst[0]
    got = score_pair(cat, new, cat.row_of[other])
    assert got is not None and got[0] >= score - 1e-9


def test_serialisation_round_trip():
    params = SimilarityParams(shrink=1.5, family_weights=(("genre", 0.5), ("kw", 3.0)))
    cat = build_catalog(filler(150), params)
    blob = catalog_to_bytes(cat)
    back = catalog_from_bytes(blob)
    assert back.ids == cat.ids and back.tags == cat.tags and back.params == cat.params
    # the matrix is not stored beside the candidate index: its two parts add up to it
    assert "data" not in np.load(io.BytesIO(bytes(blob))).files
    for name in ("data", "indices", "indptr"):
        assert np.array_equal(getattr(back.matrix, name), getattr(cat.matrix, name))
    assert related_rows(back, range(150), params) == related_rows(cat, range(150), params)


@pytest.mark.parametrize("max_posting", [5, 40, 300])
@pytest.mark.parametrize("shrink", [0.0, 2.0])
def test_stored_snapshot_ranks_identically(max_posting, shrink):
    # a rebuild's rank jobs load the snapshot with its stored candidate index
    params = SimilarityParams(max_posting=max_posting, shrink=shrink)
    cat = build_catalog(filler(400, seed=9), params)
    fresh = related_rows(cat, range(400), params)
    back = catalog_from_bytes(catalog_to_bytes(cat))
    assert "cand" in back._cache  # loaded, not recomputed
    assert related_rows(back, range(400), params) == fresh
    plain = catalog_from_bytes(catalog_to_bytes(cat, with_candidates=False))
    assert "cand" not in plain._cache
    assert related_rows(plain, range(400), params) == fresh


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_chunking_matches_one_chunk(chunk):
    cat = build_catalog(filler(250, seed=4))
    assert related_rows(cat, range(250), chunk=chunk) == related_rows(cat, range(250), chunk=1000)


@pytest.mark.parametrize("threads", [2, 3])
def test_threads_rank_as_one(threads):
    # a ranking job splits its rows over threads (RECS_RANK_THREADS): the same lists and the
    # same work counts, and the rows really are split
    cat = build_catalog(filler(400, seed=6))
    assert len(split_rows(400, threads)) == threads
    one, split = np.zeros(4), np.zeros(4)
    number = lambda tags: {t: n for n, t in enumerate(sorted(tags))}  # noqa: E731
    alone = related_rows_packed(cat, range(400), number, chunk=400)
    together = [
        row
        for batch in iter_related_packed(cat, range(400), number, chunk=400, threads=threads)
        for row in batch
    ]
    assert together == alone
    list(iter_related_packed(cat, range(400), number, stats=one))
    list(iter_related_packed(cat, range(400), number, stats=split, threads=threads))
    assert one.tolist() == split.tolist() and one[1] > 0
    assert related_rows(cat, range(400), threads=threads) == related_rows(cat, range(400))


def test_split_rows_keeps_small_work_in_one_block():
    assert split_rows(10, 4) == [(0, 10)]
    assert split_rows(0, 4) == [(0, 0)]
    blocks = split_rows(1000, 3)
    assert blocks[0][0] == 0 and blocks[-1][1] == 1000
    assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))


def test_params_from_mapping():
    p = SimilarityParams.from_mapping({"K": 60, "family_weights": {"kw": 3}, "unknown": 1})
    assert p.k == 60 and p.family_weights == (("kw", 3.0),)


def test_stats_make_a_candidate_catalog_score_like_the_full_one():
    films = filler(300, seed=5)
    full = build_catalog(films)
    df = {t: int(n) for t, n in zip(full.tags, np.diff(full.matrix.tocsc().indptr))}
    votes = max(f["vote_count"] or 0 for f in films)
    keyword_films = sum(any(t.startswith("kw:") for t in f["vector"]) for f in films)
    stats = {"n": len(films), "df": df, "max_votes": votes, "max_popularity": 10.0}
    stats["keyword_films"] = keyword_films  # the embedding's weight depends on their share
    assert 0 < keyword_films < len(films)
    expected = related_rows(full, [0])[0]
    keep = [0] + [full.row_of[o] for o, _, _ in expected]
    small = build_catalog([films[i] for i in keep], stats=stats)
    got = related_rows(small, [0])[0]
    assert [o for o, _, _ in got] == [o for o, _, _ in expected]
    assert np.allclose([s for _, s, _ in got], [s for _, s, _ in expected])


def test_params_from_environment_strings():
    p = SimilarityParams.from_mapping(
        {"k": 60.0, "max_posting": "500", "weight_plot": "0.7", "pop_weight": "1"}
    )
    assert p.k == 60 and p.max_posting == 500 and p.pop_weight == 1.0
    assert dict(p.family_weights)["plot"] == 0.7
    # list knobs, as RECS_SIM_ASPECT_KINDS=theme,sport gives them
    p = SimilarityParams.from_mapping({"aspect_kinds": "theme,sport", "generic_families": "genre"})
    assert p.aspect_kinds == ("theme", "sport") and p.generic_families == ("genre",)


def test_films_without_popularity_get_a_typical_prior_not_the_floor():
    from service.core.similarity import SimilarityParams, build_catalog

    films = [
        {"id": "known", "vector": {"kw:a": 1.0}, "vote_count": 235, "popularity": 10.0},
        {"id": "top", "vector": {"kw:a": 1.0}, "vote_count": 13752},
        {"id": "zero", "vector": {"kw:a": 1.0}, "vote_count": 0},
        {"id": "new", "vector": {"kw:a": 1.0}},
    ]
    cat = build_catalog(films, SimilarityParams())
    prior = dict(zip(cat.ids, cat.pop))
    assert prior["new"] == SimilarityParams().unknown_pop
    assert prior["zero"] < prior["known"] < prior["top"]


@pytest.mark.parametrize("consensus", [0.0, 0.25])
def test_packed_lists_are_the_items_encoded(consensus):
    from service import listcodec
    from workers.index import as_item

    films = filler(300, seed=3) + [film("tiny", {"kw:k1": 0.2}, votes=0, year=1900)]
    # raw priors: tiny scores, unless the best matches lift them
    params = SimilarityParams(
        prior_mix=1.0, context_mix=1.0, consensus_weight=consensus, consensus_keyword_films=True
    )
    cat = build_catalog(films, params)
    rows = range(len(films))
    numbering = {}

    def number(tags):  # numbered in the order they are first asked for, as a store does
        for tag in tags:
            numbering.setdefault(tag, len(numbering) * 977)  # past one byte and past two
        return numbering

    packed = related_rows_packed(cat, rows, number, params, chunk=100)
    plain = related_rows(cat, rows, params)
    assert [fid for fid, _, _ in packed] == [f["id"] for f in films]
    assert any(s < 1e-4 for related in plain for _, s, _ in related) or consensus
    agreed = {t for related in plain for _, _, reasons in related for t, _ in reasons}
    assert (AGREEMENT_REASON in agreed) == bool(consensus)
    names = {n: tag for tag, n in numbering.items()}
    for (_, items, count), related in zip(packed, plain):
        expected = [as_item(r) for r in related]
        # byte for byte what the one-film path writes (listcodec.encode_items)
        assert items == listcodec.encode_items(expected, numbering)
        blob = listcodec.header(3, 1.5, count, (len(numbering), 7)) + items
        assert listcodec.decode(blob, names) == {"rev": 3, "computed_at": 1.5, "items": expected}
        assert listcodec.item_ids(blob) == [other for other, _, _ in related]


def slow_related(cat, row, params):
    """The ranking rules written out per pair, for one catalog row (see service/core/kernels.py)."""
    dense = cat.matrix.toarray()
    q = dense[row]
    if any(cat.tags[t].startswith("kw:") for t in np.flatnonzero(q)):
        # a film with curated keywords leaves out the borrowed ones it holds for the films
        # that borrowed them (service.core.borrow.mirrored)
        q = np.where([t.startswith("kwb:") for t in cat.tags], 0.0, q)

    def posting(t):  # a tag's capped posting: its max_posting highest-prior films
        holders = np.flatnonzero(dense[:, t])
        return {
            int(j) for j in sorted(holders, key=lambda j: (-cat.pop[j], j))[: params.max_posting]
        }

    reach = set()
    for t in np.flatnonzero(q):
        reach.update(posting(t))
    # one embedding weight per catalog, by its share of films with curated keywords
    keywords = sum(any(cat.tags[t].startswith("kw:") for t in np.flatnonzero(row)) for row in dense)
    share = keywords / len(dense)
    weight = params.plot_embedding_weight * share + params.plot_embedding_weight_text * (1 - share)
    curated = any(cat.tags[t].startswith("kw:") for t in np.flatnonzero(q))
    if curated:  # a film with curated keywords has its own embedding weight
        weight = params.keyword_plot_embedding_weight
    scored = []
    for j in sorted(reach - {row}):
        both = (q > 0) & (dense[j] > 0)
        sim = float(q @ dense[j])
        score = min(sim, 1.0)
        if params.shrink > 0:
            score *= both.sum() / (both.sum() + params.shrink)
        dy = abs(cat.years[row] - cat.years[j])
        era = np.exp(-(params.year_scale if np.isnan(dy) else dy) / params.year_scale)
        ql, cl = cat.langs[row], cat.langs[j]
        if ql >= 0 and cl >= 0:
            lang = 1.0 if ql == cl else 1.0 - params.lang_penalty
        else:
            lang = 1.0 - params.lang_penalty / 2
        prior = cat.pop[j] ** params.pop_weight * cat.quality[j] ** params.quality_weight
        # the priors are bounded: each can lower a score by at most a factor 1 - its mix
        score *= 1 - params.prior_mix + params.prior_mix * prior
        score *= 1 - params.context_mix + params.context_mix * era * lang
        # genre agreement: the part of the candidate's own genres the query has too
        q_genres = {t for t in np.flatnonzero(q) if cat.tags[t].startswith("genre:")}
        c_genres = {t for t in np.flatnonzero(dense[j]) if cat.tags[t].startswith("genre:")}
        share = len(q_genres & c_genres) / len(c_genres) if q_genres and c_genres else 0.5
        agree = 1 - params.genre_mix + params.genre_mix * share
        score *= agree
        # the plot embeddings' cosine, when positive, adds outside the priors (times the agreement)
        if cat.emb_norm[row] > 0 and cat.emb_norm[j] > 0:
            dot = int(cat.emb[row].astype(np.int64) @ cat.emb[j].astype(np.int64))
            cosine = dot / (cat.emb_norm[row] * cat.emb_norm[j])
            score += agree * weight * max(cosine, 0.0)  # a like story of a like kind
        score /= 1 + weight  # scores stay in [0, 1]
        scored.append((score, j, bool((both & cat.specific).any())))
    best_first = sorted(scored, key=lambda s: (-s[0], s[1]))
    direct = {j: s for s, j, _ in scored}
    protected = [s for s in best_first if s[2]][: params.reserve_slots]
    rest = [s for s in best_first if s not in protected][: params.k - len(protected)]
    chosen = sorted(protected + rest, key=lambda s: (-s[0], s[1]))
    window, slots = params.reserve_window, params.reserve_slots
    # the strongly-stated-themes rule's bar: a share of the window's last score, on direct
    # scores (before the neighbours' agreement)
    bar = params.aspect_min_ratio * chosen[min(window, len(chosen)) - 1][0] if chosen else 0
    agrees = params.consensus_keyword_films or not curated  # keywords tell the story already
    if params.consensus_k > 0 and params.consensus_weight > 0 and chosen and agrees:
        # the neighbours' agreement: a score-weighted mean of each film's content similarity
        # to the query's best matches orders the chosen films (and those rule 5 may bring in)
        b, nbrs = params.consensus_weight, chosen[: params.consensus_k]
        total = sum(s[0] for s in nbrs)

        def like(n, j):  # tags (at most 1) and the plots' cosine, without priors
            sim = float(dense[n] @ dense[j])
            if cat.emb_norm[n] > 0 and cat.emb_norm[j] > 0:
                dot = int(cat.emb[n].astype(np.int64) @ cat.emb[j].astype(np.int64))
                sim += weight * dot / (cat.emb_norm[n] * cat.emb_norm[j])
            return sim / (1 + weight)

        def agreed(s):  # the weighted mean, 0 when it is negative
            mean = sum(w * like(n, s[1]) for w, n, _ in nbrs if n != s[1]) / total
            return ((s[0] + b * max(mean, 0.0)) / (1 + b), s[1], s[2])

        listed = {j for _, j, _ in chosen}
        direct = {j: s for s, j, _ in scored}
        scored = [agreed(s) for s in scored]
        best_first = sorted(scored, key=lambda s: (-s[0], s[1]))
        chosen = [s for s in best_first if s[1] in listed]
    # strongly stated themes: the query's aspects, each brought into the window by the best
    # film of its posting when the window has none of it
    aspects = slow_aspects(cat, row, params)
    need = np.isin(
        cat.tag_family,
        [f for f, name in enumerate(cat.family_names) if name in params.aspect_need_families],
    )
    fam_w = {name: family_weight(params, name) for name in cat.family_names}
    need_min = (
        params.aspect_need_cosine
        * sum(w for f, w in fam_w.items() if f in params.aspect_need_families)
        / sum(w for f, w in fam_w.items() if f != "kwb")  # borrowed keywords are out of the sum
    )

    def needed(j):  # like the query in the aspect_need families (genres), if it has any
        dot = float(q[need] @ dense[j][need])
        return not (q > 0)[need].any() or (dot > 0 and dot >= need_min)

    carries = {
        j: {a for a, t in enumerate(aspects) if j in posting(t) and needed(j)} for _, j, _ in scored
    }
    if aspects and chosen:
        w_end = min(window, len(chosen))
        for a in range(len(aspects)):
            head = chosen[:w_end]
            if any(a in carries[j] for _, j, _ in head):
                continue
            pool = [
                s
                for s in best_first
                if a in carries[s[1]] and s not in head and direct[s[1]] >= bar
            ]
            plain = [
                i
                for i, (_, j, _) in enumerate(head)
                if not carries[j] - {a for _, o, _ in head if o != j for a in carries[o]}
            ]
            if not pool or not plain:
                continue
            out, new = head[plain[-1]], pool[0]
            tail = [s for s in chosen[w_end:] if s != new]
            head[plain[-1]] = new
            chosen = sorted(head, key=lambda s: (-s[0], s[1])) + [out] + tail
            chosen = chosen[: max(params.k, w_end)] if len(chosen) > params.k else chosen
    plain = allowed = 0
    first, later = [], []
    for s in chosen:
        ok = s[2] or plain < window - slots
        plain += not s[2]
        (first if ok and allowed < window else later).append(s)
        allowed += ok
    return [(cat.ids[j], score) for score, j, _ in first + later]


def slow_aspects(cat, row, params):
    """A row's aspect tags written out: specific tags of an aspect kind, weighing at least
    aspect_min_weight times the strongest of their family, strongest first (ties: lower column)."""
    dense = cat.matrix.toarray()[row]
    weight = np.zeros_like(dense)
    nz = np.flatnonzero(dense)
    weight[nz] = (dense[nz] / cat.idf[nz]) ** (1 / params.tf_power)
    vocab = load_vocabulary()
    chosen = []
    for t in nz:
        top = max(weight[u] for u in nz if cat.tag_family[u] == cat.tag_family[t])
        if (
            cat.specific[t]
            and vocab.kind(cat.tags[t]) in params.aspect_kinds
            and weight[t] >= params.aspect_min_weight * top * (1 - 1e-9)
        ):
            chosen.append(t)
    return sorted(chosen, key=lambda t: (-dense[t], t))[: params.aspect_slots]


@pytest.mark.parametrize("max_posting", [3, 20, 2000])
@pytest.mark.parametrize("shrink", [0.0, 0.5])
# the neighbours' agreement off, as it is by default and at its most
@pytest.mark.parametrize("mix, consensus", [(1.0, 0.0), (0.5, 0.25), (1.0, 1.0)])
@pytest.mark.parametrize("plot, plot_text", [(0.0, 0.0), (0.1, 0.2), (0.5, 0.1), (0.0, 0.3)])
@pytest.mark.parametrize("aspects", [0, 2])
@pytest.mark.parametrize("genre_mix", [0.0, 0.3, 1.0])
def test_kernel_follows_the_rules_written_out(
    max_posting, shrink, mix, plot, plot_text, aspects, genre_mix, consensus
):
    # small caps leave most shared tags outside the postings: they still count in the score;
    # the filler's keywords stand in for the vocabulary's themes as the aspect kind
    params = SimilarityParams(
        max_posting=max_posting,
        shrink=shrink,
        specific_max_df=0.3,
        k=20,
        prior_mix=mix,
        context_mix=mix,
        plot_embedding_weight=plot,
        plot_embedding_weight_text=plot_text,
        keyword_plot_embedding_weight=plot / 2,  # rows with keywords (most here) have their own
        aspect_slots=aspects,
        aspect_kinds=("keyword",),
        aspect_min_weight=0.5,
        aspect_min_ratio=0.3,
        genre_mix=genre_mix,
        consensus_weight=consensus,
        consensus_k=4,
        consensus_keyword_films=bool(consensus) and plot > 0,  # every film has keywords here
    )
    films = filler(250, seed=6)
    films += [film(f"twin{i}", {"kw:k1": 0.5, "genre:g1": 0.5}) for i in range(6)]  # ties
    films += strands()
    cat = build_catalog(films, params)
    rows = list(range(0, 250, 7)) + [250, cat.row_of["sq"], cat.row_of["a0"], cat.row_of["b0"]]
    for row, got in zip(rows, related_rows(cat, rows, params)):
        expected = slow_related(cat, row, params)
        running = np.minimum.accumulate([s for _, s in expected]) if expected else []
        order, wanted = [o for o, _, _ in got], [o for o, _ in expected]
        if consensus:  # the agreement sums in another order here: equal films may swap
            order, wanted = (settled(x, dict(expected), cat.row_of) for x in (order, wanted))
        assert order == wanted
        assert np.allclose([s for _, s, _ in got], running, atol=1e-6)


def settled(order: list[str], score: dict, row_of: dict) -> list[str]:
    """Return order with each run of neighbours whose scores tie (to 1e-12) in the order of
    their catalog row, as the rules break a tie: float sums in another order may part two
    films that tie in exact arithmetic, one way in the kernel, the other here."""
    out = list(order)
    start = 0
    for end in range(1, len(out) + 1):
        if end == len(out) or abs(score[out[end]] - score[out[start]]) > 1e-12:
            out[start:end] = sorted(out[start:end], key=row_of.get)
            start = end
    return out


def test_a_similar_plot_lifts_a_film_and_says_so():
    """Two films share only a genre with the query; the one whose plot embedding is near the
    query's ranks first with the plot as its reason; without embeddings they tie by row."""
    story, other = np.eye(DIM)[0] * 3, np.eye(DIM)[1] * 3
    films = [
        film("q", ["genre:drama"], embedding=story_embedding(story)),
        film("unlike", ["genre:drama"], embedding=story_embedding(other)),
        film("alike", ["genre:drama"], embedding=story_embedding(story + 0.3 * other)),
        film("silent", ["genre:drama"]),
    ]
    cat = build_catalog(films, PLAIN)
    (first, score, reasons), *rest = related_rows(cat, [0], PLAIN)[0]
    assert first == "alike"
    assert {r[0] for r in reasons} == {EMBEDDING_REASON, "genre:drama"}
    assert {o for o, s, _ in rest if s < score} == {"unlike", "silent"}
    plain = SimilarityParams(
        **{**PLAIN.to_dict(), "plot_embedding_weight": 0.0, "plot_embedding_weight_text": 0.0}
    )
    assert [o for o, _, _ in related_rows(cat, [0], plain)[0]] == ["unlike", "alike", "silent"]


def test_a_film_with_curated_keywords_ranks_without_the_plot_embedding():
    """The same story and tags: the film a site adds (no keywords) ranks the film whose plot
    reads alike first; a film with curated keywords leaves the embedding out, and its list
    and scores are those of a catalog with no embeddings at all, while the other row's stay."""
    story, other = np.eye(DIM)[0] * 3, np.eye(DIM)[1] * 3
    films = [
        film("site", ["genre:drama", "plot:fire"], embedding=story_embedding(story)),
        film("curated", ["genre:drama", "kw:fire"], embedding=story_embedding(story)),
        film("unlike", ["genre:drama", "plot:fire", "kw:fire"], embedding=story_embedding(other)),
        film("alike", ["genre:drama", "plot:fire", "kw:fire"], embedding=story_embedding(story)),
    ]
    cat = build_catalog(films, PLAIN)
    site, curated = related_rows(cat, [0, 1], PLAIN)
    assert site[0][0] == "alike" and EMBEDDING_REASON in {t for t, _ in site[0][2]}
    assert all(EMBEDDING_REASON not in {t for t, _ in reasons} for _, _, reasons in curated)
    off = replace(PLAIN, plot_embedding_weight=0.0, plot_embedding_weight_text=0.0)
    assert curated == related_rows(cat, [1], off)[0]
    assert site != related_rows(cat, [0], off)[0]
    # the knob gives it back, and a refresh of one film ranks as the rebuild does
    keep = replace(PLAIN, keyword_plot_embedding_weight=PLAIN.plot_embedding_weight)
    assert EMBEDDING_REASON in {t for t, _ in related_rows(cat, [1], keep)[0][0][2]}
    assert related_for_vector(cat, films[1], PLAIN) == curated


def test_a_film_like_the_best_matches_rises_and_says_so():
    # a firefighter's love story: its best matches are firefighter love stories that are also
    # rescue films; of two films that share only "love" with it, the rescue film is like them
    films = [film("query", ["kw:fire", "kw:love"])]
    films += [film(f"n{i}", ["kw:fire", "kw:love", "kw:rescue"]) for i in range(6)]
    films += [film("cook", ["kw:love", "kw:cooking"]), film("rescuer", ["kw:love", "kw:rescue"])]
    films += [film(f"c{i}", ["kw:cooking", "kw:food"]) for i in range(6)]  # cooking as common
    cat = build_catalog(films, PLAIN)
    row = cat.row_of["query"]

    def listed(params):
        return {o: (s, dict(r)) for o, s, r in related_rows(cat, [row], params)[0]}

    without = listed(PLAIN)
    assert without["cook"][0] == without["rescuer"][0]  # a tie: the lower row first
    assert list(without).index("cook") < list(without).index("rescuer")
    agreeing = replace(PLAIN, consensus_weight=0.25, consensus_keyword_films=True)
    # by default a query with curated keywords (these are kw: tags) is told by them
    assert list(listed(replace(PLAIN, consensus_weight=0.25))) == list(without)
    got = listed(agreeing)
    order = list(got)
    assert order[:6] == list(without)[:6]  # the best matches stay first
    assert order.index("rescuer") < order.index("cook")
    assert got["rescuer"][0] > got["cook"][0]
    assert AGREEMENT_REASON in got["rescuer"][1] and "kw:love" in got["rescuer"][1]
    # "love" is all the cook's film shares with the best matches
    assert got["rescuer"][1][AGREEMENT_REASON] > got["cook"][1][AGREEMENT_REASON]
    # the agreement orders the list; it never lists a film the query shares nothing with
    assert set(got) == set(without)


def test_embeddings_survive_the_snapshot_and_a_new_film():
    films = filler(60, seed=3)
    cat = build_catalog(films)
    again = catalog_from_bytes(catalog_to_bytes(cat))
    assert (again.emb == cat.emb).all() and (again.emb_norm == cat.emb_norm).all()
    assert related_rows(again, [5]) == related_rows(cat, [5])
    # a film outside the catalog ranks with its own embedding, as a row of it would
    assert related_for_vector(cat, films[5]) == related_rows(cat, [5])[0]


def test_a_strongly_stated_theme_gets_a_film_in_the_top_10():
    films = filler(60, seed=2) + strands()
    # strand b's films have a twentieth of strand a's votes: at prior_mix 0.5 its best scores
    # just over aspect_min_ratio of the window's last (a stronger prior keeps it out)
    params = SimilarityParams(
        aspect_kinds=("keyword",), reserve_slots=0, specific_max_df=0.3, prior_mix=0.5
    )
    cat = build_catalog(films, params)
    without = [
        o for o, _, _ in related_rows(cat, [cat.row_of["sq"]], replace(params, aspect_slots=0))[0]
    ]
    assert all(o.startswith("a") for o in without[:10])  # strand a fills the window
    got = related_rows(cat, [cat.row_of["sq"]], params)[0]
    top = [o for o, _, _ in got[:10]]
    # the best film of strand b takes the place of strand a's tenth, which comes next
    assert top == without[:9] + ["b3"] and got[10][0] == without[9]
    assert [s for _, s, _ in got] == sorted((s for _, s, _ in got), reverse=True)
    assert any(t == "kw:b1" for t, _ in got[9][2])  # and says why
    # a theme stated weakly (below aspect_min_weight of the strongest) gets no place
    weak = build_catalog(filler(60, seed=2) + strands(b_weight=0.8), params)
    assert all(
        o.startswith("a") for o, _, _ in related_rows(weak, [weak.row_of["sq"]], params)[0][:10]
    )
    # nor does a film that shares no genre with the query
    other_genre = [
        f if f["id"][0] != "b" else {**f, "vector": {"kw:b1": 1.0, "genre:g5": 1.0}}
        for f in filler(60, seed=2) + strands()
    ]
    near = replace(params, aspect_min_ratio=0.1)  # near enough, but for the genre
    apart = build_catalog(other_genre, near)
    assert all(
        o.startswith("a") for o, _, _ in related_rows(apart, [apart.row_of["sq"]], near)[0][:10]
    )
    anyway = replace(near, aspect_need_families=())
    assert related_rows(apart, [apart.row_of["sq"]], anyway)[0][9][0] == "b3"
    # nor one that shares a genre but is mostly of others (cosine 0.5 in the genre family)
    mixed = [
        f
        if f["id"][0] != "b"
        else {
            **f,
            "vector": {
                "kw:b1": 1.0,
                "genre:g0": 1.0,
                "genre:g5": 1.0,
                "genre:g4": 1.0,
                "genre:g3": 1.0,
            },
        }
        for f in filler(60, seed=2) + strands()
    ]
    for cosine, brought in ((0.9, False), (0.1, True)):
        like = replace(near, aspect_need_cosine=cosine)
        cat = build_catalog(mixed, like)
        assert (related_rows(cat, [cat.row_of["sq"]], like)[0][9][0] == "b3") == brought
    # nor does a film that scores below aspect_min_ratio of the window's last
    far = replace(params, aspect_min_ratio=0.99)
    assert all(o.startswith("a") for o, _, _ in related_rows(cat, [cat.row_of["sq"]], far)[0][:10])


@pytest.mark.parametrize("max_posting", [0, 1, 4, 50])
def test_candidate_index_is_the_capped_postings_and_the_rest(max_posting):
    """Per tag, the capped posting holds its max_posting most popular films (ties by row) with
    their weights; every other entry is in the rest; the two add up to the matrix."""
    from service.core.candidates import candidate_index

    cat = build_catalog(filler(300, seed=11), SimilarityParams(max_posting=max_posting))
    idx = candidate_index(cat)
    dense = cat.matrix.toarray()
    reach = idx["reach_t"].toarray()
    for t in range(dense.shape[1]):
        holders = sorted(np.flatnonzero(dense[:, t]), key=lambda j: (-cat.pop[j], j))
        assert set(np.flatnonzero(reach[t])) == set(holders[:max_posting])
    assert np.array_equal(reach.T + idx["rest"].toarray(), dense)
    assert not np.any((reach.T != 0) & (idx["rest"].toarray() != 0))
    assert idx["rest"].has_sorted_indices
    assert np.array_equal(idx["capped"], np.diff(idx["rest"].tocsc().indptr) > 0)


def test_genre_sets_number_each_films_genre_columns():
    """Films with the same genre columns share a set; other columns and empty rows count too."""
    from service.core.candidates import genre_sets

    rows = [[0, 2, 5], [2, 0], [5], [], [1, 2, 0]]  # columns 0-2 are genres, 5 is not
    matrix = sp.csr_matrix(
        (
            np.ones(sum(map(len, rows))),
            ([r for r, cols in enumerate(rows) for _ in cols], [c for cols in rows for c in cols]),
        ),
        shape=(len(rows), 6),
    )
    per_film, indptr, cols = genre_sets(matrix, np.array([1, 1, 1, 0, 0, 0]))
    sets = [sorted(cols[indptr[g] : indptr[g + 1]].tolist()) for g in per_film]
    assert sets == [[0, 2], [0, 2], [], [], [0, 1, 2]]
    assert per_film[0] == per_film[1] and per_film[2] == per_film[3]
    assert len(indptr) - 1 == 3
    empty = genre_sets(sp.csr_matrix((0, 6)), np.ones(6, dtype=np.int64))
    assert len(empty[0]) == 0 and len(empty[1]) == 1
