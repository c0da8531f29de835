"""A synthetic catalog of N films (a million by default) on 2 workers: ranking rebuild time,
peak Redis memory, each worker's peak RSS, time to fresh after POST /films, serving ratio.

Usage: .venv/bin/python -u bench/million.py [--films 1000000] [--workers 2] [--inserts 10]
                                            [--serve-ids 5000] [--duration 6] [--repeats 2]
                                            [--no-serve] [--check 300] [--rebuilds 1]
                                            [--save-rdb DIR | --from-rdb FILE] [--load-only]

Starts a redis-server of its own on a free loopback port (so its memory is this catalog's
alone), writes N bench/synth.py films (TMDB frequencies, seed 5) through the store's film
writes, and stores their tags before the clock: the extraction's own functions
(workers.jobs.tag_film) run in this process, with the text parts memoised per text (a
synthetic film's synopsis is one of the 4,803 TMDB synopses, so its sentences, plot words
and embedding are computed once per synopsis). --check compares that many films' memoised
results with the plain tag_film first, and stops on a difference. Extraction at 4.7 ms a
film a worker would take about 40 minutes at a million on 2 workers; it is not timed here.

Timed: the ranking-only rebuild (`recs rebuild --reuse-tags`: snapshot, rank, write, switch,
from the stored tag vectors) on --workers `recs worker` processes, as deployed, from
queueing until the new version serves. Meanwhile used_memory and used_memory_rss are
sampled every 100 ms and each worker's RSS with its work horses every 50 ms (summed, so
pages a worker shares with its horse count twice), their PSS once a second (counted once);
the server's own used_memory_peak (since it started, the writes before the clock included)
is printed too. --rebuilds 2 runs a second rebuild beside the version the first made, for
the peak with a serving version. Then the web app under gunicorn: --inserts new films by POST /api/v1/films, one at a
time, each timed until its recommendations say "fresh"; then, unless --no-serve, the
recommendations endpoint against bench/serve.py's bare Flask+Redis reference with wrk, over
--serve-ids films (the reference reads a sorted set of their top 10, written for them).
"""

import argparse
import os
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._sampling import Sampler  # noqa: E402
from tests.helpers import free_port  # noqa: E402

GIB = 1024**3


def start_server(tmp: str, rdb: str | None = None):
    """Start a redis-server of our own on a free loopback port (from an RDB file if given)."""
    import subprocess

    import redis

    port = free_port()
    where = (
        ["--dir", str(Path(rdb).parent), "--dbfilename", Path(rdb).name] if rdb else ["--dir", tmp]
    )
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
        + ["no", "--daemonize", "no", *where],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 600  # loading a million films' RDB takes a while
    while time.monotonic() < deadline:
        try:
            if redis.Redis.from_url(url).info("persistence")["loading"] == 0:
                return proc, url
        except (redis.ConnectionError, redis.exceptions.BusyLoadingError):
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def memoised_tagger():
    """Return tag_film(film, reviews) with its text parts memoised per text (same results)."""
    from service.core import tagging
    from workers import jobs

    originals = (
        tagging.extract_text,
        tagging.film_plot_words,
        jobs.film_embedding,
        tagging.detect_language,
        jobs.plot_texts,
    )
    extract, plot_words, embed, detect, plot_texts = originals
    cached_detect = lru_cache(maxsize=None)(detect.__wrapped__)  # detect keeps 256 texts
    vocab = tagging.load_vocabulary()
    cached_extract = lru_cache(maxsize=None)(lambda text, lang: extract(text, lang, vocab))
    cached_plot = lru_cache(maxsize=None)(lambda s, r: plot_words(list(s), list(r)))

    def per_synopsis(fn):
        """fn(film, reviews, ...) memoised by the film's synopses when it has no reviews
        (what it reads then; the plot texts and the embedding read nothing else)."""
        cached = lru_cache(maxsize=None)(lambda texts: fn({"synopsis": dict(texts)}, []))

        def memo(film, reviews, *rest):
            synopsis = film.get("synopsis")
            if reviews or not isinstance(synopsis, dict):
                return fn(film, reviews, *rest)
            return cached(tuple(sorted(synopsis.items())))

        return memo

    memo_embed, memo_texts = per_synopsis(embed), per_synopsis(plot_texts)

    def memo_extract(text, lang, v):
        return cached_extract(text, lang) if v is vocab else extract(text, lang, v)

    def tag(film: dict, reviews: list[dict]):
        tagging.extract_text = memo_extract
        tagging.film_plot_words = lambda s, r: cached_plot(tuple(s), tuple(r))
        jobs.film_embedding, tagging.detect_language = memo_embed, cached_detect
        jobs.plot_texts = memo_texts
        try:
            return jobs.tag_film(film, reviews)
        finally:
            (
                tagging.extract_text,
                tagging.film_plot_words,
                jobs.film_embedding,
                tagging.detect_language,
                jobs.plot_texts,
            ) = originals

    return tag


