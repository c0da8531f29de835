"""Compute related films: IDF-weighted tag cosines per tag family, shrunk, plus the plot
embeddings' cosine, times era/language/popularity priors."""

import io
import json
import math
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import scipy.sparse as sp

from workers import embedding, kernels
from workers.vocab import PLOT_PREFIX, load_vocabulary

Related = list[tuple[str, float, list[tuple[str, float]]]]
# the reason naming the plot embeddings' share: a plot tag, so it shows as "Ähnliche Handlung"
EMBEDDING_REASON = PLOT_PREFIX + "*"


@dataclass(frozen=True)
class SimilarityParams:
    """All knobs; the defaults are the values chosen in docs/QUALITY.md (judged relevance first,
    the co-liking truth as a guard). RECS_SIM_<KNOB> overrides one (config/settings.py)."""

    k: int = 50
    # build time: how tag vectors are weighted
    idf_power: float = 0.5  # idf ** power; 0 disables IDF
    tf_power: float = 1.0  # tag weight ** power; < 1 saturates strong tags
    # families as workers.tagging.tag_vector makes them: the film's genres, its keywords, title
    # words, telling plot words, and ("", the default) vocabulary tags from keywords and text.
    # Genres weigh little: sharing "Drama" says little about what a film is about.
    family_weights: tuple[tuple[str, float], ...] = (
        ("genre", 0.1),
        ("kw", 1.0),
        ("title", 0.25),
        ("plot", 0.5),
    )
    default_family_weight: float = 0.8  # families not listed (prefix before ":"), "" included
    # sharing only these is not "specific": the reserved slots go to films sharing a keyword, a
    # vocabulary theme or a plot word held by at most specific_max_df of the catalog
    generic_families: tuple[str, ...] = ("genre", "title")
    specific_max_df: float = 0.03
    max_posting: int = 300  # candidate generation: a tag reaches at most its N highest-prior films
    # rank time
    shrink: float = 0.5  # sim * n / (n + shrink), n = number of shared tags (issue 2: fewer shared tags, less trust)
    year_scale: float = 8.0  # era closeness exp(-|dy| / scale); 0 disables
    lang_penalty: float = 0.5  # factor 1 - penalty when original languages differ
    pop_weight: float = 2.0  # popularity prior ** weight (log vote_count scaled to [0, 1])
    quality_weight: float = 0.5  # (vote_average / 10) ** weight
    # how far the priors may move a score, so that they break ties between content matches
    # instead of outweighing them: the popularity and quality prior enters as 1 - prior_mix +
    # prior_mix * prior, era and language as 1 - context_mix + context_mix * era * language;
    # each can lower an equal content match by at most a factor 1 - mix (here 2x), where the
    # raw priors reached 13x (popularity) and 60x (era)
    prior_mix: float = 0.5
    context_mix: float = 0.5
    # prior of a film with neither vote count nor popularity (one added by hand): about the
    # median TMDB film's, so new films are neither buried nor favoured
    unknown_pop: float = 0.6
    # the plot embeddings' cosine (workers/embedding.py), when positive, times this weight adds
    # to a candidate's tag score after the priors (tag cosines sum to at most 1; the total is
    # divided by 1 + weight); 0 leaves embeddings out
    plot_embedding_weight: float = 0.1
    reserve_slots: int = 7  # of the first reserve_window items, keep this many for specific matches
    reserve_window: int = 10
    # strongly stated themes: up to aspect_slots of the query's specific tags of these kinds
    # (workers.vocab: what a story is about, not where or when it is set, nor its tone) that
    # weigh at least aspect_min_weight times the strongest of their family (a theme the plot
    # states, not one it brushes) each get a film in the first reserve_window, when a film
    # carrying it scores at least aspect_min_ratio times the window's last and is like the
    # query in the aspect_need_families (its genres: a cosine of at least aspect_need_cosine),
    # when the query has any (workers/kernels.py, rule 5)
    aspect_slots: int = 2
    aspect_kinds: tuple[str, ...] = ("theme", "profession", "event", "sport", "relationship")
    aspect_need_families: tuple[str, ...] = ("genre",)
    aspect_need_cosine: float = 0.4  # ... and is this like it there (cosine in those families)
    aspect_min_weight: float = 0.9
    aspect_min_ratio: float = 0.5
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
            elif key in ("generic_families", "aspect_kinds", "aspect_need_families"):
                value = tuple(value.split(",") if isinstance(value, str) else value)
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
    emb: np.ndarray  # per film, its plot embedding (int8, films x embedding.DIM; zeros: none)
    emb_norm: np.ndarray  # per film, its embedding's L2 norm (0: none)
    params: SimilarityParams  # the build-time knobs used
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def row_of(self) -> dict[str, int]:
        """Map film id to row."""
        if "row_of" not in self._cache:
            self._cache["row_of"] = {fid: i for i, fid in enumerate(self.ids)}
        return self._cache["row_of"]

    @property
    def reason_names(self) -> list[str]:
        """Name reason columns: the tags, then the embedding's column (len(tags))."""
        if "reason_names" not in self._cache:
            self._cache["reason_names"] = [*self.tags, EMBEDDING_REASON]
        return self._cache["reason_names"]

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


