"""Guard the API: bearer keys on writes, a CORS allow-list, per-client rate limits, safe path ids."""

import hashlib
import hmac
import json
import math
import time

from apispec import BasePlugin
from flask import current_app, request
from flask_smorest import abort
from redis.exceptions import RedisError
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import BaseConverter

from service.common import once_per_request

API_PREFIX = "/api/v1/"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# GET endpoints that cost more than one key lookup: lists, searches and rendered pages. The
# related-titles API is not one: it is one bounded, precomputed read (see docs/SECURITY.md).
EXPENSIVE_READS = frozenset({"films.Films", "pages.film_page", "pages.catalog"})
# The limits' scope of failed API keys per address (keys: RECS_PREFIX + "limits" + LIMITER/...).
AUTH_FAILURES = "auth-failures"
ERROR_REF = {"$ref": "#/components/schemas/Error"}


class IdConverter(BaseConverter):
    """A film or review id in a path: a slug, so ':', '*', '/' and spaces never reach a Redis key."""

    regex = r"[a-z0-9][a-z0-9-]{0,63}"


class JobIdConverter(BaseConverter):
    """An rq job id in a path (letters, digits, '-' and '_', as rq allows)."""

    regex = r"[A-Za-z0-9_-]{1,200}"


def api_keys(config) -> tuple[str, ...]:
    """Return the configured keys (a list, or a comma-separated string)."""
    raw = config.get("RECS_API_KEYS") or ()
    items = raw.split(",") if isinstance(raw, str) else raw
    return tuple(k.strip() for k in items if k and k.strip())


def key_is_valid(token: str, keys: tuple[str, ...]) -> bool:
    """Compare token with every key in constant time (no early exit on the first match)."""
    given = token.encode("utf-8", "surrogateescape")
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.encode("utf-8"))
    return matched


def bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def is_api_write() -> bool:
    return request.method in WRITE_METHODS and request.path.startswith(API_PREFIX)


def require_api_key():
    """before_request: refuse API writes without a valid `Authorization: Bearer <key>`, and
    every write from an address past its limit of failed attempts (429)."""
    if not is_api_write():
        return
    keys = current_app.extensions["recs_security"]["keys"]
    if not keys:  # only with TESTING or RECS_ALLOW_NO_KEYS=1 (see init_app)
        return
    address = request.remote_addr or "unknown"
    wait = auth_failures_wait(address)
    if wait:  # also for a valid key: a guesser must not learn which guess was right
        abort(
            429,
            message="Too many failed API keys from this address; see Retry-After.",
            headers={"Retry-After": str(wait)},
        )
    token = bearer_token()
    if token is None or not key_is_valid(token, keys):
        count_auth_failure(address)
        message = (
            "Writes need an API key: send 'Authorization: Bearer <key>'."
            if token is None
            else "The API key is not valid."
        )
        abort(401, message=message, headers={"WWW-Authenticate": 'Bearer realm="filmrecs"'})


def _auth_limit():
    from limits import parse

    return parse(current_app.config["RECS_RATE_AUTH_FAILURES"])


def auth_failures_wait(address: str) -> int:
    """Return the seconds until address may try a key again (0: it may now)."""
    limiter = current_app.extensions["recs_security"].get("limiter")
    if limiter is None:
        return 0
    item = _auth_limit()
    try:
        if limiter.limiter.test(item, AUTH_FAILURES, address):
            return 0
        reset = limiter.limiter.get_window_stats(item, AUTH_FAILURES, address).reset_time
    except RedisError:  # Redis down: the write goes on and answers 503, as limits do
        return 0
    return max(1, math.ceil(reset - time.time()))


def count_auth_failure(address: str) -> None:
    """Count one missing or wrong key against address's limit."""
    limiter = current_app.extensions["recs_security"].get("limiter")
    if limiter is not None:
        try:
            limiter.limiter.hit(_auth_limit(), AUTH_FAILURES, address)
        except RedisError:
            pass


