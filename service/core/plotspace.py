"""The plot space: a film's title, tagline and plot as a point in the catalog's own LSA, joined
to its sentence-encoder embedding (pure: scikit-learn, numpy, scipy).

The sentence encoder (service/core/embedding.py) reads a plot the same way for every
catalog. The catalog's own texts say which of their words are rare here and which go
together: the TF-IDF of title, tagline and plot that borrowed keywords read (borrow_text, over
the words borrow.text_vectorizer keeps), reduced by a truncated SVD to `dims` directions. No
labels: a catalog without keywords learns it as well, and there it lifts the judged lists most
(docs/QUALITY.md, "Plot space").

A full rebuild learns it from the most voted films and stores it (workers/rebuild.py); the tag
jobs project with the stored one (workers/jobs.py), a chunk of films at a time or one film, and
a film's stored embedding becomes embedding.joined(the encoder's bytes, its point, share).
"""

import heapq
import io
import json

import numpy as np

from service.core.borrow import borrow_text, stored_vectorizer, text_vectorizer, vectorizer_terms

SEED = 0  # the SVD's random state: the same texts learn the same space, to the byte


class PlotSpace:
    """A fitted TF-IDF and the SVD's directions over its terms (float16: half the bytes, and
    projecting with what is stored is the same in every process); share: the plot-space part's
    share of the joined embedding's cosine."""

    def __init__(self, vectorizer, components: np.ndarray, share: float):
        self.vectorizer, self.components, self.share = vectorizer, components, float(share)
        self._directions = components.astype(np.float32).T  # terms x dims

    @property
    def dims(self) -> int:
        return self.components.shape[0]

    @classmethod
    def learn(cls, texts: list[str], dims: int, share: float, max_terms: int) -> "PlotSpace":
        """Learn from texts (borrow_text) a space of dims directions over at most max_terms
        terms; ValueError when the texts have no more terms, or are no more, than dims."""
        from sklearn.decomposition import TruncatedSVD

        vectorizer = text_vectorizer(max_terms if max_terms > 0 else None)
        rows = vectorizer.fit_transform(texts)
        if min(rows.shape) <= dims:
            raise ValueError(f"{rows.shape[0]} texts of {rows.shape[1]} terms: too few")
        svd = TruncatedSVD(dims, algorithm="randomized", n_iter=5, random_state=SEED).fit(rows)
        return cls(vectorizer, svd.components_.astype(np.float16), share)

    def project(self, texts: list[str]) -> np.ndarray:
        """Return the texts' points (len(texts) x dims, float32); a row is the same whether its
        text comes alone or in a chunk (a zero row: no word of the space)."""
        return np.asarray(self.vectorizer.transform(texts) @ self._directions, dtype=np.float32)

    def to_bytes(self) -> bytes:
        """The space as one npz blob (no pickle: the store hands it to every tag job)."""
        meta = {"terms": vectorizer_terms(self.vectorizer), "share": self.share}
        out = io.BytesIO()
        np.savez_compressed(
            out,
            meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
            idf=self.vectorizer.idf_.astype(np.float32),
            components=self.components,
        )
        return out.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> "PlotSpace":
        z = np.load(io.BytesIO(blob), allow_pickle=False)
        meta = json.loads(z["meta"].tobytes())
        return cls(stored_vectorizer(meta["terms"], z["idf"]), z["components"], meta["share"])


class MostVoted:
    """The texts of the n most voted films added (ties: the smaller id first), kept in a heap
    of n: a million films' texts are never held at once."""

    def __init__(self, n: int):
        self.n, self._heap = n, []

    def add(self, film: dict, text: str | None = None) -> None:
        """Note a film and its text (borrow_text, computed here unless given)."""
        text = borrow_text(film) if text is None else text
        if text and self.n > 0:
            item = (film.get("vote_count") or 0, _Later(str(film["id"])), text)
            if len(self._heap) < self.n:
                heapq.heappush(self._heap, item)
            elif self._heap[0] < item:
                heapq.heapreplace(self._heap, item)

    def texts(self) -> list[str]:
        """The texts kept, the most voted first."""
        return [text for _, _, text in sorted(self._heap, reverse=True)]


class _Later(str):
    """An id that sorts after the ids it is smaller than: among films of equal votes the heap's
    root, the first to go, is the one of the largest id."""

    def __lt__(self, other: str) -> bool:
        return str.__gt__(self, other)

    def __gt__(self, other: str) -> bool:
        return str.__lt__(self, other)


def learn(
    texts: list[str], min_films: int, dims: int, share: float, max_terms: int
) -> PlotSpace | None:
    """Return the plot space of texts (MostVoted.texts), or None when they are fewer than
    min_films, dims is 0, or they have too few words (PlotSpace.learn)."""
    if dims <= 0 or len(texts) < max(min_films, 1):
        return None
    try:
        return PlotSpace.learn(texts, dims, share, max_terms)
    except ValueError:
        return None


def warm_up() -> None:
    """Import what learning and projecting need (scikit-learn's SVD), so that a worker's forked
    jobs find it loaded."""
    from sklearn.decomposition import TruncatedSVD  # noqa: F401
