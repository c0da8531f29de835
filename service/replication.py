"""Acknowledge an API write only once RECS_REDIS_WAIT_REPLICAS replicas hold it (Redis WAIT)."""

from flask import current_app, jsonify
from redis.exceptions import RedisError

from service.security import is_api_write


def wait_for_replicas(response):
    """after_request: hold a successful API write until the replicas have it, else answer 503.

    The write may well survive (it reached the primary), but it was not promised: the client
    retries, and PUT, PATCH and DELETE are idempotent (a repeated POST answers 409).
    """
    needed = current_app.config["RECS_REDIS_WAIT_REPLICAS"]
    if not needed or response.status_code >= 300 or not is_api_write():
        return response
    timeout = current_app.config["RECS_REDIS_WAIT_TIMEOUT_MS"]
    store = current_app.extensions["recs"]["store"]
    try:
        acked = store.wait_for_replicas(needed, timeout)
        reason = f"{acked} of {needed} replicas confirmed it within {timeout} ms"
    except RedisError as exc:
        acked, reason = -1, f"the data store did not answer ({type(exc).__name__})"
    if acked >= needed:
        return response
    # in place, so the headers other hooks set (request id, CORS, rate limits) stay
    body = jsonify(
        code=503,
        status="Service Unavailable",
        message=f"The write reached the primary but is not yet safe: {reason}. Retry it.",
    )
    response.status_code = 503
    response.set_data(body.get_data())
    response.mimetype = body.mimetype
    for header in ("Location", "ETag", "Last-Modified"):  # they spoke of a promised write
        response.headers.pop(header, None)
    response.headers["Retry-After"] = "1"
    return response


def init_app(app) -> None:
    """Install the check when RECS_REDIS_WAIT_REPLICAS is set (before the security hooks, so
    that it runs after them and its Retry-After is the one sent)."""
    if app.config.get("RECS_REDIS_WAIT_REPLICAS"):
        app.after_request(wait_for_replicas)