def reject_unusable_json():
    """before_request: answer 400 for JSON that Python cannot hold (nested deeper than its
    recursion limit, integers over 4,300 digits: both raised past webargs as 500s) and 422
    for JSON holding lone surrogates ("\\ud800"), text that is not Unicode and cannot be
    stored (Redis takes UTF-8); every schema field is covered at once."""
    if request.method not in WRITE_METHODS or not request.is_json:
        return
    try:
        data = json.loads(request.get_data(cache=True))
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return  # malformed JSON is left to the schemas' 400
    except RecursionError:
        abort(400, message="The JSON body is nested too deeply.")
    except UnicodeEncodeError:
        abort(
            422,
            message="Invalid input: see errors.",
            errors={
                "json": {
                    "_schema": ["Text may not contain lone surrogates (unpaired \\ud800-\\udfff)."]
                }
            },
        )
    except ValueError:  # int(str) refuses integers over sys.get_int_max_str_digits() (4,300)
        abort(400, message="The JSON body holds an integer of more than 4,300 digits.")


def require_json_body():
    """before_request: answer 415 for a body that is not JSON sent to a route that reads JSON
    (an empty body without a type goes on to the schema's 422)."""
    if request.method not in WRITE_METHODS or request.is_json:
        return
    if (request.endpoint, request.method.lower()) not in current_app.extensions["recs_security"][
        "json_bodies"
    ]:
        return
    if request.mimetype or request.content_length:
        abort(415, message="Send the body as JSON (Content-Type: application/json).")


def client_key() -> str:
    """Rate-limit bucket: the API key (hashed) for writes that carry one, else the address."""
    token = bearer_token() if is_api_write() else None
    if token:
        return "key:" + hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return "addr:" + (request.remote_addr or "unknown")


def drop_stray_retry_after(response):
    """after_request: Flask-Limiter sends Retry-After on every answer; keep it where it means something."""
    if response.status_code not in (429, 503):
        response.headers.pop("Retry-After", None)
    return response


def _routed() -> bool:
    return request.url_rule is not None


def writes_exempt() -> bool:
    """exempt_when of the writes limit: anything but a routed API write."""
    return not (_routed() and is_api_write())


def reads_exempt() -> bool:
    """exempt_when of the expensive reads' limit: anything but a GET of an expensive read."""
    return not (request.method == "GET" and request.endpoint in EXPENSIVE_READS)


def is_unlimited() -> bool:
    """Return True when no limit applies to this request (the exempt_when checks, at once, and
    a current kept page); decided once per request (Flask-Limiter's filter and the view ask)."""
    return once_per_request("recs_unlimited", _unlimited)


def _unlimited() -> bool:
    req = request._get_current_object()
    if req.method == "GET":
        if req.endpoint not in EXPENSIVE_READS:
            return True
        # an expensive read that its view can answer from what it kept (a current film page:
        # one MGET, as cheap as the related-titles read) is not limited either
        cheap = current_app.extensions["recs_security"]["cheap_when"].get(req.endpoint)
        return bool(cheap and cheap())
    return not (_routed() and is_api_write())


def _init_limiter(app, client) -> None:
    from flask_limiter import Limit, Limiter

    from service.fastpaths import limit_only_where_applies
    from service.redisconn import is_sentinel, parse_sentinel_url

    url = app.config["REDIS_URL"] or "unix://" + client.connection_pool.connection_kwargs["path"]
    storage_uri = "redis+unix://" + url[len("unix://") :] if url.startswith("unix://") else url
    # Share the app's connection pool (works for TCP and the embedded unix socket alike);
    # behind Sentinel the storage finds the primary itself, as the app's client does.
    options = {"connection_pool": client.connection_pool}
    if is_sentinel(url):
        conf = parse_sentinel_url(url)
        storage_uri = conf.limits_uri()
        options = {"db": conf.db, "use_replicas": False, **conf.auth()}
    # exempt_when (module functions, looked up at call time) decides what each limit covers;
    # the request filter below only spares Flask-Limiter the work where no limit applies.
    limits = [
        Limit(
            lambda: current_app.config["RECS_RATE_WRITES"],
            scope="writes",
            shared=True,
            exempt_when=lambda: writes_exempt(),
            error_message="Too many writes from this client; see Retry-After.",
        ),
        Limit(
            lambda: current_app.config["RECS_RATE_READS"],
            scope="reads",
            shared=True,
            exempt_when=lambda: reads_exempt(),
            error_message="Too many requests from this client; see Retry-After.",
        ),
    ]
    # swallow_errors: with Redis down the request goes on and answers 503 like any read.
    limiter = Limiter(
        client_key,
        app=app,
        default_limits=limits,
        headers_enabled=True,
        storage_uri=storage_uri,
        swallow_errors=True,
        storage_options={**options, "key_prefix": app.config["RECS_PREFIX"] + "limits"},
    )
    limit_only_where_applies(limiter, is_unlimited)  # exempt_when stays authoritative
    app.extensions["recs_security"]["limiter"] = limiter


