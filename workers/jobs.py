"""rq jobs: refresh one film's tags and related titles, incrementally."""

from rq import get_current_job

from service.core.borrow import Borrower, borrow_text, curated_keywords
from service.core.embedding import (
    film_embedding,
    joined,
    kept_bytes,
    noted,
    plot_texts,
    text_key,
)
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
    kept: tuple[dict | None, bytes | None] | None = None,
) -> tuple[dict, dict[str, float], bytes | None]:
    """Return (stored tags document, vector, plot embedding) for a film and its reviews; a
    film without curated keywords borrows some when the catalog has a borrower
    (service/core/borrow.py), but none of its blocked_tags; its embedding joins its point in
    the catalog's plot space when it has one (service/core/plotspace.py). kept: what
    Store.get_kept gives of the film, whose encoder bytes it keeps when its text is the same."""
    by_id = {film.get("id"): kept} if kept else None
    return tag_films([(film, reviews)], borrower, space, by_id)[0]


def tag_films(
    films: list[tuple[dict, list[dict]]],
    borrower: Borrower | None = None,
    space: PlotSpace | None = None,
    kept: dict[str, tuple[dict | None, bytes | None]] | None = None,
    embedded: list[int] | None = None,
) -> list[tuple[dict, dict[str, float], bytes | None]]:
    """Return tag_film's for (film, reviews) pairs, each what tag_film gives it alone: the
    plot space projects them all at once, the films without curated keywords borrow in one
    batch, and each film's texts are read once (their languages detected; a German plot
    glossed for the borrower and the space, as written for the embedding).

    kept: film id -> its stored key fields and embedding (Store.get_kept). A film whose
    embedding text, encoder and projection are those its stored document names keeps its
    encoder bytes instead of being embedded again (the encoder is most of a tag job's time);
    embedded, when given, gets how many films were embedded appended."""
    vocab = load_vocabulary()
    kept = kept or {}
    reads = [plot_texts(film, reviews) for film, reviews in films]
    texts = [borrow_text(film, reviews, plot) for (film, reviews), (plot, _) in zip(films, reads)]
    points = space.project(texts) if space is not None else [None] * len(films)
    out, lends, fresh = [], [], 0
    for i, (film, reviews) in enumerate(films):
        tags = extract_tags(film, reviews, vocab)
        vector = tag_vector(film, tags, vocab, reviews)
        if borrower is not None and not any(t.startswith(KW_PREFIX) for t in vector):
            lends.append(i)
        text = reads[i][1]
        key = text_key(text) if text else None
        plain = kept_bytes(*kept.get(film.get("id"), (None, None)), key)
        if plain is None:
            plain = film_embedding(film, reviews, text)
            fresh += plain is not None
        emb = joined(plain, points[i], space.share) if space is not None else plain
        out.append((tags, vector, emb, noted(plain, key, emb)))
    if embedded is not None:
        embedded.append(fresh)
    if lends:
        for i, borrowed in zip(lends, borrower.borrowed_tags([texts[i] for i in lends])):
            tags, vector = out[i][:2]
            blocked = set(films[i][0].get("blocked_tags") or [])
            borrowed = {t: entry for t, entry in borrowed.items() if t not in blocked}
            vector.update((t, entry["weight"]) for t, entry in borrowed.items())
            tags.update(borrowed)  # GET /films/{id}/tags shows them, with who lent them
    # the excerpts quote the film's own texts: stored by where they stand, not their text
    return [
        ({"rev": film["rev"], "tags": by_reference(tags, film, reviews), **note}, vector, emb)
        for (film, reviews), (tags, vector, emb, note) in zip(films, out)
    ]


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
        film,
        store.list_reviews(film_id),
        store.borrower() if lends else None,
        store.plot_space(),
        store.get_kept([film_id])[film_id],
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
