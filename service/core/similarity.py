"""Compute related films: IDF-weighted tag cosines per tag family, shrunk, plus the plot
embeddings' cosine, times era/language/popularity priors.

The snapshot is service.core.catalog's, the knobs service.core.simparams'; the rules are in
service/core/kernels.py. This module lays the snapshot out for the kernel and gives the lists."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from service.core import kernel_aspects, kernel_pack, kernels
from service.core.borrow import BORROWED_FAMILY, without_borrowed
from service.core.candidates import layout as _layout
from service.core.catalog import (  # noqa: F401 (the snapshot's API, used through this module)
    AGREEMENT_REASON,
    EMBEDDING_REASON,
    Catalog,
    CatalogParts,
    build_catalog,
    catalog_from_bytes,
    catalog_to_bytes,
    embedding_weight,
    family_weight,
    number_or_nan,
    query_matrix,
    tag_family,
    write_catalog,
)
from service.core.embedding import decode as decode_embeddings
from service.core.simparams import SimilarityParams  # noqa: F401 (the knobs, through this module)
from service.core.vocab import load_vocabulary
from service.listcodec import RelatedItem

Related = list[RelatedItem]  # a film's related list, best first


def _prior(cat: Catalog, params: SimilarityParams) -> np.ndarray:
    """Per film, the popularity and quality prior of its score."""
    key = ("prior", params.pop_weight, params.quality_weight)
    if key not in cat._cache:
        cat._cache[key] = cat.pop**params.pop_weight * cat.quality**params.quality_weight
    return cat._cache[key]


def _aspect_inputs(cat: Catalog, params: SimilarityParams) -> dict:
    """The strongly stated themes' per-catalog inputs, made once per catalog and knobs:
    per tag column whether it can be a theme (specific, of one of the aspect kinds) and
    whether it counts for the like-kind check (1.0 in an aspect_need family, else 0.0), the
    columns' families as the kernels take them, and the family weights that turn the
    like-kind cosine into a dot product (rows are normalised per family and scaled by
    sqrt(family weight / sum of weights))."""
    key = ("aspects", tuple(params.aspect_kinds), tuple(params.aspect_need_families))
    if key not in cat._cache:
        vocab = load_vocabulary()
        kinds = np.array([vocab.kind(t) in params.aspect_kinds for t in cat.tags], dtype=np.bool_)
        need_fams = [i for i, f in enumerate(cat.family_names) if f in params.aspect_need_families]
        fam_w = [family_weight(params, f) for f in cat.family_names]
        need_w = sum(fam_w[i] for i in need_fams)
        cat._cache[key] = {
            "columns": kinds & cat.specific.astype(np.bool_),
            "need": np.isin(cat.tag_family, need_fams).astype(np.float64),
            "family": cat.tag_family.astype(np.int64),
            "need_weight": need_w,
            "all_weight": sum(w for f, w in zip(cat.family_names, fam_w) if f != BORROWED_FAMILY),
        }
    return cat._cache[key]


def _need_min(params: SimilarityParams, aspects: dict) -> float:
    """The dot product on the aspect_need families that a cosine of aspect_need_cosine gives."""
    total = aspects["all_weight"]
    return params.aspect_need_cosine * aspects["need_weight"] / total if total else 0.0


MIN_ROWS_PER_THREAD = 64  # below this a thread costs more (its scratch: O(catalog)) than it saves


def split_rows(n_rows: int, threads: int) -> list[tuple[int, int]]:
    """Split n_rows query rows into at most `threads` contiguous blocks of at least
    MIN_ROWS_PER_THREAD rows (one block when there are fewer)."""
    n = max(1, min(threads, n_rows // MIN_ROWS_PER_THREAD))
    bounds = [n_rows * b // n for b in range(n + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def _rank_arrays(
    cat: Catalog,
    q: sp.csr_matrix,
    q_years,
    q_langs,
    q_emb,
    self_rows,
    params: SimilarityParams,
    stats: np.ndarray | None = None,
    threads: int = 1,
) -> dict[str, np.ndarray]:
    """Rank the query rows in the compiled kernel (service/core/kernels.py has the rules).

    Return its output arrays: per row "len" items, per item its catalog "rows", its score in
    millionths ("micro") and "reason_len" reasons, per reason its tag column
    ("reason_tags") and share in 1/10,000 ("reason_units"). stats, when given, gets the
    kernel's work counts added (see kernels.rank_rows). q_emb: the query rows' embeddings
    and their norms (service.core.embedding.decode). threads: how many threads share the
    rows (split_rows); each row's list is the same whatever the split.

    Rows with curated keywords (a kw: column) are ranked with params.for_keyword_films(),
    the others with params; each row's list depends on its own row only.
    """
    is_kw = _layout(cat)["is_kw"]
    per_row = np.repeat(np.arange(q.shape[0]), np.diff(q.indptr))
    kw_rows = np.bincount(per_row, weights=is_kw[q.indices], minlength=q.shape[0]) > 0
    q = without_borrowed(cat, q, kw_rows)  # curated keywords' rows: their own lists
    kw_params = params.for_keyword_films()
    if kw_params == params or kw_rows.all() or not kw_rows.any():
        knobs = kw_params if kw_rows.any() else params
        return _rank_group(cat, (q, q_years, q_langs, q_emb, self_rows), knobs, stats, threads)
    q_years, q_langs, self_rows = map(np.asarray, (q_years, q_langs, self_rows))
    out: dict[str, np.ndarray] = {}
    for rows, knobs in ((np.flatnonzero(~kw_rows), params), (np.flatnonzero(kw_rows), kw_params)):
        query = (q[rows], q_years[rows], q_langs[rows], (q_emb[0][rows], q_emb[1][rows]))
        part = _rank_group(cat, (*query, self_rows[rows]), knobs, stats, threads)
        for key, values in part.items():
            if key not in out:
                out[key] = np.zeros((q.shape[0], *values.shape[1:]), dtype=values.dtype)
            out[key][rows] = values
    return out


def _rank_group(
    cat: Catalog, query: tuple, params: SimilarityParams, stats: np.ndarray | None, threads: int
) -> dict[str, np.ndarray]:
    """_rank_arrays for rows ranked with the same knobs; query: its arguments q to self_rows."""
    q, q_years, q_langs, q_emb, self_rows = query
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
    aspects = _aspect_inputs(cat, params)
    q_indptr = q.indptr.astype(np.int64, copy=False)
    q_indices = q.indices.astype(np.int64, copy=False)
    q_data = q.data.astype(np.float64, copy=False)
    q_aspects = np.full((n_rows, max(params.aspect_slots, 0)), -1, dtype=np.int64)
    kernel_aspects.query_aspects(
        q_indptr,
        q_indices,
        q_data,
        cat.idf,
        aspects["family"],
        len(cat.family_names),
        aspects["columns"],
        float(params.aspect_min_weight),
        float(params.tf_power),
        q_aspects,
    )

    q_years = np.asarray(q_years, dtype=np.float64)
    q_langs = np.asarray(q_langs).astype(np.int64, copy=False)
    q_vectors, q_norms = np.ascontiguousarray(q_emb[0]), q_emb[1]
    film = lay["film"]
    # the prior's column, for these knobs (a catalog is ranked with one set at a time)
    film[:, kernels.PRIOR] = _prior(cat, params)[lay["orig"]]
    e_weight = embedding_weight(cat, params)
    need_min = _need_min(params, aspects)
    specific = cat.specific.astype(np.bool_, copy=False)
    # rule 3b's rows: those without curated keywords, or all of them
    is_kw = np.zeros_like(lay["is_kw"]) if params.consensus_keyword_films else lay["is_kw"]

    def rank_block(a: int, b: int, block_stats: np.ndarray) -> None:
        # rows a..b: a CSR slice of the query (indptr rebased) and views of the out arrays
        kernels.rank_rows(
            q_indptr[a : b + 1] - q_indptr[a],
            q_indices[q_indptr[a] : q_indptr[b]],
            q_data[q_indptr[a] : q_indptr[b]],
            q_years[a:b],
            q_langs[a:b],
            self_rows[a:b],
            lay["orig"],
            lay["reach_indptr"],
            lay["reach_indices"],
            lay["reach_data"],
            lay["rest_indices"],
            lay["rest_data"],
            lay["capped"],
            lay["m_indptr"],
            lay["m_indices"],
            lay["m_data"],
            specific,
            film,
            lay["emb"],
            q_vectors[a:b],
            q_norms[a:b],
            e_weight,
            len(cat.tags),
            k,
            float(params.shrink),
            float(params.year_scale),
            float(params.lang_penalty),
            float(params.prior_mix),
            float(params.context_mix),
            float(params.genre_mix),
            lay["set_indptr"],
            lay["set_cols"],
            lay["is_genre"],
            min(window_slots, k),
            params.reserve_window,
            window_slots,
            q_aspects[a:b],
            float(params.aspect_min_ratio),
            aspects["need"],
            need_min,
            int(params.consensus_k),
            float(params.consensus_weight),
            is_kw,
            n_reasons,
            out["rows"][a:b],
            out["micro"][a:b],
            out["len"][a:b],
            out["reason_tags"][a:b],
            out["reason_units"][a:b],
            out["reason_len"][a:b],
            block_stats,
        )

    blocks = split_rows(n_rows, threads)
    block_stats = [np.zeros(4) for _ in blocks]
    if len(blocks) == 1:
        rank_block(*blocks[0], block_stats[0])
    else:  # the kernel releases the GIL: the blocks run side by side
        with ThreadPoolExecutor(len(blocks)) as pool:
            for done in [
                pool.submit(rank_block, a, b, st) for (a, b), st in zip(blocks, block_stats)
            ]:
                done.result()
    if stats is not None:
        stats += sum(block_stats)
    return out


def _rank(
    cat: Catalog,
    q: sp.csr_matrix,
    q_years,
    q_langs,
    q_emb,
    self_rows,
    params: SimilarityParams,
    threads: int = 1,
) -> list[Related]:
    """Return each query row's top-k list with reasons, as RelatedItems."""
    r = _rank_arrays(cat, q, q_years, q_langs, q_emb, self_rows, params, threads=threads)
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
                RelatedItem(
                    ids[rows[a]],
                    scores[a],
                    tuple(
                        (tags[t], s) for t, s in zip(r_tags[a][: r_len[a]], r_shares[a][: r_len[a]])
                    ),
                )
                for a in range(n)
            ]
        )
    return out


