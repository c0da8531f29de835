"""Compute related films: IDF-weighted tag cosines per tag family, shrunk, times era/language/popularity priors."""

import io
import json
import math
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import scipy.sparse as sp

Related = list[tuple[str, float, list[tuple[str, float]]]]


@dataclass(frozen=True)
class SimilarityParams:
    """All knobs; the defaults are the values tuned on the dev truth (see docs/QUALITY.md)."""

    k: int = 50
    # build time: how tag vectors are weighted
    idf_power: float = 0.5  # idf ** power; 0 disables IDF
    tf_power: float = 1.0  # tag weight ** power; < 1 saturates strong tags
    # families as workers.tagging.tag_vector makes them: the film's genres, its keywords, title
    # words, and ("", the default) vocabulary tags from keywords and text
    family_weights: tuple[tuple[str, float], ...] = (("genre", 0.25), ("kw", 1.0), ("title", 0.25))
    default_family_weight: float = 0.15  # families not listed (prefix before ":"), "" included
    # sharing only these is not "specific": the reserved slots go to films sharing a keyword
    generic_families: tuple[str, ...] = ("genre", "title", "")
    specific_max_df: float = 1.0  # nor is sharing only tags held by more than this share of films
    max_posting: int = 300  # candidate generation: a tag reaches at most its N highest-prior films
    # rank time
    shrink: float = 0.5  # sim * n / (n + shrink), n = number of shared tags (issue 2: fewer shared tags, less trust)
    year_scale: float = 8.0  # era closeness exp(-|dy| / scale); 0 disables
    lang_penalty: float = 0.8  # factor 1 - penalty when original languages differ
    pop_weight: float = 2.0  # popularity prior ** weight (log vote_count scaled to [0, 1])
    quality_weight: float = 0.5  # (vote_average / 10) ** weight
    # prior of a film with neither vote count nor popularity (one added by hand): about the
    # median TMDB film's, so new films are neither buried nor favoured
    unknown_pop: float = 0.6
    reserve_slots: int = 7  # of the first reserve_window items, keep this many for specific matches
    reserve_window: int = 10
    # reasons per item: 5, as a keyword and the vocabulary tag it maps to often come together
    reasons: int = 5

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> "SimilarityParams":
        """Build params from a dict (e.g. settings); unknown keys are ignored, lists become tuples."""
        types = {f.name: f.type for f in fields(cls)}
        values: dict = {}
        weights = dict(cls.family_weights)
        for key, value in (mapping or {}).items():
            key = key.lower()
            if key.startswith("weight_"):  # weight_<family>=x, handy from environment variables
                weights[key[len("weight_") :]] = float(value)
                values["family_weights"] = tuple(weights.items())
                continue
            if key not in types:
                continue
            if types[key] in (int, "int"):
                value = int(value)
            elif types[key] in (float, "float"):
                value = float(value)
            if key == "family_weights":
                items = value.items() if isinstance(value, dict) else value
                value = tuple((str(a), float(b)) for a, b in items)
            elif key == "generic_families":
                value = tuple(value)
            values[key] = value
        return cls(**values)

    def to_dict(self) -> dict:
        """Return the params as plain JSON-able values."""
        return json.loads(json.dumps(asdict(self)))


@dataclass
class Catalog:
    """An immutable snapshot: films × tags matrix (weighted, block-normalised) and per-film metadata."""

    ids: list[str]
    tags: list[str]
    matrix: sp.csr_matrix  # films × tags; row · row = weighted sum of per-family cosines, in [0, 1]
    idf: np.ndarray  # per tag
    tag_family: np.ndarray  # per tag: index into family_names
    family_names: list[str]
    years: np.ndarray  # float, nan when unknown
    langs: np.ndarray  # int code into lang_names, -1 when unknown
    lang_names: list[str]
    pop: np.ndarray  # popularity prior in (0, 1]
    quality: np.ndarray  # vote_average / 10 in (0, 1]
    specific: (
        np.ndarray
    )  # per tag: sharing it counts for the reserved slots (not generic, not too common)
    params: SimilarityParams  # the build-time knobs used
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def row_of(self) -> dict[str, int]:
        """Map film id to row."""
        if "row_of" not in self._cache:
            self._cache["row_of"] = {fid: i for i, fid in enumerate(self.ids)}
        return self._cache["row_of"]

    @property
    def row_tag(self) -> dict[str, int]:
        """Map tag to column."""
        if "row_tag" not in self._cache:
            self._cache["row_tag"] = {t: i for i, t in enumerate(self.tags)}
        return self._cache["row_tag"]