def _flatten(films: list[dict], tag_index: dict[str, int]):
    """Return per film its number of entries, and every entry's column and weight (capped at
    1), for the tags in tag_index with a positive weight, film after film."""
    rows_tags = [[t for t, w in f["vector"].items() if w > 0 and t in tag_index] for f in films]
    lengths = np.fromiter(map(len, rows_tags), dtype=np.int64, count=len(films))
    total = int(lengths.sum())
    cols = np.fromiter((tag_index[t] for ts in rows_tags for t in ts), dtype=np.int64, count=total)
    weights = np.fromiter(
        (f["vector"][t] for f, ts in zip(films, rows_tags) for t in ts), dtype=float, count=total
    )
    return lengths, cols, np.minimum(1.0, weights)


def _vectorise(lengths, cols, weights, idf, tag_fam, fam_w, n_cols, params):
    """Return csr rows: per family, idf·tf weights L2-normalised then scaled by sqrt(family weight)."""
    n_rows, n_fam = len(lengths), len(fam_w)
    rows = np.repeat(np.arange(n_rows), lengths)
    vals = weights**params.tf_power * idf[cols]
    fam = tag_fam[cols].astype(np.int64)
    # per (row, family) norms, summed in entry order
    norms = np.sqrt(np.bincount(rows * n_fam + fam, weights=vals**2, minlength=n_rows * n_fam))
    norm = norms[rows * n_fam + fam]
    scale = np.sqrt(np.asarray(fam_w, dtype=float) / float(sum(fam_w)))
    vals = np.where(norm > 0, vals / np.where(norm > 0, norm, 1) * scale[fam], 0.0)
    keep = np.flatnonzero(vals > 0)
    keep = keep[np.lexsort((cols[keep], rows[keep]))]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows[keep], minlength=n_rows))])
    return sp.csr_matrix((vals[keep], cols[keep], indptr), shape=(n_rows, n_cols))