def _strings(cat: Catalog) -> dict[str, np.ndarray]:
    """Return the catalog's ids as UTF-8 bytes with offsets, for kernel_pack.items_packed."""
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
    threads: int = 1,
):
    """Yield related_rows_packed's rows a chunk at a time (memory bounded by the chunk);
    stats, when given, gets the kernel's work counts added (kernels.rank_rows); threads
    share each chunk's rows (the same lists whatever their number)."""
    params = params or SimilarityParams()
    if params.reasons > 51:  # a stored item's reasons take at most 255 bytes, 5 each
        raise ValueError(f"at most 51 reasons an item can be stored, not {params.reasons}")
    rows = np.asarray(rows, dtype=np.int64)
    st = _strings(cat)
    # front coding's two lengths, the id at most, the score, the reasons' length
    per_item = int(np.diff(st["raw_off"]).max(initial=0)) + 6
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
            threads,
        )
        n_items, n_reasons = int(r["len"].sum()), int(r["reason_len"].sum())
        used = np.arange(r["reason_tags"].shape[2]) < r["reason_len"][..., None]
        numbers = _tag_numbers(cat, np.unique(r["reason_tags"][used]), number_tags)
        # untouched pages of np.empty cost nothing: a loose bound is free
        buf = np.empty(n_items * per_item + n_reasons * 5 + 1, np.uint8)
        row_end = np.zeros(len(part), dtype=np.int64)
        kernel_pack.items_packed(
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
    cat: Catalog,
    rows,
    params: SimilarityParams | None = None,
    chunk: int = 2000,
    threads: int = 1,
) -> list[Related]:
    """Return, per catalog row, up to k RelatedItems (score in [0, 1]) best first, never itself.

    Rows run in chunks of `chunk`: the kernel's memory is O(films + chunk x k), and
    O(films) more per thread.
    """
    params = params or SimilarityParams()
    rows = np.asarray(rows, dtype=np.int64)
    out: list[Related] = []
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        q_emb = (cat.emb[part], cat.emb_norm[part])
        out.extend(
            _rank(
                cat,
                cat.matrix[part],
                cat.years[part],
                cat.langs[part],
                q_emb,
                part,
                params,
                threads,
            )
        )
    return out


