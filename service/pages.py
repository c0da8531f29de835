"""Server-rendered pages: the film page with Handlung, Kritiken and Empfehlungen, and the catalog."""

from flask import Blueprint, abort, render_template, request

from service.common import store
from service.recommendations import related_titles
from service.storage import NotFound

bp = Blueprint("pages", __name__)

LABELS = {
    "de": {"plot": "Handlung", "reviews": "Kritiken", "recs": "Empfehlungen",
           "no_reviews": "Noch keine Kritiken.", "no_recs": "Noch keine Empfehlungen.",
           "pending": "Die Empfehlungen werden gerade berechnet.",
           "stale": "Die Empfehlungen werden gerade aktualisiert.",
           "by": "von", "catalog": "Katalog", "search": "Suchen", "score": "Ähnlichkeit"},
    "en": {"plot": "Plot", "reviews": "Reviews", "recs": "Recommendations",
           "no_reviews": "No reviews yet.", "no_recs": "No recommendations yet.",
           "pending": "Recommendations are being computed.",
           "stale": "Recommendations are being updated.",
           "by": "by", "catalog": "Catalog", "search": "Search", "score": "Similarity"},
}


def page_language() -> str:
    lang = request.args.get("lang")
    if lang in LABELS:
        return lang
    return request.accept_languages.best_match(["de", "en"], default="de")


def pick_synopsis(synopsis: dict, lang: str) -> tuple[str | None, str]:
    """Return (language, text): the page's language first, then German, then any."""
    for code in (lang, "de", "en", *sorted(synopsis)):
        if synopsis.get(code):
            return code, synopsis[code]
    return None, ""


@bp.get("/films/<id:film_id>")
def film_page(film_id):
    lang = page_language()
    try:
        film = store().get_film(film_id)
    except NotFound:
        abort(404)
    synopsis_lang, synopsis = pick_synopsis(film.get("synopsis") or {}, lang)
    recs = related_titles(film_id, lang)
    return render_template("film.html", film=film, lang=lang, t=LABELS[lang],
                           synopsis=synopsis, synopsis_lang=synopsis_lang,
                           reviews=store().list_reviews(film_id), recs=recs,
                           related=recs["results"][:10])


@bp.get("/")
def catalog():
    lang = page_language()
    s = store()
    q = request.args.get("q", "").strip()[:200]
    ids = s.search_titles(s.film_ids(), q) if q else s.film_ids(0, 199)
    films = [f for f in s.get_films(ids[:200]) if f]
    return render_template("catalog.html", films=films, q=q, lang=lang, t=LABELS[lang])
