"""The related-titles front: a fresh answer of the JSON API served again without Flask.

The sibling of service/pagefront.py for `GET /api/v1/films/<id>/recommendations`. Through
Flask a kept answer (recommendations.PageCache) costs a request context, routing, a dozen
hooks and a response object around one MGET; the answer is the same bytes, and but for its
request id and date the same headers, every time its sources are unchanged.

So this middleware, above pagefront and beneath ProxyFix, replays what Flask answered to the
same path and query string while still_made_from (the check the page cache's hit runs, on the
same stores) says the list, the index version and the cards generation are those the answer
was made from. It replays only a fresh 200 that the view offered (fastpaths.offer_answer: no
limit counted the request, security.is_unlimited) to a plain GET: a query that
recommendations.plain_rec_args takes as it is, no conditional, Range, Origin or body. It counts
and logs each answer as Flask's hooks do. Anything else goes to Flask as before.
"""

import re
from typing import NamedTuple

from redis.exceptions import RedisError
from werkzeug.datastructures import MultiDict

from service import caching, logs, security
from service.fastpaths import KEPT_ANSWER
from service.pagefront import Front
from service.recommendations import (
    URL_PREFIX,
    page_key,
    plain_rec_args,
    still_made_from,
)

ENDPOINT = "recommendations.Recommendations"
_PATH = re.compile(rf"{URL_PREFIX}/films/({security.IdConverter.regex})/recommendations")
# A query whose parse is a split (no %, + or ;: nothing to decode), short enough to keep.
_PLAIN_QUERY = re.compile(r"[A-Za-z0-9_,-]+=[A-Za-z0-9_,-]*(&[A-Za-z0-9_,-]+=[A-Za-z0-9_,-]*)*")
_MAX_QUERY = 256
# Request headers after which Flask's answer may differ: CORS answers by origin; a 304, a
# range; a body (to drain).
_DIFFERENT = ("HTTP_ORIGIN", *caching.CONDITIONAL, "HTTP_TRANSFER_ENCODING")
_ID = logs.REQUEST_ID_HEADER.lower()
# The headers of a limit: never in a replayed answer.
_LIMITED = ("x-ratelimit-", "retry-after")
# Headers whose value is the answer's own; the others (type, policy, nosniff, Vary) are the
# same in most answers and kept once for all (a replay's headers: 0.6 KB instead of 1.6).
_OWN = frozenset({"content-length", "etag", "last-modified", "date", _ID})
_SHARED: dict = {}


class Replay(NamedTuple):
    """Flask's answer to a request (status, headers; the body around the results, which are
    the kept page's bytes), the page cache's key and entry it came from, and what that was
    made from (related_page's made_from and card_rev)."""

    page_key: tuple
    kept: tuple  # the page cache's entry: the answer is served while the cache keeps it
    made_from: tuple
    card_rev: int
    status: str
    headers: tuple  # Flask's, in its order; the ones at date_at and id_at are made anew
    date_at: int | None
    id_at: int
    head: bytes
    results: bytes
    tail: bytes


class RelatedFront(Front):
    """WSGI middleware: serve a current related-titles answer as Flask served it (see the
    module)."""

    endpoint = ENDPOINT

    @staticmethod
    def _key(environ) -> tuple | None:
        """Return (film id, query string) for a plain GET of related titles, else None."""
        path = environ.get("PATH_INFO", "")
        if not path.endswith("/recommendations") or environ.get("REQUEST_METHOD") != "GET":
            return None
        if any(h in environ for h in _DIFFERENT):
            return None
        if environ.get("CONTENT_LENGTH") not in (None, "", "0"):
            return None
        match = _PATH.fullmatch(path)
        if match is None:
            return None
        return match.group(1), environ.get("QUERY_STRING", "")

    def _answer(self, environ, start_response, key, replay: Replay, started: float):
        """Serve replay while its sources are unchanged and no limit covers the route, else
        None (Flask answers)."""
        if ENDPOINT in security.EXPENSIVE_READS:  # limited: Flask-Limiter counts each request
            self.replays.drop(key)
            return None
        recs = self.app.extensions["recs"]
        if recs["pages"].get(replay.page_key) is not replay.kept:  # dropped or replaced
            self.replays.drop(key)
            return None
        primary = recs["store"]
        try:
            current = still_made_from(
                recs["reader"] or primary, key[0], replay.made_from, replay.card_rev, primary
            )
        except RedisError:  # Flask answers it (503 where it must), as without the front
            return None
        if not current:  # neither is the cache's entry: Flask need not ask Redis about it again
            self.replays.drop(key)
            recs["pages"].drop(replay.page_key)
            return None
        request_id = logs.request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        headers = list(replay.headers)
        if replay.date_at is not None:
            headers[replay.date_at] = ("Date", caching.date_now())
        headers[replay.id_at] = (logs.REQUEST_ID_HEADER, request_id)
        start_response(replay.status, headers)
        self._served(environ, started, request_id)
        return [b"".join((replay.head, replay.results, replay.tail))]

    def _keep(self, environ, key, status: str, headers: list, body):
        """Keep Flask's answer when the view offered it (a fresh 200 to a request no limit
        counted) and the query is plain."""
        offered = environ.get(KEPT_ANSWER)
        if offered is None:
            return body
        args = plain_args(key[1])
        if args is None:
            return body
        cache_key = page_key(key[0], args)
        kept = self.app.extensions["recs"]["pages"].get(cache_key)
        # the entry (version, gen, digest, card_rev, rev, computed_at, results, total) whose
        # results the answer holds: none, or another one, and the answer is not kept
        if kept is None or kept[6] is not offered["results"]:
            return body
        try:
            data = b"".join(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        replay = make_replay(cache_key, kept, offered, status, headers, data)
        if replay is not None:
            self.replays.put(key, replay)
        return [data]


def plain_args(query: str) -> dict | None:
    """Return the view's arguments for a query string its fast path takes as it is, and whose
    parse (werkzeug's) is a split on & and =; else None."""
    if len(query) > _MAX_QUERY or (query and _PLAIN_QUERY.fullmatch(query) is None):
        return None
    args = [part.split("=", 1) for part in query.split("&")] if query else []
    return plain_rec_args(MultiDict(args))


def make_replay(
    cache_key: tuple, kept: tuple, offered: dict, status: str, headers: list, data: bytes
) -> Replay | None:
    """Return the replay of Flask's answer (its status, headers and bytes) to the related_page
    answer offered from kept, or None when it cannot be replayed as it is."""
    names = [name.lower() for name, _ in headers]
    if any(name.startswith(_LIMITED) for name in names):
        return None
    if names.count(_ID) != 1 or names.count("date") > 1:
        return None
    head, found, tail = data.rpartition(offered["results"])  # the results come last
    if not found:
        return None
    if len(_SHARED) < 64:
        headers = [p if n in _OWN else _SHARED.setdefault(p, p) for n, p in zip(names, headers)]
    return Replay(
        cache_key,
        kept,
        offered["made_from"],
        offered["card_rev"],
        status,
        tuple(headers),
        names.index("date") if "date" in names else None,
        names.index(_ID),
        head,
        offered["results"],
        tail,
    )


def init_app(app) -> None:
    """Put the front above pagefront, beneath ProxyFix (so it sees the client's address).

    Off with the page cache, and with Flask-Limiter's meta limits (RATELIMIT_META: checked
    even for a request its filter exempts; none are configured here)."""
    size = 0 if app.config.get("RATELIMIT_META") else app.config["PAGE_CACHE"]
    app.wsgi_app = RelatedFront(app, app.wsgi_app, size)
