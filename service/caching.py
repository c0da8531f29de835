"""HTTP caching: validators (ETag, Last-Modified), Cache-Control, and 304 for a current copy."""

import hashlib

from flask import current_app, g, request
from werkzeug.http import http_date

READ_METHODS = frozenset({"GET", "HEAD"})
# The reads a browser or a CDN may keep: one film, its reviews, one review, related titles, tags,
# the film list and the two pages. Each answer carries an ETag and a Cache-Control policy.
CACHEABLE = frozenset(
    {
        "films.Films",
        "films.FilmById",
        "reviews.FilmReviews",
        "reviews.ReviewById",
        "recommendations.Recommendations",
        "recommendations.Tags",
        "pages.film_page",
        "pages.review_page",
        "pages.catalog",
    }
)

# Request headers that make a read conditional (or partial). A request with none of them gets
# its 200 as it is: werkzeug's make_conditional, which parses them and the answer's own
# validators back (two thirds of this hook's time), would only add the Date.
CONDITIONAL = (
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_MATCH",
    "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_RANGE",
)


def describe(
    etag: str | None = None, last_modified: float | None = None, fresh: bool = True
) -> None:
    """Tell the hook what validates this answer: an ETag (else the body's hash), the epoch
    seconds it last changed, and whether it is final (a list being computed is not)."""
    g.cache = (etag, last_modified, fresh)


def body_etag(data: bytes) -> str:
    """Return a short hash of an answer's bytes, as its entity tag."""
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def policy(fresh: bool) -> str:
    """Return the Cache-Control of a cacheable read: short max-age, then stale-while-revalidate;
    an answer that is about to change (a list being computed) is revalidated every time."""
    if not fresh:
        return "no-cache"
    cfg = current_app.config
    return (
        f"public, max-age={cfg['CACHE_MAX_AGE']}, "
        f"stale-while-revalidate={cfg['CACHE_STALE_WHILE_REVALIDATE']}"
    )


def add_validators(response):
    """after_request: validators and a cache policy on every answer; 304 for a current copy.

    Writes and errors are never stored (no-store); other reads are revalidated (no-cache).
    """
    if "Cache-Control" in response.headers:
        return response
    if request.method not in READ_METHODS or response.status_code >= 400:
        response.headers["Cache-Control"] = "no-store"
        return response
    if response.status_code != 200 or request.endpoint not in CACHEABLE:
        response.headers["Cache-Control"] = "no-cache"
        return response
    etag, last_modified, fresh = g.get("cache") or (None, None, True)
    response.set_etag(etag or body_etag(response.get_data()), weak=True)
    if last_modified:
        response.last_modified = int(last_modified)
    headers = response.headers
    headers["Cache-Control"] = policy(fresh)
    environ = request.environ
    if "Content-Length" in headers and not any(name in environ for name in CONDITIONAL):
        if "Date" not in headers:
            headers["Date"] = http_date()
        return response
    return response.make_conditional(request)


def init_app(app) -> None:
    app.after_request(add_validators)
