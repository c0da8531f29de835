"""Borrowed keywords, an experiment (not in the service): would a film without curated
keywords get better related titles if it borrowed the TMDB keywords of the catalog films
whose text reads most like its own?

Usage: .venv/bin/python bench/borrowed_keywords.py [--judged FILE ...] [--k 20] [--n 10]
           [--pad 3] [--text-weight 0.25] [--examples 4]

A film's borrowed keywords: the keywords of its k nearest TMDB films by TF-IDF cosine (title,
tagline and overview; English lemmas, unigrams and bigrams; a German plot glossed word by word
as the plot embedding reads it), each scored by the summed similarity of the neighbours that
hold it; the n best become `kw:` tags of its vector. Two catalogs, ranked in-process with the
service's tagging and maths (bench/relevance.py --offline), before and after:

- with keywords: TMDB keeps its keywords, the judged queries borrow. Borrowed keywords must
  weigh less than curated ones; the service has no per-film family weight, so each query gets
  one more `kw:` tag of its own (no other film has it) of `pad` times the borrowed tags' norm,
  which scales its keyword cosines down by about 1 / sqrt(1 + pad**2).
- text-only: TMDB without keywords; every TMDB film borrows from the other half of the
  catalog (two folds, so no film borrows its own keywords) and the queries from all of it;
  the keyword family's weight is `--text-weight`.

In both, the queries are still ranked as films without curated keywords (the neighbours'
agreement and the catalog's plot embedding weight, as the service would have to keep them).
docs/QUALITY.md, "Borrowed keywords", has the figures and what building it would need.
"""

import argparse
import contextlib
import io
import re
import sys
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import simplemma
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
import relevance  # noqa: E402  (bench/relevance.py: the judged sets and their scoring)

from service.core.embedding import plot_text  # noqa: E402
from service.core.tmdb import read_tmdb  # noqa: E402
from service.core.vocab import KW_PREFIX, load_vocabulary  # noqa: E402
from workers.index import film_input  # noqa: E402
from workers.jobs import tag_film  # noqa: E402

DATA = relevance.ROOT / "bench" / "data"
TUNING = [DATA / "judged_dev.json", DATA / "judged_dev2.json"]
_WORD = re.compile(r"[^\W\d_]{2,}")


@lru_cache(maxsize=200_000)
def _lemma(word: str) -> str:
    return simplemma.lemmatize(word, lang="en").lower()


def _tokens(text: str) -> list[str]:
    return [
        _lemma(w) for w in (w.lower() for w in _WORD.findall(text)) if w not in ENGLISH_STOP_WORDS
    ]


class Borrower:
    """kNN label transfer: the keywords of a text's k nearest texts, by TF-IDF cosine."""

    def __init__(self, texts: list[str], keywords: list[list[str]], k: int):
        self.vec = TfidfVectorizer(
            tokenizer=_tokens, token_pattern=None, lowercase=False, ngram_range=(1, 2),
            min_df=2, max_df=0.3, sublinear_tf=True, dtype=np.float32,
        )  # fmt: skip
        self.x = self.vec.fit_transform(texts).tocsr()
        self.labels = sorted({kw for kws in keywords for kw in kws})
        col = {kw: i for i, kw in enumerate(self.labels)}
        rows = [r for r, kws in enumerate(keywords) for _ in kws]
        cols = [col[kw] for kws in keywords for kw in kws]
        self.y = sp.csr_matrix(
            (np.ones(len(rows), np.float32), (rows, cols)), shape=(len(texts), len(self.labels))
        )
        self.k = k

    def borrow(self, texts: list[str], n: int) -> list[dict[str, float]]:
        """Return per text its n best keywords, {keyword: score in (0, 1]} (best 1)."""
        sims = (self.vec.transform(texts) @ self.x.T).toarray()
        out = []
        for row in sims:
            near = np.argsort(-row)[: self.k]
            scores = np.maximum(row[near], 0) @ self.y[near].toarray()
            best = [j for j in np.argsort(-scores)[:n] if scores[j] > 0]
            top = scores[best[0]] if best else 1.0
            out.append({self.labels[j]: float(scores[j] / top) for j in best})
        return out


def with_borrowed(inp: dict, borrowed: dict[str, float], pad: float = 0.0) -> dict:
    """Return a film input whose vector also holds the borrowed keywords (and its own pad)."""
    vector = dict(inp["vector"])
    for kw, score in borrowed.items():
        vector[KW_PREFIX + kw] = max(vector.get(KW_PREFIX + kw, 0.0), round(score, 4))
    if pad > 0 and borrowed:
        norm = sum(w * w for t, w in vector.items() if t.startswith(KW_PREFIX)) ** 0.5
        scale = max(1.0, pad * norm)  # weights stay at most 1: shrink the others instead
        for t in [t for t in vector if t.startswith(KW_PREFIX)]:
            vector[t] = round(vector[t] / scale, 4)
        vector[f"{KW_PREFIX}~own~{inp['id']}"] = round(pad * norm / scale, 4)
    return {**inp, "vector": vector}


