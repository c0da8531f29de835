"""The strongly stated themes of the ranking kernel (numba): which of a query's tags are its
themes, and bringing a film of each into the first window (service/core/kernels.py, rule 5)."""

import numpy as np
from numba import njit

from service.core.kernel_select import better, sort_best_first


@njit(cache=True)
def cover_aspects(chosen, total, k, window, score, direct, tie, asp_of, n, n_aspects, bar) -> int:
    """Bring into the first `window` of chosen[:total] (best first) the best scored film of
    each aspect the window lacks (rule 5 of the module docstring); return the new total.

    A film qualifies when its direct score (`direct`: before the neighbours' agreement, rule
    3b) is at least `bar`, aspect_ratio times the window's last direct score: the agreement
    favours the strand most of the best matches are of, and must not keep the others out."""
    w_end = min(window, total)
    in_window = np.zeros(n, np.bool_)
    for p in range(w_end):
        in_window[chosen[p]] = True
    for a in range(n_aspects):
        bit = 1 << a
        covered = False
        for p in range(w_end):
            covered |= (asp_of[chosen[p]] & bit) != 0
        if covered:
            continue
        best = -1
        for c in range(n):
            if (asp_of[c] & bit) and not in_window[c] and direct[c] >= bar:
                if best < 0 or better(score[c], tie[c], score[best], tie[best]):
                    best = c
        if best < 0:
            continue
        # the lowest window item gives way whose aspects other window items carry too
        p = w_end - 1
        while p >= 0:
            others = 0
            for r in range(w_end):
                if r != p:
                    others |= asp_of[chosen[r]]
            if asp_of[chosen[p]] & ~others == 0:
                break
            p -= 1
        if p < 0:
            continue
        out = chosen[p]
        q = w_end  # where the film is listed now, if it is
        while q < total and chosen[q] != best:
            q += 1
        if q == total:  # not listed: the list grows by one, or its last item goes
            if total < k:
                total += 1
            q = total - 1
        if q >= w_end:  # the window's item moves to just after it
            for r in range(q, w_end, -1):
                chosen[r] = chosen[r - 1]
            chosen[w_end] = out
        chosen[p] = best
        in_window[out] = False
        in_window[best] = True
        sort_best_first(chosen, score, tie, w_end)
    return total


@njit(cache=True)
def query_aspects(
    q_indptr, q_indices, q_data, idf, tag_family, n_families, aspect_col, min_weight, tf_power, out
) -> None:
    """Fill out (rows x n) with each query row's aspect tags (columns, -1 padded): its tags
    marked in aspect_col that weigh at least min_weight times the strongest tag of their
    family in the row, strongest first (by their entry in the row; ties to the lower column).

    A row's entries are weight ** tf_power * idf, normalised per family, so within a family
    (entry / idf) ** (1 / tf_power) is the tag's weight up to one factor.
    """
    n = out.shape[1]
    fam_max = np.zeros(max(n_families, 1))
    best = np.empty(max(n, 1))
    for i in range(len(q_indptr) - 1):
        lo, hi = q_indptr[i], q_indptr[i + 1]
        out[i, :] = -1
        for e in range(lo, hi):
            t = q_indices[e]
            if idf[t] > 0:
                fam_max[tag_family[t]] = max(fam_max[tag_family[t]], q_data[e] / idf[t])
        found = 0
        for e in range(lo, hi):
            t = q_indices[e]
            f = tag_family[t]
            if not aspect_col[t] or idf[t] <= 0 or fam_max[f] <= 0:
                continue
            rel = q_data[e] / idf[t] / fam_max[f]
            if tf_power > 0:
                rel = rel ** (1.0 / tf_power)
            if rel < min_weight * (1.0 - 1e-9):
                continue
            # keep the n strongest, in order; columns come in ascending order, so a tie
            # stays behind the lower column
            p = min(found, n)
            while p > 0 and q_data[e] > best[p - 1]:
                p -= 1
            if p < n:
                for r in range(min(found, n - 1), p, -1):
                    out[i, r] = out[i, r - 1]
                    best[r] = best[r - 1]
                out[i, p] = t
                best[p] = q_data[e]
                found += 1
        for e in range(lo, hi):
            fam_max[tag_family[q_indices[e]]] = 0.0
