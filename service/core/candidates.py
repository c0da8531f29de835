"""The capped inverted index the kernel gathers candidates from, and the kernel's layout of a
snapshot (pure: numpy, scipy and numba; takes any object with the Catalog's fields).

Built for a million films: about 40 entries a film, 40 million in all, so every array of
entries costs 160-320 MB. Neither builds a temporary array of entries wider than the
matrix's own, and the layout holds each entry once (docs/BENCHMARKS.md, "A million films").
"""

import numpy as np
import scipy.sparse as sp
from numba import njit

from service.core import kernels
from service.core.vocab import GENRE_PREFIX

GENRE_FAMILY = GENRE_PREFIX.rstrip(":")


def popularity_order(pop: np.ndarray) -> np.ndarray:
    """Return catalog rows most popular first, ties by row: the order capped postings take."""
    return np.lexsort((np.arange(len(pop)), -pop))


@njit(cache=True)
def _capped(indptr, rows, rank, max_posting):
    """Per entry of a CSC matrix, whether it is in its column's capped posting: the
    max_posting rows of lowest rank (rank: each row's place in popularity_order)."""
    keep = np.zeros(len(rows), np.bool_)
    if max_posting <= 0:  # no posting reaches any film
        return keep
    for t in range(len(indptr) - 1):
        lo, hi = indptr[t], indptr[t + 1]
        if hi - lo <= max_posting:
            keep[lo:hi] = True
            continue
        ranks = np.empty(hi - lo, np.int64)
        for f in range(lo, hi):
            ranks[f - lo] = rank[rows[f]]
        bar = np.sort(ranks)[max_posting - 1]  # ranks are distinct: exactly max_posting kept
        for f in range(lo, hi):
            keep[f] = rank[rows[f]] <= bar
    return keep


def candidate_index(cat) -> dict:
    """Return the capped inverted index and the entries it leaves out.

    {"reach_t": tags x films, per tag its max_posting films of highest prior (ties by row),
    with their weights; "rest": films x tags, every other entry}. A query's candidates are
    the films its tags reach; their scores add the shared tags found in "rest".
    """
    if "cand" not in cat._cache:
        m = cat.matrix.tocsc()
        m.sort_indices()
        rank = np.empty(len(cat.ids), np.int64)
        rank[popularity_order(cat.pop)] = np.arange(len(cat.ids))
        keep = _capped(m.indptr, m.indices, rank, cat.params.max_posting)
        per_tag = np.clip(np.diff(m.indptr), 0, max(cat.params.max_posting, 0))  # _capped's
        reach_t = sp.csr_matrix(
            (m.data[keep], m.indices[keep], np.concatenate([[0], np.cumsum(per_tag)])),
            shape=(m.shape[1], m.shape[0]),
        )
        np.logical_not(keep, out=keep)
        rest_tag = np.repeat(np.arange(m.shape[1], dtype=np.int32), np.diff(m.indptr))[keep]
        rest = sp.coo_matrix((m.data[keep], (m.indices[keep], rest_tag)), shape=m.shape)
        del m, keep, rest_tag
        rest = rest.tocsr()
        rest.sort_indices()
        cat._cache["cand"] = cand_parts(reach_t, rest)
    return cat._cache["cand"]


def cand_parts(reach_t: sp.csr_matrix, rest: sp.csr_matrix) -> dict:
    """Return the candidate index from its stored parts, with what the kernel's bounds use."""
    capped = np.zeros(rest.shape[1], dtype=np.bool_)
    capped[rest.indices] = True
    rows = np.repeat(np.arange(rest.shape[0]), np.diff(rest.indptr))
    rest_norm = np.sqrt(np.bincount(rows, weights=rest.data**2, minlength=rest.shape[0]))
    return {"reach_t": reach_t, "rest": rest, "rest_norm": rest_norm, "capped": capped}


def genre_columns(cat) -> np.ndarray:
    """Per tag column, 1 for the genre family (a film's own genres), else 0."""
    names = cat.family_names
    fam = names.index(GENRE_FAMILY) if GENRE_FAMILY in names else -1
    return (np.asarray(cat.tag_family) == fam).astype(np.int64)


def layout(cat) -> dict:
    """Return the kernel's film numbering and the film-indexed inputs in it.

    Films are numbered by popularity, most popular first (ties by row), as the capped
    postings take the most popular films of each tag: the films that many queries reach
    then sit together in memory. At 100k films the kernel's inputs outgrow the CPU caches
    and this ordering ranks ~15% faster; the lists are the same (ties use catalog rows).
    The rest entries move here with 32-bit columns and leave the candidate index
    (candidate_index makes it again if asked); the matrix stays in catalog order and is
    not copied (the kernel reads it only for the reasons of the films it lists).
    """
    if "layout" not in cat._cache:
        idx = candidate_index(cat)
        n = len(cat.ids)
        orig = popularity_order(cat.pop)  # kernel number -> catalog row
        inv = np.empty(n, dtype=np.int64)
        inv[orig] = np.arange(n)
        reach, rest, m = idx["reach_t"], idx["rest"][orig], cat.matrix
        is_genre = genre_columns(cat)
        genres, set_indptr, set_cols = kernels.genre_sets(m, is_genre)
        cat._cache["layout"] = {
            "orig": orig.astype(np.int64),
            "inv": inv,
            "reach_indptr": reach.indptr.astype(np.int64),
            "reach_indices": inv[reach.indices],
            "reach_data": reach.data,
            "rest_indices": rest.indices.astype(np.int32),
            "rest_data": rest.data,
            "capped": idx["capped"],
            "m_indptr": m.indptr,
            "m_indices": m.indices,
            "m_data": m.data,
            # year, embedding norm, rest norm, language and rest range per film, one record
            # each; the prior's column is the ranking's to fill (it depends on the knobs)
            "film": kernels.film_records(
                cat.years[orig],
                np.zeros(n),
                cat.emb_norm[orig],
                idx["rest_norm"][orig],
                cat.langs[orig],
                rest.indptr,
                genres[orig],
            ),
            "is_genre": is_genre,
            "set_indptr": set_indptr,
            "set_cols": set_cols,
            "emb": np.ascontiguousarray(cat.emb[orig]),
        }
        del rest
        cat._cache.pop("cand")
    return cat._cache["layout"]
