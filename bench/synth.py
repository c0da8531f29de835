"""Make a synthetic catalog of N films whose tag frequencies follow the TMDB 5000 catalog's.

Usage: .venv/bin/python bench/synth.py N [--seed 5] [--out films.jsonl | --load PREFIX]

Each film copies the shape of a random TMDB film (how many genres and keywords it has,
its year, language, votes, popularity and overview, so plot tagging costs the same), then
draws that many distinct genres and keywords from the catalog-wide frequencies. Relative
tag frequencies therefore match TMDB at any N (a keyword held by 1% of TMDB films is held
by about 1% of the synthetic ones). Deterministic for a given seed. Films are in the API
schema (POST /films); ids are synth-000001, ...
"""

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402


def synth_films(n: int, seed: int = 5) -> list[dict]:
    """Return n synthetic films in the API schema."""
    real = c.tmdb_films()
    rng = np.random.default_rng(seed)
    genre_freq = Counter(g for f in real for g in f["genres"])
    kw_freq = Counter(k for f in real for k in f["keywords"])
    genres, gp = list(genre_freq), np.array(list(genre_freq.values()), dtype=float)
    kws, kp = list(kw_freq), np.array(list(kw_freq.values()), dtype=float)
    gp, kp = gp / gp.sum(), kp / kp.sum()
    templates = rng.integers(0, len(real), size=n)
    films = []
    for i, t in enumerate(templates.tolist(), 1):
        tpl = real[t]
        n_g, n_k = min(len(tpl["genres"]), len(genres)), min(len(tpl["keywords"]), len(kws))
        film = {
            "id": f"synth-{i:06d}",
            "title": f"Synthetic film {i}",
            "original_title": f"Synthetic film {i}",
            "year": tpl["year"],
            "original_language": tpl["original_language"],
            "genres": [genres[j] for j in rng.choice(len(genres), n_g, replace=False, p=gp)],
            "keywords": [kws[j] for j in rng.choice(len(kws), n_k, replace=False, p=kp)],
            "popularity": tpl["popularity"],
            "vote_average": tpl["vote_average"],
            "vote_count": tpl["vote_count"],
        }
        if tpl.get("synopsis"):
            film["synopsis"] = tpl["synopsis"]
        films.append({k: v for k, v in film.items() if v is not None})
    return films


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", type=int)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--out", help="write JSONL here (default: stdout)")
    ap.add_argument(
        "--load", metavar="PREFIX", help="load into Redis under this key prefix instead"
    )
    args = ap.parse_args()
    t0 = time.perf_counter()
    films = synth_films(args.n, args.seed)
    made = time.perf_counter() - t0
    if args.load:
        c.import_films(c.store_for(args.load), films, validate=False)
        print(
            f"{len(films)} films made in {made:.1f} s, loaded under {args.load} "
            f"in {time.perf_counter() - t0 - made:.1f} s",
            file=sys.stderr,
        )
        return
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    for film in films:
        out.write(json.dumps(film, ensure_ascii=False) + "\n")
    if args.out:
        out.close()
        print(f"{len(films)} films made in {made:.1f} s, written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
