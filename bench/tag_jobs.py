"""A tag job's whole work for the films a site adds (no curated keywords): tags, borrowed
keywords, plot embedding; a rebuild's chunk at once (workers.jobs.tag_films) against the same
films one at a time (tag_film), in the same run.

Usage: .venv/bin/python bench/tag_jobs.py [--films 1000] [--chunk 2000] [--repeats 3]

The catalog is TMDB 5000. The films a site adds are --films of its films with their keywords
withheld (every fifth film, so all kinds of film are among them), read as English plots, and
the German plots of the judged queries (bench/data/judged_*.json), repeated to as many films.
The other TMDB films lend them keywords (the borrower a full rebuild learns). Both ways must
give the same tags, vectors and embeddings; the bench checks that before it times anything.
Prints ms a film both ways, and the ratio.
"""

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.relevance import CSV, DATA, load_queries  # noqa: E402
from config.settings import Settings  # noqa: E402
from service.core.tmdb import read_tmdb  # noqa: E402
from workers.jobs import tag_film, tag_films  # noqa: E402
from workers.rebuild import _chunks, learn_models  # noqa: E402


def site_films(n: int) -> tuple[list[dict], dict[str, list]]:
    """Return (the catalog, {language: the (film, reviews) pairs a site adds}): every fifth
    TMDB film, its keywords withheld, as English plots, and the judged German plots."""
    catalog = [film for _, film in read_tmdb(CSV)]
    for film in catalog[::5][:n]:
        film["keywords"] = []
    english = [({**f, "rev": 0}, []) for f in catalog[::5][:n]]
    plots = [
        e["film"]
        for path in sorted(DATA.glob("judged_*.json"))
        for e in load_queries(path)
        if "de" in e["film"]["synopsis"]
    ]
    german = [({**plots[i % len(plots)], "id": f"de-{i}", "rev": 0}, []) for i in range(n)]
    return catalog, {"en": english, "de": german}


def timed(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--films", type=int, default=1000, help="films a site adds, per language")
    ap.add_argument("--chunk", type=int, default=Settings.from_env().REBUILD_CHUNK)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    catalog, added = site_films(a.films)
    borrower, lenders, _, _ = learn_models(catalog, Settings.from_env())
    print(f"catalog: TMDB 5000, {lenders} films lend keywords; chunks of {a.chunk}")
    for lang, pairs in added.items():
        chunks = _chunks(pairs, a.chunk)  # as a rebuild cuts its films into jobs
        one_by_one = [tag_film(film, reviews, borrower) for film, reviews in pairs]
        batched = [item for chunk in chunks for item in tag_films(chunk, borrower)]
        if batched != one_by_one:
            print(f"{lang}: a chunk's tags differ from the films' own, one at a time")
            return 1
        borrowed = sum(any(t.startswith("kwb:") for t in v) for _, v, _ in batched)
        alone = timed(lambda p=pairs: [tag_film(f, r, borrower) for f, r in p], a.repeats)
        chunked = timed(lambda c=chunks: [tag_films(x, borrower) for x in c], a.repeats)
        n = len(pairs)
        print(
            f"{lang}: {n} films ({borrowed} borrowed): one at a time {alone / n * 1000:.2f} ms "
            f"a film, in chunks {chunked / n * 1000:.2f} ms a film: {chunked / alone:.2f}x "
            f"(best of {a.repeats})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