def build_catalog(
    films: list[dict], params: SimilarityParams | None = None, stats: dict | None = None
) -> Catalog:
    """Build a catalog from films {"id", "vector": {tag: weight}, "year", "original_language", ...}.

    films may also carry "popularity", "vote_count", "vote_average" and "embedding" (bytes,
    workers/embedding.py). stats, when given, holds
    catalog-wide figures {"n", "df": {tag: count}, "max_votes", "max_popularity"} so that a small
    catalog of candidates scores exactly like the full one (IDF and priors use them).
    """
    params = params or SimilarityParams()
    stats = stats or {}
    tags = sorted({t for f in films for t, w in f["vector"].items() if w > 0})
    tag_index = {t: i for i, t in enumerate(tags)}
    n = len(films)
    lengths, cols, weights = _flatten(films, tag_index)
    df = np.bincount(cols, minlength=len(tags)).astype(float)
    if stats.get("df") is not None:
        df = np.maximum(df, [stats["df"].get(t, 0) for t in tags])
    n = max(n, int(stats.get("n") or 0))
    idf = np.log1p(n / np.maximum(df, 1.0)) ** params.idf_power
    family_names = sorted({tag_family(t) for t in tags})
    fam_index = {f: i for i, f in enumerate(family_names)}
    tag_fam = np.array([fam_index[tag_family(t)] for t in tags], dtype=np.int32)
    fam_w = [_family_weight(params, f) for f in family_names]
    matrix = _vectorise(lengths, cols, weights, idf, tag_fam, fam_w, len(tags), params)
    lang_names = sorted({f.get("original_language") for f in films if f.get("original_language")})
    lang_index = {lang: i for i, lang in enumerate(lang_names)}
    pop, quality = _popularity(films, stats, params.unknown_pop)
    generic = [i for i, f in enumerate(family_names) if f in params.generic_families]
    specific = ~np.isin(tag_fam, generic) & (df <= params.specific_max_df * n)
    emb, emb_norm = embedding.decode([f.get("embedding") for f in films])
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
        emb=emb,
        emb_norm=emb_norm,
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
    lengths, cols, weights = _flatten(films, tag_index)
    fam_w = [_family_weight(p, f) for f in cat.family_names]
    q = _vectorise(lengths, cols, weights, idf, tag_fam, fam_w, len(tag_index), p)
    return q[:, : len(cat.tags)].tocsr()


def _candidate_index(cat: Catalog) -> dict:
    """Return the capped inverted index and the entries it leaves out.

    {"reach_t": tags x films, per tag its max_posting films of highest prior (ties by row),
    with their weights; "rest": films x tags, every other entry}. A query's candidates are
    the films its tags reach; their scores add the shared tags found in "rest".
    """
    if "cand" not in cat._cache:
        m = cat.matrix.tocsc()
        col = np.repeat(np.arange(m.shape[1]), np.diff(m.indptr))
        rows = m.indices
        order = np.lexsort((rows, -cat.pop[rows], col))
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order)) - m.indptr[col[order]]
        keep = rank < cat.params.max_posting  # entries stay in column-major order
        counts = np.bincount(col[keep], minlength=m.shape[1])
        reach_t = sp.csr_matrix(
            (m.data[keep], rows[keep], np.concatenate([[0], np.cumsum(counts)])),
            shape=(m.shape[1], m.shape[0]),
        )
        rest = sp.csc_matrix((np.where(keep, 0.0, m.data), rows, m.indptr), shape=m.shape).tocsr()
        rest.eliminate_zeros()
        rest.sort_indices()
        cat._cache["cand"] = _cand_parts(reach_t, rest)
    return cat._cache["cand"]


def _cand_parts(reach_t: sp.csr_matrix, rest: sp.csr_matrix) -> dict:
    """Return the candidate index from its stored parts, with what the kernel's bounds use."""
    capped = np.zeros(rest.shape[1], dtype=np.bool_)
    capped[rest.indices] = True
    rows = np.repeat(np.arange(rest.shape[0]), np.diff(rest.indptr))
    rest_norm = np.sqrt(np.bincount(rows, weights=rest.data**2, minlength=rest.shape[0]))
    return {"reach_t": reach_t, "rest": rest, "rest_norm": rest_norm, "capped": capped}


def _layout(cat: Catalog) -> dict:
    """Return the kernel's film numbering and the film-indexed inputs in it.

    Films are numbered by popularity, most popular first (ties by row), as the capped
    postings take the most popular films of each tag: the films that many queries reach
    then sit together in memory. At 100k films the kernel's inputs outgrow the CPU caches
    and this ordering ranks ~15% faster; the lists are the same (ties use catalog rows).
    """
    if "layout" not in cat._cache:
        idx = _candidate_index(cat)
        n = len(cat.ids)
        orig = np.lexsort((np.arange(n), -cat.pop))  # kernel number -> catalog row
        inv = np.empty(n, dtype=np.int64)
        inv[orig] = np.arange(n)
        reach, rest, m = idx["reach_t"], idx["rest"][orig], cat.matrix[orig]
        cat._cache["layout"] = {
            "orig": orig.astype(np.int64),
            "inv": inv,
            "reach_indptr": reach.indptr.astype(np.int64),
            "reach_indices": inv[reach.indices],
            "reach_data": reach.data,
            "rest_indptr": rest.indptr.astype(np.int64),
            "rest_indices": rest.indices.astype(np.int64),
            "rest_data": rest.data,
            "rest_norm": idx["rest_norm"][orig],
            "capped": idx["capped"],
            "m_indptr": m.indptr.astype(np.int64),
            "m_indices": m.indices.astype(np.int64),
            "m_data": m.data,
            "years": cat.years[orig],
            "langs": cat.langs[orig].astype(np.int64),
            "emb": np.ascontiguousarray(cat.emb[orig]),
            "emb_norm": cat.emb_norm[orig],
        }
    return cat._cache["layout"]


