"""The ranking's snapshot of the catalog: films x tags, IDF-weighted and normalised per tag
family, with per-film metadata and the capped inverted index the kernel reads; built from tag
vectors, serialised for the rebuild's jobs (pure: numpy and scipy)."""

import io
import json
import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from numba import njit

from service.core import embedding
from service.core.borrow import BORROWED_FAMILY, mirrored
from service.core.buffers import PartsReader
from service.core.candidates import cand_parts, candidate_index
from service.core.simparams import SimilarityParams
from service.core.vocab import BORROWED_PREFIX, KW_PREFIX, PLOT_PREFIX
from service.listcodec import AGREEMENT_REASON

# the reason naming the plot embeddings' share: a plot tag, so it shows as "Ähnliche Handlung"
EMBEDDING_REASON = PLOT_PREFIX + "*"


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
    # per tag: sharing it counts for the reserved slots (not generic, not too common)
    specific: np.ndarray
    emb: np.ndarray  # per film, its plot embedding (int8, films x its width; zeros: none)
    emb_norm: np.ndarray  # per film, its embedding's L2 norm (0: none)
    params: SimilarityParams  # the build-time knobs used
    keyword_share: float = 1.0  # the share of the catalog's films with curated keywords (kw:)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def row_of(self) -> dict[str, int]:
        """Map film id to row."""
        if "row_of" not in self._cache:
            self._cache["row_of"] = {fid: i for i, fid in enumerate(self.ids)}
        return self._cache["row_of"]

    @property
    def reason_names(self) -> list[str]:
        """Name reason columns: the tags, then the embedding's column (len(tags)) and the
        neighbours' agreement's (len(tags) + 1)."""
        if "reason_names" not in self._cache:
            self._cache["reason_names"] = [*self.tags, EMBEDDING_REASON, AGREEMENT_REASON]
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


def _popularity(numbers: dict, stats: dict, unknown: float) -> tuple[np.ndarray, np.ndarray]:
    vc, popularity = numbers["vote_count"], numbers["popularity"]
    max_votes = stats.get("max_votes") or np.nanmax(vc, initial=1.0)
    pop = np.log1p(np.nan_to_num(vc, nan=0.0)) / math.log1p(max(1.0, max_votes))
    # films without a vote count fall back to their scaled popularity
    max_pop = stats.get("max_popularity") or np.nanmax(popularity, initial=0.0)
    alt = np.log1p(np.nan_to_num(popularity, nan=0.0)) / max(1e-9, math.log1p(max(0.0, max_pop)))
    pop = np.where(np.isnan(vc), alt, pop)
    pop = np.where(np.isnan(vc) & np.isnan(popularity), unknown, pop)
    quality = numbers["vote_average"] / 10.0
    quality = np.nan_to_num(quality, nan=0.6)
    # a floor keeps every factor positive, so a prior can reorder but never erase a match
    return np.clip(pop, 0.05, 1.0), np.clip(quality, 0.05, 1.0)


def number_or_nan(value) -> float:
    return float(value) if value is not None else float("nan")


def family_weight(params: SimilarityParams, family: str) -> float:
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


def _family_scale(family_names: list[str], params: SimilarityParams) -> np.ndarray:
    """Per family, sqrt(its weight / the families' sum). Borrowed keywords stay out of the
    sum: a catalog's other scores are the same whether or not a film borrowed any."""
    fam_w = np.array([family_weight(params, f) for f in family_names], dtype=float)
    total = sum(w for f, w in zip(family_names, fam_w) if f != BORROWED_FAMILY)
    return np.sqrt(fam_w / (total or 1.0))


def _vectorise(lengths, cols, weights, idf, tag_fam, scale, n_cols, params):
    """Return csr rows: per family, idf·tf weights L2-normalised then scaled by `scale`."""
    indptr, indices, data = _vectorise_rows(
        lengths, cols, weights, idf, tag_fam, scale, float(params.tf_power)
    )
    return sp.csr_matrix((data, indices, indptr), shape=(len(lengths), n_cols))


@njit(cache=True)
def _power(x, p):
    """x ** p as numpy's array power gives it (square, root and identity are exact there)."""
    if p == 1.0:
        return x
    if p == 2.0:
        return x * x
    if p == 0.5:
        return math.sqrt(x)
    return x**p