def judged(name: str, queries: list[dict], lists: dict) -> str:
    by_set: dict[str, list] = {}
    for entry in queries:
        by_set.setdefault(entry["set"], []).append(entry)
    out = []
    for path, entries in by_set.items():
        res = _quiet(entries, lists)
        out.append(f"{path}: {res['related']}/{res['slots']} related, {res['wrong']} wrong")
    return f"  {name:34} " + "; ".join(out)


def _quiet(entries, lists):
    with contextlib.redirect_stdout(io.StringIO()):  # relevance.score prints every query
        return relevance.score(entries, lists, show=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--judged", action="append", help="judged set(s); default: the tuning sets")
    ap.add_argument("--k", type=int, default=20, help="neighbours a film borrows from")
    ap.add_argument("--n", type=int, default=10, help="keywords a film borrows")
    ap.add_argument("--pad", type=float, default=3.0, help="with keywords: borrowed weigh less")
    ap.add_argument("--text-weight", type=float, default=0.25, help="text-only: kw family weight")
    ap.add_argument("--examples", type=int, default=4, help="queries whose keywords to print")
    a = ap.parse_args()
    vocab = load_vocabulary()
    t0 = time.time()
    films = [f for _, f in read_tmdb(relevance.CSV)]
    titles = {f["id"]: (f["title"], f.get("year")) for f in films}
    texts = [
        " ".join(filter(None, (f["title"], f.get("tagline"), plot_text(f, [])))) for f in films
    ]
    keywords = [
        sorted({k.strip().lower() for k in f["keywords"] if not vocab.ignores_keyword(k)})
        for f in films
    ]
    with_kw, text_only = [], []
    for f in films:
        _, vector, emb = tag_film({**f, "rev": 0}, [])
        with_kw.append(film_input(f["id"], vector, f, emb))
        bare = {**f, "keywords": []}
        _, vector, emb = tag_film({**bare, "rev": 0}, [])
        text_only.append(film_input(f["id"], vector, bare, emb))
    queries, q_inputs, q_texts = [], [], []
    for path in [Path(p) for p in a.judged or TUNING]:
        for entry in relevance.load_queries(path):
            film, reviews = entry["film"], entry["film"].get("reviews", [])
            _, vector, emb = tag_film({**film, "rev": 0}, reviews)
            queries.append({**entry, "set": path.name})
            q_inputs.append(film_input(film["id"], vector, film, emb))
            q_texts.append(film["title"] + " " + plot_text(film, reviews))
    print(f"tagged {len(films)} TMDB films and {len(queries)} queries in {time.time() - t0:.1f} s")

    t0 = time.time()
    borrower = Borrower(texts, keywords, a.k)
    fit = time.time() - t0
    t0 = time.time()
    q_borrowed = borrower.borrow(q_texts, a.n)
    per_film = (time.time() - t0) / max(1, len(q_texts))
    size = borrower.x.data.nbytes + borrower.x.indices.nbytes + borrower.y.indices.nbytes
    print(
        f"borrower: {len(films)} texts, {borrower.x.shape[1]:,} terms, {len(borrower.labels):,} "
        f"keywords; fit {fit:.1f} s, {per_film * 1000:.1f} ms a film, {size / 1e6:.1f} MB of arrays"
    )
    for entry, got in list(zip(queries, q_borrowed))[: a.examples]:
        print(f"  {entry['query']['id']:30} " + ", ".join(list(got)[:10]))

    # the queries stay films without curated keywords: agreement on, the catalog's weight
    keep = {"consensus_keyword_films": True, "keyword_plot_embedding_weight": 0.109}
    print("with keywords (TMDB keeps its keywords, the queries borrow):")
    lists = relevance.rank_offline(with_kw + q_inputs, queries, titles, {})
    print(judged("before", queries, lists))
    borrowed = [with_borrowed(q, b, a.pad) for q, b in zip(q_inputs, q_borrowed)]
    lists = relevance.rank_offline(with_kw + borrowed, queries, titles, keep)
    print(judged(f"borrowed, k {a.k}, n {a.n}, pad {a.pad}", queries, lists))

    print("text-only (every film borrows; TMDB from the other half of the catalog):")
    lists = relevance.rank_offline(text_only + q_inputs, queries, titles, {})
    print(judged("before", queries, lists))
    fold = np.arange(len(films)) % 2
    tmdb_borrowed: list[dict] = [{}] * len(films)
    for half in (0, 1):
        train, test = np.flatnonzero(fold != half), np.flatnonzero(fold == half)
        other = Borrower([texts[i] for i in train], [keywords[i] for i in train], a.k)
        for i, got in zip(test, other.borrow([texts[i] for i in test], a.n)):
            tmdb_borrowed[i] = got
    inputs = [with_borrowed(f, b) for f, b in zip(text_only, tmdb_borrowed)]
    inputs += [with_borrowed(q, b) for q, b in zip(q_inputs, q_borrowed)]
    text_keep = {
        "consensus_keyword_films": True,
        "plot_embedding_weight": 0.2,
        "keyword_plot_embedding_weight": 0.2,
        "weight_kw": a.text_weight,
    }
    lists = relevance.rank_offline(inputs, queries, titles, text_keep)
    print(judged(f"borrowed, k {a.k}, n {a.n}, kw weight {a.text_weight}", queries, lists))
    return 0


if __name__ == "__main__":
    sys.exit(main())
