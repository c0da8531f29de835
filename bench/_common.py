"""Shared helpers of the benches: Redis prefixes, catalog loading, rq workers, rebuilds, RSS."""

import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._sampling import Sampler  # noqa: E402
from config.settings import Settings  # noqa: E402
from service.queue import drop_queue, enqueue_rebuild, get_queue  # noqa: E402
from service.storage import Store  # noqa: E402

REDIS_URL = os.environ.get("RECS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
TMDB_CSV = Path("/work/shared/data/tmdb5000/tmdb_5000_movies.csv")
SETTINGS = Settings.from_env()  # the benches' own process, as `recs` would read them
API_KEY = "bench-" + uuid.uuid4().hex[:12]
PY = sys.executable


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def pct(xs, q):
    """Return the q-th percentile (0..100) of xs, nearest rank."""
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, max(0, round(q / 100 * len(xs) + 0.5) - 1))]


def client() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


def new_prefix(tag: str) -> str:
    return f"bench-{tag}-{uuid.uuid4().hex[:8]}:"


def drop_prefix(prefix: str, queue_name: str | None = None) -> int:
    """Delete every key under prefix (and the rq keys of queue_name, best effort)."""
    r = client()
    dropped = 0
    batch = []
    for key in r.scan_iter(match=prefix + "*", count=2000):
        batch.append(key)
        if len(batch) >= 1000:
            dropped += r.unlink(*batch)
            batch = []
    if batch:
        dropped += r.unlink(*batch)
    if queue_name:
        drop_queue(get_queue(r, queue_name, SETTINGS))
    return dropped


def env_for(prefix: str, queue_name: str, **extra) -> dict:
    env = dict(os.environ)
    env.update(
        {
            "REDIS_URL": REDIS_URL,
            "RECS_PREFIX": prefix,
            "RECS_QUEUE": queue_name,
            "RECS_API_KEYS": API_KEY,
            "PYTHONPATH": str(ROOT),
            # the limiter still runs (and costs what it costs), but never refuses a bench
            "RECS_RATE_READS": "1000000/second",
            "RECS_RATE_WRITES": "1000000/second",
        }
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def store_for(prefix: str) -> Store:
    return Store(client(), prefix)


def tmdb_films() -> list[dict]:
    """Return the TMDB 5000 films in the API schema (service.core.tmdb.read_tmdb)."""
    from service.core.tmdb import read_tmdb

    return [film for _, film in read_tmdb(TMDB_CSV, strict=False) if isinstance(film, dict)]


def import_films(store: Store, films: list[dict], validate: bool = True) -> dict:
    """Import films through service/importer.py (validated, one transaction per film).

    With validate=False the films (already in the API schema) are written in pipelined
    batches through the store's own film writes: the same keys, much faster at 100k.
    """
    if validate:
        from service.importer import import_rows

        return import_rows(store, ((i, dict(f)) for i, f in enumerate(films, 1))).as_dict()
    return {"created": store.load_new_films(films)}


def start_workers(env: dict, n: int) -> list[subprocess.Popen]:
    """Start n rq workers (`recs worker`, as deployed) with env; return at once."""
    return [
        subprocess.Popen(
            [PY, "-m", "service.cli", "worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(n)
    ]


class Workers:
    """rq worker processes (`recs worker`, forking, as deployed) on one queue.

    Returns once every worker listens: each first imports the jobs, loads the vocabulary and
    the compiled kernels (workers.worker.warm_up), which a bench must not time.
    """

    def __init__(self, prefix: str, queue_name: str, n: int, timeout: float = 180, **env):
        from rq import Worker

        self.procs = start_workers(env_for(prefix, queue_name, **env), n)
        queue = get_queue(client(), queue_name, SETTINGS)
        deadline = time.monotonic() + timeout
        while Worker.count(connection=queue.connection, queue=queue) < n:
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                self.stop()
                raise RuntimeError(f"{n} workers did not start listening on {queue_name}")
            time.sleep(0.1)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        stop_processes(self.procs, timeout=20)


class RssSampler(Sampler):
    """Sample the summed RSS of processes (and their children) in a thread; keep the peak.

    With pss=True, also the summed PSS (proportional set size: a page shared by n of the
    processes counts 1/n in each) once a second: an rq worker forks a work horse per job,
    and their summed RSS counts every page the two still share twice. PSS is read from
    /proc/<pid>/smaps, which costs a core's worth of system time at every 50 ms for
    multi-GB processes, hence the slower pace (its peak may miss a spike shorter than that)."""

    def __init__(self, pids: list[int], every: float = 0.05, pss: bool = False):
        super().__init__(every)
        self.pids, self.peak, self.peak_pss, self._roots = pids, 0, 0, None
        self.pss_every = max(1, round(1.0 / every)) if pss else 0
        self._n = 0

    def sample(self) -> None:
        import psutil

        if self._roots is None:
            self._roots = [psutil.Process(pid) for pid in self.pids]
        with_pss = self.pss_every and self._n % self.pss_every == 0
        self._n += 1
        total = total_pss = 0
        for root in self._roots:
            try:
                procs = [root] + root.children(recursive=True)
            except psutil.NoSuchProcess:
                continue
            for proc in procs:
                try:
                    if with_pss:
                        full = proc.memory_full_info()
                        total, total_pss = total + full.rss, total_pss + full.pss
                    else:
                        total += proc.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
        self.peak = max(self.peak, total)
        self.peak_pss = max(self.peak_pss, total_pss)


def run_rebuild(
    store: Store, queue_name: str, timeout: float = 3600, reuse_tags: bool = False
) -> dict:
    """Queue a full rebuild and wait (workers must run); return its progress and phase times."""
    queue = get_queue(store.r, queue_name, SETTINGS)
    t0 = time.perf_counter()
    job_id = enqueue_rebuild(store, queue, reuse_tags=reuse_tags)
    marks = {}
    while time.perf_counter() - t0 < timeout:
        progress = store.rebuild_progress(job_id)
        phase = progress.get("phase")
        if phase and phase not in marks:
            marks[phase] = time.perf_counter() - t0
        if phase == "done":
            return {"seconds": time.perf_counter() - t0, "marks": marks, **progress}
        if phase == "failed":
            raise RuntimeError(f"rebuild failed: {progress.get('error')}")
        time.sleep(0.05)
    raise TimeoutError("rebuild still running")


def stop_processes(procs, timeout: float = 30) -> None:
    """Terminate processes, wait for each, kill those still running after timeout s."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(env: dict) -> tuple[subprocess.Popen, str]:
    """Start the web app under gunicorn as deployed (config/gunicorn.conf.py) on a free port,
    wait until it answers, and return (the process, its base URL)."""
    port = free_port()
    proc = subprocess.Popen(
        [PY, "-m", "gunicorn", "-c", str(ROOT / "config/gunicorn.conf.py"), "service:create_app()"],
        cwd=ROOT,
        env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "RECS_LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/healthz")
    return proc, base


def wait_http(url: str, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                resp.read()
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(url)
