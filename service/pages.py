"""Server-rendered pages: the film page with Handlung, Kritiken and Empfehlungen, and the catalog."""

import math
from functools import lru_cache
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, render_template, request, url_for
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from service import caching
from service.common import once_per_request, page_cache, primary_language, primary_store, store
from service.core.vocab import load_vocabulary
from service.labels import LABELS, format_rating, review_date, shown_reasons
from service.pagecache import KEPT, KeptPage, find_page, keep_page
from service.recommendations import related_titles
from service.storage import NotFound
from service.text import fold

bp = Blueprint("pages", __name__)

PAGE_SIZE = 24
HTML = "text/html; charset=utf-8"  # what mimetype="text/html" gives, spelled once
RELATED_SHOWN = 12
MAX_PAGE = 100000  # as the API's `page`: a larger one would overflow Redis's 64-bit offsets
# A plot longer than this many characters is shown a few lines high, with "mehr" to open it.
PLOT_FOLD = 320
# A review longer than this shows an excerpt of about this length, with a link to the whole.
REVIEW_EXCERPT = 420
# TMDB's genres, the ones the catalog filters by, with their German names.
GENRES = {
    "Action": "Action",
    "Adventure": "Abenteuer",
    "Animation": "Animation",
    "Comedy": "Komödie",
    "Crime": "Krimi",
    "Documentary": "Dokumentarfilm",
    "Drama": "Drama",
    "Family": "Familie",
    "Fantasy": "Fantasy",
    "Foreign": "Ausländischer Film",
    "History": "Historie",
    "Horror": "Horror",
    "Music": "Musik",
    "Mystery": "Mystery",
    "Romance": "Liebesfilm",
    "Science Fiction": "Science-Fiction",
    "Thriller": "Thriller",
    "TV Movie": "TV-Film",
    "War": "Kriegsfilm",
    "Western": "Western",
}


def page_language() -> str:
    """Return de or en: from ?lang= (a BCP 47 tag such as de-DE), else Accept-Language
    (decided once per request: the view, the page's key and two hooks ask)."""
    return once_per_request("page_lang", _page_language)


def _page_language() -> str:
    environ = request.environ
    query_lang = request.args.get("lang") if environ.get("QUERY_STRING") else None
    return language_for(query_lang, environ.get("HTTP_ACCEPT_LANGUAGE", ""))


def language_for(query_lang: str | None, accept_language: str) -> str:
    """Return de or en: query_lang (?lang=, a BCP 47 tag) when it names one, else the best
    match of an Accept-Language header, else de."""
    if query_lang:
        lang = primary_language(query_lang[:35])
        if lang in LABELS:
            return lang
    lang = _ACCEPTED.get(accept_language)
    if lang is None:
        accepted = parse_accept_header(accept_language, LanguageAccept)
        lang = accepted.best_match(["de", "en"], default="de")
        if len(_ACCEPTED) < 1000 and len(accept_language) <= 200:  # browsers send a few dozen
            _ACCEPTED[accept_language] = lang
    return lang


_ACCEPTED: dict[str, str] = {}  # Accept-Language header -> the page language it picks


@bp.after_request
def say_language(response):
    """The page's language follows Accept-Language: say so to caches (Vary) and readers."""
    headers = response.headers
    if "Vary" in headers:
        response.vary.add("Accept-Language")
    else:  # what vary.add gives, without parsing and writing back a header set
        headers.add("Vary", "Accept-Language")
    headers["Content-Language"] = page_language()
    return response


@bp.context_processor
def language_switch() -> dict:
    """Give every page a link to itself in the other language."""
    lang = page_language()
    other = "en" if lang == "de" else "de"
    if not (request.endpoint and request.endpoint.startswith("pages.")):
        return {"other_lang": other, "other_url": url_for("pages.catalog", lang=other)}
    # The query goes into the link as a query string, never as url_for arguments: names such as
    # `endpoint`, `_method` or `film_id` would collide with url_for's own (a 500 before).
    query = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"] + [("lang", other)]
    path = url_for(request.endpoint, **(request.view_args or {}))
    return {"other_lang": other, "other_url": path + "?" + urlencode(query)}


