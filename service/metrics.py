"""Prometheus metrics: requests by route, rq queue depth, job durations and failures, index age.

Request metrics live in the web process (prometheus_client's multiprocess mode when
PROMETHEUS_MULTIPROC_DIR is set, as gunicorn's config does). Job metrics are measured in
the worker and added to Redis counters under the key prefix, and read at scrape time:
workers may run on other machines than the web app, where no shared directory exists.
"""

import functools
import logging
import math
import os
import time

from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from redis.exceptions import RedisError

from service.storage import Store

log = logging.getLogger("recs.jobs")

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
               600.0, 1800.0)
REGISTRIES = ("queued", "started", "deferred", "scheduled", "failed", "finished")

REQUESTS = Counter("recs_http_requests", "HTTP requests answered",
                   ["method", "route", "status"])
LATENCY = Histogram("recs_http_request_duration_seconds", "Time to answer an HTTP request",
                    ["method", "route", "status"], buckets=REQUEST_BUCKETS)


# -- job metrics, written by workers ----------------------------------------------------
def _jobs_key(store: Store) -> str:
    return store.k("metrics", "jobs")


def _index_key(store: Store) -> str:
    return store.k("metrics", "index")


def record_job(store: Store, kind: str, seconds: float, failed: bool) -> None:
    """Add one finished job to the Redis counters of its kind (one round trip)."""
    bucket = next((b for b in JOB_BUCKETS if seconds <= b), math.inf)
    pipe = store.r.pipeline(transaction=False)
    key = _jobs_key(store)
    pipe.hincrby(key, f"{kind}:count", 1)
    pipe.hincrbyfloat(key, f"{kind}:sum", seconds)
    pipe.hincrby(key, f"{kind}:le:{bucket}", 1)
    if failed:
        pipe.hincrby(key, f"{kind}:failed", 1)
    pipe.execute()


def record_index_update(store: Store, switched_version: int | None = None) -> None:
    """Note that lists were computed now (and, after a rebuild, which version was switched in)."""
    fields = {"updated_at": time.time()}
    if switched_version is not None:
        fields.update(switched_at=fields["updated_at"], switched_version=switched_version)
    store.r.hset(_index_key(store), mapping=fields)


def timed_job(kind: str):
    """Decorate an rq job (first argument: the key prefix) to log and count it by kind."""

    def decorate(func):
        @functools.wraps(func)
        def run(prefix, *args, **kwargs):
            from rq import get_current_job

            job = get_current_job()
            started = time.perf_counter()
            log.info("job started", extra={"kind": kind, "func": func.__name__})
            try:
                result = func(prefix, *args, **kwargs)
            except Exception as exc:
                seconds = time.perf_counter() - started
                log.error("job failed", extra={"kind": kind, "duration_ms": round(seconds * 1000, 2),
                                               "error": f"{type(exc).__name__}: {exc}"[:500]})
                _record_quietly(job, prefix, kind, seconds, failed=True)
                raise
            seconds = time.perf_counter() - started
            log.info("job finished", extra={"kind": kind, "duration_ms": round(seconds * 1000, 2)})
            _record_quietly(job, prefix, kind, seconds, failed=False)
            return result

        return run

    return decorate


def _record_quietly(job, prefix: str, kind: str, seconds: float, failed: bool) -> None:
    # A metrics write must never replace the job's own outcome or exception.
    if job is None:
        return
    try:
        record_job(Store(job.connection, prefix), kind, seconds, failed)
    except RedisError as exc:
        log.warning("job metrics not recorded", extra={"kind": kind, "error": str(exc)})


# -- reading, at scrape time and for `recs status` ----------------------------------------
def queue_depths(queue) -> dict[str, int]:
    """Return the number of jobs in the queue and in each of its registries."""
    return {
        "queued": queue.count,
        "started": queue.started_job_registry.count,
        "deferred": queue.deferred_job_registry.count,
        "scheduled": queue.scheduled_job_registry.count,
        "failed": queue.failed_job_registry.count,
        "finished": queue.finished_job_registry.count,
    }


