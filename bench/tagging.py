"""Benchmark tag extraction: precision/recall on labelled synopses, on trap-laden plots (word
sense) and on TMDB overviews, and the speed of re-extracting the TMDB 5000 films.

Run: .venv/bin/python bench/tagging.py [--threshold 0.5] [--errors] [--tmdb PATH]
     [--no-senses] [--tune-only] [--vocabulary PATH]
"""

import argparse
import csv
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.core import pos  # noqa: E402
from service.core.tagging import extract_tags  # noqa: E402
from service.core.vocab import KW_PREFIX, load_vocabulary  # noqa: E402

DATA = ROOT / "bench" / "data"
SHARED = Path(
    os.environ.get("RECS_SHARED", Path(__file__).resolve().parents[2] / "shared")
)  # ../shared
TMDB = SHARED / "data/tmdb5000/tmdb_5000_movies.csv"


def predicted(tags: dict, threshold: float) -> set[str]:
    """Return the tags the synopsis itself gave (parent-only tags are not predictions)."""
    return {t for t, v in tags.items() if "synopsis" in v["sources"] and v["weight"] >= threshold}


class Score:
    """Per-tag true/false positives and false negatives."""

    def __init__(self):
        self.tp, self.fp, self.fn = Counter(), Counter(), Counter()

    def add(self, pred: set[str], truth: set[str]) -> None:
        self.tp.update(pred & truth)
        self.fp.update(pred - truth)
        self.fn.update(truth - pred)

    def micro(self) -> tuple[float, float, float]:
        tp, fp, fn = sum(self.tp.values()), sum(self.fp.values()), sum(self.fn.values())
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)

    def print_tags(self, limit: int | None = None) -> None:
        tags = sorted(
            set(self.tp) | set(self.fp) | set(self.fn), key=lambda t: (-self.support(t), t)
        )
        print(f"  {'tag':24} {'P':>5} {'R':>5} {'tp':>5} {'fp':>5} {'fn':>5}")
        for tag in tags[:limit]:
            tp, fp, fn = self.tp[tag], self.fp[tag], self.fn[tag]
            p = f"{tp / (tp + fp):.2f}" if tp + fp else "  -"
            r = f"{tp / (tp + fn):.2f}" if tp + fn else "  -"
            print(f"  {tag:24} {p:>5} {r:>5} {tp:>5} {fp:>5} {fn:>5}")

    def support(self, tag: str) -> int:
        return self.tp[tag] + self.fn[tag]


def bench_labelled(lang: str, vocab, threshold: float, show_errors: bool) -> tuple[float, float]:
    path = DATA / f"tagging_{lang}.jsonl"
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    score = Score()
    start = time.perf_counter()
    for item in items:
        pred = predicted(extract_tags({"synopsis": {lang: item["text"]}}, [], vocab), threshold)
        truth = set(item["tags"])
        score.add(pred, truth)
        if show_errors and pred != truth:
            print(f"  {item['id']}: missed {sorted(truth - pred)} extra {sorted(pred - truth)}")
    elapsed = time.perf_counter() - start
    p, r, f = score.micro()
    print(f"\n== {path.relative_to(ROOT)}: {len(items)} synopses, {elapsed * 1000:.0f} ms")
    score.print_tags()
    print(f"  micro P={p:.3f} R={r:.3f} F1={f:.3f}  (threshold {threshold})")
    return p, r


def read_jsonl(path: Path) -> list[dict]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def _traps(item: dict) -> list[dict]:
    """Return an item's traps {"tag", "words", "kind"}: tags its text must not give (null: none)."""
    return [t for t in item.get("traps") or [] if t.get("tag")]


def bench_senses(
    path: Path, vocab, threshold: float, show_errors: bool
) -> tuple[float, float, int]:
    """Score one half of the trap-laden plots: micro P/R, and every trap that fires.

    A trap fires when its tag is predicted (from the plot, weight >= threshold); a trap tag
    that is there below the threshold is counted apart.
    """
    items = read_jsonl(path)
    score, fired, weak, n_traps = Score(), [], 0, 0
    for item in items:
        tags = extract_tags({"synopsis": {item["lang"]: item["text"]}}, [], vocab)
        pred, truth = predicted(tags, threshold), set(item["tags"])
        score.add(pred, truth)
        if show_errors and pred != truth:
            print(f"  {item['id']}: missed {sorted(truth - pred)} extra {sorted(pred - truth)}")
        for trap in _traps(item):
            n_traps += 1
            hit = tags.get(trap["tag"])
            if trap["tag"] in pred:
                fired.append((item["id"], trap, hit))
            elif hit and "synopsis" in hit["sources"]:
                weak += 1
    p, r, f = score.micro()
    print(f"\n== {path.relative_to(ROOT)}: {len(items)} plots, {n_traps} traps")
    for item_id, trap, hit in fired:
        print(
            f"  trap fired: {item_id} {trap['tag']} ({hit['weight']:.2f}) from {hit['evidence']}"
            f" [{trap.get('kind')}: {trap['words']!r}]"
        )
    print(
        f"  micro P={p:.3f} R={r:.3f} F1={f:.3f}, traps fired {len(fired)}/{n_traps}"
        f" ({weak} more below the threshold)  (threshold {threshold})"
    )
    return p, r, len(fired)


