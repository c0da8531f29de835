"""Plot likeness by TF-IDF, an experiment (not in the service): would a lexical plot
similarity, added to the ranking, lift the judged related titles, with and without TMDB's
keywords? And does a dense low-rank version of it (LSA: TruncatedSVD of the TF-IDF rows)
keep the gain, so that the kernel could read it as it reads the plot embedding?

Usage: .venv/bin/python bench/plot_tfidf.py [--judged FILE ...] [--pool 300] [--inject 40]
           [--betas 0,0.05,...] [--dims 64,128,256] [--kernel-weights 1,1.5,2]
           [--terms 30] [--term-weights 0.1,0.25,0.5] [--set knob=value ...]
(about 100 s on 2 loaded cores; an empty list, e.g. --kernel-weights '', skips a variant)

The text: title, tagline and the plot the embedding reads (a German plot glossed word by
word), as service/core/borrow.py reads it (borrow_text), over the same words (English lemmas,
words and word pairs, in 3 films or more and at most 30% of them). The model is learned from
the catalog's own texts (TMDB 5000 and the queries), no labels, so a text-only catalog could
learn it too. Both catalogs are tagged and ranked in-process with the service's maths
(bench/relevance.py --offline; tuning sets only by default; --set applies a knob to every
ranking, e.g. weight_kwb=0 for the keyword catalog without borrowed keywords), four ways:

- (a) re-rank: the kernel's top `pool` plus the query's `inject` nearest films by TF-IDF
  cosine, ordered by score + beta x cosine (an injected film outside the pool gets the
  pool's last score, an upper bound of its own);
- (b) the same with the LSA cosine (dims d) instead, its neighbours injected;
- (c) in the kernel: the plot embedding replaced by LSA (int8, as stored), or the two
  concatenated at equal weight, the embedding's weight times --kernel-weights;
- (d) in the kernel, sparse: each film's `terms` strongest TF-IDF terms as a tag family of
  their own (`tfx:`), at --term-weights.

Prints the judged related of each set and the judged-wrong films per variant and catalog, and
the cost: fit time, terms, bytes a film, the kernel's time over the whole catalog. docs/QUALITY.md, "Plot likeness by TF-IDF", has the
figures.
"""

import argparse
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.decomposition import TruncatedSVD

sys.path.insert(0, str(Path(__file__).resolve().parent))
import relevance  # noqa: E402  (bench/relevance.py: the judged sets and their scoring)

from service.core.borrow import MAX_SHARE, MIN_FILMS, _vectorizer, borrow_text  # noqa: E402
from service.core.simparams import SimilarityParams  # noqa: E402
from service.core.tmdb import read_tmdb  # noqa: E402

DATA = relevance.ROOT / "bench" / "data"
TUNING = [DATA / "judged_dev.json", DATA / "judged_dev2.json"]
MODES = {"keywords": False, "text-only": True}
KNOBS = SimilarityParams()  # the service's defaults


def figures(queries: list[dict], lists: dict) -> str:
    """Per judged set: related of slots and judged-wrong films, on one line."""
    by_set: dict[str, list] = {}
    for entry in queries:
        by_set.setdefault(entry["set"], []).append(entry)
    out = []
    for entries in by_set.values():
        with contextlib.redirect_stdout(io.StringIO()):  # score prints every query
            res = relevance.score(entries, lists, show=False)
        out.append(f"{res['related']:3}/{res['slots']} ({res['wrong']} wrong)")
    return "  ".join(out)


def reranked(base: dict, queries: list[dict], sims: np.ndarray, ids: list[str], beta: float,
             inject: int, titles: dict) -> dict:  # fmt: skip
    """Each query's pool (its kernel list, and its `inject` nearest TMDB films by sims)
    ordered by score + beta x likeness; sims: queries x ids."""
    col = {other: j for j, other in enumerate(ids)}
    out = {}
    for entry, row in zip(queries, sims):
        fid = entry["film"]["id"]
        pool = {item["id"]: item["score"] for item in base[fid]}
        floor = min(pool.values(), default=0.0)
        near = [o for o in (ids[j] for j in np.argsort(-row, kind="stable")) if o in titles]
        for other in near[:inject]:
            pool.setdefault(other, floor)
        like = {other: row[col[other]] for other in pool}
        order = sorted(pool, key=lambda o: -(pool[o] + beta * like[o]))  # stable: ties keep
        out[fid] = [{"id": o, "score": pool[o], "reasons": []} for o in order[: relevance.TOP]]
    return out