def tag_family(tag: str) -> str:
    """Return a tag's family: the prefix before ':' ("" when there is none)."""
    head, sep, _ = tag.partition(":")
    return head if sep else ""


def _popularity(films: list[dict], stats: dict, unknown: float) -> tuple[np.ndarray, np.ndarray]:
    vc = np.array([_num(f.get("vote_count")) for f in films], dtype=float)
    popularity = np.array([_num(f.get("popularity")) for f in films], dtype=float)
    max_votes = stats.get("max_votes") or np.nanmax(vc, initial=1.0)
    pop = np.log1p(np.nan_to_num(vc, nan=0.0)) / math.log1p(max(1.0, max_votes))
    # films without a vote count fall back to their scaled popularity
    max_pop = stats.get("max_popularity") or np.nanmax(popularity, initial=0.0)
    alt = np.log1p(np.nan_to_num(popularity, nan=0.0)) / max(1e-9, math.log1p(max(0.0, max_pop)))
    pop = np.where(np.isnan(vc), alt, pop)
    pop = np.where(np.isnan(vc) & np.isnan(popularity), unknown, pop)
    quality = np.array([_num(f.get("vote_average")) for f in films], dtype=float) / 10.0
    quality = np.nan_to_num(quality, nan=0.6)
    # a floor keeps every factor positive, so a prior can reorder but never erase a match
    return np.clip(pop, 0.05, 1.0), np.clip(quality, 0.05, 1.0)


def _num(value) -> float:
    return float(value) if value is not None else float("nan")


def _family_weight(params: SimilarityParams, family: str) -> float:
    return dict(params.family_weights).get(family, params.default_family_weight)


def _vectorise(rows_tags, rows_weights, tag_index, idf, tag_fam, fam_w, n_cols, params):
    """Return csr rows: per family, idf·tf weights L2-normalised then scaled by sqrt(family weight)."""
    indptr, indices, data = [0], [], []
    total = float(sum(fam_w))
    for tags, weights in zip(rows_tags, rows_weights):
        cols = np.array([tag_index[t] for t in tags], dtype=np.int64)
        vals = (
            np.asarray(weights, dtype=float) ** params.tf_power * idf[cols]
            if len(cols)
            else np.zeros(0)
        )
        fam = tag_fam[cols]
        norms = np.zeros(len(fam_w))
        np.add.at(norms, fam, vals**2)
        norms = np.sqrt(norms)
        scale = np.sqrt(np.asarray(fam_w) / total)
        vals = np.where(
            norms[fam] > 0, vals / np.where(norms[fam] > 0, norms[fam], 1) * scale[fam], 0.0
        )
        keep = vals > 0
        order = np.argsort(cols[keep])
        indices.append(cols[keep][order])
        data.append(vals[keep][order])
        indptr.append(indptr[-1] + int(keep.sum()))
    return sp.csr_matrix(
        (
            np.concatenate(data) if data else np.zeros(0),
            np.concatenate(indices) if indices else np.zeros(0, int),
            indptr,
        ),
        shape=(len(indptr) - 1, n_cols),
    )


