"""The genre agreement of the ranking kernel (numba): per genre set of the catalog, the factor
a candidate's score takes for one query row (service/core/kernels.py, rule 2)."""

from numba import njit


@njit(cache=True, nogil=True)
def genre_factors(q_cols, dense_q, is_genre, set_indptr, set_cols, genre_mix, out) -> None:
    """Write into out[g], for each genre set g (CSR: set_indptr, set_cols), the factor
    1 - genre_mix + genre_mix * share: share is the part of the set's genre columns that the
    row (its columns q_cols, its weights dense_q) has too, 0.5 when either has none."""
    q_genres = 0
    for t in q_cols:
        q_genres += is_genre[t]
    for g in range(len(set_indptr) - 1):
        size = set_indptr[g + 1] - set_indptr[g]
        share = 0.5
        if size > 0 and q_genres > 0:
            both = 0
            for f in range(set_indptr[g], set_indptr[g + 1]):
                both += dense_q[set_cols[f]] != 0.0
            share = both / size
        out[g] = 1.0 - genre_mix + genre_mix * share