def _init_cors(app) -> None:
    origins = app.config.get("CORS_ORIGINS") or []
    if not origins:
        return
    from flask_cors import CORS

    # Vary: Origin is added to every API answer below, with or without CORS headers: a shared
    # cache must not hand one origin's answer to another (flask-cors adds it only for 2+ origins).
    CORS(
        app,
        resources={r"/api/*": {"origins": origins}},
        vary_header=False,
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=[
            "Location",
            "Retry-After",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
            "X-Request-ID",
            "ETag",
        ],
        methods=["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"],
        max_age=600,
    )

    @app.after_request
    def vary_on_origin(response):
        if request.path.startswith("/api/"):
            response.vary.add("Origin")
        return response


def init_app(app, client) -> None:
    """Check the keys, then install key checks, CORS, rate limits and the id converters.

    Call before the blueprints are registered: their routes use the `id` and `job_id` converters.
    """
    keys = api_keys(app.config)
    if not keys and not (app.testing or app.config.get("RECS_ALLOW_NO_KEYS")):
        raise RuntimeError(
            "No API key configured: set RECS_API_KEYS (comma-separated) or, for "
            "local development only, RECS_ALLOW_NO_KEYS=1 (writes then need no key)."
        )
    # (endpoint, method) of the operations whose body is JSON: SecuritySpecPlugin fills it
    # as the blueprints are registered
    # cheap_when: {endpoint: predicate} of expensive reads that are cheap at times (pages.py)
    app.extensions["recs_security"] = {"keys": keys, "json_bodies": set(), "cheap_when": {}}
    app.url_map.converters["id"] = IdConverter
    app.url_map.converters["job_id"] = JobIdConverter
    if app.config.get("RECS_TRUSTED_PROXIES"):
        n = int(app.config["RECS_TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    app.before_request(require_api_key)
    app.before_request(require_json_body)
    app.before_request(reject_unusable_json)
    app.after_request(drop_stray_retry_after)  # registered first, so it runs after Flask-Limiter's
    _init_cors(app)
    _init_limiter(app, client)


def init_spec(api) -> None:
    """Document the bearer scheme and the id patterns (before the blueprints are registered)."""
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    for converter in (IdConverter, JobIdConverter):
        api.register_converter(converter, lambda c: {"type": "string", "pattern": f"^{c.regex}$"})


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


class SecuritySpecPlugin(BasePlugin):
    """Mark writes as needing the bearer key and document the statuses every route can answer;
    collect the operations that read a JSON body (into json_bodies, for require_json_body)."""

    def __init__(self):
        self.json_bodies: set[tuple[str, str]] = set()

    def operation_helper(self, path=None, operations=None, **kwargs):
        rule = kwargs.get("rule")
        endpoint = rule.endpoint if rule is not None else None
        for method, op in (operations or {}).items():
            responses = op.setdefault("responses", {})
            if "application/json" in op.get("requestBody", {}).get("content", {}):
                self.json_bodies.add((endpoint, method.lower()))
                responses.setdefault(
                    "415", _error("The body is not JSON (Content-Type: application/json)")
                )
            if "{" in (path or ""):
                responses.setdefault("404", _error("No such id"))
            if method.upper() in WRITE_METHODS and (path or "").startswith(API_PREFIX):
                op.setdefault("security", [{"bearerAuth": []}])
                responses.setdefault("401", _error("Missing or wrong API key"))
                responses.setdefault("413", _error("Request body too large"))
                responses.setdefault("429", _error("Too many writes; see Retry-After"))
            elif method.upper() == "GET" and endpoint in EXPENSIVE_READS:
                responses.setdefault("429", _error("Too many requests; see Retry-After"))
            if (path or "").startswith(API_PREFIX):
                responses.setdefault(
                    "503", _error("The data store is unreachable; see Retry-After")
                )