def job_stats(store: Store) -> dict[str, dict]:
    """Return per kind: count, sum, failed and the (non-cumulative) bucket counts."""
    stats: dict[str, dict] = {}
    for field, value in store.r.hgetall(_jobs_key(store)).items():
        kind, _, rest = field.decode().partition(":")
        entry = stats.setdefault(kind, {"count": 0, "sum": 0.0, "failed": 0, "buckets": {}})
        if rest.startswith("le:"):
            entry["buckets"][float(rest[3:])] = int(value)
        elif rest == "sum":
            entry["sum"] = float(value)
        else:
            entry[rest] = int(value)
    return stats


def index_state(store: Store, at: float | None = None) -> dict:
    """Return the index version, when it was switched in, and the ages in seconds."""
    at = time.time() if at is None else at
    raw = {k.decode(): v.decode() for k, v in store.r.hgetall(_index_key(store)).items()}
    version = store.index_version()
    state = {"version": version, "switched_at": None, "age_seconds": None,
             "updated_at": None, "updated_age_seconds": None}
    if raw.get("switched_at") and int(raw.get("switched_version", -1)) == version:
        state["switched_at"] = float(raw["switched_at"])
        state["age_seconds"] = round(at - state["switched_at"], 3)
    if raw.get("updated_at"):
        state["updated_at"] = float(raw["updated_at"])
        state["updated_age_seconds"] = round(at - state["updated_at"], 3)
    return state


class RedisCollector:
    """Collect queue depth, job metrics and index state from Redis at scrape time."""

    def __init__(self, store: Store, queue):
        self.store, self.queue = store, queue

    def collect(self):
        depth = GaugeMetricFamily("recs_queue_jobs", "Jobs in the rq queue, by registry",
                                  labels=["queue", "registry"])
        for registry, count in queue_depths(self.queue).items():
            depth.add_metric([self.queue.name, registry], count)
        yield depth

        durations = HistogramMetricFamily("recs_job_duration_seconds",
                                          "Time a job ran in a worker, by kind", labels=["kind"])
        failures = CounterMetricFamily("recs_job_failures", "Jobs that raised, by kind",
                                       labels=["kind"])
        for kind, entry in sorted(job_stats(self.store).items()):
            cumulative, buckets = 0, []
            for bound in (*JOB_BUCKETS, math.inf):
                cumulative += entry["buckets"].get(bound, 0)
                buckets.append(("+Inf" if bound == math.inf else str(bound), cumulative))
            durations.add_metric([kind], buckets, entry["sum"])
            failures.add_metric([kind], entry["failed"])
        yield durations
        yield failures

        state = index_state(self.store)
        yield GaugeMetricFamily("recs_index_version", "Index version readers use",
                                value=state["version"])
        if state["age_seconds"] is not None:
            yield GaugeMetricFamily("recs_index_age_seconds",
                                    "Seconds since the current index version was switched in",
                                    value=state["age_seconds"])
        if state["updated_age_seconds"] is not None:
            yield GaugeMetricFamily("recs_index_updated_age_seconds",
                                    "Seconds since a list was last computed (refresh or rebuild)",
                                    value=state["updated_age_seconds"])


class _DefaultRegistry:
    """The process's own registry (used when not in multiprocess mode)."""

    def collect(self):
        yield from REGISTRY.collect()


def render(store: Store, queue) -> bytes:
    """Return the exposition text of every metric."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_DefaultRegistry())
    registry.register(RedisCollector(store, queue))
    return generate_latest(registry)


# (method, route, status) -> (counter, histogram) children: .labels() takes a lock and
# builds a key on every call; the label sets are the same few per route.
_children: dict[tuple, tuple] = {}


def _request_children(method: str, route: str, status: int) -> tuple:
    key = (method, route, status)
    pair = _children.get(key)
    if pair is None:
        labels = (method, route, str(status))
        pair = _children[key] = (REQUESTS.labels(*labels), LATENCY.labels(*labels))
    return pair


def init_app(app: Flask) -> None:
    """Count and time every request by route and status, and serve /metrics."""
    from service.logs import route_of

    @app.after_request
    def observe(response):
        started = g.get("metrics_started")
        req = request._get_current_object()
        counter, latency = _request_children(req.method, route_of(req), response.status_code)
        counter.inc()
        if started is not None:
            latency.observe(time.perf_counter() - started)
        return response

    @app.before_request
    def start_timer():
        g.metrics_started = time.perf_counter()

    @app.get("/metrics")
    def metrics():
        recs = current_app.extensions["recs"]
        return Response(render(recs["store"], recs["queue"]), content_type=CONTENT_TYPE_LATEST)
