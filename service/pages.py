"""Server-rendered pages: the film page with Handlung, Kritiken and Empfehlungen, and the catalog."""

import math
from functools import lru_cache
from urllib.parse import urlencode

from flask import Blueprint, abort, render_template, request, url_for

from service.common import store
from service.labels import LABELS, format_date, format_rating, review_date, shown_reasons
from service.recommendations import related_titles
from service.storage import NotFound
from workers.vocab import load_vocabulary

bp = Blueprint("pages", __name__)

PAGE_SIZE = 24
RELATED_SHOWN = 12
MAX_PAGE = 100000  # as the API's `page`: a larger one would overflow Redis's 64-bit offsets
# TMDB's genres, the ones the catalog filters by, with their German names.
GENRES = {"Action": "Action", "Adventure": "Abenteuer", "Animation": "Animation",
          "Comedy": "Komödie", "Crime": "Krimi", "Documentary": "Dokumentarfilm", "Drama": "Drama",
          "Family": "Familie", "Fantasy": "Fantasy", "History": "Historie", "Horror": "Horror",
          "Music": "Musik", "Mystery": "Mystery", "Romance": "Liebesfilm",
          "Science Fiction": "Science-Fiction", "Thriller": "Thriller", "War": "Kriegsfilm",
          "Western": "Western"}


def page_language() -> str:
    lang = request.args.get("lang")
    if lang in LABELS:
        return lang
    return request.accept_languages.best_match(["de", "en"], default="de")


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
    return GENRES.get(genre, genre) if lang == "de" else genre


def pick_synopsis(synopsis: dict, lang: str) -> tuple[str | None, str]:
    """Return (language, text): the page's language first, then German, then any."""
    for code in (lang, "de", "en", *sorted(synopsis)):
        if synopsis.get(code):
            return code, synopsis[code]
    return None, ""


def review_view(review: dict, lang: str) -> dict:
    """Return what the page shows of a review: date, rating as text and as five stars."""
    rating = review.get("rating")
    stars = round(rating / 2) if rating is not None else 0
    return {**review, "date": format_date(review_date(review), lang),
            "rating_text": format_rating(rating, lang), "stars": "★" * stars + "☆" * (5 - stars)}


def score_level(score: float, top: float) -> int:
    """Return 1-5: a related title's score next to the best one in its list (scores have no unit)."""
    return max(1, min(5, round(5 * score / top))) if top > 0 else 1


@bp.get("/films/<id:film_id>")
def film_page(film_id):
    lang = page_language()
    try:
        film = store().get_film(film_id)
    except NotFound:
        abort(404)
    synopsis_lang, synopsis = pick_synopsis(film.get("synopsis") or {}, lang)
    recs = related_titles(film_id, lang, stop=RELATED_SHOWN)  # labels only the cards shown
    top = max((r["score"] for r in recs["results"]), default=0.0)  # lists are best first
    related = [{**r, "level": score_level(r["score"], top), "chips": shown_reasons(r["reasons"], lang)}
               for r in recs["results"][:RELATED_SHOWN]]
    reviews = [review_view(r, lang) for r in store().list_reviews(film_id)]
    return render_template("film.html", film=film, lang=lang, t=LABELS[lang],
                           genres=[genre_label(g, lang) for g in film.get("genres") or []],
                           synopsis=synopsis, synopsis_lang=synopsis_lang, reviews=reviews,
                           recs=recs, related=related)


@lru_cache(maxsize=4)
def tag_options(lang: str) -> tuple[tuple[str, str], ...]:
    """Return the vocabulary's tags as (id, label) sorted by label (the vocabulary is fixed per process)."""
    vocab = load_vocabulary()
    return tuple(sorted(((tag, vocab.label(tag, lang)) for tag in vocab.tags), key=lambda o: o[1].casefold()))


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
        total, ids = len(ids), ids[start:start + PAGE_SIZE]
    else:
        total, ids = s.count_films(), s.film_ids(start, start + PAGE_SIZE - 1)
    films = [{**f, "genre_labels": [genre_label(g, lang) for g in f.get("genres") or []]}
             for f in s.get_films(ids) if f]
    pages = max(math.ceil(total / PAGE_SIZE), 1)
    query = {k: v for k, v in (("q", q), ("genre", genre), ("tag", tag)) if v}

    def page_url(n: int) -> str:
        return url_for("pages.catalog", **query, page=n, lang=lang)

    return render_template("catalog.html", films=films, q=q, genre=genre, tag=tag, lang=lang,
                           t=LABELS[lang], total=total, page=page, pages=pages, page_url=page_url,
                           genres=[(g, genre_label(g, lang)) for g in GENRES],
                           tags=tag_options(lang))


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
