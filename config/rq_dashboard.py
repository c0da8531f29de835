"""rq-dashboard settings for our queue: `rq-dashboard --json -c config.rq_dashboard`.

Our jobs are JSON-serialized. rq-dashboard 0.9.0's `--json` covers queues and jobs, but it
lists workers with rq's default (pickle) serializer, so its Workers page answers 500 while
a worker runs one of our jobs. Loading this module makes that listing use JSON as well.

It also guards the dashboard, which can empty registries and requeue or delete jobs: it does
not start without RQ_DASHBOARD_USERNAME and RQ_DASHBOARD_PASSWORD, every request needs them
(HTTP basic auth, compared in constant time), and requests that change something are refused
(403) when a browser says they come from another site, so a page elsewhere cannot use a
logged-in browser's credentials. GET /requeue/<queue> (rq-dashboard's UI posts to it) is refused.
"""

import hmac
import os

import rq_dashboard.web as _web
from flask import Response, request
from rq import Worker
from rq.serializers import JSONSerializer

USERNAME = os.environ.get("RQ_DASHBOARD_USERNAME", "")
PASSWORD = os.environ.get("RQ_DASHBOARD_PASSWORD", "")
if not (USERNAME and PASSWORD):
    raise RuntimeError(
        "No dashboard login configured: set RQ_DASHBOARD_USERNAME and "
        "RQ_DASHBOARD_PASSWORD (the dashboard can empty queues and delete jobs)."
    )
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class JsonWorker(Worker):
    """rq's Worker whose `all()` reads the workers' current jobs as JSON."""

    @classmethod
    def all(cls, *args, serializer=JSONSerializer, **kwargs):
        return super().all(*args, serializer=serializer, **kwargs)


def _same(given: str | None, wanted: str) -> bool:
    return hmac.compare_digest(
        (given or "").encode("utf-8", "surrogateescape"), wanted.encode("utf-8")
    )


def is_cross_site() -> bool:
    """Return True when the browser says the request comes from another site (or origin)."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return True
    origin = request.headers.get("Origin")
    return origin is not None and origin != request.host_url.rstrip("/")


def guard_dashboard():
    """before_request: the login on every request; no cross-site writes; no requeue by GET."""
    auth = request.authorization
    user_ok = _same(auth.username if auth else None, USERNAME)
    if not (user_ok & _same(auth.password if auth else None, PASSWORD)):
        return Response("Please log in.\n", 401, {"WWW-Authenticate": 'Basic realm="RQ Dashboard"'})
    if request.method in SAFE_METHODS and not request.path.startswith("/requeue/"):
        return None
    if request.method in SAFE_METHODS:
        return Response("Requeue with POST.\n", 405, {"Allow": "POST"})
    if is_cross_site():
        return Response("Cross-site requests may not change the queues.\n", 403)
    return None


_web.Worker = JsonWorker
if guard_dashboard not in _web.blueprint.before_request_funcs.get(None, []):
    _web.blueprint.before_request(guard_dashboard)

# Refresh the pages every 5 s (rq-dashboard's default is 2.5 s).
RQ_DASHBOARD_POLL_INTERVAL = 5000