def build_catalog(
    films: list[dict], params: SimilarityParams | None = None, stats: dict | None = None
) -> Catalog:
    """Build a catalog from films {"id", "vector": {tag: weight}, "year", "original_language", ...}.

    films may also carry "popularity", "vote_count", "vote_average". stats, when given, holds
    catalog-wide figures {"n", "df": {tag: count}, "max_votes", "max_popularity"} so that a small
    catalog of candidates scores exactly like the full one (IDF and priors use them).
    """
    params = params or SimilarityParams()
    stats = stats or {}
    tags = sorted({t for f in films for t, w in f["vector"].items() if w > 0})
    tag_index = {t: i for i, t in enumerate(tags)}
    n = len(films)
    df = np.zeros(len(tags))
    rows_tags = [[t for t, w in f["vector"].items() if w > 0] for f in films]
    rows_weights = [
        [min(1.0, float(f["vector"][t])) for t in ts] for f, ts in zip(films, rows_tags)
    ]
    for ts in rows_tags:
        df[[tag_index[t] for t in ts]] += 1
    if stats.get("df") is not None:
        df = np.maximum(df, [stats["df"].get(t, 0) for t in tags])
    n = max(n, int(stats.get("n") or 0))
    idf = np.log1p(n / np.maximum(df, 1.0)) ** params.idf_power
    family_names = sorted({tag_family(t) for t in tags})
    fam_index = {f: i for i, f in enumerate(family_names)}
    tag_fam = np.array([fam_index[tag_family(t)] for t in tags], dtype=np.int32)
    fam_w = [_family_weight(params, f) for f in family_names]
    matrix = _vectorise(rows_tags, rows_weights, tag_index, idf, tag_fam, fam_w, len(tags), params)
    lang_names = sorted({f.get("original_language") for f in films if f.get("original_language")})
    lang_index = {lang: i for i, lang in enumerate(lang_names)}
    pop, quality = _popularity(films, stats, params.unknown_pop)
    generic = [i for i, f in enumerate(family_names) if f in params.generic_families]
    specific = ~np.isin(tag_fam, generic) & (df <= params.specific_max_df * n)
    return Catalog(
        ids=[str(f["id"]) for f in films],
        tags=tags,
        matrix=matrix.astype(np.float64),
        idf=idf,
        tag_family=tag_fam,
        family_names=family_names,
        years=np.array([_num(f.get("year")) for f in films], dtype=float),
        langs=np.array(
            [lang_index.get(f.get("original_language"), -1) for f in films], dtype=np.int32
        ),
        lang_names=lang_names,
        pop=pop,
        quality=quality,
        specific=specific,
        params=params,
    )


def _query_matrix(cat: Catalog, films: list[dict]) -> sp.csr_matrix:
    """Vectorise films (maybe not in cat) against cat's tags; unknown tags only dilute the norm."""
    p = cat.params
    fam_index = {f: i for i, f in enumerate(cat.family_names)}
    extra = sorted(
        {
            t
            for f in films
            for t in f["vector"]
            if t not in cat.row_tag and tag_family(t) in fam_index
        }
    )
    tag_index = dict(cat.row_tag)
    tag_index.update({t: len(cat.tags) + i for i, t in enumerate(extra)})
    unseen_idf = math.log1p(len(cat.ids)) ** p.idf_power
    idf = np.concatenate([cat.idf, np.full(len(extra), unseen_idf)])
    tag_fam = np.concatenate([cat.tag_family, [fam_index[tag_family(t)] for t in extra]]).astype(
        np.int32
    )
    rows_tags = [[t for t, w in f["vector"].items() if w > 0 and t in tag_index] for f in films]
    rows_weights = [
        [min(1.0, float(f["vector"][t])) for t in ts] for f, ts in zip(films, rows_tags)
    ]
    fam_w = [_family_weight(p, f) for f in cat.family_names]
    q = _vectorise(rows_tags, rows_weights, tag_index, idf, tag_fam, fam_w, len(tag_index), p)
    return q[:, : len(cat.tags)].tocsr()


def _candidate_index(cat: Catalog) -> dict:
    """Split the matrix: entries a tag's capped posting reaches (top max_posting by prior) and the rest."""
    if "cand" in cat._cache:
        return cat._cache["cand"]
    m = cat.matrix.tocsc()
    keep = np.ones(m.nnz, dtype=bool)
    df = np.diff(m.indptr)
    for col in np.flatnonzero(df > cat.params.max_posting):  # a loop over common tags, not pairs
        lo, hi = m.indptr[col], m.indptr[col + 1]
        rows = m.indices[lo:hi]
        order = np.lexsort((rows, -cat.pop[rows]))  # highest prior first, ties by row
        keep[lo + order[cat.params.max_posting :]] = False
    reach = sp.csc_matrix(
        (np.where(keep, m.data, 0.0), m.indices.copy(), m.indptr.copy()), shape=m.shape
    )
    rest = sp.csc_matrix(
        (np.where(keep, 0.0, m.data), m.indices.copy(), m.indptr.copy()), shape=m.shape
    )
    reach.eliminate_zeros()
    rest.eliminate_zeros()
    common = np.zeros(m.shape[1], dtype=bool)
    common[df > cat.params.max_posting] = True
    out = _cand_parts(reach.T.tocsr(), rest.tocsr(), common)
    cat._cache["cand"] = out
    return out


