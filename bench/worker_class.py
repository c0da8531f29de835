"""Compare gunicorn worker classes on the service side by side: req/s, p99, CPU per request.

Usage: .venv/bin/python bench/worker_class.py [--rounds 3] [--duration 8]
                                              [--variants sync,gthread:32,nginx]

Imports TMDB 5000 on a fresh prefix, rebuilds it with 2 rq workers, starts one gunicorn per
variant (config/gunicorn.conf.py, 2 workers; `sync`, the config's default, or `gthread:N`, the
threaded worker `recs serve` runs, with GUNICORN_THREADS=N; `nginx`, sync behind Debian's nginx
running config/nginx.conf as compose does, its CPU counted with gunicorn's), then for each round loads each variant in turn with the same
wrk command (bench/serve.py's, `wrk -t2 -c32`) on related titles and on the film page. Variants alternate within a round, so the machine's load drifts over all of them
alike; medians over the rounds are printed.
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402
from serve import ENDPOINTS, cpu_seconds, gunicorn, run_wrk  # noqa: E402


def variant_env(env: dict, variant: str) -> dict:
    env = {k: v for k, v in env.items() if k not in ("GUNICORN_WORKER_CLASS", "GUNICORN_THREADS")}
    if variant in ("sync", "nginx"):  # the config's default (compose's, behind nginx)
        return env
    return {
        **env,
        "GUNICORN_WORKER_CLASS": "config.gunicorn_worker.JsonErrorThreadWorker",
        "GUNICORN_THREADS": variant.split(":", 1)[1],
    }


def start_nginx(listen: int, upstream: int) -> tuple[subprocess.Popen, str]:
    """Run config/nginx.conf (compose's proxy) on loopback in front of upstream; return it and its prefix."""
    prefix = tempfile.mkdtemp(prefix="bench-nginx-")
    os.chmod(prefix, 0o755)  # its workers run as nobody under root
    os.makedirs(os.path.join(prefix, "tmp"))
    conf = (c.ROOT / "config/nginx.conf").read_text()
    conf = conf.replace("listen 8000;", f"listen 127.0.0.1:{listen};")
    conf = conf.replace("server web:8000;", f"server 127.0.0.1:{upstream};")
    Path(prefix, "nginx.conf").write_text(conf)
    proc = subprocess.Popen(
        [
            shutil.which("nginx") or "/usr/sbin/nginx",
            "-p",
            prefix + "/",
            "-c",
            os.path.join(prefix, "nginx.conf"),
            "-g",
            "daemon off;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, prefix


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    ap.add_argument("--warmup", type=int, default=4)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", default="sync,gthread:32")
    args = ap.parse_args()
    variants = args.variants.split(",")
    endpoints = {name: ENDPOINTS[name] for name in ("recommendations", "page")}

    prefix, queue_name = c.new_prefix("wclass"), "bench-wclass-" + os.urandom(4).hex()
    store, procs, workers, prefixes = c.store_for(prefix), {}, None, []
    try:
        films = c.tmdb_films()
        c.import_films(store, films)
        workers = c.Workers(prefix, queue_name, 2)
        c.run_rebuild(store, queue_name)
        workers.stop()
        ids = [f["id"] for f in films]
        random.Random(5).shuffle(ids)
        env = c.env_for(prefix, queue_name)
        ports = {v: c.free_port() for v in variants}
        for v in variants:
            web_port = c.free_port() if v == "nginx" else ports[v]
            procs[v] = [gunicorn("service:create_app()", web_port, variant_env(env, v), None)]
            if v == "nginx":
                proxy, prefix = start_nginx(ports[v], web_port)
                procs[v].append(proxy)
                prefixes.append(prefix)
        for v in variants:
            c.wait_http(f"http://127.0.0.1:{ports[v]}/healthz")
        warm = argparse.Namespace(**{**vars(args), "duration": args.warmup})
        for v in variants:
            for fmt in endpoints.values():
                run_wrk(f"http://127.0.0.1:{ports[v]}", fmt, ids, warm)
        print(
            f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.rounds} rounds, "
            f"variants alternating: {', '.join(variants)}"
        )
        runs = {(v, e): [] for v in variants for e in endpoints}
        for rnd in range(args.rounds):
            for name, fmt in endpoints.items():
                for v in variants:
                    before = sum(cpu_seconds(proc.pid) for proc in procs[v])
                    res = run_wrk(f"http://127.0.0.1:{ports[v]}", fmt, ids, args)
                    used = sum(cpu_seconds(proc.pid) for proc in procs[v]) - before
                    res["web_us"] = used / (res["rps"] * args.duration) * 1e6
                    runs[v, name].append(res)
                    print(
                        f"  round {rnd + 1} {name:15s} {v:11s} {res['rps']:6.0f} req/s  p99 {res['p99_ms']:6.1f} ms"
                        f"  web {res['web_us']:5.0f} us/request  errors {res['errors']} non-2xx {res['non2xx']}",
                        flush=True,
                    )
        print("\nmedians")
        print(
            f"{'endpoint':16s} {'variant':11s} {'req/s':>7s} {'x sync':>7s} {'p99 ms':>7s} {'web us/req':>10s}"
        )
        for name in endpoints:
            base = runs.get(("sync", name))
            for v in variants:
                rs = runs[v, name]
                ratio = (
                    c.median([r["rps"] / b["rps"] for r, b in zip(rs, base)])
                    if base
                    else float("nan")
                )
                print(
                    f"{name:16s} {v:11s} {c.median([r['rps'] for r in rs]):7.0f} {ratio:7.2f} "
                    f"{c.median([r['p99_ms'] for r in rs]):7.1f} {c.median([r['web_us'] for r in rs]):10.0f}"
                )
    finally:
        c.stop_processes([proc for group in procs.values() for proc in group])
        for path in prefixes:
            shutil.rmtree(path, ignore_errors=True)
        if workers:
            workers.stop()
        c.drop_prefix(prefix, queue_name)


if __name__ == "__main__":
    main()
