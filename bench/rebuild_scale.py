"""Full rebuild time and peak worker memory at several catalog sizes, against a TF-IDF reference.

Usage: .venv/bin/python bench/rebuild_scale.py [--sizes 5000,10000,50000,100000]
                                               [--workers 1,2] [--repeats 1] [--no-reference]
                                               [--text-only] [--again]

Per size, one full rebuild (`recs rebuild`: tags re-extracted from text) with the most
workers, then ranking-only rebuilds (`recs rebuild --reuse-tags`) with each worker count:
these start from the stored tags, as the reference does, and are the like-for-like figures.

5000 means the TMDB 5000 catalog (4,803 films, imported with service/importer.py); other
sizes are bench/synth.py catalogs. For each size and worker count: a fresh key prefix,
`recs worker` processes (forking rq workers, as deployed), `recs rebuild`'s job, wall time
until the new version serves, and the peak summed RSS of the worker processes and their
work horses. Then, in the same run, the reference over the same tag documents (the tags
the rebuild stored): scikit-learn TfidfVectorizer + cosine_similarity (chunks of 500
rows) + top-k by argpartition, in a child process whose RSS is sampled the same way,
timed without and with writing its lists (ids and scores) to Redis in pipelined batches.

--again runs the full rebuild a second time, as after a vocabulary change: every film's text
is unchanged, so each keeps its encoder bytes and only the tags are read again (the
"embedded" count says how many films the encoder read).

--text-only withholds every film's keywords, as ../shared/eval/strip_keywords.py does: a
catalog of films as a site adds them, which lends no keywords, so its full rebuild learns
the plot space instead (service/core/plotspace.py; docs/QUALITY.md, "Plot space").
"""

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

K = 50


def reference(prefix: str, ids: list[str], out) -> None:
    """Child process: TF-IDF cosine top-k over the stored tag documents; send timings."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity

    store = c.store_for(prefix)
    docs = []
    for start in range(0, len(ids), 5000):
        docs.extend(sorted(v) if v else [] for v in store.get_vectors(ids[start : start + 5000]))
    t0 = time.perf_counter()
    x = TfidfVectorizer(analyzer=lambda tags: tags).fit_transform(docs)
    lists = {}
    for start in range(0, x.shape[0], 500):
        sims = cosine_similarity(x[start : start + 500], x, dense_output=True)
        rows = np.arange(sims.shape[0])
        sims[rows, start + rows] = -np.inf
        top = np.argpartition(-sims, K, axis=1)[:, :K]
        vals = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-vals, axis=1)
        top, vals = np.take_along_axis(top, order, axis=1), np.take_along_axis(vals, order, axis=1)
        for r, (cols, scores) in enumerate(zip(top.tolist(), vals.tolist())):
            lists[ids[start + r]] = [[ids[j], round(s, 6)] for j, s in zip(cols, scores) if s > 0]
    compute = time.perf_counter() - t0
    pipe = store.r.pipeline(transaction=False)
    for n, (fid, items) in enumerate(lists.items(), 1):
        pipe.set(f"{prefix}refidx:{fid}", json.dumps({"items": items}, separators=(",", ":")))
        if n % 1000 == 0:
            pipe.execute()
    pipe.execute()
    out.put({"compute": compute, "with_write": time.perf_counter() - t0})


def run_reference(prefix: str, ids: list[str]) -> dict:
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    proc = ctx.Process(target=reference, args=(prefix, ids, out))
    proc.start()
    with c.RssSampler([proc.pid]) as rss:
        result = out.get()
        proc.join()
    return {**result, "peak_rss": rss.peak}


def load(store, n: int, text_only: bool = False) -> list[str]:
    if n == 5000:
        films, validate = c.tmdb_films(), True
    else:
        from synth import synth_films

        films, validate = synth_films(n), False
    if text_only:
        films = [{**f, "keywords": []} for f in films]
    c.import_films(store, films, validate=validate)
    return store.film_ids()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="5000,10000,50000,100000")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--text-only", action="store_true", help="every film's keywords withheld")
    ap.add_argument("--again", action="store_true", help="a second full rebuild, texts unchanged")
    args = ap.parse_args()
    gib = 1024**3
    counts = [int(w) for w in args.workers.split(",")]
    from config.settings import Settings

    threads = Settings.from_env().RANK_THREADS
    print(
        "ranking threads per job (RECS_RANK_THREADS): "
        + (str(threads) if threads else f"{len(os.sched_getaffinity(0))} CPUs / workers listening")
    )
    print(
        f"{'films':>7s} {'kind':>10s} {'workers':>7s} {'rebuild s':>9s} "
        f"{'before ranking s':>16s} {'rank+write s':>12s} {'peak RSS GiB':>12s} {'ref s':>7s} "
        f"{'ref+write s':>11s} {'ref GiB':>7s} {'x ref':>6s} {'x ref+write':>11s}",
        flush=True,
    )

    def row(n, kind, workers, res, peak, ref):
        before = res["marks"].get("ranking", res["seconds"])
        print(
            f"{n:7d} {kind:>10s} {workers:7d} {res['seconds']:9.1f} {before:16.1f} "
            f"{res['seconds'] - before:12.1f} {peak / gib:12.2f} "
            f"{ref['compute']:7.1f} {ref['with_write']:11.1f} {ref['peak_rss'] / gib:7.2f} "
            f"{res['seconds'] / ref['compute']:6.2f} {res['seconds'] / ref['with_write']:11.2f}",
            flush=True,
        )

    nan = {"compute": float("nan"), "with_write": float("nan"), "peak_rss": 0}
    for n in [int(s) for s in args.sizes.split(",")]:
        prefix, queue_name = c.new_prefix(f"scale{n}"), f"bench-scale-{os.urandom(4).hex()}"
        store = c.store_for(prefix)
        pool = None
        try:
            ids = load(store, n, args.text_only)
            # the full rebuild (tags re-extracted from text), once, with the most workers: it
            # also stores the tag vectors that the ranking-only rebuilds and the reference use
            for kind in ("full", "full-again") if args.again else ("full",):
                pool = c.Workers(prefix, queue_name, max(counts))
                with c.RssSampler(pool.pids()) as rss:
                    res = c.run_rebuild(store, queue_name, timeout=7200)
                pool.stop()
                pool = None
                row(len(ids), kind, max(counts), res, rss.peak, nan)
                per_film = res["marks"].get("ranking", res["seconds"]) * max(counts) / len(ids)
                print(
                    f"{'':7s} extraction: {per_film * 1000:.1f} ms per film per worker "
                    f"(extract+snapshot phase x workers / films); "
                    f"{res.get('embedded', 0)} of {len(ids)} films embedded",
                    flush=True,
                )
            ref = nan if args.no_reference else run_reference(prefix, ids)
            for workers in counts:
                for _ in range(args.repeats):
                    pool = c.Workers(prefix, queue_name, workers)
                    with c.RssSampler(pool.pids()) as rss:
                        res = c.run_rebuild(store, queue_name, timeout=7200, reuse_tags=True)
                    pool.stop()
                    pool = None
                    row(len(ids), "reuse-tags", workers, res, rss.peak, ref)
        finally:
            if pool:
                pool.stop()
            c.drop_prefix(prefix, queue_name)


if __name__ == "__main__":
    main()
