"""gunicorn settings for the web service (compose and bench/serve.py use the same)."""

import gc
import logging
import os
import shutil
import tempfile

from gunicorn import glogging

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
# Sync workers (one request at a time, the most requests per CPU second here) where a buffering
# proxy sends them whole requests: compose's nginx. Without one, a client sending its request
# slowly holds a sync worker (2 such clients blocked /healthz for 30 s, issue 15), so `recs serve`
# sets GUNICORN_WORKER_CLASS to the threaded worker: a slow connection then holds one of
# GUNICORN_THREADS threads until its headers are complete. Both answer 414/431 as JSON.
THREADED = "config.gunicorn_worker.JsonErrorThreadWorker"
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "config.gunicorn_worker.JsonErrorSyncWorker")
# gunicorn turns "sync" with threads > 1 into gthread: threads only where threads are meant.
threads = int(os.environ.get("GUNICORN_THREADS", "32" if worker_class == THREADED else "1"))
timeout = 30
graceful_timeout = 20
keepalive = 5
# A worker is replaced after this many requests (a guard against slow leaks). Each worker's
# page cache (RECS_PAGE_CACHE) goes with it: at 10,000 a worker under bench/serve.py load was
# recycled every ~8 s and served most related-title pages uncached.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "200000"))
max_requests_jitter = max_requests // 10
# Build the app (and the tag vocabulary, see when_ready) once in the master and fork the
# workers from it: a worker recycled by max_requests then serves within milliseconds instead
# of spending ~2 s building the app and ~4 s loading the vocabulary on its first requests,
# which showed as p99 spikes under load (bench/serve.py). Redis pools reconnect after fork.
preload_app = True


def when_ready(server):
    """Load the tag vocabulary and label the catalog's tags in the master, before the workers
    are forked (a worker labelling them as it goes spent a tenth of its time on it)."""
    import logging

    from redis.exceptions import RedisError

    from service.core.vocab import load_vocabulary
    from service.recommendations import warm_labels

    load_vocabulary()
    app = server.app.wsgi() if server.cfg.preload_app else None
    if "recs" in getattr(app, "extensions", {}):  # preloaded, and the service (not another app)
        try:
            tags = warm_labels(app)
        except RedisError as exc:  # the workers label as they go, as before
            logging.getLogger("recs.web").warning(
                "tag labels not preloaded", extra={"error": str(exc)}
            )
        else:
            logging.getLogger("recs.web").info("tag labels preloaded", extra={"tags": tags})
    # Keep what the master built (app, vocabulary, labels) out of the workers' garbage
    # collections: a full collection walked all of it, a ~0.15 s pause every few thousand
    # requests (bench/serve.py p99), and touching it unshared the forked memory.
    gc.freeze()


# Logs: one JSON object per line. The app writes the access line itself (with the request id,
# the route and the duration), so gunicorn's own access log stays off.
accesslog = None


class Logger(glogging.Logger):
    """gunicorn's logger, minus the access line's work while gunicorn.access is off.

    With a logconfig_dict, gunicorn counts its access log as on and builds every request's
    log atoms (headers, environ) before the WARNING level drops the line: ~7% of a worker's
    time per request under bench/serve.py.
    """

    def access(self, resp, req, environ, request_time):
        if self.access_log.isEnabledFor(logging.INFO):
            super().access(resp, req, environ, request_time)


logger_class = Logger
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "service.logs.JsonFormatter"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"level": os.environ.get("RECS_LOG_LEVEL", "INFO"), "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    },
}

# Prometheus: every gunicorn worker writes its request metrics to files in one directory,
# and /metrics adds them up (prometheus_client's multiprocess mode). The variable must be
# set before the workers import prometheus_client, so it is set here, in the master.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="recs-prometheus-")


def on_starting(server):
    """Start from an empty metrics directory (a restarted container keeps its /tmp)."""
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