def genre_label(genre: str, lang: str) -> str:
    """Return a genre's name in lang: TMDB's names, else the vocabulary's genre of that name."""
    if lang == "en":
        return genre
    if genre in GENRES:
        return GENRES[genre]
    vocab = load_vocabulary()
    tags = [t for t in vocab.map_genre(genre) if vocab.kind(t) == "genre"]
    return vocab.label(tags[0], lang) if len(tags) == 1 else genre


def collated(options, label=lambda o: o[1]) -> list:
    """Return options sorted by label as a German reader looks them up: Ärzte beside Arzt, Über
    among the U (accents and case ignored first, DIN 5007-1), then by the exact label."""
    return sorted(options, key=lambda o: (fold(label(o)), label(o)))


def excerpt(text: str, limit: int) -> str | None:
    """Return text cut at a word before about limit characters, with "…", or None if it is short."""
    if len(text) <= limit * 1.2:  # not worth a link for a few more words
        return None
    cut = text[:limit].rsplit(None, 1)[0].rstrip(",;:–-")
    return cut + " …"


def pick_synopsis(synopsis: dict, lang: str) -> tuple[str | None, str]:
    """Return (language, text): the page's language first, then German, then any."""
    for code in (lang, "de", "en", *sorted(synopsis)):
        if synopsis.get(code):
            return code, synopsis[code]
    return None, ""


def review_view(review: dict, lang: str) -> dict:
    """Return what the page shows of a review: date (said what it is), rating as text and as
    five stars, and an excerpt when the body is long."""
    rating = review.get("rating")
    stars = round(rating / 2) if rating is not None else 0
    return {
        **review,
        "date": review_date(review, lang),
        "excerpt": excerpt(review.get("body") or "", REVIEW_EXCERPT),
        "rating_text": format_rating(rating, lang),
        "stars": "★" * stars + "☆" * (5 - stars),
    }


def score_level(score: float, top: float) -> int:
    """Return 1-5: a related title's score next to the best one in its list (scores have no unit)."""
    return max(1, min(5, round(5 * score / top))) if top > 0 else 1


def page_key() -> tuple:
    """Return the key of this request's film page: film, language and the query but lang
    (which the language link repeats; ?lang=de, ?lang=de-DE and none give the same German page)."""
    others = ()
    if request.environ.get("QUERY_STRING"):
        others = tuple((k, v) for k, v in request.args.items(multi=True) if k != "lang")
    return request.view_args["film_id"], page_language(), others


def shared_variant(key: tuple) -> str | None:
    """Return the name other web processes find this page under in Redis: its language, when
    the query holds nothing but lang (any other query is kept by this process only, so that
    made-up queries fill no memory in Redis)."""
    return None if key[2] else key[1]


def kept_page() -> KeptPage | None:
    """Return the page this process kept, or another one shared, for this request while it is
    still current (pagecache.find_page; asked once per request), else None."""
    return once_per_request("kept_page", _find_kept_page)


def _find_kept_page() -> KeptPage | None:
    key = page_key()
    return find_page(request.view_args["film_id"], key, shared_variant(key))


# Expensive reads that are cheap while a kept page is current: not rate-limited then
# (security.is_unlimited); a miss, which renders, is.
CHEAP_WHEN = {"pages.film_page": lambda: kept_page() is not None}