def unit(rows: np.ndarray) -> np.ndarray:
    """Rows of unit length (zero rows stay zero), float32."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def int8_rows(unit: np.ndarray) -> np.ndarray:
    """Unit rows quantised as service.core.embedding stores them (largest entry 127)."""
    top = np.abs(unit).max(axis=1, keepdims=True)
    return np.round(unit * 127.0 / np.where(top > 0, top, 1.0)).astype(np.int8)


def swap_embedding(by_id: dict[str, np.ndarray], mix: float):
    """Return an adjust(catalog) for relevance.rank_offline: each film's plot embedding
    becomes [sqrt(1 - mix) x its WordLlama unit vector, sqrt(mix) x its LSA unit vector],
    stored as int8, so that the kernel's cosine is about (1 - mix) x the one + mix x the
    other (mix 1: LSA alone)."""

    def adjust(cat) -> None:
        wl = cat.emb.astype(np.float32)
        wl /= np.where(cat.emb_norm > 0, cat.emb_norm, 1.0)[:, None]
        dims = len(next(iter(by_id.values())))
        lsa = np.stack([by_id.get(fid, np.zeros(dims, np.float32)) for fid in cat.ids])
        parts = [np.sqrt(mix) * lsa] if mix >= 1 else [np.sqrt(1 - mix) * wl, np.sqrt(mix) * lsa]
        cat.emb = int8_rows(np.hstack(parts))
        cat.emb_norm = np.sqrt((cat.emb.astype(np.int64) ** 2).sum(axis=1)).astype(np.float64)

    return adjust


def with_terms(inputs: list[dict], x, ids: list[str], terms: list[str], n: int) -> list[dict]:
    """Return film inputs whose vectors also hold their n strongest TF-IDF terms as a tag
    family of their own (`tfx:<term>`, the strongest at 1): the sparse TF-IDF in the kernel."""
    row_of = {fid: i for i, fid in enumerate(ids)}
    out = []
    for inp in inputs:
        row = x[row_of[inp["id"]]]
        best = np.argsort(-row.data, kind="stable")[:n]
        top = row.data[best[0]] if len(best) else 1.0
        extra = {"tfx:" + terms[row.indices[b]]: round(float(row.data[b] / top), 4) for b in best}
        out.append({**inp, "vector": {**inp["vector"], **extra}})
    return out


def time_kernel(inputs: list[dict], knobs: dict, adjust) -> float:
    """Seconds the kernel takes to rank every film of the catalog (one thread), the catalog
    built and adjusted beforehand."""
    from service.core.similarity import build_catalog, related_rows

    params = SimilarityParams.from_mapping(knobs)
    cat = build_catalog(inputs, params)
    if adjust is not None:
        adjust(cat)
    related_rows(cat, [0], params)  # the layout, once
    t0 = time.time()
    related_rows(cat, range(len(cat.ids)), params)
    return time.time() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--judged", action="append", help="judged set(s); default: the tuning sets")
    ap.add_argument("--pool", type=int, default=300, help="the kernel's list length re-ranked")
    ap.add_argument("--inject", type=int, default=40, help="nearest films added to the pool")
    ap.add_argument("--betas", default="0,0.05,0.1,0.2,0.3,0.5", help="re-rank weights")
    ap.add_argument("--dims", default="64,128,256", help="LSA widths")
    ap.add_argument("--kernel-weights", default="1,1.5,2", help="x the embedding's weight")
    ap.add_argument("--terms", type=int, default=30, help="(d): TF-IDF terms a film")
    ap.add_argument("--term-weights", default="0.1,0.25,0.5", help="(d): the tfx family's weight")
    ap.add_argument("--set", action="append", default=[], help="knob=value for every ranking")
    a = ap.parse_args()
    # the service's own plot space off (service/core/plotspace.py): this compares against
    # WordLlama alone, and builds the LSA variants itself
    os.environ["RECS_PLOT_DIMS"] = "0"
    fixed = {k: json.loads(v) for k, v in (s.split("=", 1) for s in a.set)}
    floats = lambda text: [float(v) for v in text.split(",") if v]  # noqa: E731
    betas = floats(a.betas)
    dims = [int(d) for d in a.dims.split(",")]
    queries = []
    for path in [Path(p) for p in a.judged or TUNING]:
        queries += [{**e, "set": path.name} for e in relevance.load_queries(path)]

    # the catalog's texts: TMDB's and the queries' (with their reviews, as they are tagged)
    films = {f["id"]: f for _, f in read_tmdb(relevance.CSV)}
    texts = {fid: borrow_text(f) for fid, f in films.items()}
    for e in queries:
        texts[e["film"]["id"]] = borrow_text(e["film"], e["film"].get("reviews", []))
    ids = list(texts)
    t0 = time.time()
    vectorizer = _vectorizer(min_df=MIN_FILMS, max_df=MAX_SHARE)
    x = vectorizer.fit_transform([texts[i] for i in ids]).tocsr()
    fit = time.time() - t0
    per_film = x.nnz / x.shape[0]
    print(
        f"TF-IDF: {x.shape[0]} texts, {x.shape[1]:,} terms, fit {fit:.1f} s; "
        f"{per_film:.0f} terms a film ({per_film * 8:.0f} bytes as float32 + int32 index); "
        f"model {len(vectorizer.idf_) * 4 / 1e6:.2f} MB of idf plus the terms"
    )
    q_rows = np.array([ids.index(e["film"]["id"]) for e in queries])
    likeness = {"tfidf": (x[q_rows] @ x.T).toarray()}
    lsa = {}
    for d in dims:
        t0 = time.time()
        svd = TruncatedSVD(d, algorithm="randomized", n_iter=5, random_state=0)
        lsa[d] = unit(svd.fit_transform(x))
        took = time.time() - t0
        likeness[f"lsa{d}"] = lsa[d][q_rows] @ lsa[d].T
        t0 = time.time()
        for i in q_rows:  # a film added later: its TF-IDF row (lemmas cached), projected
            svd.transform(vectorizer.transform([texts[ids[i]]]))
        one = (time.time() - t0) / len(q_rows)
        print(
            f"LSA {d}: fit {took:.1f} s; {d} bytes a film as int8; components "
            f"{d * x.shape[1] * 4 / 1e6:.1f} MB as float32; a new film {one * 1000:.1f} ms"
        )

    rows_out: dict[str, dict[str, str]] = {}
    for mode, text_only in MODES.items():
        t0 = time.time()
        inputs, titles = relevance.offline_inputs(queries, text_only)
        base = relevance.rank_offline(inputs, queries, titles, {**fixed, "k": a.pool})
        share = sum(any(t.startswith("kw:") for t in f["vector"]) for f in inputs) / len(inputs)
        # service.core.catalog.embedding_weight
        cat_w = KNOBS.plot_embedding_weight * share + KNOBS.plot_embedding_weight_text * (1 - share)
        print(
            f"{mode}: tagged and ranked in {time.time() - t0:.0f} s; the catalog's plot "
            f"embedding weight {cat_w:.3f}"
        )
        top50 = relevance.rank_offline(inputs, queries, titles, fixed)
        rows_out.setdefault("service (k 50)", {})[mode] = figures(queries, top50)
        for name, sims in likeness.items():
            for beta in betas if name == "tfidf" else [b for b in betas if b > 0]:
                lists = reranked(base, queries, sims, ids, beta, a.inject, titles)
                rows_out.setdefault(f"(a/b) {name} re-rank beta {beta}", {})[mode] = figures(
                    queries, lists
                )
        for d in dims:
            by_id = dict(zip(ids, lsa[d]))
            for mix, label in ((1.0, "LSA for WordLlama"), (0.5, "WordLlama + LSA")):
                for m in floats(a.kernel_weights):
                    knobs = {
                        **fixed,
                        "plot_embedding_weight": KNOBS.plot_embedding_weight * m,
                        "plot_embedding_weight_text": KNOBS.plot_embedding_weight_text * m,
                    }
                    lists = relevance.rank_offline(
                        inputs, queries, titles, knobs, swap_embedding(by_id, mix)
                    )
                    key = f"(c) kernel: {label} {d}, embedding weight x{m:g}"
                    rows_out.setdefault(key, {})[mode] = figures(queries, lists)
        terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
        tf_inputs = with_terms(inputs, x, ids, terms, a.terms)
        for w in floats(a.term_weights):
            lists = relevance.rank_offline(tf_inputs, queries, titles, {**fixed, "weight_tfx": w})
            key = f"(d) kernel: {a.terms} TF-IDF terms a film, family weight {w:g}"
            rows_out.setdefault(key, {})[mode] = figures(queries, lists)
        if text_only and dims:  # every row ranks with the embedding in the text-only catalog
            d = dims[len(dims) // 2]
            plain = time_kernel(inputs, fixed, None)
            both = time_kernel(inputs, fixed, swap_embedding(dict(zip(ids, lsa[d])), 0.5))
            print(
                f"kernel, all {len(inputs)} films ranked, text-only: {plain:.2f} s with the plot "
                f"embedding, {both:.2f} s with {d} LSA dims concatenated (catalog built beforehand)"
            )
    print(f"\n{'variant':58} {'with keywords: dev, dev2':36} text-only: dev, dev2")
    for name, by_mode in rows_out.items():
        print(f"{name:58} {by_mode.get('keywords', ''):36} {by_mode.get('text-only', '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