def _cand_parts(reach_t: sp.csr_matrix, rest: sp.csr_matrix, common: np.ndarray) -> dict:
    """Return the candidate index from its stored parts (see catalog_to_bytes)."""
    rest.sort_indices()
    return {
        "reach_t": reach_t,  # tags × films: the capped inverted index
        "rest": rest,  # films × tags: the entries of common tags the capped postings miss
        "has_rest": np.diff(rest.indptr) > 0,
        "common": common,
        "common_pos": np.cumsum(common) - 1,  # column -> position among the common tags
    }


def _binary(m: sp.csr_matrix) -> sp.csr_matrix:
    b = m.copy()
    b.data = np.ones_like(b.data)
    return b


_SPEC_UNIT = float(2**24)  # above any film's tag count


def _pair_scores(cat: Catalog, q: sp.csr_matrix, params: SimilarityParams, bound=None):
    """Return the candidate pairs of query rows q.

    Returns (indptr, candidate rows, exact sim, shared-tag count or None, shares-a-specific-tag).
    """
    idx = _candidate_index(cat)
    p = (q @ idx["reach_t"]).tocsr()
    p.sort_indices()
    pi = np.repeat(np.arange(q.shape[0]), np.diff(p.indptr))
    pj = p.indices
    sim = p.data.astype(np.float64)
    # one integer-valued product gives both the shared-tag count and the shared specific
    # tags: a query tag counts 1, plus _SPEC_UNIT when specific (sums stay exact in float64)
    qb = _binary(q)
    qb.data += _SPEC_UNIT * cat.specific[qb.indices]
    c = (qb @ _binary(idx["reach_t"])).tocsr()
    c.sort_indices()  # c has p's pairs: every product of positive weights is positive
    spec = c.data >= _SPEC_UNIT
    shared = np.mod(c.data, _SPEC_UNIT) if params.shrink > 0 else None
    # add the exact contribution of common tags whose capped posting missed the candidate
    qc = q.multiply(idx["common"][None, :]).tocsr()
    need = np.flatnonzero((np.diff(qc.indptr) > 0)[pi] & idx["has_rest"][pj])
    indptr = p.indptr
    if len(need) and bound is not None:
        # drop the pairs that cannot reach the top k nor the reserved slots, whatever their
        # uncapped contributions: these cost most of the time at scale
        keep = _keep_pairs(cat, qc, indptr, pi, pj, sim, shared, spec, need, bound, params)
        pi, pj, sim, spec = pi[keep], pj[keep], sim[keep], spec[keep]
        shared = shared[keep] if shared is not None else None
        indptr = np.concatenate([[0], np.cumsum(np.bincount(pi, minlength=q.shape[0]))])
        need = np.flatnonzero((np.diff(qc.indptr) > 0)[pi] & idx["has_rest"][pj])
    if len(need):
        _add_rest(idx, qc, pi[need], pj[need], need, sim, shared, spec, cat.specific)
    return indptr, pj, sim, shared, spec


