"""HTTP caching: validators (ETag, Last-Modified), Cache-Control, and 304 for a current copy."""

import hashlib
import time
from functools import lru_cache

from flask import current_app, g, request
from werkzeug.http import http_date, quote_etag

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
    headers = response.headers
    # what set_etag and the last_modified setter write, without their per-call formatting
    headers["ETag"] = weak_etag(etag or body_etag(response.get_data()))
    if last_modified:
        headers["Last-Modified"] = date_of(int(last_modified))
    headers.add("Cache-Control", policy(fresh))  # absent: checked above
    environ = request.environ
    if "Content-Length" in headers and not any(name in environ for name in CONDITIONAL):
        if "Date" not in headers:
            headers.add("Date", date_now())
        return response
    return response.make_conditional(request)


@lru_cache(maxsize=8192)
def weak_etag(etag: str) -> str:
    """Return etag quoted as a weak entity tag (W/"..."); a kept page's is made once."""
    return quote_etag(etag, weak=True)


@lru_cache(maxsize=8192)
def date_of(seconds: int) -> str:
    """Return epoch seconds as an HTTP date (a page's Last-Modified is formatted once)."""
    return http_date(seconds)


_now = (0, "")  # the second and its HTTP date: one formatting a second, not one per answer


def date_now() -> str:
    """Return the HTTP date of this second (what http_date() gives)."""
    global _now
    now = int(time.time())
    second, text = _now
    if second != now:
        text = http_date(now)
        _now = (now, text)  # threads may both format it: they write the same
    return text


def init_app(app) -> None:
    app.after_request(add_validators)