@njit(cache=True)
def _vectorise_rows(lengths, cols, weights, idf, tag_fam, scale, tf_power):
    """_vectorise's rows, one at a time: no temporary array of entries but the output (a
    million films' snapshot has 40 million entries; numpy's whole-array steps took about
    80 bytes an entry). Per row and family the squares sum in entry order; a row's entries
    come out by column, those that end at 0 left out."""
    n_rows = len(lengths)
    indptr = np.zeros(n_rows + 1, np.int64)
    indices = np.empty(len(cols), np.int32)
    data = np.empty(len(cols))
    norms = np.zeros(len(scale))
    vals = np.empty(lengths.max() if n_rows else 0)  # one row's idf·tf weights
    start = n = 0
    for r in range(n_rows):
        end = start + lengths[r]
        norms[:] = 0.0
        for e in range(start, end):
            v = _power(weights[e], tf_power) * idf[cols[e]]
            vals[e - start] = v
            norms[tag_fam[cols[e]]] += v * v
        for f in range(len(norms)):
            norms[f] = math.sqrt(norms[f])
        for o in np.argsort(cols[start:end]):
            e = start + o
            fam = tag_fam[cols[e]]
            if norms[fam] > 0:
                v = vals[o] / norms[fam] * scale[fam]
                if v > 0:
                    indices[n] = cols[e]
                    data[n] = v
                    n += 1
        indptr[r + 1] = n
        start = end
    return indptr, indices[:n].copy(), data[:n].copy()