@bp.get("/films/<id:film_id>")
def film_page(film_id):
    """The film page; a page made before (by this process or another) is served again while
    what it was made from (index version, list, every card: so the film and its reviews) is
    unchanged, as the JSON page cache does, so it is never staler than one made anew."""
    lang = page_language()
    kept = kept_page()
    if kept is not None:
        request.environ[KEPT] = kept  # pagefront replays this answer while the page is current
        caching.describe(kept.etag, kept.last_modified)
        return current_app.response_class(kept.html, content_type=HTML)
    # The list first: its cards generation then also covers the film and reviews read after it
    # (a write in between makes the kept page miss once, never serve old data).
    try:
        recs = related_titles(  # labels only the cards shown
            store(), film_id, lang, stop=RELATED_SHOWN, primary=primary_store(), pages=page_cache()
        )
        film, reviews = store().get_film_and_reviews(film_id)
    except NotFound:
        abort(404)
    if recs["status"] == "fresh" and film["rev"] > recs["card_rev"]:
        # the film (or a review) was written after its list was read: the list is older than
        # the film shown, so the page says it is being updated, as a render after the write would
        recs = {**recs, "status": "stale"}
    synopsis_lang, synopsis = pick_synopsis(film.get("synopsis") or {}, lang)
    top = max((r["score"] for r in recs["results"]), default=0.0)  # lists are best first
    related = [
        {**r, "level": score_level(r["score"], top), "chips": shown_reasons(r["reasons"], lang)}
        for r in recs["results"][:RELATED_SHOWN]
    ]
    reviews = [review_view(r, lang) for r in reviews]
    fresh = recs["status"] == "fresh"
    last_modified = max(film.get("updated_at") or 0, recs["computed_at"] or 0)
    html = render_template(
        "film.html",
        film=film,
        lang=lang,
        t=LABELS[lang],
        genres=[genre_label(g, lang) for g in film.get("genres") or []],
        synopsis=synopsis,
        synopsis_lang=synopsis_lang,
        plot_folded=len(synopsis) > PLOT_FOLD,
        reviews=reviews,
        recs=recs,
        related=related,
    ).encode()
    etag = caching.body_etag(html)
    if fresh and recs["made_from"] is not None:  # a page being computed reloads itself: not kept
        key = page_key()
        page = KeptPage(recs["made_from"], recs["card_rev"], html, etag, last_modified)
        keep_page(film_id, key, shared_variant(key), page)
        request.environ[KEPT] = page  # what pagefront replays (a kept page's answer is the same)
    caching.describe(etag, last_modified, fresh=fresh)
    return current_app.response_class(html, content_type=HTML)


@bp.get("/reviews/<id:review_id>")
def review_page(review_id):
    """The whole of a review that the film page shows an excerpt of."""
    lang = page_language()
    try:
        review = store().get_review(review_id)
        film = store().get_film(review["film_id"])
    except NotFound:
        abort(404)
    caching.describe(last_modified=max(review.get("updated_at") or 0, film.get("updated_at") or 0))
    return render_template(
        "review.html",
        film=film,
        review=review_view(review, lang),
        lang=lang,
        t=LABELS[lang],
        whole=True,
    )


@lru_cache(maxsize=4)
def tag_options(lang: str) -> tuple[tuple[str, str], ...]:
    """Return the vocabulary's tags as (id, label) sorted by label (the vocabulary is fixed per process)."""
    vocab = load_vocabulary()
    return tuple(collated((tag, vocab.label(tag, lang)) for tag in vocab.tags))


@bp.get("/")
def catalog():
    lang = page_language()
    s = store()
    q = request.args.get("q", "").strip()[:200]
    genre = request.args.get("genre", "").strip()[:60]
    tag = request.args.get("tag", "").strip()[:100]
    page = request.args.get("page", 1, type=int) or 1
    if not 1 <= page <= MAX_PAGE:
        abort(400)
    start = (page - 1) * PAGE_SIZE
    if q or genre or tag:
        ids = s.filter_film_ids(genre or None, tag or None)
        ids = s.search_titles(ids, q) if q else ids
        total, ids = len(ids), ids[start : start + PAGE_SIZE]
    else:
        total, ids = s.count_films(), s.film_ids(start, start + PAGE_SIZE - 1)
    films = [
        {**f, "genre_labels": [genre_label(g, lang) for g in f.get("genres") or []]}
        for f in s.get_films(ids)
        if f
    ]
    pages = max(math.ceil(total / PAGE_SIZE), 1)
    query = {k: v for k, v in (("q", q), ("genre", genre), ("tag", tag)) if v}

    def page_url(n: int) -> str:
        return url_for("pages.catalog", **query, page=n, lang=lang)

    return render_template(
        "catalog.html",
        films=films,
        q=q,
        genre=genre,
        tag=tag,
        lang=lang,
        t=LABELS[lang],
        total=total,
        page=page,
        pages=pages,
        page_url=page_url,
        genres=collated((g, genre_label(g, lang)) for g in GENRES),
        tags=tag_options(lang),
    )


@bp.errorhandler(404)
def not_found(error):
    """Answer an unknown film with an HTML page (the API keeps its JSON errors)."""
    lang = page_language()
    return render_template("error.html", error="not_found", lang=lang, t=LABELS[lang]), 404


@bp.errorhandler(400)
def bad_request(error):
    """Answer a page request that cannot be served (a page number out of range) with HTML."""
    lang = page_language()
    return render_template("error.html", error="bad_request", lang=lang, t=LABELS[lang]), 400