def _prior(cat: Catalog, params: SimilarityParams) -> np.ndarray:
    """Per film, the popularity and quality prior of its score."""
    key = ("prior", params.pop_weight, params.quality_weight)
    if key not in cat._cache:
        cat._cache[key] = cat.pop**params.pop_weight * cat.quality**params.quality_weight
    return cat._cache[key]


def _aspect_columns(cat: Catalog, params: SimilarityParams) -> np.ndarray:
    """Per tag column: whether it can be an aspect (specific, of one of the aspect kinds)."""
    key = ("aspects", tuple(params.aspect_kinds))
    if key not in cat._cache:
        vocab = load_vocabulary()
        kinds = np.array([vocab.kind(t) in params.aspect_kinds for t in cat.tags], dtype=np.bool_)
        cat._cache[key] = kinds & cat.specific.astype(np.bool_)
    return cat._cache[key]


def _need_min(cat: Catalog, params: SimilarityParams) -> float:
    """The dot product on the aspect_need families that a cosine of aspect_need_cosine gives
    (rows are normalised per family and scaled by sqrt(family weight / sum of weights))."""
    fam_w = [_family_weight(params, f) for f in cat.family_names]
    need_w = sum(w for f, w in zip(cat.family_names, fam_w) if f in params.aspect_need_families)
    return params.aspect_need_cosine * need_w / sum(fam_w) if sum(fam_w) else 0.0