class CatalogParts:
    """Films added a chunk at a time and kept as arrays, with no Python object per tag entry:
    a rebuild's snapshot of a million films is built without holding every film's vector."""

    NUMBERS = ("year", "vote_count", "popularity", "vote_average")

    def __init__(self):
        self.ids: list[str] = []
        self._tag_no: dict[str, int] = {}  # tag -> number, in the order first seen
        self._lang_no: dict[str, int] = {}
        self._parts: dict[str, list[np.ndarray]] = {
            key: [] for key in ("lengths", "cols", "weights", "langs", "kw", "emb", "emb_norm")
        }
        self._parts.update({key: [] for key in self.NUMBERS})

    def add(self, films: list[dict]) -> "CatalogParts":
        """Add films {"id", "vector", "embedding", "year", ...} (see build_catalog)."""
        tag_no, lang_no, parts = self._tag_no, self._lang_no, self._parts
        rows = [[(t, w) for t, w in f["vector"].items() if w > 0] for f in films]
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(films))
        total = int(lengths.sum())
        numbered = (tag_no.setdefault(t, len(tag_no)) for row in rows for t, _ in row)
        parts["cols"].append(np.fromiter(numbered, dtype=np.int32, count=total))
        weights = (w for row in rows for _, w in row)
        parts["weights"].append(np.fromiter(weights, dtype=float, count=total))
        parts["lengths"].append(lengths)
        for key in self.NUMBERS:
            parts[key].append(np.array([number_or_nan(f.get(key)) for f in films], dtype=float))
        langs = [f.get("original_language") for f in films]
        parts["langs"].append(
            np.array([lang_no.setdefault(g, len(lang_no)) if g else -1 for g in langs], np.int64)
        )
        kw = [any(t.startswith(KW_PREFIX) for t in f["vector"]) for f in films]
        parts["kw"].append(np.array(kw, dtype=np.bool_))
        emb, emb_norm = embedding.decode([f.get("embedding") for f in films])
        parts["emb"].append(emb)
        parts["emb_norm"].append(emb_norm)
        self.ids.extend(str(f["id"]) for f in films)
        return self

    def _joined(self, key: str, empty) -> np.ndarray:
        """The parts of key as one array; they are let go (build is once), so that a million
        films' entries are not held twice."""
        parts = self._joined_parts(key)
        return np.concatenate(parts) if parts else empty

    def _joined_parts(self, key: str) -> list[np.ndarray]:
        parts, self._parts[key] = self._parts[key], []
        return parts

    def _mirrored(self, cols, weights, lengths):
        """The entries with each curated keyword also as a borrowed one (borrow.mirrored), row
        after row; only in a catalog where some film borrowed, as they cost entries."""
        twins = {
            no: self._tag_no.setdefault(BORROWED_PREFIX + t[len(KW_PREFIX) :], len(self._tag_no))
            for t, no in list(self._tag_no.items())
            if t.startswith(KW_PREFIX)
        }
        twin = np.full(len(self._tag_no), -1, np.int64)
        twin[list(twins)] = list(twins.values())
        rows = np.repeat(np.arange(len(lengths)), lengths)
        extra = twin[cols] >= 0
        rows = np.concatenate([rows, rows[extra]])
        order = np.argsort(rows, kind="stable")
        cols = np.concatenate([cols, twin[cols][extra].astype(cols.dtype)])[order]
        weights = np.concatenate([weights, weights[extra]])[order]
        return cols, weights, np.bincount(rows, minlength=len(lengths)).astype(np.int64)

    def build(self, params: SimilarityParams | None = None, stats: dict | None = None) -> Catalog:
        """Return the catalog of the films added (build_catalog's, the same to the bit)."""
        params = params or SimilarityParams()
        stats = stats or {}
        cols = self._joined("cols", np.zeros(0, np.int32))
        weights = np.minimum(1.0, self._joined("weights", np.zeros(0)))
        lengths = self._joined("lengths", np.zeros(0, np.int64))
        if any(t.startswith(BORROWED_PREFIX) for t in self._tag_no):
            cols, weights, lengths = self._mirrored(cols, weights, lengths)
        tags = sorted(self._tag_no)
        column = {t: i for i, t in enumerate(tags)}
        renumber = np.array([column[t] for t in self._tag_no], dtype=np.int32)
        cols = renumber[cols]
        numbers = {key: self._joined(key, np.zeros(0)) for key in self.NUMBERS}
        n = len(self.ids)
        df = np.bincount(cols, minlength=len(tags)).astype(float)
        if stats.get("df") is not None:
            df = np.maximum(df, [stats["df"].get(t, 0) for t in tags])
        keyword_films = max(
            int(self._joined("kw", np.zeros(0, np.bool_)).sum()),
            int(stats.get("keyword_films") or 0),
        )
        n = max(n, int(stats.get("n") or 0))
        idf = np.log1p(n / np.maximum(df, 1.0)) ** params.idf_power
        family_names = sorted({tag_family(t) for t in tags})
        fam_index = {f: i for i, f in enumerate(family_names)}
        tag_fam = np.array([fam_index[tag_family(t)] for t in tags], dtype=np.int32)
        scale = _family_scale(family_names, params)
        matrix = _vectorise(lengths, cols, weights, idf, tag_fam, scale, len(tags), params)
        lang_names = sorted(self._lang_no)
        lang_of = np.array([lang_names.index(g) for g in self._lang_no] + [-1], dtype=np.int32)
        pop, quality = _popularity(numbers, stats, params.unknown_pop)
        generic = [i for i, f in enumerate(family_names) if f in params.generic_families]
        specific = ~np.isin(tag_fam, generic) & (df <= params.specific_max_df * n)
        return Catalog(
            ids=list(self.ids),
            tags=tags,
            matrix=matrix,
            idf=idf,
            tag_family=tag_fam,
            family_names=family_names,
            years=numbers["year"],
            langs=lang_of[self._joined("langs", np.zeros(0, np.int64))],
            lang_names=lang_names,
            pop=pop,
            quality=quality,
            specific=specific,
            emb=embedding.stacked(self._joined_parts("emb"), np.zeros((0, embedding.DIM), np.int8)),
            emb_norm=self._joined("emb_norm", np.zeros(0)),
            params=params,
            keyword_share=keyword_films / n if n else 1.0,
        )


def build_catalog(
    films: list[dict], params: SimilarityParams | None = None, stats: dict | None = None
) -> Catalog:
    """Build a catalog from films {"id", "vector": {tag: weight}, "year", "original_language", ...}.

    films may also carry "popularity", "vote_count", "vote_average" and "embedding" (bytes,
    service/core/embedding.py). stats, when given, holds
    catalog-wide figures {"n", "df": {tag: count}, "max_votes", "max_popularity",
    "keyword_films"} so that a small catalog of candidates scores exactly like the full one
    (IDF, priors and the embedding's weight use them).
    """
    return CatalogParts().add(films).build(params, stats)