def read_tmdb(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [
            {
                "id": row["id"],
                "title": row["title"],
                "genres": [g["name"] for g in json.loads(row["genres"] or "[]")],
                "keywords": [k["name"] for k in json.loads(row["keywords"] or "[]")],
                "overview": row["overview"] or "",
            }
            for row in csv.DictReader(fh)
        ]


def own_tags(film: dict, vocab) -> set[str]:
    """The tags a TMDB film's own genres and keywords map to: what its overview is checked by."""
    truth = {t for g in film["genres"] for t in vocab.map_genre(g)}
    return truth | {t for k in film["keywords"] for t in vocab.map_keyword(k)}


def bench_tmdb(path: Path, vocab, threshold: float) -> None:
    films = read_tmdb(path)
    tagged = pos.tag_clause.cache_info().currsize
    start, cpu = time.perf_counter(), time.process_time()
    full = [
        extract_tags(
            {"genres": f["genres"], "keywords": f["keywords"], "synopsis": {"en": f["overview"]}},
            [],
            vocab,
        )
        for f in films
    ]
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    n_tags = sum(map(len, full))
    kw = sum(1 for tags in full for t in tags if t.startswith(KW_PREFIX))
    print(f"\n== TMDB 5000 ({path}): {len(films)} films")
    print(
        f"  full extraction (genres + keywords + overview): {elapsed:.2f} s, "
        f"{elapsed / len(films) * 1000:.2f} ms/film, {n_tags / len(films):.1f} tags/film "
        f"({kw / len(films):.1f} kw:), one process, {cpu:.2f} s CPU"
    )
    print(f"  part-of-speech tagged: {pos.tag_clause.cache_info().currsize - tagged} clauses")
    score, genre_score = Score(), Score()
    for film, tags in zip(films, full, strict=True):
        truth = own_tags(film, vocab)
        pred = predicted(tags, threshold)
        score.add(pred, truth)
        genres = {t for t in truth | pred if vocab.tags[t].kind == "genre"}
        genre_score.add(pred & genres, truth & genres)
    p, r, f = score.micro()
    gp, gr, gf = genre_score.micro()
    print("  overview tags vs the tags the film's own genres + keywords map to:")
    score.print_tags(limit=25)
    print(f"  micro P={p:.3f} R={r:.3f} F1={f:.3f}  (all vocabulary tags, threshold {threshold})")
    print(f"  micro P={gp:.3f} R={gr:.3f} F1={gf:.3f}  (genre tags only)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=0.5, help="min weight of a prediction")
    parser.add_argument("--errors", action="store_true", help="list each synopsis's misses")
    parser.add_argument("--tmdb", type=Path, default=TMDB, help="tmdb_5000_movies.csv")
    parser.add_argument("--no-senses", action="store_true", help="drop the sense rules")
    parser.add_argument(
        "--tune-only", action="store_true", help="leave out the held-out half (while tuning)"
    )
    parser.add_argument("--vocabulary", help="a vocabulary file or folder (default: config's)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    vocab = load_vocabulary(args.vocabulary, senses=not args.no_senses)
    print(f"vocabulary: {len(vocab.tags)} tags, loaded in {time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    pos.load_taggers()  # as a worker would, once
    print(f"HanTa's German and English models loaded in {time.perf_counter() - start:.2f} s")
    for lang in ("de", "en"):
        bench_labelled(lang, vocab, args.threshold, args.errors)
    for half in ("tune",) if args.tune_only else ("tune", "heldout"):
        path = DATA / f"sense_{half}.jsonl"
        if path.exists():
            bench_senses(path, vocab, args.threshold, args.errors and half == "tune")
        else:
            print(f"\n({path.relative_to(ROOT)} not found)")
    if args.tmdb.exists():
        bench_tmdb(args.tmdb, vocab, args.threshold)
    else:
        print(f"\n(TMDB check skipped: {args.tmdb} not found)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
