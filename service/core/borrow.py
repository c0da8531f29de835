"""Borrowed keywords: a film without curated keywords borrows those of the catalog films whose
text reads most like its own (pure: scikit-learn, numpy, scipy, simplemma).

Films a site adds have a plot and no keywords; TMDB's films have both. The keyword catalog
tells stories apart much better than tags read from a short plot (docs/QUALITY.md,
"Borrowed keywords"), so a film without keywords borrows: the k films whose title and plot
read most alike by TF-IDF cosine (English lemmas, words and word pairs; a German plot glossed
word by word, as the plot embedding reads it) lend their keywords, each scored by the summed
likeness of the films that hold it, and the n best become the film's `kwb:<keyword>` tags.

They are a family of their own, so they never count as curated keywords, weigh what their
family weight says (`kwb`, less than `kw`), and show as the plot's chip. A film with curated
keywords carries each of them as a `kwb:` tag too when a catalog where some film borrowed is
built (`mirrored`; service.core.catalog), so that borrowed keywords meet curated ones; its
own list leaves that family out (`without_borrowed`), so keyword films rank among
themselves as before.

The model is the catalog's: a full rebuild builds it from the films with keywords and stores
it (workers/rebuild.py); the tag jobs read it (workers/jobs.py).
"""

import io
import json
import re
from functools import lru_cache

import numpy as np
import scipy.sparse as sp
import simplemma

from service.core.embedding import plot_text
from service.core.tagging import item_names
from service.core.vocab import BORROWED_PREFIX, KW_PREFIX

BORROWED_FAMILY = BORROWED_PREFIX.rstrip(":")
_WORD = re.compile(r"[^\W\d_]{2,}")
# a word (or pair) tells films apart when 3 films or more have it and at most 30% do: words
# of two films only made the model a fifth larger and the tuning sets' lists no better
# (103 / 103 of 180 / 200 judged related against 108 / 102, docs/QUALITY.md)
MIN_FILMS, MAX_SHARE = 3, 0.3
MAX_LENDERS = 5  # the films a borrowed keyword names as its evidence
_TFIDF = {"ngram_range": (1, 2), "sublinear_tf": True, "lowercase": False, "dtype": np.float32}


@lru_cache(maxsize=200_000)
def _lemma(word: str) -> str:
    return simplemma.lemmatize(word, lang="en").lower()


def _words(text: str) -> list[str]:
    """English text's lemmas, stop words left out."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    lower = (w.lower() for w in _WORD.findall(text))
    return [_lemma(w) for w in lower if w not in ENGLISH_STOP_WORDS]


def _vectorizer(**fixed):
    """scikit-learn's TF-IDF over _words (imported here: the web and ranking processes that
    import this module for its prefix and mirrored() never load scikit-learn)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(tokenizer=_words, token_pattern=None, **_TFIDF, **fixed)


def text_vectorizer(max_terms: int | None = None):
    """Return a TF-IDF to fit on texts: words of MIN_FILMS films or more and at most MAX_SHARE
    of them, the max_terms most frequent of those when given (the plot space's too)."""
    return _vectorizer(min_df=MIN_FILMS, max_df=MAX_SHARE, max_features=max_terms)


def vectorizer_terms(vectorizer) -> list[str]:
    """A fitted TF-IDF's terms, in the order of its columns."""
    return sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)


def stored_vectorizer(terms: list[str], idf: np.ndarray):
    """Return the TF-IDF of stored terms and idf (vectorizer_terms, idf_), fitted as it was."""
    vectorizer = _vectorizer(vocabulary={t: i for i, t in enumerate(terms)})
    vectorizer.idf_ = idf
    return vectorizer


