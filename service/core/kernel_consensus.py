"""The ranking kernel's neighbours' agreement (numba), rule 4b of service/core/kernels.py.

A person who is shown a firefighter's love story and asked for related films picks films that
are like each other too: firefighter films, not one firefighter film, a sea rescue and a
medical romance that each share a different word with the plot. The films most like the query
say what it is about better than its own tags do when those come from a short plot, so each
listed film gains by how like it is to them: the mean of its content similarity to the query's
`consensus_k` best matches, weighted by their scores.
"""

import numpy as np
from numba import njit

from service.core.kernel_select import sort_best_first


@njit(cache=True, nogil=True)
def agreement(nbrs, nb_weight, targets, orig, matrix, plots, dense, out) -> None:
    """Write to out each target's agreement with the neighbours, in [0, 1].

    nbrs and targets are films in the kernel's layout (orig maps them to catalog rows, in
    which matrix, (indptr, indices, data), is), the first len(nbrs) targets the neighbours
    themselves; nb_weight the neighbours' scores. A target's agreement is the nb_weight-weighted
    mean, over the neighbours, of its content similarity to each: the dot product of their
    catalog rows (at most 1: rows are unit vectors or shorter) plus emb_weight times their plot
    embeddings' cosine, over 1 + emb_weight, and 0 if that mean is negative; no priors, which
    the query's own scores already hold. A target is no neighbour of itself: it adds 0 there,
    and its weight still counts, so the best match does not gain by being the best. plots:
    (emb, emb_norm, emb_weight), per film in layout order (norm 0: no embedding). dense: one
    float per tag column, zero, and zero again on return.

    Both parts are linear in the neighbour, so the neighbours are summed once (their weighted
    rows, their weighted unit embeddings) and each target takes one dot product with the sums.
    """
    m_indptr, m_indices, m_data = matrix
    emb, emb_norm, emb_weight = plots
    total = nb_weight.sum()
    out[:] = 0.0
    if total <= 0.0:
        return
    unit = 1.0 / (1.0 + max(emb_weight, 0.0))
    with_plot = emb_weight > 0
    e_sum = np.zeros(emb.shape[1])
    for b in range(len(nbrs)):
        r = orig[nbrs[b]]
        for f in range(m_indptr[r], m_indptr[r + 1]):
            dense[m_indices[f]] += nb_weight[b] * m_data[f]
        if with_plot and emb_norm[nbrs[b]] > 0:
            for x in range(len(e_sum)):
                e_sum[x] += emb[nbrs[b], x] * (nb_weight[b] / emb_norm[nbrs[b]])
    for a in range(len(targets)):
        j = targets[a]
        rj = orig[j]
        dot = 0.0
        for f in range(m_indptr[rj], m_indptr[rj + 1]):  # in column order, as the kernel
            dot += dense[m_indices[f]] * m_data[f]
        cos = 0.0
        if with_plot and emb_norm[j] > 0:
            for x in range(len(e_sum)):
                cos += e_sum[x] * emb[j, x]
            cos /= emb_norm[j]
        if a < len(nbrs):  # a neighbour: less its likeness to itself
            own = 0.0
            for f in range(m_indptr[rj], m_indptr[rj + 1]):
                own += m_data[f] * m_data[f]
            dot -= nb_weight[a] * own
            cos -= nb_weight[a] if with_plot and emb_norm[j] > 0 else 0.0
        out[a] = max(0.0, (dot + emb_weight * cos) * unit / total)
    for b in range(len(nbrs)):
        r = orig[nbrs[b]]
        for f in range(m_indptr[r], m_indptr[r + 1]):
            dense[m_indices[f]] = 0.0


@njit(cache=True, nogil=True)
def agree_listed(row, knobs, orig, matrix, plots, dense, agree_scored) -> None:
    """Rule 3b for one query row: score[c] = (score[c] + weight * agreement) / (1 + weight)
    for the chosen[:total] films (positions into scored, best first), which are sorted again,
    and for the scored films carrying an aspect (asp_of) that rule 5 could bring in (a direct
    score of at least its bar); the other scores are divided by 1 + weight. row: (chosen,
    total, scored, score, direct, asp_of, tie, n), the kernel's arrays for the row's n scored
    candidates; direct[:n] gets the scores before the rule. knobs: (consensus_k, weight, rule
    5's bar). agree_scored gets each target's term as a contribution to its reasons (before
    the kernel's 1 / (1 + emb_weight)). matrix, plots, dense: as agreement takes them."""
    chosen, total, scored, score, direct, asp_of, tie, n = row
    consensus_k, weight, bar = knobs
    n_nb = min(consensus_k, total)
    nbrs = np.empty(n_nb, np.int64)
    nb_weight = np.empty(n_nb)
    for b in range(n_nb):
        nbrs[b] = scored[chosen[b]]
        nb_weight[b] = score[chosen[b]]
    pos = np.empty(total + n, np.int64)
    pos[:total] = chosen[:total]
    n_t = total
    for c in range(n):
        direct[c] = score[c]
        score[c] /= 1.0 + weight
        if asp_of[c] != 0 and direct[c] >= bar:
            listed = False
            for a in range(total):
                listed |= chosen[a] == c
            if not listed:
                pos[n_t] = c
                n_t += 1
    targets = np.empty(n_t, np.int64)
    for a in range(n_t):
        targets[a] = scored[pos[a]]
    agreed = np.empty(n_t)
    agreement(nbrs, nb_weight, targets, orig, matrix, plots, dense, agreed)
    unit = 1.0 / (1.0 + max(plots[2], 0.0))
    for a in range(n_t):
        score[pos[a]] += weight * agreed[a] / (1.0 + weight)
        agree_scored[pos[a]] = weight * agreed[a] / unit
    sort_best_first(chosen, score, tie, total)
