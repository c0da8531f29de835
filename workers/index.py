"""Bridge the store and the similarity maths: candidates, one-film ranking, list items."""

from functools import lru_cache

from config.settings import Settings
from service.core import similarity
from service.core.borrow import BORROWED_PREFIX, mirror_df, mirrored, twin
from service.listcodec import RelatedItem
from service.storage import Store
from workers.context import job_settings


def params(settings: Settings | None = None) -> similarity.SimilarityParams:
    """Return the similarity knobs: tuned defaults, overridden by the RECS_SIM_* settings (of
    the worker running this job, unless settings are given)."""
    settings = settings or job_settings()
    return _params(settings.RECS_K, tuple(sorted(settings.SIMILARITY.items())))


@lru_cache(maxsize=8)
def _params(k: int, overrides: tuple) -> similarity.SimilarityParams:
    return similarity.SimilarityParams.from_mapping({"k": k, **dict(overrides)})


def as_item(related: RelatedItem) -> RelatedItem:
    """Return a ranked item at the precision the store keeps it (service/listcodec.py)."""
    return RelatedItem.stored(*related)


def candidates(
    store: Store, vector: dict[str, float], exclude: str, knobs: similarity.SimilarityParams
) -> list[str]:
    """Return the films sharing a tag with vector, reading at most max_posting per tag."""
    found = set()
    # a borrowed keyword meets the films that hold it as a curated one (borrow.mirrored)
    tags = [*vector, *(twin(t) for t in vector if t.startswith(BORROWED_PREFIX))]
    for ids in store.postings(tags, knobs.max_posting):
        found.update(ids)
    found.discard(exclude)
    return sorted(found)


def load_films(store: Store, ids: list[str]) -> list[dict]:
    """Return similarity inputs {"id", "vector", "embedding", meta...} of films that have a
    vector."""
    out = []
    found = zip(ids, store.get_vectors_and_embeddings(ids), store.get_meta(ids))
    for fid, (vector, emb), meta in found:
        if vector is not None and meta is not None:
            out.append({"id": fid, "vector": vector, "embedding": emb, **meta})
    return out


def film_input(
    film_id: str, vector: dict[str, float], film: dict, embedding: bytes | None = None
) -> dict:
    meta = {
        key: film.get(key)
        for key in ("year", "original_language", "popularity", "vote_count", "vote_average")
    }
    return {"id": film_id, "vector": vector, "embedding": embedding, **meta}


def rank_one(
    store: Store,
    film_id: str,
    vector: dict[str, float],
    film: dict,
    knobs: similarity.SimilarityParams,
    embedding: bytes | None = None,
):
    """Rank one film against its candidates.

    Return (its list items, {other: item putting film_id into other's list}) for the
    films in its new list. IDF and priors use catalog-wide statistics, so the scores
    equal those of a full rebuild.
    """
    me = film_input(film_id, vector, film, embedding)
    others = load_films(store, candidates(store, vector, film_id, knobs))
    films = [me] + others
    # the catalog's counts of the tags the catalog of these films holds, curated keywords
    # counted as borrowed ones too (borrow.mirror_df), as the full rebuild counts them
    tags = {t for f in films for t in f["vector"]}
    if any(t.startswith(BORROWED_PREFIX) for t in tags):  # else the catalog mirrors nothing
        tags |= mirrored(dict.fromkeys(tags, 1.0)).keys()
        tags |= {twin(t) for t in tags if t.startswith(BORROWED_PREFIX)}
    stats = store.catalog_stats(tags)
    stats["df"] = mirror_df(stats["df"])
    cat = similarity.build_catalog(films, knobs, stats=stats)
    own = [as_item(r) for r in similarity.related_rows(cat, [0], knobs)[0]]
    rows = [cat.row_of[item.id] for item in own]
    theirs = dict.fromkeys(item.id for item in own)
    for row, related in zip(rows, similarity.related_rows(cat, rows, knobs)):
        for entry in related:
            if entry.id == film_id:
                theirs[cat.ids[row]] = as_item(entry)
                break
    return own, theirs
