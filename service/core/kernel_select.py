"""Selection helpers of the ranking kernel (numba): order, best-of and k-th largest, with the
ranking's tie rule (higher score first, then the lower catalog row), and a row's largest
reasons."""

import numpy as np
from numba import njit


@njit(cache=True)
def better(va, ja, vb, jb) -> bool:
    """Return whether (score va, row ja) ranks before (vb, jb): higher score, then lower row."""
    return va > vb or (va == vb and ja < jb)


@njit(cache=True)
def sort_best_first(items, score, rows, n) -> None:
    """Sort items[:n] (positions into score and rows) best first, in place (n is at most k)."""
    for a in range(1, n):
        x = items[a]
        b = a - 1
        while b >= 0 and better(score[x], rows[x], score[items[b]], rows[items[b]]):
            items[b + 1] = items[b]
            b -= 1
        items[b + 1] = x


@njit(cache=True)
def select_best(pool, n, count, score, rows, out) -> int:
    """Write to out the best `count` of pool[:n] (positions), best first; return how many.

    A heap of the best so far whose root is the worst of them: one comparison for most
    candidates, whatever the ties (quickselect degrades on many equal scores).
    """
    if count <= 0:
        return 0
    size = 0
    for a in range(n):
        x = pool[a]
        if size < count:
            at = size
            size += 1
            while at > 0:  # sift up: the worse of parent and child goes up
                up = (at - 1) // 2
                if not better(score[out[up]], rows[out[up]], score[x], rows[x]):
                    break
                out[at] = out[up]
                at = up
            out[at] = x
        elif better(score[x], rows[x], score[out[0]], rows[out[0]]):
            at = 0
            while True:  # sift down from the root
                child = 2 * at + 1
                if child >= size:
                    break
                if child + 1 < size and better(
                    score[out[child]], rows[out[child]], score[out[child + 1]], rows[out[child + 1]]
                ):
                    child += 1
                if not better(score[x], rows[x], score[out[child]], rows[out[child]]):
                    break
                out[at] = out[child]
                at = child
            out[at] = x
    sort_best_first(out, score, rows, size)
    return size


@njit(cache=True)
def kth_largest(values, n, kth, heap) -> float:
    """Return the kth largest of values[:n] (-inf when there are fewer); heap: kth floats."""
    if kth <= 0 or n < kth:
        return -np.inf
    size = 0
    for a in range(n):
        x = values[a]
        if size < kth:
            at = size
            size += 1
            while at > 0 and heap[(at - 1) // 2] > x:
                heap[at] = heap[(at - 1) // 2]
                at = (at - 1) // 2
            heap[at] = x
        elif x > heap[0]:
            at = 0
            while True:
                child = 2 * at + 1
                if child >= size:
                    break
                if child + 1 < size and heap[child + 1] < heap[child]:
                    child += 1
                if x <= heap[child]:
                    break
                heap[at] = heap[child]
                at = child
            heap[at] = x
    return heap[0]


@njit(cache=True)
def offer(heap, size, cap, x) -> int:
    """Keep the `cap` largest values offered in the min-heap heap[:size]; return its size.

    kth_largest keeps its own copy of this loop: calling this from it (inlined or not) made
    the ranking 15-20% slower per row at 10k and 100k films, with the same lists.
    """
    if cap <= 0:
        return size
    if size < cap:
        at = size
        while at > 0 and heap[(at - 1) // 2] > x:
            heap[at] = heap[(at - 1) // 2]
            at = (at - 1) // 2
        heap[at] = x
        return size + 1
    if x > heap[0]:
        at = 0
        while True:
            child = 2 * at + 1
            if child >= size:
                break
            if child + 1 < size and heap[child + 1] < heap[child]:
                child += 1
            if x <= heap[child]:
                break
            heap[at] = heap[child]
            at = child
        heap[at] = x
    return size


@njit(cache=True)
def add_reason(top_val, top_tag, n_r, n_reasons, x, col) -> int:
    """Offer contribution x of column col to a row's reasons so far (top_val[:n_r], largest
    first; ties keep the earlier); return how many there are now. Nothing when x <= 0."""
    if x <= 0:
        return n_r
    if n_r < n_reasons:
        p = n_r
        n_r += 1
    elif n_reasons > 0 and x > top_val[n_r - 1]:
        p = n_r - 1
    else:
        return n_r
    while p > 0 and x > top_val[p - 1]:
        top_val[p] = top_val[p - 1]
        top_tag[p] = top_tag[p - 1]
        p -= 1
    top_val[p] = x
    top_tag[p] = col
    return n_r


@njit(cache=True)
def reserve_window(chosen, total, is_spec, window, window_slots, kept, spare) -> None:
    """Write chosen[:total] (best first) to kept[:total] so that the first `window` hold at
    most window - window_slots items that are not specific (is_spec, by position): the others
    move down, in order, behind the window. spare: scratch of at least total."""
    plain_seen = 0
    allowed_seen = 0
    n_in = 0
    n_out = 0
    for a in range(total):
        c = chosen[a]
        allowed = is_spec[c]
        if not allowed:
            allowed = plain_seen < window - window_slots
            plain_seen += 1
        if allowed and allowed_seen < window:
            kept[n_in] = c
            n_in += 1
        else:
            spare[n_out] = c
            n_out += 1
        if allowed:
            allowed_seen += 1
    kept[n_in:total] = spare[:n_out]