def load_catalog(c, store, n: int, check: int, save_dir: str | None = None) -> float:
    """Write n synthetic films and their tags; return the seconds it took. With save_dir, the
    server then saves its data to save_dir/films-<n>.rdb."""
    from synth import synth_films

    from workers import jobs

    t0 = time.perf_counter()
    films = synth_films(n)
    tag = memoised_tagger()
    for film in films[:check]:
        plain, fast = jobs.tag_film({**film, "rev": 1}, []), tag({**film, "rev": 1}, [])
        if plain != fast:
            raise SystemExit(f"memoised tags differ from tag_film's for {film['id']}")
    if check:
        print(f"memoised tagging checked against tag_film on {min(check, n)} films", flush=True)
    loader = store.tag_loader()  # postings written whole at the end, not film by film
    step = 2000
    for start in range(0, n, step):
        part = films[start : start + step]
        store.load_new_films(part)
        stored = store.get_films([f["id"] for f in part])
        loader.add({f["id"]: tag(f, []) for f in stored})
        done = start + len(part)
        if done % 100000 == 0:
            print(f"  {done} films and tags written, {time.perf_counter() - t0:.0f} s", flush=True)
    print(f"  {loader.finish()} postings written, {time.perf_counter() - t0:.0f} s", flush=True)
    if save_dir:  # to dump.rdb in the server's --dir, which is save_dir; SAVE would outlast
        store.r.bgsave()  # the client's socket timeout at a million films
        while store.r.info("persistence")["rdb_bgsave_in_progress"]:
            time.sleep(1)
        if store.r.info("persistence")["rdb_last_bgsave_status"] != "ok":
            raise RuntimeError("BGSAVE failed")
        os.replace(Path(save_dir) / "dump.rdb", Path(save_dir) / f"films-{n}.rdb")
        print(f"  saved {save_dir}/films-{n}.rdb, {time.perf_counter() - t0:.0f} s", flush=True)
    return time.perf_counter() - t0


class RedisSampler(Sampler):
    """Sample used_memory and used_memory_rss in a thread; keep the peaks. Every `report`
    seconds, print the running rebuild's progress, the memory and the workers' RSS so far."""

    def __init__(self, store, samplers, every: float = 0.1, report: float = 60):
        super().__init__(every)
        self.store, self.samplers, self.report = store, samplers, report
        self.peak = self.peak_rss = 0
        self.t0 = self.last = time.perf_counter()

    def sample(self) -> None:
        mem = self.store.r.info("memory")
        self.peak = max(self.peak, mem["used_memory"])
        self.peak_rss = max(self.peak_rss, mem["used_memory_rss"])
        if time.perf_counter() - self.last < self.report:
            return
        self.last = time.perf_counter()
        rid = self.store.active_rebuild()
        done = self.store.rebuild_progress(rid) if rid else {}
        print(
            f"  {self.last - self.t0:6.0f} s: {done.get('phase')}, ranked {done.get('ranked', 0)}; "
            f"used_memory {mem['used_memory'] / GIB:.2f} GiB (peak {self.peak / GIB:.2f}); "
            "workers' RSS peaks "
            + ", ".join(f"{s.peak / GIB:.2f}" for s in self.samplers)
            + " GiB",
            flush=True,
        )