def embedding_weight(cat: Catalog, params: SimilarityParams | None = None) -> float:
    """The weight of the plot embeddings' cosine in cat's scores: plot_embedding_weight for a
    catalog whose films all have curated keywords, plot_embedding_weight_text for one where
    none has, linear in between. One weight for the whole catalog, so that no film gains on
    another by how it was tagged (a weight per film let the 412 TMDB films without keywords
    crowd the lists: docs/QUALITY.md)."""
    p, share = params or cat.params, cat.keyword_share
    return p.plot_embedding_weight * share + p.plot_embedding_weight_text * (1.0 - share)


def query_matrix(cat: Catalog, films: list[dict]) -> sp.csr_matrix:
    """Vectorise films (maybe not in cat) against cat's tags; unknown tags only dilute the norm."""
    p = cat.params
    films = [{**f, "vector": mirrored(f["vector"])} for f in films]
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
    scale = _family_scale(cat.family_names, p)
    q = _vectorise(lengths, cols, weights, idf, tag_fam, scale, len(tag_index), p)
    return q[:, : len(cat.tags)].tocsr()


def catalog_to_bytes(cat: Catalog, with_candidates: bool = True) -> memoryview:
    """Serialise a catalog (write_catalog) into bytes, given as a view of the buffer they
    were written to, not a copy of it."""
    buf = io.BytesIO()
    write_catalog(cat, buf, with_candidates)
    return buf.getbuffer()


def write_catalog(cat: Catalog, out, with_candidates: bool = True) -> None:
    """Write a catalog to a writable stream (np.savez, no pickle), with its candidate index
    unless told not to. The stream need not seek (Store.blob_writer's stores a part at a
    time: a million films' snapshot is about 1 GB).

    The candidate index costs O(catalog) to derive; storing it saves that in every job that
    loads the snapshot (each rank chunk of a rebuild runs in a freshly forked process).
    """
    m = cat.matrix
    extra = {}
    if with_candidates:
        idx = candidate_index(cat)
        for name in ("reach_t", "rest"):
            extra.update(
                {
                    f"{name}_data": idx[name].data,
                    f"{name}_indices": idx[name].indices,
                    f"{name}_indptr": idx[name].indptr,
                    f"{name}_shape": np.array(idx[name].shape),
                }
            )
    if not with_candidates:  # with them, the matrix is their two parts added (no copy)
        extra.update(data=m.data, indices=m.indices, indptr=m.indptr)
    np.savez(
        out,
        **extra,
        ids=np.array(cat.ids, dtype=str),
        tags=np.array(cat.tags, dtype=str),
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
        keyword_share=np.array(cat.keyword_share),
        params=np.array(json.dumps(cat.params.to_dict())),
    )


def catalog_from_bytes(blob) -> Catalog:
    """Load a catalog written by catalog_to_bytes, from any buffer (bytes, a bytearray) or
    from a seekable raw file (Store.blob_reader's: a part at a time)."""
    raw = blob if isinstance(blob, io.RawIOBase) else PartsReader.over(blob)
    z = np.load(io.BufferedReader(raw), allow_pickle=False)
    parts = None
    if "reach_t_indptr" in z.files:

        def part(name: str) -> sp.csr_matrix:
            arrays = (z[f"{name}_data"], z[f"{name}_indices"], z[f"{name}_indptr"])
            return sp.csr_matrix(arrays, shape=tuple(z[f"{name}_shape"]))

        parts = part("reach_t"), part("rest")
    if "data" in z.files:
        matrix = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
    else:  # the capped postings' entries and the rest: disjoint, so the sum adds nothing
        matrix = (parts[0].T.tocsr() + parts[1]).tocsr()
        matrix.sort_indices()
    cat = Catalog(
        ids=z["ids"].tolist(),
        tags=z["tags"].tolist(),
        matrix=matrix,
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
        keyword_share=float(z["keyword_share"]),
    )
    if parts:
        cat._cache["cand"] = cand_parts(*parts)
    return cat
