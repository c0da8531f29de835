"""How the ranking kernel's work and time per film grow with the catalog, in one process.

Usage: .venv/bin/python bench/rank_scale.py [--sizes 10000,50000,100000] [--rows 5000]
                                           [--replicate N] [--set key=value ...]

For each size, a bench/synth.py catalog is tagged by the service's tagger
(workers.jobs.tag_film, plots included: ~1-2 ms a film) and built into a snapshot
(service.core.similarity.build_catalog); then --rows query rows spread evenly over the catalog
are ranked and encoded (iter_related_packed, what a rebuild's ranking job runs) after a
warm-up. Prints per row: time, and the kernel's own counts (service/core/kernels.py `stats`):
capped postings read, candidates, candidates scored exactly (their upper bound reached
the k-th best lower bound) and the left-out ("rest") entries those scans read; and per
film, its tags and how many of them are left out of the capped postings. The work
counts show how much of the growth in time per row is more work and how much is the
same work on memory that no longer fits the CPU caches. No Redis is used.

--replicate N ranks a catalog N times the size of each one tagged: the tagged films again
under new ids, with their years moved by up to 3 and their vote counts scaled by 0.3-1.5
(seeded), so that a million-film catalog's kernel can be timed after tagging 100,000.
"""

import argparse
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402, F401  (puts the project on sys.path)
import numpy as np  # noqa: E402
from synth import synth_films  # noqa: E402

from service.core import similarity as sim  # noqa: E402
from workers import index  # noqa: E402
from workers.jobs import tag_film  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,50000,100000")
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a similarity knob, e.g. max_posting=100",
    )
    ap.add_argument("--replicate", type=int, default=1, help="rank N copies of each catalog")
    args = ap.parse_args()
    # the knobs a rebuild uses (RECS_SIM_* settings), then --set
    params = sim.SimilarityParams.from_mapping(
        {**asdict(index.params()), **dict(kv.split("=", 1) for kv in args.set)}
    )
    sim.compile_kernels()
    print(
        f"{'films':>7s} {'tag s':>6s} {'build s':>7s} {'ms/row':>7s} {'postings':>8s} "
        f"{'candidates':>10s} {'scored':>7s} {'rest read':>9s} {'tags/film':>9s} "
        f"{'rest/film':>9s}",
        flush=True,
    )
    for n in [int(x) for x in args.sizes.split(",")]:
        t0 = time.perf_counter()
        films = []
        for film in synth_films(n):
            _, vector, emb = tag_film({**film, "rev": 1}, [])
            films.append({**film, "vector": vector, "embedding": emb})
        tagged = time.perf_counter() - t0
        films = replicated(films, args.replicate)
        n = len(films)
        t0 = time.perf_counter()
        cat = sim.build_catalog(films, params)
        numbering = {tag: i for i, tag in enumerate(cat.reason_names)}

        def number(tags, numbering=numbering):
            return numbering

        sim.related_rows_packed(cat, [0], number, params)  # candidate index and kernel layout
        built = time.perf_counter() - t0
        rows = np.linspace(0, n - 1, min(args.rows, n)).astype(np.int64)
        stats = np.zeros(4)
        t0 = time.perf_counter()
        for _ in sim.iter_related_packed(cat, rows, number, params, stats=stats):
            pass
        per_row = (time.perf_counter() - t0) / len(rows)
        postings, cands, scored, rest = stats / len(rows)
        print(
            f"{n:7d} {tagged:6.1f} {built:7.1f} {per_row * 1e3:7.3f} {postings:8.0f} "
            f"{cands:10.0f} {scored:7.0f} {rest:9.0f} "
            f"{np.diff(cat.matrix.indptr).mean():9.1f} "
            f"{len(sim._layout(cat)['rest_indices']) / n:9.1f}",
            flush=True,
        )


def replicated(films: list[dict], times: int) -> list[dict]:
    """Return films and times - 1 copies of them under new ids, years moved by up to 3 and
    vote counts scaled by 0.3-1.5 (seeded): the same tag vectors, other priors."""
    rnd = random.Random(7)
    out = list(films)
    for copy in range(1, times):
        for film in films:
            again = {**film, "id": f"{film['id']}-{copy}"}
            if again.get("year"):
                again["year"] += rnd.randint(-3, 3)
            if again.get("vote_count") is not None:
                again["vote_count"] = max(0, int(again["vote_count"] * rnd.uniform(0.3, 1.5)))
            out.append(again)
    return out


if __name__ == "__main__":
    main()