def _rank_arrays(
    cat: Catalog,
    q: sp.csr_matrix,
    q_years,
    q_langs,
    q_emb,
    self_rows,
    params: SimilarityParams,
    stats: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Rank the query rows in the compiled kernel (workers/kernels.py has the rules).

    Return its output arrays: per row "len" items, per item its catalog "rows", its score in
    millionths ("micro") and "reason_len" reasons, per reason its tag column
    ("reason_tags") and share in 1/10,000 ("reason_units"). stats, when given, gets the
    kernel's work counts added (see kernels.rank_rows). q_emb: the query rows' embeddings
    and their norms (embedding.decode).
    """
    n_rows, k, n_reasons = q.shape[0], params.k, params.reasons
    lay = _layout(cat)
    self_rows = np.asarray(self_rows, dtype=np.int64)
    self_rows = np.where(self_rows >= 0, lay["inv"][np.maximum(self_rows, 0)], -1)
    out = {
        "rows": np.zeros((n_rows, k), dtype=np.int64),
        "micro": np.zeros((n_rows, k), dtype=np.int64),
        "len": np.zeros(n_rows, dtype=np.int64),
        "reason_tags": np.zeros((n_rows, k, n_reasons), dtype=np.int64),
        "reason_units": np.zeros((n_rows, k, n_reasons), dtype=np.int64),
        "reason_len": np.zeros((n_rows, k), dtype=np.int64),
    }
    window_slots = min(params.reserve_slots, params.reserve_window)
    q_aspects = np.full((n_rows, max(params.aspect_slots, 0)), -1, dtype=np.int64)
    kernels.query_aspects(
        q.indptr.astype(np.int64, copy=False),
        q.indices.astype(np.int64, copy=False),
        q.data.astype(np.float64, copy=False),
        cat.idf,
        cat.tag_family.astype(np.int64),
        len(cat.family_names),
        _aspect_columns(cat, params),
        float(params.aspect_min_weight),
        float(params.tf_power),
        q_aspects,
    )

    def ints(a):
        return a.astype(np.int64, copy=False)

    kernels.rank_rows(
        ints(q.indptr),
        ints(q.indices),
        q.data.astype(np.float64, copy=False),
        np.asarray(q_years, dtype=np.float64),
        ints(np.asarray(q_langs)),
        self_rows,
        lay["orig"],
        lay["reach_indptr"],
        lay["reach_indices"],
        lay["reach_data"],
        lay["rest_indptr"],
        lay["rest_indices"],
        lay["rest_data"],
        lay["rest_norm"],
        lay["capped"],
        lay["m_indptr"],
        lay["m_indices"],
        lay["m_data"],
        cat.specific.astype(np.bool_, copy=False),
        lay["years"],
        lay["langs"],
        _prior(cat, params)[lay["orig"]],
        lay["emb"],
        lay["emb_norm"],
        np.ascontiguousarray(q_emb[0]),
        q_emb[1],
        float(params.plot_embedding_weight),
        len(cat.tags),
        k,
        float(params.shrink),
        float(params.year_scale),
        float(params.lang_penalty),
        float(params.prior_mix),
        float(params.context_mix),
        min(window_slots, k),
        params.reserve_window,
        window_slots,
        q_aspects,
        float(params.aspect_min_ratio),
        np.isin(
            cat.tag_family,
            [i for i, f in enumerate(cat.family_names) if f in params.aspect_need_families],
        ),
        _need_min(cat, params),
        n_reasons,
        out["rows"],
        out["micro"],
        out["len"],
        out["reason_tags"],
        out["reason_units"],
        out["reason_len"],
        np.zeros(4) if stats is None else stats,
    )
    return out


def _rank(
    cat: Catalog, q: sp.csr_matrix, q_years, q_langs, q_emb, self_rows, params: SimilarityParams
) -> list[Related]:
    """Return each query row's top-k list with reasons: [(id, score, [(tag, share)])]."""
    r = _rank_arrays(cat, q, q_years, q_langs, q_emb, self_rows, params)
    ids, tags = cat.ids, cat.reason_names
    out: list[Related] = []
    for n, rows, scores, r_tags, r_shares, r_len in zip(
        r["len"].tolist(),
        r["rows"].tolist(),
        (r["micro"] / 1e6).tolist(),
        r["reason_tags"].tolist(),
        (r["reason_units"] / 1e4).tolist(),
        r["reason_len"].tolist(),
    ):
        out.append(
            [
                (
                    ids[rows[a]],
                    scores[a],
                    [(tags[t], s) for t, s in zip(r_tags[a][: r_len[a]], r_shares[a][: r_len[a]])],
                )
                for a in range(n)
            ]
        )
    return out


def _strings(cat: Catalog) -> dict[str, np.ndarray]:
    """Return the catalog's ids as UTF-8 bytes with offsets, for kernels.items_packed."""
    if "strings" not in cat._cache:
        parts = [fid.encode() for fid in cat.ids]
        off = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum([len(p) for p in parts], out=off[1:])
        cat._cache["strings"] = {
            "id_raw": np.frombuffer(b"".join(parts), dtype=np.uint8),
            "raw_off": off,
        }
    return cat._cache["strings"]


def _tag_numbers(cat: Catalog, columns: np.ndarray, number_tags) -> np.ndarray:
    """Return per tag column its number in the tag dictionary (-1 while not needed), having
    numbered the given columns with number_tags(tags) -> {tag: number}."""
    names_of = cat.reason_names
    numbers = cat._cache.setdefault("tag_numbers", np.full(len(names_of), -1, dtype=np.int64))
    new = columns[numbers[columns] < 0]
    if len(new):
        names = [names_of[c] for c in new.tolist()]
        known = number_tags(names)
        numbers[new] = [known[t] for t in names]
    return numbers


def related_rows_packed(
    cat: Catalog, rows, number_tags, params: SimilarityParams | None = None, chunk: int = 2000
) -> list[tuple[str, bytes, int]]:
    """Return related_rows' lists encoded: per row (film id, its items in the stored format
    (service/listcodec.py), how many), made without Python objects per item. number_tags(tags)
    returns {tag: number} holding every tag given (Store.tag_numbers)."""
    return [
        row for batch in iter_related_packed(cat, rows, number_tags, params, chunk) for row in batch
    ]


def iter_related_packed(
    cat: Catalog,
    rows,
    number_tags,
    params: SimilarityParams | None = None,
    chunk: int = 2000,
    stats: np.ndarray | None = None,
):
    """Yield related_rows_packed's rows a chunk at a time (memory bounded by the chunk);
    stats, when given, gets the kernel's work counts added (kernels.rank_rows)."""
    params = params or SimilarityParams()
    rows = np.asarray(rows, dtype=np.int64)
    st = _strings(cat)
    per_item = int(np.diff(st["raw_off"]).max(initial=0)) + 5  # id length, id, score, count
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        r = _rank_arrays(
            cat,
            cat.matrix[part],
            cat.years[part],
            cat.langs[part],
            (cat.emb[part], cat.emb_norm[part]),
            part,
            params,
            stats,
        )
        n_items, n_reasons = int(r["len"].sum()), int(r["reason_len"].sum())
        used = np.arange(r["reason_tags"].shape[2]) < r["reason_len"][..., None]
        numbers = _tag_numbers(cat, np.unique(r["reason_tags"][used]), number_tags)
        # untouched pages of np.empty cost nothing: a loose bound is free
        buf = np.empty(n_items * per_item + n_reasons * 5 + 1, np.uint8)
        row_end = np.zeros(len(part), dtype=np.int64)
        kernels.items_packed(
            r["rows"],
            r["micro"],
            r["len"],
            r["reason_tags"],
            r["reason_units"],
            r["reason_len"],
            st["id_raw"],
            st["raw_off"],
            numbers,
            buf,
            row_end,
        )
        text = buf[: row_end[-1]].tobytes() if len(part) else b""
        row_start = np.concatenate([[0], row_end[:-1]]).tolist()
        yield [
            (cat.ids[row], text[a:b], n)
            for row, a, b, n in zip(part.tolist(), row_start, row_end.tolist(), r["len"].tolist())
        ]


def related_rows(
    cat: Catalog, rows, params: SimilarityParams | None = None, chunk: int = 2000
) -> list[Related]:
    """Return, per catalog row, up to k (other id, score in [0, 1], reasons) best first, never itself.

    Rows run in chunks of `chunk`: the kernel's memory is O(films + chunk x k).
    """
    params = params or SimilarityParams()
    rows = np.asarray(rows, dtype=np.int64)
    out: list[Related] = []
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        q_emb = (cat.emb[part], cat.emb_norm[part])
        out.extend(
            _rank(cat, cat.matrix[part], cat.years[part], cat.langs[part], q_emb, part, params)
        )
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
    q_emb = embedding.decode([film.get("embedding")])
    year = np.array([_num(film.get("year"))])
    return _rank(cat, q, year, np.array([lang]), q_emb, np.array([own]), params)[0]


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
            extra.update(
                {
                    f"{name}_data": idx[name].data,
                    f"{name}_indices": idx[name].indices,
                    f"{name}_indptr": idx[name].indptr,
                    f"{name}_shape": np.array(idx[name].shape),
                }
            )
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
        emb=cat.emb,
        emb_norm=cat.emb_norm,
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
        emb=z["emb"],
        emb_norm=z["emb_norm"],
        params=SimilarityParams.from_mapping(json.loads(str(z["params"]))),
    )
    if "reach_t_indptr" in z.files:

        def part(name: str) -> sp.csr_matrix:
            arrays = (z[f"{name}_data"], z[f"{name}_indices"], z[f"{name}_indptr"])
            return sp.csr_matrix(arrays, shape=tuple(z[f"{name}_shape"]))

        cat._cache["cand"] = _cand_parts(part("reach_t"), part("rest"))
    return cat


def compile_kernels() -> None:
    """Compile (or load from numba's on-disk cache) the ranking kernels on a two-film catalog.

    Workers call it before forking jobs, so no job pays the compilation.
    """
    cat = build_catalog(
        [{"id": "a", "vector": {"kw:x": 1.0}}, {"id": "b", "vector": {"kw:x": 1.0}}]
    )
    related_rows_packed(cat, [0, 1], lambda tags: {tag: 0 for tag in tags})
