"""rq jobs: refresh one film's tags and related titles, incrementally."""

from rq import get_current_job

from service.core.borrow import Borrower, borrow_text, curated_keywords
from service.core.embedding import film_embedding, joined
from service.core.excerpts import by_reference
from service.core.plotspace import PlotSpace
from service.core.tagging import extract_tags, tag_vector
from service.core.vocab import KW_PREFIX, load_vocabulary
from service.jobstats import record_index_update, timed_job
from service.storage import NotFound, Store
from workers import index
from workers.context import job_settings


def current_store(prefix: str) -> Store:
    return Store(get_current_job().connection, prefix)


def tag_film(
    film: dict,
    reviews: list[dict],
    borrower: Borrower | None = None,
    space: PlotSpace | None = None,
) -> tuple[dict, dict[str, float], bytes | None]:
    """Return (stored tags document, vector, plot embedding) for a film and its reviews; a
    film without curated keywords borrows some when the catalog has a borrower
    (service/core/borrow.py), but none of its blocked_tags; its embedding joins its point in
    the catalog's plot space when it has one (service/core/plotspace.py)."""
    return tag_films([(film, reviews)], borrower, space)[0]


def tag_films(
    films: list[tuple[dict, list[dict]]],
    borrower: Borrower | None = None,
    space: PlotSpace | None = None,
) -> list[tuple[dict, dict[str, float], bytes | None]]:
    """Return tag_film's for (film, reviews) pairs: the plot space projects them all at once,
    each to the point it would project it to alone."""
    vocab = load_vocabulary()
    # a film's text (language detection, a German plot glossed) only where a model reads it
    texts = points = [None] * len(films)
    if space is not None:
        texts = [borrow_text(film, reviews) for film, reviews in films]
        points = space.project(texts)
    out = []
    for (film, reviews), text, point in zip(films, texts, points):
        tags = extract_tags(film, reviews, vocab)
        vector = tag_vector(film, tags, vocab, reviews)
        if borrower is not None and not any(t.startswith(KW_PREFIX) for t in vector):
            text = borrow_text(film, reviews) if text is None else text
            (borrowed,) = borrower.borrowed_tags([text])
            blocked = set(film.get("blocked_tags") or [])
            borrowed = {t: entry for t, entry in borrowed.items() if t not in blocked}
            vector.update((t, entry["weight"]) for t, entry in borrowed.items())
            tags.update(borrowed)  # GET /films/{id}/tags shows them, with who lent them
        plot = film_embedding(film, reviews)
        emb = joined(plot, point, space.share) if space is not None else plot
        # the excerpts quote the film's own texts: stored by where they stand, not their text
        out.append(({"rev": film["rev"], "tags": by_reference(tags, film, reviews)}, vector, emb))
    return out


@timed_job("refresh")
def refresh_film(prefix: str, film_id: str) -> dict:
    """Recompute a film's tags and list, and its place in the lists of related films."""
    store = current_store(prefix)
    store.claim_dirty(film_id)
    store.touch_during_rebuild(film_id)
    version = store.index_version()
    try:
        film = store.get_film(film_id)
    except NotFound:
        return forget_film(store, version, film_id)
    # only a film without curated keywords borrows: the others need not read the borrower
    lends = not curated_keywords(film, load_vocabulary().ignores_keyword)
    doc, vector, emb = tag_film(
        film, store.list_reviews(film_id), store.borrower() if lends else None, store.plot_space()
    )
    if not store.save_tags(film_id, doc, vector, emb):
        # A job that read a newer revision finished first; its tags and lists stand.
        return {"film_id": film_id, "rev": film["rev"], "written": False, "superseded": True}
    old = store.get_lists(version, [film_id])[0]
    settings = job_settings()
    own, theirs = index.rank_one(store, film_id, vector, film, index.params(settings), emb)
    written = store.write_own_list(version, film_id, film["rev"], own)
    if written:
        stale = {item.id for item in (old or {}).get("items") or []} - theirs.keys()
        store.patch_lists(
            version, film_id, {**theirs, **dict.fromkeys(stale)}, settings.RECS_K, rev=film["rev"]
        )
        record_index_update(store)
    return {
        "film_id": film_id,
        "rev": film["rev"],
        "tags": len(vector),
        "related": len(own),
        "written": written,
    }


def forget_film(store: Store, version: int, film_id: str) -> dict:
    """Take a deleted film out of the index and out of the lists that may hold it."""
    vector = store.drop_tags(film_id)
    settings = job_settings()
    holders = index.candidates(store, vector, film_id, index.params(settings))
    store.patch_lists(version, film_id, dict.fromkeys(holders), settings.RECS_K)
    store.drop_list(version, film_id)
    return {"film_id": film_id, "deleted": True, "lists_patched": len(holders)}
