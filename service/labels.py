"""Words the film page and the plain-text page show, in German and English, and their formats."""

from datetime import UTC, datetime

from service.core.vocab import BORROWED_PREFIX, Vocabulary

LANGS = ("de", "en")

LABELS = {
    "de": {
        "plot": "Handlung",
        "like_best": "Wie die besten Treffer",  # the reason AGREEMENT_REASON
        "reviews": "Kritiken",
        "recs": "Empfehlungen",
        "no_plot": "Noch keine Handlung.",
        "no_reviews": "Noch keine Kritiken.",
        "no_recs": "Noch keine Empfehlungen.",
        "pending": "Die Empfehlungen werden gerade berechnet.",
        "stale": "Die Empfehlungen werden gerade aktualisiert.",
        "refreshing": "Die Seite lädt neu, sobald sie fertig sind.",
        "failed": "Die Berechnung dauert länger als erwartet. Bitte später neu laden.",
        "by": "von",
        "anonymous": "Anonym",
        "review": "Kritik",
        "rating": "Bewertung: {value} von 10",
        "score": "Ähnlichkeit: {level} von 5",
        "reasons": "Gemeinsamkeiten",
        "catalog": "Katalog",
        "search": "Suchen",
        "title_search": "Titel",
        "genre": "Genre",
        "tag": "Merkmal",
        "any": "alle",
        "filter": "Filtern",
        "results": "{n} Filme",
        "no_results": "Keine Filme gefunden.",
        "page": "Seite {page} von {pages}",
        "pages": "Seiten",
        "prev": "Zurück",
        "next": "Weiter",
        "skip": "Zum Inhalt springen",
        "main_nav": "Hauptnavigation",
        "language": "English",
        "not_found": "Film nicht gefunden",
        "not_found_text": "Einen Film mit dieser Adresse gibt es nicht.",
        "bad_request": "Ungültige Anfrage",
        "bad_request_text": "Diese Adresse enthält einen ungültigen Wert (etwa eine Seitenzahl).",
        "back": "Zum Katalog",
        "untitled": "Ohne Titel",
        "more": "mehr",
        "less": "weniger",
        "whole_review": "Ganze Kritik lesen",
        "published": "veröffentlicht am",
        "added": "hier hinzugefügt am",
        "back_to_film": "Zurück zu {title}",
    },
    "en": {
        "plot": "Plot",
        "like_best": "Like the best matches",
        "reviews": "Reviews",
        "recs": "Recommendations",
        "no_plot": "No plot yet.",
        "no_reviews": "No reviews yet.",
        "no_recs": "No recommendations yet.",
        "pending": "Recommendations are being computed.",
        "stale": "Recommendations are being updated.",
        "refreshing": "The page reloads as soon as they are ready.",
        "failed": "This is taking longer than expected. Please reload later.",
        "by": "by",
        "anonymous": "Anonymous",
        "review": "Review",
        "rating": "Rating: {value} out of 10",
        "score": "Similarity: {level} of 5",
        "reasons": "In common",
        "catalog": "Catalog",
        "search": "Search",
        "title_search": "Title",
        "genre": "Genre",
        "tag": "Feature",
        "any": "any",
        "filter": "Filter",
        "results": "{n} films",
        "no_results": "No films found.",
        "page": "Page {page} of {pages}",
        "pages": "Pages",
        "prev": "Previous",
        "next": "Next",
        "skip": "Skip to content",
        "main_nav": "Main navigation",
        "language": "Deutsch",
        "not_found": "Film not found",
        "not_found_text": "There is no film at this address.",
        "bad_request": "Bad request",
        "bad_request_text": "This address holds a value that is not valid (a page number, say).",
        "back": "To the catalog",
        "untitled": "Untitled",
        "more": "more",
        "less": "less",
        "whole_review": "Read the whole review",
        "published": "published",
        "added": "added here",
        "back_to_film": "Back to {title}",
    },
}


def format_date(value, lang: str) -> tuple[str, str] | None:
    """Return (ISO date, shown date) of an ISO string or epoch seconds, or None if unreadable."""
    try:
        if isinstance(value, int | float):
            day = datetime.fromtimestamp(value, tz=UTC).date()
        elif isinstance(value, str) and value:
            day = datetime.fromisoformat(value).date()
        else:
            return None
    except (ValueError, OverflowError, OSError):
        return None
    return day.isoformat(), day.strftime("%d.%m.%Y") if lang == "de" else day.isoformat()


def format_rating(rating, lang: str) -> str | None:
    """Return a 0-10 rating as shown text ("8", "7,5" in German, "7.5" in English), or None."""
    if rating is None:
        return None
    text = f"{rating:g}"
    return text.replace(".", ",") if lang == "de" else text


def review_date(review: dict, lang: str) -> tuple[str, str, str, bool] | None:
    """Return (ISO date, shown date, what the date is: "veröffentlicht am" or "hier
    hinzugefügt am", whether it is the publication's) of a review: when it was published,
    else when it was added here; a review's import is never passed off as its writing."""
    for key, published in (("published_at", True), ("created_at", False)):
        date = format_date(review.get(key), lang)
        if date:
            return date[0], date[1], LABELS[lang]["published" if published else "added"], published
    return None


def shown_reasons(reasons: list[dict], lang: str) -> list[tuple[str, str | None]]:
    """Return (label, language if not the page's) of the reasons to show, duplicates dropped.

    A keyword with no vocabulary tag (`kw:...` labelled with the keyword itself) is TMDB's
    English: a German page shows it only when nothing else explains the match, marked as English.
    """

    def untranslated(reason: dict) -> bool:
        return reason["tag"].startswith("kw:") and reason["label"] == reason["tag"][3:]

    tagged = [(r["label"], None) for r in reasons if not untranslated(r)]
    keywords = [(r["label"], "en" if lang != "en" else None) for r in reasons if untranslated(r)]
    chosen = tagged + keywords if lang == "en" or not tagged else tagged
    seen, shown = set(), []
    for label, label_lang in chosen:
        if label and label.casefold() not in seen:
            seen.add(label.casefold())
            shown.append((label, label_lang))
    return shown


def tag_name(vocab: Vocabulary, tag: str, lang: str) -> dict:
    """A stored tag's label and kind (GET /films/{id}/tags): a borrowed keyword by its own
    name, not the plot's chip it shows as among the reasons, so that an editor can tell
    which one to block."""
    if tag.startswith(BORROWED_PREFIX):
        return {"label": tag[len(BORROWED_PREFIX) :], "kind": "borrowed"}
    return {
        "label": vocab.label(tag, lang),
        "kind": vocab.tags[tag].kind if tag in vocab.tags else "keyword",
    }
