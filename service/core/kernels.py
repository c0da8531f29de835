"""Compiled ranking kernel (numba): every query row's top-k related films with their reasons.

One pass per query row, in O(candidates x tags per candidate), no per-pair arrays:

1. Candidates: the films in the capped postings (`reach`) of the query's tags.
2. Exact score per candidate: the dot product of the query row with the candidate's full
   catalog row (every shared tag counts, capped or not), summed in column order, times the
   shared-tag shrinkage, times two bounded prior factors, `1 - m + m * popularity` and
   `1 - c + c * era * language` (a mix below 1 bounds how far a prior can reorder matches),
   plus the plot embeddings' cosine (when positive) times its weight w, outside the priors:
   a similar story counts whatever the film's popularity or era. Both times the genre
   agreement `1 - g + g * share` (share: the part of the candidate's genres the query has
   too): a like story or like themes of another kind of film count less. Divided by 1 + w.
3. Selection: the best `slots` candidates sharing a specific tag are kept; the rest of the
   k is the best of the others; ties go to the lower catalog row.
3b. Neighbours' agreement (service/core/kernel_consensus.py): each chosen film's score
   gains by its likeness to the query's best matches (rows without curated keywords).
4. Reasons: per listed film, the `n_reasons` largest per-tag contributions and their share;
   the embedding term (column `emb_col`) and the agreement (`emb_col + 1`) two more.
5. Strongly stated themes: each of the query's aspect tags (service.core.kernel_aspects.
   query_aspects: its strongest specific tags of the kinds a story is about) that no film in
   the first `window` carries gets the best film of its posting that does and is like the
   query on the `aspect_need` tags (its genres, a dot product of at least `need_min`: not
   firemen in an action film for a firefighter's love story), if it scores at least
   `aspect_ratio` times the window's last score; it takes the place of the lowest window
   item whose aspects other window items carry too (which moves to just after the window).
   A plot about a firefighter and a malpractice trial gets one film of each, not ten of
   whichever strand has more tags.
6. Order: by score; then, within the first `window`, at most `window - slots` items that
   share only generic tags (the reserved slots); scores made monotonic in the final order.

The full rebuild and the one-film refresh both call it, so their lists agree to the bit.
Its helpers: service/core/kernel_select.py (order and selection), service/core/kernel_aspects.py
(rule 5), service/core/kernel_pack.py (the output as stored list items).
"""

import math

import numpy as np
from numba import njit

from service.core import kernel_cache
from service.core.kernel_aspects import cover_aspects
from service.core.kernel_consensus import agree_listed
from service.core.kernel_genres import genre_factors
from service.core.kernel_select import (
    add_reason,
    kth_largest,
    offer,
    reserve_window,
    select_best,
    sort_best_first,
)

# Columns of the kernel's per-film record (`film`, candidates.film_records): what scoring a
# candidate reads of it, in one row of 8 floats (64 bytes: one cache line when aligned), so
# that a candidate costs one miss at a million films instead of one per array.
YEAR, PRIOR, EMB_NORM, REST_NORM, LANG, REST_START, REST_END, GENRES = range(8)
RECORD = 8
# Columns of the accumulators a row fills per film (32 bytes, half a cache line): the capped
# part of its dot product, the same on the aspect_need tags, the capped tags it shares, and
# bits: the row's aspects it carries, and one bit more (spec_bit) if it shares a specific
# tag. Counts and bits are whole numbers far below 2**53, exact as floats.
ACC, NEED, COUNT, BITS = range(4)


