"""A film's plot embedding: what its story is about, as a vector (pure).

The tags bridge German and English through a vocabulary; they miss what a plot tells in
words no tag names (a steelworker boxing for a title, a newsroom fighting a cover-up). The
plot embedding reads the whole synopsis with WordLlama (`wordllama` on PyPI: static token
embeddings, numpy only, its weights and tokenizer inside the package, nothing downloads), a
German synopsis first glossed into English word by word (service/core/glossary.py). Two films'
embeddings meet in the ranking as one more similarity term (service/core/similarity.py), shown as
the "Ähnliche Handlung" chip. Stored as DIM signed bytes; the ranking takes the cosine of
the stored bytes in integers, so every process gets the same score to the bit.

A catalog with a plot space (service/core/plotspace.py) stores DIM + its dims bytes a film:
the WordLlama part and the film's point in the catalog's own LSA, joined (joined).
"""

from functools import lru_cache
from pathlib import Path

import numpy as np

from service.core.glossary import gloss
from service.core.tagging import texts_in_language

DIM = 256  # the width WordLlama's bundled l2_supercat weights come in
MAX_CHARS = 4000  # a synopsis longer than this says nothing more its first part did not


@lru_cache(maxsize=1)
def _model():
    import wordllama
    from wordllama import WordLlama

    package = Path(wordllama.__file__).resolve().parent
    # wordllama 0.4 looks for its tokenizer in <cache_dir>/tokenizers, where the package has
    # it; disable_download: a missing file is an error, never a download
    return WordLlama.load(cache_dir=package, dim=DIM, disable_download=True)


def unload() -> None:
    """Forget the model (it loads again when next asked for): for a process that only ranks."""
    _model.cache_clear()


def plot_text(film: dict, reviews: list[dict] | None = None) -> str:
    """Return the English text a film's embedding reads: its English synopsis, else its
    synopses (German glossed), else its reviews when it has no synopsis."""
    synopses, said = texts_in_language(film, reviews)
    texts = synopses or said
    english = [text for lang, text in texts if lang == "en"]
    chosen = english or [gloss(text) if lang == "de" else text for lang, text in texts]
    return " ".join(chosen)[:MAX_CHARS].strip()


def embed_texts(texts: list[str]) -> np.ndarray:
    """Return texts' embeddings quantised to int8 (len(texts) x DIM)."""
    return _int8(_model().embed(texts, norm=True) if texts else np.zeros((0, DIM)))


def _int8(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled so that their largest entry is 127, as int8."""
    top = np.abs(vectors).max(axis=1, keepdims=True)
    return np.round(vectors * 127.0 / np.where(top > 0, top, 1.0)).astype(np.int8)


def film_embedding(
    film: dict, reviews: list[dict] | None = None, text: str | None = None
) -> bytes | None:
    """Return a film's plot embedding as DIM bytes, or None when it has no text to read;
    text, when given, is the film's plot_text, read already."""
    text = plot_text(film, reviews) if text is None else text
    return embed_texts([text])[0].tobytes() if text else None


def joined(plot: bytes | None, point: np.ndarray | None, share: float) -> bytes | None:
    """Return the embedding a film stores: its WordLlama bytes (film_embedding), or, given its
    point in the catalog's plot space, both parts of unit length, scaled by the square roots
    of 1 - share and share and quantised together (DIM + len(point) bytes): the cosine of two
    such embeddings is (1 - share) x the one cosine + share x the other. None without a plot."""
    if plot is None or point is None:
        return plot
    words = np.frombuffer(plot, dtype=np.int8).astype(np.float32)
    parts = [np.sqrt(1.0 - share) * _unit(words), np.sqrt(share) * _unit(point)]
    return _int8(np.concatenate(parts)[None, :])[0].tobytes()


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(vector)
    return (vector / norm if norm > 0 else vector).astype(np.float32)


def decode(blobs: list[bytes | None], width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return stored embeddings as an int8 matrix (len(blobs) x width) and each row's L2 norm.

    width: by default the longest blob's, at least DIM; a shorter blob is padded with zeros
    (a film embedded before its catalog had a plot space: its cosine with a joined one reads
    the WordLlama part), a longer one cut. None, or fewer than DIM bytes (a film without
    text, or tagged before embeddings) gives a zero row of norm 0."""
    valid = [b if b is not None and len(b) >= DIM else None for b in blobs]
    width = width or max([DIM, *(len(b) for b in valid if b is not None)])
    out = np.zeros((len(blobs), width), dtype=np.int8)
    for i, blob in enumerate(valid):
        if blob is not None:
            row = np.frombuffer(blob, dtype=np.int8)[:width]
            out[i, : len(row)] = row
    return out, np.sqrt((out.astype(np.int64) ** 2).sum(axis=1)).astype(np.float64)


def stacked(parts: list[np.ndarray], empty: np.ndarray) -> np.ndarray:
    """Return decoded chunks of films as one matrix, each padded with zeros to the widest (a
    chunk of films embedded before the catalog had a plot space is DIM wide)."""
    if not parts:
        return empty
    width = max(part.shape[1] for part in parts)
    return np.concatenate([np.pad(p, ((0, 0), (0, width - p.shape[1]))) for p in parts])
