"""Score related lists offline (no service): nDCG@10 on the dev truth and keyword overlap@10.

Usage: .venv/bin/python bench/quality_offline.py [--tags basic|rich|tagger|auto] [--set key=value ...]

--tags tagger (auto: when it imports) builds vectors through workers.jobs.tag_film, the
service path; --tags basic uses genre:<name> and kw:<keyword> only.
"""

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(
    os.environ.get("RECS_SHARED", Path(__file__).resolve().parents[2] / "shared")
)  # ../shared
EVAL = SHARED / "eval"
sys.path.insert(0, str(EVAL))

import quality  # noqa: E402

from service.core.similarity import SimilarityParams, build_catalog, related_rows  # noqa: E402
from service.core.tmdb import read_tmdb  # noqa: E402

CSV = SHARED / "data/tmdb5000/tmdb_5000_movies.csv"


def basic_vector(film: dict) -> dict[str, float]:
    """Return genre:<name> and kw:<name> tags with weight 1."""
    vec = {f"genre:{g.lower()}": 1.0 for g in film.get("genres", [])}
    vec.update({f"kw:{k.lower()}": 1.0 for k in film.get("keywords", [])})
    return vec


STOP = {
    "a",
    "an",
    "the",
    "and",
    "or",
    "of",
    "to",
    "in",
    "on",
    "at",
    "by",
    "for",
    "with",
    "from",
    "into",
    "over",
    "about",
    "after",
    "before",
    "his",
    "her",
    "their",
    "its",
    "he",
    "she",
    "they",
    "them",
    "him",
    "who",
    "whom",
    "whose",
    "which",
    "that",
    "this",
    "these",
    "those",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "has",
    "have",
    "had",
    "do",
    "does",
    "did",
    "not",
    "but",
    "as",
    "when",
    "while",
    "where",
    "what",
    "why",
    "how",
    "all",
    "any",
    "both",
    "each",
    "few",
    "more",
    "most",
    "other",
    "some",
    "such",
    "no",
    "nor",
    "only",
    "own",
    "same",
    "so",
    "than",
    "too",
    "very",
    "can",
    "will",
    "just",
    "one",
    "two",
    "new",
    "find",
    "finds",
    "must",
    "life",
    "world",
    "young",
    "man",
    "woman",
    "story",
    "film",
    "movie",
    "years",
    "year",
    "time",
    "help",
    "back",
    "get",
    "gets",
    "take",
    "takes",
    "makes",
}


def rich_vector(film: dict) -> dict[str, float]:
    """Return basic tags plus keyword words (kww:) and overview words (ov:) at lower weight."""
    vec = basic_vector(film)
    for k in film.get("keywords", []):
        for w in re.findall(r"[a-z]{4,}", k.lower()):
            vec.setdefault(f"kww:{w}", 1.0)
    text = film.get("synopsis", {}).get("en", "") + " " + film.get("tagline", "")
    for w in re.findall(r"[a-z]{4,}", text.lower()):
        if w not in STOP:
            vec[f"ov:{w}"] = 0.5
    return vec


def tagger_vectors(films: list[dict]) -> list[tuple] | None:
    """Return (vector, plot embedding) per film exactly as the service makes them
    (workers.jobs.tag_film), or None."""
    try:
        from workers.jobs import tag_film
    except ImportError:
        return None
    return [tag_film({**f, "rev": 0}, [])[1:] for f in films]


def load_films(mode: str, text_only: bool = False) -> tuple[list[dict], str]:
    """Read the catalog and attach tag vectors; return (films, tag source used).

    text_only withholds every film's keywords, as ../shared/eval/strip_keywords.py does.
    """
    films = [f for _, f in read_tmdb(CSV)]
    if text_only:
        films = [{**f, "keywords": []} for f in films]
    tagged = tagger_vectors(films) if mode in ("tagger", "auto") else None
    if mode == "rich":
        tagged = [(rich_vector(f), None) for f in films]
    if tagged is None:
        if mode == "tagger":
            raise SystemExit("service.core.tagging does not import")
        tagged, mode = [(basic_vector(f), None) for f in films], "basic"
    for f, (vector, emb) in zip(films, tagged):
        f["vector"] = vector
        f["embedding"] = emb
    return films, mode


def score(lists: dict[int, list[int]], truth: dict, pool: set, kw: dict) -> tuple[float, float]:
    """Return (nDCG@10, keyword overlap@10) exactly as quality.py computes them."""
    scores, overlaps = [], []
    for q, gains in truth.items():
        ids = lists.get(q, [])
        if len(kw.get(q, ())) >= 3:
            top = [f for f in ids if f != q][:10]
            overlaps.append(sum(1 for f in top if kw[q] & kw.get(f, set())) / 10)
        scores.append(quality.ndcg([f for f in ids if f in pool and f != q], gains))
    return sum(scores) / len(scores), sum(overlaps) / max(1, len(overlaps))


def evaluate(films, params, truth, pool, kw, rows=None):
    """Build, rank the truth's query films, and return (ndcg, overlap, unexplained, items, seconds)."""
    t = time.time()
    cat = build_catalog(films, params)
    row_of = cat.row_of
    if rows is None:
        rows = [row_of[f"tmdb-{q}"] for q in truth if f"tmdb-{q}" in row_of]
    got = related_rows(cat, rows, params)
    lists = {int(cat.ids[r][5:]): [int(o[5:]) for o, _, _ in lst] for r, lst in zip(rows, got)}
    unexplained = sum(1 for lst in got for _, _, reasons in lst if not reasons)
    items = sum(len(lst) for lst in got)
    n, o = score(lists, truth, pool, kw)
    return n, o, unexplained, items, time.time() - t


def parse_value(raw: str):
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tags", choices=["basic", "rich", "tagger", "auto"], default="auto")
    ap.add_argument("--truth", default=str(EVAL / "dev_truth.json"))
    ap.add_argument(
        "--text-only",
        action="store_true",
        help="withhold the keywords (overlap is still measured with them)",
    )
    ap.add_argument("--set", action="append", default=[], help="param=value (JSON value)")
    ap.add_argument(
        "--all", action="store_true", help="time the full catalog, not only the queries"
    )
    a = ap.parse_args()
    films, source = load_films(a.tags, a.text_only)
    d = json.loads(Path(a.truth).read_text())
    pool = set(d["pool"])
    truth = {int(q): {int(k): v for k, v in g.items()} for q, g in d["queries"].items()}
    kw = quality.load_keywords()
    overrides = dict(s.split("=", 1) for s in a.set)
    params = SimilarityParams.from_mapping({k: parse_value(v) for k, v in overrides.items()})
    if a.all:
        t = time.time()
        cat = build_catalog(films, params)
        related_rows(cat, range(len(cat.ids)), params)
        print(f"full catalog: {len(films)} films, build + all lists in {time.time() - t:.2f}s")
    n, o, unexplained, items, secs = evaluate(films, params, truth, pool, kw)
    print(f"tags: {source}  films: {len(films)}  queries: {len(truth)}  time: {secs:.2f}s")
    print(f"params: {json.dumps(params.to_dict())}")
    print(f"recommended items without reasons: {unexplained} of {items}")
    refs = quality.REFERENCE_TEXT_ONLY if a.text_only else quality.REFERENCE
    for name, (v, ov) in refs.items():
        print(f"reference  {v:.4f}   {'  -  ' if ov is None else f'{ov:.3f}'}  {name}")
    print(f"keyword overlap@10: {o:.3f}")
    print(f"nDCG@10: {n:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
