"""Prometheus metrics: requests by route, rq queue depth, job durations and failures, index age.

Request metrics live in the web process (prometheus_client's multiprocess mode when
PROMETHEUS_MULTIPROC_DIR is set, as gunicorn's config does). Job metrics are measured in
the worker and kept in Redis (service/jobstats.py), and read at scrape time.
"""

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

from service.jobstats import JOB_BUCKETS, index_state, job_stats, queue_depths
from service.storage import Store

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REGISTRIES = ("queued", "started", "deferred", "scheduled", "failed", "finished")

REQUESTS = Counter("recs_http_requests", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "recs_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route", "status"],
    buckets=REQUEST_BUCKETS,
)


class RedisCollector:
    """Collect queue depth, job metrics and index state from Redis at scrape time."""

    def __init__(self, store: Store, queue):
        self.store, self.queue = store, queue

    def collect(self):
        depth = GaugeMetricFamily(
            "recs_queue_jobs", "Jobs in the rq queue, by registry", labels=["queue", "registry"]
        )
        for registry, count in queue_depths(self.queue).items():
            depth.add_metric([self.queue.name, registry], count)
        yield depth

        durations = HistogramMetricFamily(
            "recs_job_duration_seconds", "Time a job ran in a worker, by kind", labels=["kind"]
        )
        failures = CounterMetricFamily(
            "recs_job_failures", "Jobs that raised, by kind", labels=["kind"]
        )
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
        yield GaugeMetricFamily(
            "recs_index_version", "Index version readers use", value=state["version"]
        )
        if state["age_seconds"] is not None:
            yield GaugeMetricFamily(
                "recs_index_age_seconds",
                "Seconds since the current index version was switched in",
                value=state["age_seconds"],
            )
        if state["updated_age_seconds"] is not None:
            yield GaugeMetricFamily(
                "recs_index_updated_age_seconds",
                "Seconds since a list was last computed (refresh or rebuild)",
                value=state["updated_age_seconds"],
            )


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


def request_children(method: str, route: str, status: int) -> tuple:
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
        counter, latency = request_children(req.method, route_of(req), response.status_code)
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
