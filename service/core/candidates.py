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
from service.core.vocab import GENRE_PREFIX, KW_PREFIX

GENRE_FAMILY = GENRE_PREFIX.rstrip(":")
KW_FAMILY = KW_PREFIX.rstrip(":")  # curated keywords


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


def film_records(years, prior, emb_norm, rest_norm, langs, rest_indptr, genres) -> np.ndarray:
    """Return the kernel's per-film records (films x kernels.RECORD floats, in layout order):
    year, prior, embedding norm, rest norm, language (-1: none), the film's rest entries'
    start and end, and its genre set's number (genre_sets). Integers are held exactly
    (below 2**53)."""
    n = len(years)
    film = np.zeros((n, kernels.RECORD))
    film[:, kernels.YEAR] = years
    film[:, kernels.PRIOR] = prior
    film[:, kernels.EMB_NORM] = emb_norm
    film[:, kernels.REST_NORM] = rest_norm
    film[:, kernels.LANG] = langs
    film[:, kernels.REST_START] = rest_indptr[:-1]
    film[:, kernels.REST_END] = rest_indptr[1:]
    film[:, kernels.GENRES] = genres
    return film


def genre_sets(matrix, is_genre: np.ndarray):
    """Number the distinct genre sets of a catalog's films (the columns of the genre family
    in each film's row). Return (per film its set's number, the sets as CSR: indptr and
    columns). A catalog has a few hundred distinct sets however many films it holds, so a
    row's genre agreement is worked out once per set, not once per candidate."""
    n = matrix.shape[0]
    keep = is_genre[matrix.indices].astype(bool)
    rows = np.repeat(np.arange(n), np.diff(matrix.indptr))[keep]
    cols = matrix.indices[keep].astype(np.int64)
    counts = np.bincount(rows, minlength=n)
    width = int(counts.max()) if n and len(cols) else 0
    # the genre columns numbered among themselves: a million films' table is then n x width
    # 16-bit numbers (about 14 MB), not n x width columns in 64 bits
    genre_cols, local = np.unique(cols, return_inverse=True)
    small = np.int16 if len(genre_cols) < np.iinfo(np.int16).max else np.int32
    padded = np.full((n, width), -1, dtype=small)  # each film's genre numbers, sorted
    order = np.lexsort((local, rows))
    rows, local = rows[order], local[order]
    starts = np.zeros(n + 1, dtype=np.int64)
    starts[1:] = np.cumsum(counts)
    padded[rows, np.arange(len(rows)) - starts[rows]] = local
    sets, per_film = np.unique(padded, axis=0, return_inverse=True)
    sizes = (sets >= 0).sum(axis=1)
    set_indptr = np.zeros(len(sets) + 1, dtype=np.int64)
    set_indptr[1:] = np.cumsum(sizes)
    set_cols = genre_cols[sets[sets >= 0]].astype(np.int64)
    return per_film.reshape(-1).astype(np.int64), set_indptr, set_cols


def family_columns(cat, family: str) -> np.ndarray:
    """Per tag column, 1 for the given family (genre: a film's own genres), else 0."""
    names = cat.family_names
    fam = names.index(family) if family in names else -1
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
        is_genre = family_columns(cat, GENRE_FAMILY)
        genres, set_indptr, set_cols = genre_sets(m, is_genre)
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
            # year, embedding norm, rest norm, language, rest range and genre set per film,
            # one record each; the prior's column is the ranking's to fill (it depends on the knobs)
            "film": film_records(
                cat.years[orig],
                np.zeros(n),
                cat.emb_norm[orig],
                idx["rest_norm"][orig],
                cat.langs[orig],
                rest.indptr,
                genres[orig],
            ),
            "is_genre": is_genre,
            "is_kw": family_columns(cat, KW_FAMILY),  # curated keywords (rule 3b leaves such rows)
            "set_indptr": set_indptr,
            "set_cols": set_cols,
            "emb": np.ascontiguousarray(cat.emb[orig]),
        }
        del rest
        cat._cache.pop("cand")
    return cat._cache["layout"]
