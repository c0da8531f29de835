"""Job and index metrics: written by the workers into Redis counters, read at scrape time.

Flask-free, for the jobs (which time themselves with timed_job) and for `recs status`;
service/metrics.py serves them to Prometheus beside the request metrics. Workers may run on
other machines than the web app, where no shared directory exists: hence Redis.
"""

import functools
import logging
import math
import time

from redis.exceptions import RedisError

from service.storage import Store

log = logging.getLogger("recs.jobs")

JOB_BUCKETS = (
    0.01,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
)


def record_job(store: Store, kind: str, seconds: float, failed: bool) -> None:
    """Add one finished job to the Redis counters of its kind (one round trip)."""
    bucket = next((b for b in JOB_BUCKETS if seconds <= b), math.inf)
    store.count_job(kind, seconds, bucket, failed)


def record_index_update(store: Store, switched_version: int | None = None) -> None:
    """Note that lists were computed now (and, after a rebuild, which version was switched in)."""
    fields = {"updated_at": time.time()}
    if switched_version is not None:
        fields.update(switched_at=fields["updated_at"], switched_version=switched_version)
    store.note_index_update(fields)


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
                log.error(
                    "job failed",
                    extra={
                        "kind": kind,
                        "duration_ms": round(seconds * 1000, 2),
                        "error": f"{type(exc).__name__}: {exc}"[:500],
                    },
                )
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
    for field, value in store.job_counters().items():
        kind, _, rest = field.partition(":")
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
    raw = store.index_marks()
    version = store.index_version()
    state = {
        "version": version,
        "switched_at": None,
        "age_seconds": None,
        "updated_at": None,
        "updated_age_seconds": None,
    }
    if raw.get("switched_at") and int(raw.get("switched_version", -1)) == version:
        state["switched_at"] = float(raw["switched_at"])
        state["age_seconds"] = round(at - state["switched_at"], 3)
    if raw.get("updated_at"):
        state["updated_at"] = float(raw["updated_at"])
        state["updated_age_seconds"] = round(at - state["updated_at"], 3)
    return state
