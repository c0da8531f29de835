"""Load the service and a bare Flask reference side by side under gunicorn with wrk; print ratios.

Usage: .venv/bin/python bench/serve.py [--duration 10] [--repeats 3] [--connections 32]
                                       [--threads 2] [--workers 1] [--warmup 8]
                                       [--warm-visits 2] [--warm-rounds 8]
                                       [--page-cache N] [--profile]

Both apps run under config/gunicorn.conf.py (the compose settings) on loopback. The
service gets the TMDB 5000 catalog (service/importer.py + service/core/tmdb.read_tmdb) on a
fresh key prefix, rebuilt by rq workers; the reference is one route reading 10 ids with
scores from a Redis sorted set (ZREVRANGE) and returning them as JSON. Each repeat loads
the reference, then each service endpoint, with the same wrk command, so every ratio is
taken between runs seconds apart. Each run also prints the CPU time per request of the
app's gunicorn processes and of redis-server (when it runs on this machine), read from
/proc before and after. Medians over the repeats are printed; --profile also
runs pyinstrument over 2,000 in-process recommendation requests.

Each endpoint is loaded first, for --warmup seconds at a time until it has had --warm-visits
requests per id and gunicorn worker (at most --warm-rounds times), so that every worker has
seen most ids: the page caches (RECS_PAGE_CACHE, RECS_HTML_CACHE) then serve what they made,
as on a site whose pages are read more than once. A render costs several times a kept page,
so a fixed time would leave the film page's measurement half cold. --page-cache 0 measures
the service with the related-titles cache off, every page made from the list and the cards.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

ENDPOINTS = {
    "reference": "/ref/%s",
    "recommendations": "/api/v1/films/%s/recommendations?limit=10",
    "film": "/api/v1/films/%s",
    "page": "/films/%s",
}

WRK_SCRIPT = """
local ids = {%(ids)s}
local fmt = "%(fmt)s"
local counter = 0
local step = 1
function setup(thread)
  thread:set("offset", math.random(1, #ids))
end
function request()
  counter = counter + 1
  local id = ids[((counter + (offset or 0)) %% #ids) + 1]
  return wrk.format("GET", string.format(fmt, id), {["Authorization"] = "Bearer %(key)s"})
end
function done(summary, latency, requests)
  io.write(string.format("WRKJSON {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"p50_us\\": %%d, " ..
    "\\"p99_us\\": %%d, \\"errors\\": %%d, \\"non2xx\\": %%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""


def create_reference_app():
    """Return the bare reference app: GET /ref/<id> answers 10 (id, score) from a sorted set."""
    import redis
    from flask import Flask, jsonify

    app = Flask(__name__)
    r = redis.Redis.from_url(os.environ["REDIS_URL"])
    prefix = os.environ["RECS_PREFIX"]

    @app.get("/ref/<string:film_id>")
    def ref(film_id):
        rows = r.zrevrange(prefix + "ref:" + film_id, 0, 9, withscores=True)
        return jsonify(
            {"film_id": film_id, "results": [{"id": m.decode(), "score": s} for m, s in rows]}
        )

    return app


def gunicorn(app: str, port: int, env: dict, workers: int | None) -> subprocess.Popen:
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
    if workers:
        env["GUNICORN_WORKERS"] = str(workers)
    return subprocess.Popen(
        [c.PY, "-m", "gunicorn", "-c", str(c.ROOT / "config/gunicorn.conf.py"), app],
        cwd=c.ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def cpu_seconds(pid: int | None) -> float:
    """Return the CPU time of a process and its children, the exited ones included (a
    gunicorn master's workers, also those recycled meanwhile), or nan when not readable."""
    import psutil

    try:
        proc = psutil.Process(pid)
        own = proc.cpu_times()
        total = own.user + own.system + own.children_user + own.children_system
        for child in proc.children(recursive=True):
            times = child.cpu_times()
            total += times.user + times.system
        return total
    except (psutil.Error, TypeError, ValueError):
        return float("nan")


def run_wrk(base: str, fmt: str, ids: list[str], args) -> dict:
    script = WRK_SCRIPT % {
        "ids": ",".join(json.dumps(i) for i in ids),
        "fmt": fmt,
        "key": c.API_KEY,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{args.threads}",
                f"-c{args.connections}",
                f"-d{args.duration}s",
                "--timeout",
                "5s",
                "-s",
                f.name,
                base,
            ],
            capture_output=True,
            text=True,
            timeout=args.duration + 60,
        )
    finally:
        os.unlink(f.name)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON "))
    raw = json.loads(line[len("WRKJSON ") :])
    return {
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1e3,
        "p99_ms": raw["p99_us"] / 1e3,
        "errors": raw["errors"],
        "non2xx": raw["non2xx"],
    }


def profile_requests(prefix: str, ids: list[str], n: int = 2000) -> None:
    """Profile the recommendations request path in-process (test client) with pyinstrument."""
    from pyinstrument import Profiler

    from service import create_app
    from service.recommendations import warm_labels

    app = create_app(
        {
            "REDIS_URL": c.REDIS_URL,
            "RECS_PREFIX": prefix,
            "RECS_DATA_DIR": "/nonexistent",
            "RECS_API_KEYS": c.API_KEY,
        }
    )
    warm_labels(app)  # as gunicorn's master does before forking (config/gunicorn.conf.py)
    client = app.test_client()
    for fid in ids[:50]:
        client.get(f"/api/v1/films/{fid}/recommendations?limit=10")
    profiler = Profiler(interval=0.0005)
    t0 = time.perf_counter()
    with profiler:
        for i in range(n):
            client.get(f"/api/v1/films/{ids[i % len(ids)]}/recommendations?limit=10")
    dt = time.perf_counter() - t0
    print(f"\nin-process: {n / dt:.0f} recommendation requests/s (test client, profiler on)")
    print(profiler.output_text(unicode=False, color=False, show_all=False)[:6000])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: config)")
    ap.add_argument("--rq-workers", type=int, default=2, help="rq workers for the initial rebuild")
    ap.add_argument("--warmup", type=int, default=8, help="seconds of each warm-up round")
    ap.add_argument(
        "--warm-visits",
        type=float,
        default=2,
        help="warm each endpoint until it has had this many requests per id and worker",
    )
    ap.add_argument("--warm-rounds", type=int, default=8, help="at most this many rounds")
    ap.add_argument(
        "--page-cache",
        type=int,
        default=None,
        help="RECS_PAGE_CACHE for the service (default: the settings' default)",
    )
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()

    prefix, queue_name = c.new_prefix("serve"), "bench-serve-" + os.urandom(4).hex()
    store = c.store_for(prefix)
    procs = []
    workers = None
    try:
        t0 = time.perf_counter()
        films = c.tmdb_films()
        report = c.import_films(store, films)
        print(
            f"imported TMDB 5000: {report['created']} films in {time.perf_counter() - t0:.1f} s "
            f"(prefix {prefix})"
        )
        workers = c.Workers(prefix, queue_name, args.rq_workers)
        result = c.run_rebuild(store, queue_name)
        workers.stop()
        print(f"rebuild with {args.rq_workers} rq workers: {result['seconds']:.1f} s")
        ids = [f["id"] for f in films]
        random.Random(5).shuffle(ids)
        # the reference reads a sorted set of 10 (id, score) per film, for the same ids
        pipe = store.r.pipeline(transaction=False)
        for fid, lst in zip(ids, store.get_lists(store.index_version(), ids)):
            items = (lst or {}).get("items") or []
            pipe.zadd(prefix + "ref:" + fid, {it.id: it.score for it in items[:10]} or {"none": 0})
        pipe.execute()

        env = c.env_for(prefix, queue_name)
        if args.page_cache is not None:
            env["RECS_PAGE_CACHE"] = str(args.page_cache)
        ports = {"service": c.free_port(), "reference": c.free_port()}
        procs.append(gunicorn("service:create_app()", ports["service"], env, args.workers))
        print(f"page cache: {env.get('RECS_PAGE_CACHE', 'default')} pages per web worker")
        procs.append(
            gunicorn(
                "serve:create_reference_app()",
                ports["reference"],
                {**env, "PYTHONPATH": f"{c.ROOT}:{c.ROOT / 'bench'}"},
                args.workers,
            )
        )
        c.wait_http(f"http://127.0.0.1:{ports['service']}/healthz")
        c.wait_http(f"http://127.0.0.1:{ports['reference']}/ref/{ids[0]}")
        sample = json.loads(
            __import__("urllib.request")
            .request.urlopen(
                f"http://127.0.0.1:{ports['service']}/api/v1/films/{ids[0]}/recommendations?limit=10"
            )
            .read()
        )
        first = sample["results"][0]
        print(f"sample item: {json.dumps(first, ensure_ascii=False)[:200]}")
        assert first["title"] and first["reasons"], "titles and reasons expected in the response"

        print(
            f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, "
            f"{args.repeats} repeats, rotating over {len(ids)} film ids"
        )
        warm = argparse.Namespace(**{**vars(args), "duration": args.warmup})
        web_workers = args.workers or int(env.get("GUNICORN_WORKERS", "2"))
        wanted = args.warm_visits * len(ids) * web_workers
        for name, fmt in ENDPOINTS.items():  # first requests load caches in every worker
            base = f"http://127.0.0.1:{ports['reference' if name == 'reference' else 'service']}"
            done, rounds = 0.0, 0
            while rounds < max(args.warm_rounds, 1) and (rounds == 0 or done < wanted):
                done += run_wrk(base, fmt, ids, warm)["rps"] * args.warmup
                rounds += 1
            print(
                f"  warm-up {name:15s} {done:7.0f} requests in {rounds} rounds of {args.warmup} s"
            )
        runs = {name: [] for name in ENDPOINTS}
        redis_pid = store.r.info("server").get("process_id")
        for rep in range(args.repeats):
            for name, fmt in ENDPOINTS.items():
                port = ports["reference" if name == "reference" else "service"]
                app_proc = procs[1] if name == "reference" else procs[0]
                before = cpu_seconds(app_proc.pid), cpu_seconds(redis_pid)
                res = run_wrk(f"http://127.0.0.1:{port}", fmt, ids, args)
                done = res["rps"] * args.duration
                res["worker_us"] = (cpu_seconds(app_proc.pid) - before[0]) / done * 1e6
                res["redis_us"] = (cpu_seconds(redis_pid) - before[1]) / done * 1e6
                runs[name].append(res)
                print(
                    f"  repeat {rep + 1} {name:15s} {res['rps']:7.0f} req/s  p50 {res['p50_ms']:6.2f} ms"
                    f"  p99 {res['p99_ms']:6.2f} ms  errors {res['errors']} non-2xx {res['non2xx']}"
                    f"  CPU/request: web {res['worker_us']:4.0f} us, Redis {res['redis_us']:3.0f} us",
                    flush=True,
                )
        print("\nmedians (ratios: per repeat against that repeat's reference run, then the median)")
        print(
            f"{'endpoint':16s} {'req/s':>8s} {'x ref':>6s} {'p50 ms':>7s} {'x ref':>6s} "
            f"{'p99 ms':>7s} {'x ref':>6s} {'web us/req':>10s} {'Redis us/req':>12s}"
        )
        ref = runs["reference"]
        for name, rs in runs.items():
            rps_ratio = c.median([r["rps"] / b["rps"] for r, b in zip(rs, ref)])
            p50_ratio = c.median([r["p50_ms"] / b["p50_ms"] for r, b in zip(rs, ref)])
            p99_ratio = c.median([r["p99_ms"] / b["p99_ms"] for r, b in zip(rs, ref)])
            print(
                f"{name:16s} {c.median([r['rps'] for r in rs]):8.0f} {rps_ratio:6.2f} "
                f"{c.median([r['p50_ms'] for r in rs]):7.2f} {p50_ratio:6.2f} "
                f"{c.median([r['p99_ms'] for r in rs]):7.2f} {p99_ratio:6.2f} "
                f"{c.median([r['worker_us'] for r in rs]):10.0f} "
                f"{c.median([r['redis_us'] for r in rs]):12.0f}"
            )
        if args.profile:
            profile_requests(prefix, ids)
    finally:
        c.stop_processes(procs)
        if workers:
            workers.stop()
        c.drop_prefix(prefix, queue_name)


if __name__ == "__main__":
    main()
