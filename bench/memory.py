"""Redis memory per film at TMDB size: in all, per key family, and at the peak of a rebuild.

Usage: .venv/bin/python bench/memory.py [--workers 2] [--answers FILE] [--config NAME=VALUE ...]

Starts a redis-server of its own on a free loopback port (so used_memory is this catalog's
alone), writes the TMDB 5000 films through the store's film writes, runs a full rebuild on
real rq workers (`recs worker`), and prints used_memory growth per film, each key family's
share (MEMORY USAGE of every key, grouped by the key's name with the prefix, ids and version
numbers taken out), then runs a second rebuild while sampling used_memory every 50 ms: its peak
is the serving version and the next one side by side. The server's own used_memory_peak
(since it started: the import and both rebuilds) follows, as the sampler can miss a peak
that lasts less than 50 ms.

With --answers FILE it also refreshes REFRESHED films one at a time after the first rebuild
(the one-film path, which patches other films' lists), then writes the API's answers for
every film to FILE, one JSON line each: GET /api/v1/films/<id>/recommendations?limit=100 in
both languages and GET /api/v1/films/<id>/tags, without the fields that name a time or a job
(computed_at, job_id). Two runs (say, before and after a change of the stored format) give
the same file when every answer is the same: compare them with cmp.

--config sets a server setting (CONFIG SET) before anything is written, to see what one
changes, e.g. --config zset-max-listpack-entries=1024 for the postings.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import free_port  # noqa: E402


def start_server(tmp: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            tmp,
            "--daemonize",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            redis.Redis.from_url(url).ping()
            return proc, url
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


# films refreshed one at a time before the answers are written (--answers)
REFRESHED = 25


def family(key: str, prefix: str, ids: set[str]) -> str:
    """Name a key's family: the prefix, film ids, numbers and the tag or genre a key is about
    replaced by placeholders."""
    parts = key[len(prefix) :].split(":") if key.startswith(prefix) else key.split(":")
    if parts[0] in ("post", "genre") and len(parts) > 1:
        parts = [parts[0], "<tag>" if parts[0] == "post" else "<genre>"]
    out = []
    for part in parts:
        if part in ids:
            out.append("<id>")
        elif re.fullmatch(r"\d+", part):
            out.append("<n>")
        else:
            out.append(part)
    return ("" if key.startswith(prefix) else "(rq) ") + ":".join(out)


def breakdown(r, prefix: str, ids: set[str]) -> dict[str, list[int]]:
    sizes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for raw in r.scan_iter(count=5000):
        key = raw.decode()
        size = r.memory_usage(raw, samples=0) or 0
        fam = family(key, prefix, ids)
        sizes[fam][0] += 1
        sizes[fam][1] += size
    return sizes


def write_answers(url: str, prefix: str, ids: list[str], path: str) -> str:
    """Refresh REFRESHED films one at a time, then write every film's API answers to path
    (see the module's docstring); return their SHA-256."""
    import hashlib
    import json
    import logging

    from rq import SimpleWorker

    from bench import _common as c
    from service import create_app
    from service.queue import enqueue_refresh, get_queue

    app = create_app(
        {
            "REDIS_URL": url,
            "RECS_PREFIX": prefix,
            "QUEUE_NAME": "mem-answers",
            "RECS_API_KEYS": [c.API_KEY],
            "RECS_DATA_DIR": "/nonexistent",
            "RECS_RATE_READS": "1000000/second",
            "RECS_RATE_WRITES": "1000000/second",
        }
    )
    store = app.extensions["recs"]["store"]
    queue = get_queue(store.r, "mem-answers", app.extensions["recs"]["settings"])
    logging.getLogger("rq.worker").setLevel(logging.WARNING)
    for fid in ids[:: len(ids) // REFRESHED][:REFRESHED]:  # in order: the same patches each run
        enqueue_refresh(store, queue, fid)
        SimpleWorker([queue], connection=store.r, serializer=queue.serializer).work(burst=True)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {c.API_KEY}"
    digest = hashlib.sha256()
    with open(path, "w") as out:
        for fid in sorted(ids):
            answer = {"id": fid}
            for lang in ("de", "en"):
                body = client.get(f"/api/v1/films/{fid}/recommendations?limit=100&lang={lang}").json
                body.pop("computed_at", None)
                body.pop("job_id", None)
                answer[f"recommendations_{lang}"] = body
            answer["tags"] = client.get(f"/api/v1/films/{fid}/tags").json
            line = json.dumps(answer, ensure_ascii=False, sort_keys=True) + "\n"
            digest.update(line.encode())
            out.write(line)
    return digest.hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--answers", help="also write every film's API answers to this file")
    ap.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a redis-server setting to apply first (repeatable)",
    )
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="recs-mem-") as tmp:
        server, url = start_server(tmp)
        os.environ["RECS_BENCH_REDIS_URL"] = url
        from bench import _common as c

        prefix, queue = "mem:", "mem"
        store = c.store_for(prefix)
        r = store.r
        workers = []
        try:
            for setting in a.config:
                name, _, value = setting.partition("=")
                r.config_set(name, value)
                print(f"CONFIG SET {name} {value}")
            base = r.info("memory")["used_memory"]
            films = c.tmdb_films()
            c.import_films(store, films, validate=False)
            workers = c.start_workers(c.env_for(prefix, queue), a.workers)
            first = c.run_rebuild(store, queue)
            n = len(films)
            used = r.info("memory")["used_memory"] - base
            print(f"{n} films, rebuilt in {first['seconds']:.1f} s on {a.workers} workers")
            print(f"used_memory growth: {used / n / 1024:.2f} KB per film ({used / 2**20:.1f} MiB)")
            sizes = breakdown(r, prefix, {f["id"] for f in films})
            total = sum(s for _, s in sizes.values())
            print(f"\nMEMORY USAGE by key family ({total / n / 1024:.2f} KB per film in all):")
            for fam, (count, size) in sorted(sizes.items(), key=lambda kv: -kv[1][1])[:15]:
                print(f"  {size / n / 1024:7.2f} KB/film  {count:6d} keys  {fam}")
            if a.answers:
                digest = write_answers(url, prefix, [f["id"] for f in films], a.answers)
                print(f"\nAPI answers of {n} films written to {a.answers}, sha256 {digest}")
            peak, stop = [0], threading.Event()

            def sample():
                while not stop.is_set():
                    peak[0] = max(peak[0], r.info("memory")["used_memory"])
                    time.sleep(0.05)

            sampler = threading.Thread(target=sample)
            sampler.start()
            second = c.run_rebuild(store, queue, reuse_tags=True)
            stop.set()
            sampler.join()
            memory = r.info("memory")
            after = memory["used_memory"] - base
            print(
                f"\nsecond rebuild ({second['seconds']:.1f} s): peak {(peak[0] - base) / n / 1024:.2f} "
                f"KB per film while two versions stand (sampled every 50 ms; the server's "
                f"used_memory_peak since it started, both rebuilds included: "
                f"{(memory['used_memory_peak'] - base) / n / 1024:.2f}); "
                f"{after / n / 1024:.2f} KB per film after"
            )
        finally:
            c.stop_processes(workers)
            server.kill()
            server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
