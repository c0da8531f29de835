"""Soak: readers at full speed and a writer, while a full rebuild runs; count 5xx, lost writes, lag.

Usage: .venv/bin/python bench/soak.py [--seconds 60] [--films 2000] [--readers 8] [--workers 2]

Starts its own redis-server (AOF on, appendfsync everysec as in config/redis.conf) on a free
loopback port in a temporary directory, the service under gunicorn with config/gunicorn.conf.py
and `recs worker` processes; loads a slice of the TMDB 5000 table and builds the index. Then,
for --seconds, reader threads request related titles, the film page and the film JSON of random
films as fast as they can, one writer thread adds films, changes films and adds and changes
reviews, and a full rebuild is queued at the start. After the load it prints requests, 5xx,
lost writes (every acknowledged film, film change and review read back) and the time until
every film's list is computed from its latest revision. Everything is killed and removed at
the end. Exit status 1 when a 5xx, a lost write or a list still stale after --bound s is seen.
"""

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from itertools import islice
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config.settings import Settings  # noqa: E402
from service.core.tmdb import read_tmdb  # noqa: E402
from service.importer import import_rows  # noqa: E402
from service.queue import enqueue_rebuild, get_queue  # noqa: E402
from service.storage import Store  # noqa: E402

TMDB_CSV = Path("/work/shared/data/tmdb5000/tmdb_5000_movies.csv")
RECS = Path(sys.executable).with_name("recs")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, step: float = 0.2) -> float:
    """Return the seconds until check() held; raise after timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(step)
    raise TimeoutError(f"not done after {timeout} s")


def stale_lists(store: Store) -> int:
    ids = store.film_ids()
    cards, lists = store.get_cards(ids), store.get_lists(store.index_version(), ids)
    return sum(1 for fid, lst in zip(ids, lists) if lst is None or lst["rev"] < cards[fid]["rev"])


class Load:
    """Readers and a writer against one base URL; what they saw and what was acknowledged."""

    def __init__(self, base: str, key: str, film_ids: list[str]):
        self.base, self.auth = base, {"Authorization": f"Bearer {key}"}
        self.ids, self.lock, self.stop = list(film_ids), threading.Lock(), threading.Event()
        self.status, self.errors = Counter(), Counter()
        self.films, self.years, self.reviews = {}, {}, {}  # acknowledged writes

    def count(self, resp) -> None:
        with self.lock:
            self.status[resp.status_code // 100 * 100] += 1

    def reader(self) -> None:
        session, paths = (
            requests.Session(),
            ("/api/v1/films/%s/recommendations?limit=10", "/films/%s", "/api/v1/films/%s"),
        )
        while not self.stop.is_set():
            path = random.choice(paths) % random.choice(self.ids)
            try:
                self.count(session.get(self.base + path, timeout=10))
            except requests.RequestException as exc:
                with self.lock:
                    self.errors[type(exc).__name__] += 1

    def writer(self) -> None:
        session, n = requests.Session(), 0
        session.headers.update(self.auth)
        while not self.stop.is_set():
            n += 1
            try:
                self.write_once(session, n)
            except requests.RequestException as exc:
                with self.lock:
                    self.errors[type(exc).__name__] += 1

    def write_once(self, session, n: int) -> None:
        kind = n % 4
        if kind == 0:
            fid = f"soak-{uuid.uuid4().hex[:10]}"
            body = {
                "id": fid,
                "title": f"Soak {n}",
                "year": 2000 + n % 20,
                "genres": ["Drama"],
                "keywords": random.sample(
                    [
                        "grief",
                        "firefighter",
                        "hospital",
                        "widow",
                        "doctor",
                        "romantic comedy",
                        "heist",
                        "space",
                    ],
                    3,
                ),
            }
            resp = session.post(self.base + "/api/v1/films", json=body, timeout=10)
            if resp.status_code == 201:
                self.films[fid] = body["title"]
                self.ids.append(fid)
        elif kind == 1:
            fid, year = random.choice(self.ids), 1950 + n % 70
            resp = session.patch(
                self.base + f"/api/v1/films/{fid}", json={"year": year}, timeout=10
            )
            if resp.status_code == 200:
                self.years[fid] = year
        elif kind == 2:
            fid = random.choice(self.ids)
            body = {"body": f"Soak review {n}: a widowed firefighter grieves.", "language": "en"}
            resp = session.post(self.base + f"/api/v1/films/{fid}/reviews", json=body, timeout=10)
            if resp.status_code == 201:
                self.reviews[resp.json()["id"]] = body["body"]
        else:
            if not self.reviews:
                return
            rid = random.choice(list(self.reviews))
            body = {"body": f"Changed review {n}: a heist in space."}
            resp = session.patch(self.base + f"/api/v1/reviews/{rid}", json=body, timeout=10)
            if resp.status_code == 200:
                self.reviews[rid] = body["body"]
        self.count(resp)

    def lost_writes(self) -> list[str]:
        session, lost = requests.Session(), []
        for fid, title in self.films.items():
            resp = session.get(self.base + f"/api/v1/films/{fid}", timeout=10)
            if resp.status_code != 200 or resp.json()["title"] != title:
                lost.append(f"film {fid}")
        for fid, year in self.years.items():
            resp = session.get(self.base + f"/api/v1/films/{fid}", timeout=10)
            if resp.status_code != 200 or resp.json()["year"] != year:
                lost.append(f"change of {fid}")
        for rid, body in self.reviews.items():
            resp = session.get(self.base + f"/api/v1/reviews/{rid}", timeout=10)
            if resp.status_code != 200 or resp.json()["body"] != body:
                lost.append(f"review {rid}")
        return lost


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--films", type=int, default=2000)
    ap.add_argument("--readers", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2, help="rq workers")
    ap.add_argument("--web-workers", type=int, default=2, help="gunicorn workers")
    ap.add_argument(
        "--bound", type=float, default=60, help="seconds allowed for every list to be fresh"
    )
    args = ap.parse_args()

    tmp, procs = Path(tempfile.mkdtemp(prefix="recs-soak-")), []
    redis_port, web_port, key = free_port(), free_port(), "soak-" + uuid.uuid4().hex
    env = {
        **os.environ,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "RECS_PREFIX": "soak:",
        "RECS_QUEUE": "soak",
        "RECS_API_KEYS": key,
        "RECS_RATE_WRITES": "1000000/minute",
        "RECS_RATE_READS": "1000000/minute",
        "GUNICORN_BIND": f"127.0.0.1:{web_port}",
        "GUNICORN_WORKERS": str(args.web_workers),
    }
    try:
        procs.append(
            subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(tmp),
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "everysec",
                    "--save",
                    "",
                ],
                stdout=subprocess.DEVNULL,
            )
        )
        client = redis.Redis(port=redis_port)
        wait_until(lambda: _pings(client), 10, 0.05)
        store, queue = Store(client, "soak:"), get_queue(client, "soak", Settings.from_env())

        started = time.monotonic()
        report = import_rows(store, islice(read_tmdb(TMDB_CSV), args.films))
        log = open(tmp / "services.log", "w")
        for _ in range(args.workers):
            procs.append(subprocess.Popen([str(RECS), "worker"], env=env, stdout=log, stderr=log))
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "-c",
                    "config/gunicorn.conf.py",
                    "service:create_app()",
                ],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=log,
            )
        )
        first = enqueue_rebuild(store, queue)
        wait_until(lambda: store.rebuild_progress(first).get("phase") == "done", 600)
        base = f"http://127.0.0.1:{web_port}"
        wait_until(lambda: _answers(base + "/readyz"), 30)
        print(
            f"setup: {report.created} films imported and indexed in {time.monotonic() - started:.1f} s "
            f"({args.workers} rq workers, {args.web_workers} gunicorn workers, {args.readers} readers)"
        )

        load = Load(base, key, store.film_ids())
        rebuild_id = enqueue_rebuild(store, queue)
        threads = [threading.Thread(target=load.reader) for _ in range(args.readers)]
        threads.append(threading.Thread(target=load.writer))
        for t in threads:
            t.start()
        time.sleep(args.seconds)
        load.stop.set()
        for t in threads:
            t.join(30)
        stopped = time.monotonic()
        rebuild = store.rebuild_progress(rebuild_id)

        def settled():
            return (
                store.rebuild_progress(rebuild_id).get("phase") == "done"
                and queue.count == 0
                and queue.started_job_registry.get_job_count(cleanup=False) == 0
                and stale_lists(store) == 0
            )

        try:
            lag = wait_until(settled, args.bound, 0.25)
        except TimeoutError:
            lag = None
        lost = load.lost_writes()
        total = sum(load.status.values())
        print(
            f"load: {args.seconds:.0f} s, {total} requests ({total / args.seconds:.0f}/s), "
            f"by status {dict(sorted(load.status.items()))}, client errors {dict(load.errors)}"
        )
        print(
            f"writes acknowledged: {len(load.films)} films, {len(load.years)} film changes, "
            f"{len(load.reviews)} reviews (incl. changes)"
        )
        print(
            f"rebuild during load: phase {rebuild.get('phase')} when the load stopped "
            f"({rebuild.get('extracted', 0)} extracted, {rebuild.get('ranked', 0)} ranked "
            f"of {rebuild.get('total')})"
        )
        print(f"5xx: {load.status[500]}  lost writes: {len(lost)} {lost[:5]}")
        print(f"failed jobs: {queue.failed_job_registry.count}")
        if lag is None:
            print(f"lists fresh: NOT within {args.bound:.0f} s ({stale_lists(store)} stale)")
        else:
            print(
                f"lists fresh: every list of {store.count_films()} films fresh {lag:.1f} s after "
                f"the load stopped (bound {args.bound:.0f} s)"
            )
        del stopped
        return 0 if load.status[500] == 0 and not lost and lag is not None else 1
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def _pings(client) -> bool:
    try:
        return client.ping()
    except redis.ConnectionError:
        return False


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


if __name__ == "__main__":
    sys.exit(main())