class Borrower:
    """The films with keywords as TF-IDF rows, and their keywords; borrow() lends them.

    lenders are the films' ids, row by row, which borrowed_tags names as each keyword's
    evidence (None in a model stored before they were kept: no evidence then).
    """

    def __init__(self, vectorizer, counts: sp.csr_matrix, keywords: list[str],
                 held: sp.csr_matrix, k: int, n: int, lenders: list[str] | None = None):  # fmt: skip
        self.vectorizer, self.counts, self.keywords, self.held, self.k, self.n = (
            vectorizer, counts, keywords, held, k, n,
        )  # fmt: skip
        self.lenders = lenders
        self.rows = _weighted(counts, vectorizer.idf_)  # the films' TF-IDF rows

    @classmethod
    def build(
        cls,
        texts: list[str],
        keyword_lists: list[list[str]],
        k: int = 20,
        n: int = 10,
        lenders: list[str] | None = None,
    ) -> "Borrower":
        """Learn from English texts (borrow_text) and their films' keywords (and ids,
        lenders): a film will borrow from its k nearest films the n best of their keywords."""
        vectorizer = text_vectorizer().fit(texts)
        counts = _counts(vectorizer, texts)
        keywords = sorted({kw for kws in keyword_lists for kw in kws})
        col = {kw: i for i, kw in enumerate(keywords)}
        film = [r for r, kws in enumerate(keyword_lists) for _ in kws]
        held = sp.csr_matrix(
            (np.ones(len(film), np.float32), (film, [col[kw] for kws in keyword_lists for kw in kws])),
            shape=(len(texts), len(keywords)),
        )  # fmt: skip
        return cls(vectorizer, counts, keywords, held, k, n, lenders)

    def borrow(self, texts: list[str]) -> list[dict[str, float]]:
        """Return per text its n best keywords as {kwb:<keyword>: weight in (0, 1]}, the best
        1; nothing for a text that shares no word with the films."""
        return [{t: e["weight"] for t, e in got.items()} for got in self.borrowed_tags(texts)]

    def borrowed_tags(self, texts: list[str]) -> list[dict[str, dict]]:
        """Return per text borrow()'s keywords as a film's tags are stored (tagging.extract_tags):
        {kwb:<keyword>: {"weight", "sources": ["borrowed"], "evidence": the ids of the nearest
        films that lent it, nearest first (up to MAX_LENDERS), "excerpts": []}}, so that an
        editor sees where a borrowed keyword came from, and can block it."""
        likeness = (self.vectorizer.transform(texts) @ self.rows.T).toarray()
        out = []
        for row in likeness:
            near = np.argsort(-row, kind="stable")[: self.k]
            near = near[row[near] > 0]
            held = self.held[near].toarray()
            scores = row[near] @ held if len(near) else np.zeros(1)
            best = [j for j in np.argsort(-scores, kind="stable")[: self.n] if scores[j] > 0]
            top = float(scores[best[0]]) if best else 1.0
            out.append({
                BORROWED_PREFIX + self.keywords[j]: {
                    "weight": round(float(scores[j]) / top, 4),
                    "sources": ["borrowed"],
                    "evidence": self._lent(near, held[:, j]),
                    "excerpts": [],
                }
                for j in best
            })  # fmt: skip
        return out

    def _lent(self, near: np.ndarray, holds: np.ndarray) -> list[str]:
        """The ids of the near films that hold a keyword (holds: per near film), nearest first."""
        if self.lenders is None:
            return []
        return [self.lenders[i] for i in near[holds > 0][:MAX_LENDERS].tolist()]

    def to_bytes(self) -> bytes:
        """The model as one npz blob (no pickle: the store hands it to every tag job). The
        rows are kept as term counts, which compress to a thirtieth of their weights (the
        weights follow from them and the idf: _weighted)."""
        terms = vectorizer_terms(self.vectorizer)
        out = io.BytesIO()
        np.savez_compressed(
            out,
            meta=np.frombuffer(
                json.dumps(
                    {
                        "terms": terms,
                        "keywords": self.keywords,
                        "k": self.k,
                        "n": self.n,
                        "lenders": self.lenders,
                    }
                ).encode(),
                np.uint8,
            ),  # fmt: skip
            idf=self.vectorizer.idf_,
            rows_counts=np.minimum(self.counts.data, 255).astype(np.uint8),
            **{f"rows_{a}": getattr(self.counts, a) for a in ("indices", "indptr")},
            **{f"held_{a}": getattr(self.held, a) for a in ("indices", "indptr")},
        )
        return out.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> "Borrower":
        z = np.load(io.BytesIO(blob))
        meta = json.loads(z["meta"].tobytes())
        terms, keywords = meta["terms"], meta["keywords"]
        vectorizer = stored_vectorizer(terms, z["idf"])
        n_films = len(z["rows_indptr"]) - 1
        counts = sp.csr_matrix(
            (z["rows_counts"].astype(np.float32), z["rows_indices"], z["rows_indptr"]),
            shape=(n_films, len(terms)),
        )
        held = sp.csr_matrix(
            (np.ones(len(z["held_indices"]), np.float32), z["held_indices"], z["held_indptr"]),
            shape=(n_films, len(keywords)),
        )
        return cls(
            vectorizer, counts, keywords, held, int(meta["k"]), int(meta["n"]), meta.get("lenders")
        )


def warm_up() -> None:
    """Import what building and using a borrower needs (scikit-learn: about 1.4 s), so that a
    worker's forked jobs find it loaded."""
    _words("warm")
    _vectorizer()