def related_for_vector(cat: Catalog, film: dict, params: SimilarityParams | None = None) -> Related:
    """Return the related list of one film (maybe not in cat) from capped inverted-index candidates."""
    params = params or SimilarityParams()
    q = query_matrix(cat, [film])
    lang = (
        cat.lang_names.index(film["original_language"])
        if film.get("original_language") in cat.lang_names
        else -1
    )
    own = cat.row_of.get(str(film["id"]), -1)
    q_emb = decode_embeddings([film.get("embedding")], cat.emb.shape[1])
    year = np.array([number_or_nan(film.get("year"))])
    return _rank(cat, q, year, np.array([lang]), q_emb, np.array([own]), params)[0]


def score_pair(cat: Catalog, film: dict, row: int, params: SimilarityParams | None = None):
    """Return (score, reasons) of catalog film `row` as a recommendation for `film`, or None if unrelated."""
    params = params or SimilarityParams()
    for other, score, reasons in related_for_vector(cat, film, replace(params, k=len(cat.ids))):
        if other == cat.ids[row]:
            return score, reasons
    return None


def compile_kernels() -> None:
    """Compile (or load from numba's on-disk cache) the ranking kernels on a two-film catalog.

    Workers call it before forking jobs, so no job pays the compilation.
    """
    cat = build_catalog(
        [{"id": "a", "vector": {"kw:x": 1.0}}, {"id": "b", "vector": {"kw:x": 1.0}}]
    )
    related_rows_packed(cat, [0, 1], lambda tags: {tag: 0 for tag in tags})