def freshness(c, base: str, films: list[dict]) -> list[float]:
    """POST each film and wait until its recommendations say fresh; return the waits."""
    from freshness import call, wait_fresh

    waits = []
    for film in films:
        t0 = time.perf_counter()
        call(base, "POST", "/api/v1/films", film)
        waits.append(wait_fresh(base, film["id"]) - t0)
    return waits


def serving(c, store, env: dict, ids: list[str], args) -> list[float]:
    """Return, per repeat, the recommendations endpoint's req/s over the reference's."""
    from serve import ENDPOINTS, gunicorn, run_wrk

    prefix = env["RECS_PREFIX"]
    pipe = store.r.pipeline(transaction=False)
    for fid, lst in zip(ids, store.get_lists(store.index_version(), ids)):
        items = (lst or {}).get("items") or []
        pipe.zadd(prefix + "ref:" + fid, {it.id: it.score for it in items[:10]} or {"none": 0})
    pipe.execute()
    ports = {"service": c.free_port(), "reference": c.free_port()}
    procs = [
        gunicorn("service:create_app()", ports["service"], env, None),
        gunicorn(
            "serve:create_reference_app()",
            ports["reference"],
            {**env, "PYTHONPATH": f"{c.ROOT}:{c.ROOT / 'bench'}"},
            None,
        ),
    ]
    try:
        c.wait_http(f"http://127.0.0.1:{ports['service']}/healthz")
        c.wait_http(f"http://127.0.0.1:{ports['reference']}/ref/{ids[0]}")
        urls = {
            "reference": (f"http://127.0.0.1:{ports['reference']}", ENDPOINTS["reference"]),
            "recommendations": (
                f"http://127.0.0.1:{ports['service']}",
                ENDPOINTS["recommendations"],
            ),
        }
        warm = argparse.Namespace(**{**vars(args), "duration": args.warmup})
        for url, fmt in urls.values():
            run_wrk(url, fmt, ids, warm)
        ratios = []
        for rep in range(args.repeats):
            got = {name: run_wrk(url, fmt, ids, args) for name, (url, fmt) in urls.items()}
            ratios.append(got["recommendations"]["rps"] / got["reference"]["rps"])
            print(
                f"  serving repeat {rep + 1}: reference {got['reference']['rps']:.0f} req/s, "
                f"recommendations {got['recommendations']['rps']:.0f} req/s "
                f"(p99 {got['recommendations']['p99_ms']:.1f} ms, non-2xx "
                f"{got['recommendations']['non2xx']}): {ratios[-1]:.2f}x",
                flush=True,
            )
        return ratios
    finally:
        c.stop_processes(procs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--films", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--inserts", type=int, default=10)
    ap.add_argument("--check", type=int, default=300)
    ap.add_argument("--serve-ids", type=int, default=5000)
    ap.add_argument("--no-serve", action="store_true")
    ap.add_argument("--duration", type=int, default=6, help="seconds per wrk run")
    ap.add_argument("--warmup", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save-rdb", metavar="DIR", help="save the loaded catalog to DIR/films-N.rdb")
    ap.add_argument("--from-rdb", metavar="FILE", help="start from a catalog --save-rdb saved")
    ap.add_argument("--load-only", action="store_true", help="stop once the catalog is written")
    ap.add_argument(
        "--rebuilds",
        type=int,
        default=1,
        help="ranking-only rebuilds in a row; from the second on a version serves beside it",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="recs-million-") as tmp:
        if args.save_rdb:
            os.makedirs(args.save_rdb, exist_ok=True)
        server, url = start_server(args.save_rdb or tmp, args.from_rdb)
        os.environ["RECS_BENCH_REDIS_URL"] = url
        import _common as c

        prefix, queue = "m:", "million"
        store = c.store_for(prefix)
        r, pool, web = store.r, None, None
        try:
            if args.from_rdb:
                base_mem = 0  # an empty server's own ~1 MB: within the rounding below
                args.films = len(store.film_ids())
                print(f"{args.films} films and their tags read from {args.from_rdb}", flush=True)
            else:
                base_mem = r.info("memory")["used_memory"]
                took = load_catalog(c, store, args.films, args.check, args.save_rdb)
                print(f"{args.films} films and their tags written in {took:.0f} s (not timed)")
            loaded = r.info("memory")["used_memory"]
            print(
                f"used_memory before the rebuild: {(loaded - base_mem) / GIB:.2f} GiB", flush=True
            )
            if args.load_only:
                return 0
            pool = c.Workers(prefix, queue, args.workers)
            for n_rebuild in range(1, args.rebuilds + 1):
                # the second and later write their lists beside a serving version's
                print(f"rebuild {n_rebuild} of {args.rebuilds}", flush=True)
                samplers = [c.RssSampler([pid], pss=True) for pid in pool.pids()]
                with RedisSampler(store, samplers) as mem:
                    for s in samplers:
                        s.__enter__()
                    try:
                        res = c.run_rebuild(store, queue, timeout=4 * 3600, reuse_tags=True)
                    finally:
                        for s in samplers:
                            s.__exit__(None, None, None)
                info = r.info("memory")
                before = res["marks"].get("ranking", res["seconds"])
                print(
                    f"ranking-only rebuild on {args.workers} workers: {res['seconds']:.1f} s wall "
                    f"({before:.1f} s before ranking, {res['seconds'] - before:.1f} s rank+write+switch)"
                )
                print(
                    f"Redis used_memory: {(info['used_memory'] - base_mem) / GIB:.2f} GiB after the "
                    f"rebuild, peak {mem.peak / GIB:.2f} GiB sampled during it (RSS "
                    f"{mem.peak_rss / GIB:.2f}), used_memory_peak {info['used_memory_peak'] / GIB:.2f} "
                    f"GiB since the server started; {(info['used_memory'] - base_mem) / args.films / 1024:.2f} "
                    f"KB a film after, {(mem.peak - base_mem) / args.films / 1024:.2f} at the peak"
                )
                print(
                    "worker peak RSS (with work horses, summed): "
                    + ", ".join(f"{s.peak / GIB:.2f} GiB" for s in samplers)
                    + "; peak PSS (pages the worker shares with its horse counted once): "
                    + ", ".join(f"{s.peak_pss / GIB:.2f} GiB" for s in samplers),
                    flush=True,
                )
            env = c.env_for(prefix, queue)
            port = c.free_port()
            from serve import gunicorn

            web = gunicorn("service:create_app()", port, env, None)
            web_base = f"http://127.0.0.1:{port}"
            c.wait_http(web_base + "/healthz")
            from synth import synth_films

            new = [
                {**f, "id": f["id"].replace("synth-", "new-")}
                for f in synth_films(args.inserts, seed=11)
            ]
            waits = freshness(c, web_base, new)
            print(
                f"POST /films to fresh, {len(waits)} films: median {c.median(waits):.3f} s, "
                f"max {max(waits):.3f} s",
                flush=True,
            )
            c.stop_processes([web])
            web = None
            if not args.no_serve:
                ids = store.film_ids()[:: max(1, args.films // args.serve_ids)][: args.serve_ids]
                ratios = serving(c, store, env, ids, args)
                print(
                    f"recommendations x reference (req/s), over {len(ids)} films: "
                    + ", ".join(f"{x:.2f}" for x in ratios)
                    + f"; median {c.median(ratios):.2f}"
                )
        finally:
            if web:
                c.stop_processes([web])
            if pool:
                pool.stop()
            server.kill()
            server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