@njit(cache=True, nogil=True)  # nogil: threads rank blocks of rows side by side
def rank_rows(
    q_indptr,
    q_indices,
    q_data,
    q_years,
    q_langs,
    self_rows,
    orig,
    reach_indptr,
    reach_indices,
    reach_data,
    rest_indices,
    rest_data,
    capped,
    m_indptr,
    m_indices,
    m_data,
    specific,
    film,
    emb,
    q_emb,
    q_emb_norm,
    emb_weight,
    emb_col,
    k,
    shrink,
    year_scale,
    lang_penalty,
    prior_mix,
    context_mix,
    genre_mix,
    set_indptr,
    set_cols,
    is_genre,
    slots,
    window,
    window_slots,
    q_aspects,
    aspect_ratio,
    aspect_need,
    need_min,
    consensus_k,
    consensus_weight,
    is_kw,
    n_reasons,
    out_rows,
    out_micro,
    out_len,
    reason_tags,
    reason_units,
    reason_len,
    stats,
):
    """Rank each query row; write rows, scores, counts and reasons into the out arrays.

    Films are numbered in a layout of the caller's (service.core.similarity._layout): every
    film-indexed input and self_rows use it, orig maps it back to catalog rows, and ties
    and out_rows use catalog rows, so the layout changes nothing but memory access. The
    matrix (m_indptr, m_indices, m_data) is the exception: it stays in catalog order (it is
    read only for the reasons of listed films, through orig), so it is not copied.
    out_rows (catalog rows), out_micro (scores in millionths): rows x k; out_len: rows;
    reason_tags (tag columns), reason_units (shares in 1/10,000): rows x k x n_reasons;
    reason_len: rows x k. stats (4 floats) adds up, over the rows, the capped postings read,
    the candidates, the candidates scored exactly and the rest entries their scans read.
    film (films x RECORD, layout order, candidates.film_records): per film its year, prior
    factor's popularity term, embedding norm, the L2 norm of its rest entries, language, the
    range of its rest entries (rest_indices, rest_data) and its genre set; capped: per tag,
    whether some of its entries are in rest. emb (films x dims, int8, layout order) and q_emb
    (rows x dims) are plot embeddings, the film record's norm and q_emb_norm their L2 norms
    (0: none); their cosine, taken in integers, adds emb_weight * cosine when positive.
    genre_mix weighs the genre agreement: the score (tags and embedding) times 1 - genre_mix
    + genre_mix * share, share being the part of the candidate's genre columns (is_genre) that the row has
    too, 0.5 when either has none; the film record's GENRES is its set in (set_indptr,
    set_cols), whose shares are worked out once per row.
    q_aspects (rows x n, -1 padded): each row's aspect tag columns (query_aspects); a film
    carries an aspect when it is in the tag's capped posting and its dot product with the
    row on the columns marked in aspect_need (1.0 per column, else 0.0) is positive and at
    least need_min, when the row has such columns. consensus_k and consensus_weight: rule
    3b (0 leaves it out), for the rows with no column marked in is_kw (curated keywords).
    The module docstring has the rules.
    """
    n_films = len(m_indptr) - 1
    dense_q = np.zeros(len(specific))
    # per film, while a row is ranked: capped part of the dot product, capped tags shared,
    # shares a specific tag; zero again after each row (only its candidates are touched)
    # a posting entry touches one cache line per film, not five (one array per field)
    accum = np.zeros((n_films, 4))
    cand = np.empty(n_films, np.int64)
    scored = np.empty(n_films, np.int64)
    low = np.empty(n_films)
    high = np.empty(n_films)
    low_spec = np.empty(n_films)
    factor_of = np.empty(n_films)  # per candidate position, its prior factor
    plot_of = np.zeros(n_films)  # per candidate position, its embedding term
    plot_scored = np.zeros(n_films)  # the same per scored position
    agree_scored = np.zeros(n_films)  # per scored position, the agreement's term (rule 3b)
    with_agreement = consensus_k > 0 and consensus_weight > 0
    dense_nb = np.zeros(len(specific) if with_agreement else 1)  # rule 3b's scratch
    score = np.empty(n_films)
    direct = np.empty(n_films) if with_agreement else score  # scores before rule 3b
    is_spec = np.zeros(n_films, np.bool_)
    tie = np.empty(n_films, np.int64)  # per scored candidate, its catalog row
    protected = np.zeros(n_films, np.bool_)
    pool = np.empty(n_films, np.int64)
    chosen = np.empty(k, np.int64)
    heap = np.empty(max(k, slots, window, 1))
    n_aspects = q_aspects.shape[1]
    spec_bit = 1 << n_aspects  # in accum[:, BITS]: shares a specific tag
    asp_bit = np.zeros(len(specific), np.int64)  # per tag column, while a row is ranked
    asp_of = np.zeros(n_films, np.int64)  # the same per scored position
    best_all = np.empty(max(k, 1))  # the k best exact scores so far (a min-heap)
    best_spec = np.empty(max(slots, 1))  # the `slots` best among specific matches
    kept = np.empty(k, np.int64)
    top_val = np.empty(max(n_reasons, 1))
    top_tag = np.empty(max(n_reasons, 1), np.int64)
    # per scored candidate position: its reasons (tag columns and shares of its similarity)
    item_n = np.zeros(n_films, np.int64)
    item_tag = np.zeros((n_films, max(n_reasons, 1)), np.int64)
    item_share = np.zeros((n_films, max(n_reasons, 1)))
    # era factors of whole-year gaps, as math.exp gives them (gaps are whole years but for
    # odd inputs, which take math.exp directly)
    era_table = np.ones(256)
    if year_scale > 0:
        for d in range(256):
            era_table[d] = math.exp(-float(d) / year_scale)
    margin = 1.0 + 1e-9  # float rounding of the bounds, which sum in another order
    unit = 1.0 / (1.0 + max(emb_weight, 0.0))  # scores stay in [0, 1]
    n_sets = len(set_indptr) - 1
    genre_factor = np.ones(max(n_sets, 1))  # per genre set, while a row is ranked
    for i in range(len(q_indptr) - 1):
        lo, hi = q_indptr[i], q_indptr[i + 1]
        q_capped_sq = 0.0
        q_capped = 0
        for e in range(lo, hi):
            dense_q[q_indices[e]] = q_data[e]
            if capped[q_indices[e]]:
                q_capped_sq += q_data[e] * q_data[e]
                q_capped += 1
        q_capped_norm = math.sqrt(q_capped_sq)
        if genre_mix != 0.0:
            genre_factors(
                q_indices[lo:hi], dense_q, is_genre, set_indptr, set_cols, genre_mix, genre_factor
            )
        with_plot = emb_weight > 0 and q_emb_norm[i] > 0
        q_row = q_emb[i]
        n_dims = emb.shape[1]
        any_aspect = False
        q_need = False
        for e in range(lo, hi):
            q_need |= aspect_need[q_indices[e]] != 0.0
        for a in range(n_aspects):
            if q_aspects[i, a] >= 0:
                asp_bit[q_aspects[i, a]] |= 1 << a
                any_aspect = True
        # 1. candidates from the capped postings, with their capped part of the dot product.
        # Branch-free: a film is appended at every posting and kept (n_cand moves on) only
        # at its first, when its count is still 0; the row's own film never has count 0.
        n_cand = 0
        me = self_rows[i]
        if me >= 0:
            accum[me, COUNT] = -float(1 << 40)
        for e in range(lo, hi):
            t = q_indices[e]
            w = q_data[e]
            spec_t = specific[t]
            need_t = aspect_need[t]
            bit = asp_bit[t]
            stats[0] += reach_indptr[t + 1] - reach_indptr[t]
            for f in range(reach_indptr[t], reach_indptr[t + 1]):
                j = reach_indices[f]
                cand[n_cand] = j
                rec = accum[j]
                n_cand += rec[COUNT] == 0.0
                x = w * reach_data[f]
                rec[ACC] += x
                rec[NEED] += need_t * x
                rec[COUNT] += 1.0
                rec[BITS] = float(int(rec[BITS]) | bit | (spec_bit if spec_t else 0))
        stats[1] += n_cand
        if me >= 0:
            accum[me, :] = 0.0
        # 2. bounds without the rest entries: the capped part is a lower bound of the dot
        # product (weights are positive), Cauchy-Schwarz on the rest gives an upper bound
        n_low_spec = 0
        for c in range(n_cand):
            j = cand[c]
            rec = film[j]  # one record: one cache line
            acc_j = accum[j, ACC]
            count_j = accum[j, COUNT]
            era = 1.0
            if year_scale > 0:
                dy = abs(q_years[i] - rec[YEAR])
                if math.isnan(dy):
                    dy = year_scale
                era = (
                    era_table[int(dy)] if dy < 256 and dy == int(dy) else math.exp(-dy / year_scale)
                )
            lang = 1.0
            if lang_penalty != 0:
                if q_langs[i] >= 0 and rec[LANG] >= 0:
                    lang = 1.0 if q_langs[i] == rec[LANG] else 1.0 - lang_penalty
                else:
                    lang = 1.0 - lang_penalty / 2
            factor = (1.0 - prior_mix + prior_mix * rec[PRIOR]) * (
                1.0 - context_mix + context_mix * (era * lang)
            )
            agree = genre_factor[int(rec[GENRES])] if genre_mix != 0.0 else 1.0
            factor *= agree
            factor_of[c] = factor
            plot = 0.0
            if with_plot and rec[EMB_NORM] > 0:
                # int8 products summed in int32 (at most 512 x 127 x 127): exact, and SIMD
                dot = np.int32(0)
                for d in range(n_dims):
                    dot += np.int32(q_row[d]) * np.int32(emb[j, d])
                if dot > 0:
                    plot = agree * emb_weight * (dot / (q_emb_norm[i] * rec[EMB_NORM]))
            plot_of[c] = plot
            v = min(acc_j, 1.0)
            if shrink > 0:
                v *= count_j / (count_j + shrink)
            v = (v * factor + plot) * unit
            low[c] = v
            if int(accum[j, BITS]) & spec_bit:
                low_spec[n_low_spec] = v
                n_low_spec += 1
            n_rest = int(rec[REST_END] - rec[REST_START])
            if q_capped == 0 or n_rest == 0:
                high[c] = v * margin
                continue
            u = min((acc_j + q_capped_norm * rec[REST_NORM]) * margin, 1.0)
            if shrink > 0:
                most = count_j + min(q_capped, n_rest)
                u *= most / (most + shrink)
            high[c] = (u * factor + plot) * unit * margin
        # a candidate below k others and below `slots` specific ones can be neither listed
        # nor protected, whatever its rest entries add: skip their scan
        thr = min(kth_largest(low, n_cand, k, heap), kth_largest(low_spec, n_low_spec, slots, heap))
        # a film carrying an aspect may be brought into the window when it scores at least
        # aspect_ratio times the window's last score, which is at least the window-th lower
        # bound: such films are scored exactly whatever the other bars say
        asp_thr = aspect_ratio * kth_largest(low, n_cand, window, heap) if any_aspect else np.inf
        # 3. exact scores of the others: scored[:n] are the scored candidates, score and
        # is_spec by position. The exact scores found so far raise the bar as they come:
        # a candidate below the k best of them and below the `slots` best specific ones
        # can be neither listed nor protected either.
        n = 0
        n_all = 0
        n_spec = 0
        for c in range(n_cand):
            j = cand[c]
            asp_j = int(accum[j, BITS]) & (spec_bit - 1)
            for_aspect = asp_j != 0 and high[c] >= asp_thr
            if high[c] < thr and not for_aspect:
                continue
            if k > 0 and n_all == k and (slots <= 0 or n_spec == slots) and not for_aspect:
                if high[c] < min(best_all[0], best_spec[0] if slots > 0 else -np.inf):
                    continue
            stats[2] += 1
            rest_start, rest_end = int(film[j, REST_START]), int(film[j, REST_END])
            stats[3] += rest_end - rest_start
            uncapped = 0.0
            shared = accum[j, COUNT]
            spec = (int(accum[j, BITS]) & spec_bit) != 0
            nd = accum[j, NEED]
            for f in range(rest_start, rest_end):
                # branch-free: a tag the query lacks adds 0.0 (weights are positive, so the
                # sum is the same to the bit) and counts for nothing
                t = rest_indices[f]
                w = dense_q[t]
                uncapped += w * rest_data[f]
                shared += w != 0.0
                spec |= (w != 0.0) & specific[t]
                nd += w * rest_data[f] * aspect_need[t]
            sim = accum[j, ACC] + uncapped
            if sim <= 0.0:
                continue
            v = min(sim, 1.0)
            if shrink > 0:
                v *= shared / (shared + shrink)
            v = (v * factor_of[c] + plot_of[c]) * unit
            plot_scored[n] = plot_of[c]
            scored[n] = j
            tie[n] = orig[j]
            score[n] = v
            is_spec[n] = spec
            need = not q_need or (nd > 0.0 and nd >= need_min)
            asp_of[n] = asp_j if need else 0
            n += 1
            n_all = offer(best_all, n_all, k, v)
            if spec:
                n_spec = offer(best_spec, n_spec, slots, v)
        for c in range(n_cand):  # zero what this row accumulated, for the next one
            j = cand[c]
            accum[j, :] = 0.0
        # 4. the protected specific matches, then the best of the others up to k
        n_pool = 0
        for c in range(n):
            if is_spec[c]:
                pool[n_pool] = c
                n_pool += 1
        n_prot = select_best(pool, n_pool, slots, score, tie, chosen) if slots > 0 else 0
        for a in range(n_prot):
            protected[chosen[a]] = True
        n_pool = 0
        for c in range(n):
            if not protected[c]:
                pool[n_pool] = c
                n_pool += 1
        for a in range(n_prot):
            protected[chosen[a]] = False
        n_rest = select_best(pool, n_pool, k - n_prot, score, tie, chosen[n_prot:])
        total = n_prot + n_rest
        sort_best_first(chosen, score, tie, total)
        # rule 5's bar: a share of the window's last score, before rule 3b reorders
        bar = np.inf
        if any_aspect and total > 0:
            bar = aspect_ratio * score[chosen[min(window, total) - 1]]
        # 3b. the neighbours' agreement, for the listed films and those rule 5 may bring in,
        # in rows without curated keywords (those tell the story already)
        agrees = with_agreement and total > 0 and not is_kw[q_indices[lo:hi]].any()
        if agrees:
            agree_listed(
                (chosen, total, scored, score, direct, asp_of, tie, n),
                (consensus_k, consensus_weight, bar),
                orig,
                (m_indptr, m_indices, m_data),
                (emb, film[:, EMB_NORM], emb_weight),
                dense_nb,
                agree_scored,
            )
        if any_aspect and total > 0:
            firsts = direct if agrees else score  # the scores before rule 3b
            total = cover_aspects(
                chosen, total, k, window, score, firsts, tie, asp_of, n, n_aspects, bar
            )
        # 5. reasons of each chosen item: its largest per-tag contributions, as shares
        for a in range(total):
            c = chosen[a]
            j = orig[scored[c]]  # the matrix is in catalog order
            n_r = 0
            whole = 0.0
            for f in range(m_indptr[j], m_indptr[j + 1]):
                x = dense_q[m_indices[f]] * m_data[f]  # 0 for a tag the query lacks
                whole += x
                n_r = add_reason(top_val, top_tag, n_r, n_reasons, x, m_indices[f])
            # the embedding term and the neighbours' agreement, as two more contributions
            x = plot_scored[c]
            whole += x
            n_r = add_reason(top_val, top_tag, n_r, n_reasons, x, emb_col)
            x = agree_scored[c] if agrees else 0.0
            whole += x
            n_r = add_reason(top_val, top_tag, n_r, n_reasons, x, emb_col + 1)
            item_n[c] = n_r
            for r in range(n_r):
                item_tag[c, r] = top_tag[r]
                item_share[c, r] = top_val[r] / whole
        # 7. reserved slots: the first `window` hold at most window - window_slots plain items
        reserve_window(chosen, total, is_spec, window, window_slots, kept, pool)
        out_len[i] = total
        last = np.inf
        for a in range(total):
            c = kept[a]
            last = min(last, score[c])
            out_rows[i, a] = orig[scored[c]]
            out_micro[i, a] = math.floor(last * 1e6 + 0.5)  # the score to 6 places
            n_kept = 0
            for r in range(item_n[c]):  # shares are in order: a 0 ends them
                # floored to 4 places: shares never sum above 1
                units = math.floor(item_share[c, r] * 1e4)
                if units == 0:
                    break
                reason_tags[i, a, n_kept] = item_tag[c, r]
                reason_units[i, a, n_kept] = units
                n_kept += 1
            reason_len[i, a] = n_kept
        for e in range(lo, hi):
            dense_q[q_indices[e]] = 0.0
            asp_bit[q_indices[e]] = 0


# the cached kernels must come from these sources, helpers included (service/core/kernel_cache.py)
kernel_cache.drop_stale(rank_rows._cache.cache_path)
