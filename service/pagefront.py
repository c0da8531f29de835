"""The film page's front: a kept page served again without Flask's request machinery.

A film page that this process rendered and keeps (pagecache) is served again while what it was
made from is unchanged; one MGET checks that (recommendations.still_made_from). Through Flask
that request also builds a request context, matches the route, runs a dozen hooks (rate
limits, CORS, caching, security headers, metrics, access log) and builds a response object:
about two thirds of its time under bench/serve.py, for an answer that is the same bytes and,
but for its request id and date, the same headers every time.

So this middleware, beneath ProxyFix and above Flask, answers the plain requests for a kept
page itself: a GET of /films/<id> with at most ?lang=, no conditional or Range header and no
body. It replays the status and headers Flask gave when it rendered and kept that page, or
served it from the cache (so every hook's header stays Flask's to decide), but for the
rate-limit headers of a render, with a new X-Request-ID and Date, and counts and logs the
request as Flask's hooks do. Anything else, a page this process has not answered with, or one
whose sources changed, goes to Flask as before, which renders, keeps and is captured again.
A kept page is never served beyond the rule of pagecache.find_page: the front runs the same
check, on the same stores.
"""

import logging
import re
import time
from typing import NamedTuple

from redis.exceptions import RedisError

from service import caching, logs, metrics
from service.pagecache import CHECKED, KEPT
from service.pages import language_for
from service.recommendations import PageCache, still_made_from
from service.security import IdConverter

ENDPOINT = "pages.film_page"
_PATH = re.compile(rf"/films/({IdConverter.regex})")
_LANG_QUERY = re.compile(r"lang=([A-Za-z0-9_-]{1,35})")
# Per-request headers: made anew for each answer, never replayed.
_OWN = frozenset({logs.REQUEST_ID_HEADER.lower(), "date"})
# A render is rate-limited and says so; the same page served again from the cache is not.
_RENDER_ONLY = ("x-ratelimit-", "retry-after")
# Request headers after which the answer may differ from the kept one (a 304, a range): such
# requests go through Flask, as do those with a body (to drain).
_DIFFERENT = (*caching.CONDITIONAL, "HTTP_TRANSFER_ENCODING")


class Replay(NamedTuple):
    """What Flask answered when it last served a kept page: that page, status and headers."""

    page: object  # pagecache.KeptPage
    status: str
    headers: list[tuple[str, str]]


class Front:
    """What this front and service/relatedfront.py share: a plain request (`_key`) is served
    from its replay (`_answer`) or goes to Flask, whose 200 a subclass may keep (`_keep`);
    an answer served here is counted and logged as Flask's hooks do (`_served`)."""

    endpoint = ""  # the Flask endpoint a front stands in for

    def __init__(self, app, wsgi_app, size: int):
        self.app = app
        self.wsgi_app = wsgi_app
        # Replays by key, at most `size` (the page cache's size; 0: the front is off)
        self.replays = PageCache(size)
        self.route = None  # the endpoint's url rule, as the access log and metrics name it
        self.served = 0  # answers given here (tests check that the front is taken)

    def __call__(self, environ, start_response):
        key = self._key(environ) if self.replays.size > 0 else None
        if key is None:
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        replay = self.replays.get(key)
        if replay is not None:
            answer = self._answer(environ, start_response, key, replay, started)
            if answer is not None:
                return answer
        return self._capture(environ, start_response, key)

    def _capture(self, environ, start_response, key):
        """Let Flask answer; offer a 200 to _keep."""
        seen = {}

        def capture(status, headers, exc_info=None):
            seen["status"], seen["headers"] = status, headers
            return start_response(status, headers, exc_info)

        body = self.wsgi_app(environ, capture)
        if not seen.get("status", "").startswith("200"):
            return body
        return self._keep(environ, key, seen["status"], seen["headers"], body)

    def _served(self, environ, started: float, request_id: str) -> None:
        if self.route is None:
            self.route = rule_of(self.app, self.endpoint)
        count_answer(environ, self.route, started, request_id)
        self.served += 1


class PageFront(Front):
    """WSGI middleware: serve a current kept film page as Flask served it (see the module)."""

    endpoint = ENDPOINT

    @staticmethod
    def _key(environ) -> tuple | None:
        """Return (film id, language, ()) for a plain GET of a film page, else None."""
        if environ.get("REQUEST_METHOD") != "GET" or any(h in environ for h in _DIFFERENT):
            return None
        if environ.get("CONTENT_LENGTH") not in (None, "", "0"):
            return None
        match = _PATH.fullmatch(environ.get("PATH_INFO", ""))
        if match is None:
            return None
        query = environ.get("QUERY_STRING")
        lang = None
        if query:
            plain = _LANG_QUERY.fullmatch(query)
            if plain is None:
                return None
            lang = plain.group(1)
        return match.group(1), language_for(lang, environ.get("HTTP_ACCEPT_LANGUAGE", "")), ()

    def _answer(self, environ, start_response, key, replay: Replay, started: float):
        """Serve replay's page when the process still keeps it and it is current, else None."""
        recs = self.app.extensions["recs"]
        kept = recs["html"].get(key)
        if kept is not replay.page:  # dropped or replaced: Flask decides
            self.replays.drop(key)
            return None
        primary = recs["store"]
        try:
            current = still_made_from(
                recs["reader"] or primary, key[0], kept.made_from, kept.card_rev, primary
            )
        except RedisError:  # Flask answers it (503 where it must), as without the front
            return None
        if not current:
            self.replays.drop(key)
            environ[CHECKED] = kept  # find_page need not ask Redis again about it
            return None
        request_id = logs.request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        start_response(
            replay.status,
            [*replay.headers, ("Date", caching.date_now()), (logs.REQUEST_ID_HEADER, request_id)],
        )
        self._served(environ, started, request_id)
        return [kept.html]

    def _keep(self, environ, key, status: str, headers: list, body):
        """Keep Flask's status and headers when it served a kept page or rendered one and
        kept it."""
        kept = environ.get(KEPT)
        if kept is not None:
            self.replays.put(key, Replay(kept, status, replayed(headers)))
        return body


def rule_of(app, endpoint: str) -> str:
    """Return an endpoint's url rule, as the access log and the metrics name its route."""
    return next(r.rule for r in app.url_map.iter_rules(endpoint))


def count_answer(environ, route: str, started: float, request_id: str) -> None:
    """Count and log a 200 to a GET answered beneath Flask as the metrics and access-log hooks
    do for Flask's answers."""
    seconds = time.perf_counter() - started
    counter, latency = metrics.request_children("GET", route, 200)
    counter.inc()
    latency.observe(seconds)
    if logs.access_log.isEnabledFor(logging.INFO):
        logs.log_access(
            "GET",
            environ["PATH_INFO"],
            200,
            route,
            seconds,
            environ.get("REMOTE_ADDR"),
            request_id,
        )


def replayed(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return the headers of an answer that every answer with the same page carries."""
    return [
        (name, value)
        for name, value in headers
        if name.lower() not in _OWN and not name.lower().startswith(_RENDER_ONLY)
    ]


def init_app(app) -> None:
    """Put the front beneath every other middleware (ProxyFix then fixes its environ too)."""
    app.wsgi_app = PageFront(app, app.wsgi_app, app.config["HTML_CACHE"])