def _counts(vectorizer, texts: list[str]) -> sp.csr_matrix:
    """The texts' term counts over the vectorizer's terms (its parent's transform)."""
    from sklearn.feature_extraction.text import CountVectorizer

    counts = CountVectorizer.transform(vectorizer, texts).astype(np.float32).tocsr()
    counts.sort_indices()
    return counts


def _weighted(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """TF-IDF rows as the vectorizer weighs them: (1 + ln tf) · idf, each row of unit length."""
    rows = counts.astype(np.float32, copy=True)
    rows.data = (1.0 + np.log(rows.data)) * idf[rows.indices].astype(np.float32)
    of_row = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
    lengths = np.sqrt(np.bincount(of_row, weights=rows.data**2, minlength=rows.shape[0]))
    rows.data /= np.where(lengths > 0, lengths, 1.0)[of_row].astype(np.float32)
    return rows


def lend(films, ignores, max_films: int, min_films: int, k: int, n: int, text_of=None) -> tuple:
    """Return (a Borrower of the films with curated keywords, the max_films most voted of
    them, or None when fewer than min_films have any; how many lend). ignores(keyword):
    whether a keyword is left out of the kw: tags (Vocabulary.ignores_keyword); text_of(film),
    asked for each film as it is read: its borrow_text (by default computed here)."""
    text_of = text_of or borrow_text
    lenders = []  # (-votes, id, text, keywords)
    for film in films:
        keywords = curated_keywords(film, ignores)
        if keywords:
            votes = -(film.get("vote_count") or 0)
            lenders.append((votes, str(film["id"]), text_of(film), keywords))
    lenders = sorted(lenders)[:max_films]
    if len(lenders) < max(min_films, 1):
        return None, 0
    ids, texts, keywords = ([x[i] for x in lenders] for i in (1, 2, 3))
    try:
        return Borrower.build(texts, keywords, k, n, ids), len(lenders)
    except ValueError:  # no word in MIN_FILMS films' texts (but not in most): nothing to lend
        return None, 0


def borrow_text(film: dict, reviews: list[dict] | None = None, plot: str | None = None) -> str:
    """The text a film is borrowed for and lent from: its title, tagline and the plot the
    embedding reads (the English synopsis, else the German one glossed, else the reviews;
    plot, when given, is that text, read already: embedding.plot_text)."""
    plot = plot_text(film, reviews or []) if plot is None else plot
    parts = (film.get("title"), film.get("tagline"), plot)
    return " ".join(p for p in parts if p)


def curated_keywords(film: dict, ignores) -> list[str]:
    """A film's keywords as its kw: tags name them (lowercased, the ignored ones left out)."""
    return sorted({n.lower() for n in item_names(film.get("keywords")) if not ignores(n)})


def mirrored(vector: dict[str, float]) -> dict[str, float]:
    """Return a vector with each curated keyword also as a borrowed one (kw:x -> kwb:x), so
    that films which borrowed x meet the films that hold it."""
    extra = {BORROWED_PREFIX + t[len(KW_PREFIX) :]: w for t, w in vector.items()
             if t.startswith(KW_PREFIX)}  # fmt: skip
    return {**vector, **extra} if extra else vector


def twin(borrowed: str) -> str:
    """Return the curated keyword tag of a borrowed one (kwb:x -> kw:x)."""
    return KW_PREFIX + borrowed[len(BORROWED_PREFIX) :]


def mirror_df(df: dict[str, float]) -> dict[str, float]:
    """Return document frequencies as a catalog of mirrored vectors counts them: a borrowed
    keyword's films are those that borrowed it and those that hold it."""
    out = dict(df)
    for tag, n in df.items():
        if tag.startswith(KW_PREFIX):
            twin = BORROWED_PREFIX + tag[len(KW_PREFIX) :]
            out[twin] = out.get(twin, 0) + n
    return out


def without_borrowed(cat, q: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    """Return query rows q of catalog cat with the borrowed family left out of the rows
    marked in `rows`: a film with curated keywords holds them as borrowed ones too, for the
    films that borrowed them (mirrored), and its own list leaves that family out."""
    if not rows.any() or BORROWED_FAMILY not in cat.family_names:
        return q
    borrowed = np.zeros(q.shape[1], dtype=np.bool_)  # per column (a query may have more)
    borrowed[: len(cat.tag_family)] = cat.tag_family == cat.family_names.index(BORROWED_FAMILY)
    # entry by entry: a dense rows x tags mask cost 0.6 GiB and 2 s at TMDB size
    of_row = np.repeat(np.arange(q.shape[0]), np.diff(q.indptr))
    keep = ~(rows[of_row] & borrowed[q.indices])
    if keep.all():
        return q
    q = q.tocsr(copy=True)
    q.data = np.where(keep, q.data, 0).astype(q.dtype)
    q.eliminate_zeros()
    return q