def _kth_best(indptr: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Per CSR row, return the k-th largest value (-inf when the row has fewer than k)."""
    pos = _topk_rows(indptr, values, k)
    if pos.shape[1] < k:
        return np.full(len(indptr) - 1, -np.inf)
    kth = pos[:, k - 1]
    return np.where(kth >= 0, values[np.maximum(kth, 0)], -np.inf)


def _family_norms(m: sp.csr_matrix, tag_family: np.ndarray, n_fam: int) -> np.ndarray:
    """Return rows × families: the L2 norm of each row's entries in each family."""
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    keys = rows * n_fam + tag_family[m.indices]
    return np.sqrt(np.bincount(keys, m.data**2, minlength=m.shape[0] * n_fam)).reshape(-1, n_fam)


def _keep_pairs(cat, qc, indptr, pi, pj, sim, shared, spec, need, bound, params) -> np.ndarray:
    """Return a mask of the pairs that may enter a row's top k or its reserved slots.

    Scores only grow with the uncapped contributions (weights are positive), so the capped
    score is a lower bound; Cauchy-Schwarz per tag family bounds the uncapped part. A pair is dropped when
    its upper bound is below both the k-th best lower bound of its row and the reserve_slots-th
    best lower bound of its row's specific pairs: at least k pairs, and as many specific
    pairs as there are reserved slots, then score strictly higher, so it is never listed
    nor protected, and the lists are exactly those of scoring every pair.
    """
    meta, itself = bound(pi, pj)
    idx = _candidate_index(cat)
    rest, n_fam = idx["rest"], len(cat.family_names)
    if "rest_norm" not in idx:
        idx["rest_norm"] = _family_norms(rest, cat.tag_family, n_fam)
    q_norm = _family_norms(qc, cat.tag_family, n_fam)

    def score(s, sh, margin):
        out = np.clip(s, 0.0, 1.0)
        if sh is not None:
            out *= sh / (sh + params.shrink)
        out *= meta * margin  # margin: float rounding of a product in another order
        out[itself] = -np.inf
        return out

    low = score(sim, shared, 1 - 1e-9)
    up_sim = sim.copy()
    qi, cj = pi[need], pj[need]
    extra = np.zeros(len(need))
    for f in range(n_fam):
        extra += q_norm[qi, f] * idx["rest_norm"][cj, f]
    up_sim[need] += extra
    up_shared = None
    if shared is not None:
        up_shared = shared.copy()
        q_count = np.diff(qc.indptr)[pi[need]]
        up_shared[need] += np.minimum(q_count, np.diff(rest.indptr)[pj[need]])
    high = score(up_sim, up_shared, 1 + 1e-9)
    thr = _kth_best(indptr, low, params.k)
    slots = min(params.reserve_slots, params.reserve_window, params.k)
    if slots > 0:
        sel = np.flatnonzero(spec)
        thr = np.minimum(thr, _kth_best(np.searchsorted(sel, indptr), low[sel], slots))
    return ~(high < thr[pi])


def _add_rest(idx, qc, qi, cj, need, sim, shared, spec, specific) -> None:
    """Add to pairs (qi, cj) the products of qc's common tags with cj's uncapped entries.

    Vectorised over (pair, rest entry of the candidate): qc's rows become a dense block over
    the common tags, so each product is one gather. Sums reduce the nonzero products in
    column order as a sparse row sum does, so scores are bit-identical to multiplying rows.
    Every array over the (pair, entry) product is 32-bit where it can be and built in as
    few passes as possible: that product is ~75M entries per 2,000 rows at 50k films.
    """
    rest = idx["rest"]
    if "rest_pos" not in idx:  # per rest entry: its column among the common tags, is it specific
        idx["rest_pos"] = idx["common_pos"][rest.indices].astype(np.int32)
        idx["rest_spec"] = specific[rest.indices]
    lens = np.diff(rest.indptr)[cj]
    some = lens > 0  # reduceat needs non-empty segments
    qi, cj, need, lens = qi[some], cj[some], need[some], lens[some]
    if not len(lens):
        return
    n_common = int(idx["common"].sum())
    ends = np.cumsum(lens)
    starts = ends - lens
    total = int(ends[-1])
    small = rest.nnz < 2**31 and total < 2**31 and qc.shape[0] * n_common < 2**31
    itype = np.int32 if small else np.int64
    # ent: the rest entry of each (pair, entry); flat: its query's dense cell
    shift = np.repeat((rest.indptr[cj] - starts).astype(itype), lens)
    ent = np.arange(total, dtype=itype)
    ent += shift
    flat = np.repeat((qi * n_common).astype(itype), lens)
    flat += idx["rest_pos"][ent]
    dense = np.zeros(qc.shape[0] * n_common)
    qrows = np.repeat(np.arange(qc.shape[0]), np.diff(qc.indptr))
    on = idx["common"][qc.indices]  # multiply() may keep explicit zeros elsewhere
    dense[qrows[on] * n_common + idx["common_pos"][qc.indices[on]]] = qc.data[on]
    weight = dense[flat]
    del flat
    # the query has about a third of its candidates' uncapped tags: keep those entries
    # before gathering anything else (a product of two positive weights is never 0)
    hit = weight != 0
    counts = np.add.reduceat(hit, starts, dtype=np.int64)
    ent = ent[hit]
    prod = weight[hit]
    del weight, hit
    prod *= rest.data[ent]
    if len(prod):
        # the same reduction as a sparse row sum (np.add.reduceat over each row's products)
        nonempty = np.flatnonzero(counts)
        at = np.cumsum(counts)[nonempty] - counts[nonempty]
        sim[need[nonempty]] += np.add.reduceat(prod, at)
        spec[need[nonempty]] |= np.logical_or.reduceat(idx["rest_spec"][ent], at)
    if shared is not None:
        shared[need] += counts


def _topk_padded(indptr: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per CSR row, return positions (into scores) of the top k, best first, -1 where missing."""
    n_rows = len(indptr) - 1
    lengths = np.diff(indptr)
    width = int(lengths.max(initial=0))
    pos = np.full((n_rows, max(width, 1)), -1, dtype=np.int64)
    val = np.full(pos.shape, -np.inf)
    r = np.repeat(np.arange(n_rows), lengths)
    col = np.arange(len(scores)) - indptr[:-1][r]
    pos[r, col] = np.arange(len(scores))
    val[r, col] = scores
    if width > k:
        # exact top k with ties broken by candidate row (positions are sorted by row)
        thr = -np.partition(-val, k - 1, axis=1)[:, k - 1 : k]
        eq = val == thr
        take = (val > thr) | (
            eq & (np.cumsum(eq, axis=1) <= k - (val > thr).sum(axis=1, keepdims=True))
        )
        part = np.argsort(~take, axis=1, kind="stable")[:, :k]
        pos = np.take_along_axis(pos, part, axis=1)
        val = np.take_along_axis(val, part, axis=1)
    order = np.lexsort((pos, -val), axis=-1)
    pos = np.take_along_axis(pos, order, axis=1)[:, :k]
    val = np.take_along_axis(val, order, axis=1)[:, :k]
    pos[~np.isfinite(val)] = -1
    return pos, val


def _topk_rows(indptr: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Return _topk_padded's positions, computed on groups of rows of similar length.

    A padded block is as wide as its longest row; grouping rows by length keeps the blocks
    near the number of pairs whatever the longest row (rows are independent: same result).
    """
    lengths = np.diff(indptr)
    n_rows = len(lengths)
    width = max(min(int(lengths.max(initial=0)), k), 1)
    out = np.full((n_rows, width), -1, dtype=np.int64)
    if not n_rows:
        return out
    by_len = np.argsort(lengths, kind="stable")
    sorted_len = lengths[by_len]
    start = 0
    while start < n_rows:
        # a group: rows up to twice the shortest one's length (at least k) plus a margin
        limit = max(2 * int(sorted_len[start]), k, 64)
        stop = int(np.searchsorted(sorted_len, limit, side="right"))
        stop = max(stop, start + 1)
        rows = by_len[start:stop]
        seg = np.concatenate([[0], np.cumsum(lengths[rows])])
        take = np.repeat(indptr[rows] - seg[:-1], lengths[rows]) + np.arange(seg[-1])
        pos, _ = _topk_padded(seg, scores[take], k)
        pos = np.where(pos >= 0, take[np.maximum(pos, 0)] if len(take) else -1, -1)
        out[rows, : pos.shape[1]] = pos
        start = stop
    return out


def _rerank_reserved(
    valid: np.ndarray, specific: np.ndarray, params: SimilarityParams
) -> np.ndarray:
    """Return a per-row order that keeps reserve_slots of the first reserve_window for specific matches."""
    window, slots = params.reserve_window, min(params.reserve_slots, params.reserve_window)
    plain = valid & ~specific
    plain_rank = np.cumsum(plain, axis=1) - 1
    allowed = valid & (specific | (plain_rank < window - slots))
    in_window = allowed & (np.cumsum(allowed, axis=1) - 1 < window)
    pos = np.broadcast_to(np.arange(valid.shape[1]), valid.shape)
    return np.lexsort((pos, ~valid, ~in_window), axis=-1)


def _reasons(contrib: sp.csr_matrix, tags: list[str], n: int) -> list[list[tuple[str, float]]]:
    """Per contribution row, return the top n (tag, share of the row's total)."""
    lengths = np.diff(contrib.indptr)
    r = np.repeat(np.arange(contrib.shape[0]), lengths)
    totals = np.asarray(contrib.sum(axis=1)).ravel()
    order = np.lexsort((-contrib.data, r))
    rank = np.arange(len(order)) - contrib.indptr[:-1][r[order]]
    top = order[rank < n]
    out: list[list[tuple[str, float]]] = [[] for _ in range(contrib.shape[0])]
    shares = (
        np.floor(contrib.data[top] / totals[r[top]] * 1e4) / 1e4
    )  # floor: shares never sum above 1
    for row, col, share in zip(r[top].tolist(), contrib.indices[top].tolist(), shares.tolist()):
        out[row].append((tags[col], share))
    return out


def _rank(
    cat: Catalog, q: sp.csr_matrix, q_years, q_langs, self_rows, params: SimilarityParams
) -> list[Related]:
    """Score every candidate pair of the query rows and return each row's top-k list with reasons."""
    def era_and_language(pi, pj) -> list[np.ndarray]:
        """Return the pairs' era and language prior factors (those switched on)."""
        factors = []
        if params.year_scale > 0:
            dy = np.abs(q_years[pi] - cat.years[pj])
            factors.append(np.exp(-np.nan_to_num(dy, nan=params.year_scale) / params.year_scale))
        if params.lang_penalty:
            ql, cl = q_langs[pi], cat.langs[pj]
            known = (ql >= 0) & (cl >= 0)
            factors.append(np.where(known, np.where(ql == cl, 1.0, 1.0 - params.lang_penalty),
                                    1.0 - params.lang_penalty / 2))
        return factors

    def bound(pi, pj):
        """Return the pairs' prior factors (any order of products) and the self pairs."""
        meta = cat.pop[pj] ** params.pop_weight * cat.quality[pj] ** params.quality_weight
        for factor in era_and_language(pi, pj):
            meta *= factor
        return meta, pj == self_rows[pi]

    indptr, pj, sim, shared, spec = _pair_scores(cat, q, params, bound)
    pi = np.repeat(np.arange(q.shape[0]), np.diff(indptr))
    score = np.clip(sim, 0.0, 1.0)
    if shared is not None:
        score *= shared / (shared + params.shrink)
    for factor in era_and_language(pi, pj):
        score *= factor
    score *= cat.pop[pj] ** params.pop_weight * cat.quality[pj] ** params.quality_weight
    score[pj == self_rows[pi]] = -np.inf
    score[sim <= 0] = -np.inf
    # protect each row's best specific matches so the reserved slots can be filled
    slots = min(params.reserve_slots, params.reserve_window, params.k)
    if slots > 0:
        # over the specific pairs only (the others score -inf there): same order, fewer pairs
        sel = np.flatnonzero(spec)
        sub_indptr = np.searchsorted(sel, indptr)
        spos = _topk_rows(sub_indptr, score[sel], slots)
        protected = np.zeros(len(score), dtype=bool)
        protected[sel[spos[spos >= 0]]] = True
        pos = _topk_rows(indptr, np.where(protected, score + 2.0, score), params.k)
    else:
        pos = _topk_rows(indptr, score, params.k)
    valid = pos >= 0
    val = np.where(valid, score[np.where(valid, pos, 0)], -np.inf)
    order = np.lexsort((np.where(valid, pos, len(score)), -val), axis=-1)
    pos, val = np.take_along_axis(pos, order, axis=1), np.take_along_axis(val, order, axis=1)
    valid = pos >= 0
    flat = pos[valid]
    ti, tj = pi[flat], pj[flat]
    contrib = q[ti].multiply(cat.matrix[tj]).tocsr()
    contrib.eliminate_zeros()
    specific = np.zeros(pos.shape, dtype=bool)
    specific[valid] = spec[flat]
    order = _rerank_reserved(valid, specific, params)
    cand = np.full(pos.shape, -1, dtype=np.int64)
    cand[valid] = tj
    item = np.full(pos.shape, -1, dtype=np.int64)
    item[valid] = np.arange(len(flat))
    cand, val, item = (np.take_along_axis(a, order, axis=1) for a in (cand, val, item))
    # keep scores monotonic with the final order (a demoted item is capped by its predecessor)
    val = np.minimum.accumulate(np.where(cand >= 0, val, -np.inf), axis=1)
    reasons = _reasons(contrib, cat.tags, params.reasons)
    out: list[Related] = []
    for c_row, v_row, i_row in zip(cand.tolist(), val.tolist(), item.tolist()):
        out.append(
            [
                (cat.ids[c], round(v, 6), reasons[i])
                for c, v, i in zip(c_row, v_row, i_row)
                if c >= 0
            ]
        )
    return out


def related_rows(
    cat: Catalog,
    rows,
    params: SimilarityParams | None = None,
    chunk: int = 1000,
    max_pairs: int = 2_000_000,
) -> list[Related]:
    """Return, per catalog row, up to k (other id, score in [0, 1], reasons) best first, never itself.

    Rows run in chunks of at most `chunk` rows and about `max_pairs` candidate pairs, which
    bounds peak memory whatever the catalog size.
    """
    params = params or SimilarityParams()
    rows = np.asarray(rows, dtype=np.int64)
    reach = np.diff(_candidate_index(cat)["reach_t"].indptr).astype(np.float64)
    bound = (
        _binary(cat.matrix[rows]) @ reach if len(rows) else np.zeros(0)
    )  # candidates per row, at most
    out: list[Related] = []
    start = 0
    while start < len(rows):
        fits = np.searchsorted(np.cumsum(bound[start : start + chunk]), max_pairs, side="right")
        part = rows[start : start + max(1, int(fits))]
        q = cat.matrix[part]
        out.extend(_rank(cat, q, cat.years[part], cat.langs[part], part, params))
        start += len(part)
    return out


def related_for_vector(cat: Catalog, film: dict, params: SimilarityParams | None = None) -> Related:
    """Return the related list of one film (maybe not in cat) from capped inverted-index candidates."""
    params = params or SimilarityParams()
    q = _query_matrix(cat, [film])
    lang = (
        cat.lang_names.index(film["original_language"])
        if film.get("original_language") in cat.lang_names
        else -1
    )
    own = cat.row_of.get(str(film["id"]), -1)
    return _rank(
        cat, q, np.array([_num(film.get("year"))]), np.array([lang]), np.array([own]), params
    )[0]


def score_pair(cat: Catalog, film: dict, row: int, params: SimilarityParams | None = None):
    """Return (score, reasons) of catalog film `row` as a recommendation for `film`, or None if unrelated."""
    params = params or SimilarityParams()
    for other, score, reasons in related_for_vector(
        cat, film, params.__class__(**{**asdict(params), "k": len(cat.ids)})
    ):
        if other == cat.ids[row]:
            return score, reasons
    return None


def catalog_to_bytes(cat: Catalog, with_candidates: bool = True) -> bytes:
    """Serialise a catalog (np.savez, no pickle), with its candidate index unless told not to.

    The candidate index costs O(catalog) to derive; storing it saves that in every job that
    loads the snapshot (each rank chunk of a rebuild runs in a freshly forked process).
    """
    buf = io.BytesIO()
    m = cat.matrix
    extra = {}
    if with_candidates:
        idx = _candidate_index(cat)
        for name in ("reach_t", "rest"):
            extra.update({f"{name}_data": idx[name].data, f"{name}_indices": idx[name].indices,
                          f"{name}_indptr": idx[name].indptr,
                          f"{name}_shape": np.array(idx[name].shape)})
        extra["common"] = idx["common"]
    np.savez(
        buf,
        **extra,
        ids=np.array(cat.ids, dtype=str),
        tags=np.array(cat.tags, dtype=str),
        data=m.data,
        indices=m.indices,
        indptr=m.indptr,
        shape=np.array(m.shape),
        idf=cat.idf,
        tag_family=cat.tag_family,
        family_names=np.array(cat.family_names, dtype=str),
        years=cat.years,
        langs=cat.langs,
        lang_names=np.array(cat.lang_names, dtype=str),
        pop=cat.pop,
        quality=cat.quality,
        specific=cat.specific,
        params=np.array(json.dumps(cat.params.to_dict())),
    )
    return buf.getvalue()


def catalog_from_bytes(blob: bytes) -> Catalog:
    """Load a catalog written by catalog_to_bytes."""
    z = np.load(io.BytesIO(blob), allow_pickle=False)
    cat = Catalog(
        ids=z["ids"].tolist(),
        tags=z["tags"].tolist(),
        matrix=sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"])),
        idf=z["idf"],
        tag_family=z["tag_family"],
        family_names=z["family_names"].tolist(),
        years=z["years"],
        langs=z["langs"],
        lang_names=z["lang_names"].tolist(),
        pop=z["pop"],
        quality=z["quality"],
        specific=z["specific"],
        params=SimilarityParams.from_mapping(json.loads(str(z["params"]))),
    )
    if "common" in z.files:

        def part(name: str) -> sp.csr_matrix:
            arrays = (z[f"{name}_data"], z[f"{name}_indices"], z[f"{name}_indptr"])
            return sp.csr_matrix(arrays, shape=tuple(z[f"{name}_shape"]))

        cat._cache["cand"] = _cand_parts(part("reach_t"), part("rest"), z["common"])
    return cat
