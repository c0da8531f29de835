"""Encode and decode the stored JSON documents: the one module that knows their bytes.

A film record (`film:<id>`) and a film's tags with their evidence and its tag vector (one
key, `tags:<id>`) are JSON compressed with raw deflate against a preset dictionary (zlib's
zdict), as a small document alone compresses poorly: its field names, tags and common words
are in the dictionary instead. The first byte says which:

    FILM    the film record, against config/zdict/film-1.bin
    TAGS    I4 the vector's compressed length, H the plot embedding's length, the tag
            vector against vector-1.bin, the embedding (raw bytes), then the tags document
            against tags-1.bin followed by the vector's JSON (the tags and their weights
            repeat the vector's), so vector and embedding read without the tags; its
            excerpts name where they stand in the film's texts, not their text
            (service/core/excerpts.py). Its plot embedding is WordLlama's, which no longer
            reads: embedding() gives None, as for a film without one
    TAGS_USE the same, with the sentence encoder's plot embedding (service/core/embedding.py,
            since 2026-12-07): what pack_tags writes. An embedding of one model says nothing
            of one of the other, and both are 256 bytes, so the byte tells them apart
    TAGS_KEYED the same, with the key of the text the encoder read after the sizes (8 bytes:
            service.core.embedding.text_key) and, after the embedding, the encoder's own bytes
            where the stored embedding is joined with a plot-space point (a third size, 0
            otherwise): so a tag job keeps the bytes of a film whose text is unchanged. What
            pack_tags writes for a film with a plot (since 2026-12-08); the tags document's
            fields `embedded` (the key, hex) and `encoder` (base64) are stored this way

The `meta` hash's values (what the ranking reads of a film) are JSON arrays of META_FIELDS.

A dictionary is never changed once documents use it: a better one gets a new file and a new
first byte, and this module keeps reading the old ones. The dictionaries are the seed
catalog's own documents (bench/zdicts.py builds them). Documents an older version wrote
still read: plain JSON (`{`) and zlib-compressed JSON (0x78); tags then have their vector in
`vec:<id>` and their embedding in the `emb` hash (Store.get_vectors reads them there).
"""

import base64
import json
import struct
import threading
import zlib
from pathlib import Path

import orjson

FILM, TAGS, TAGS_USE, TAGS_KEYED = 1, 2, 3, 4
_WITH_VECTOR = (TAGS, TAGS_USE, TAGS_KEYED)
_WITH_ENCODER = (TAGS_USE, TAGS_KEYED)
_DICTIONARIES = Path(__file__).resolve().parent.parent.parent / "config" / "zdict"
_SIZES = struct.Struct("<IH")
_KEYED = struct.Struct("<IHH8s")  # the sizes, the encoder's bytes' size and the text's key
_NOTE = ("embedded", "encoder")  # the tags document's fields TAGS_KEYED stores in bytes
_WINDOW = 32768  # what deflate can reach back: a longer dictionary keeps only its end


def _dumps(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class _Dictionary:
    """A preset dictionary (its last 32 KB: all deflate can reach back to)."""

    def __init__(self, name: str):
        self.data = (_DICTIONARIES / name).read_bytes()[-_WINDOW:]

    def compress(self, raw: bytes, extra: bytes = b"") -> bytes:
        """Return raw deflated against this dictionary followed by extra."""
        zdict = (self.data + extra)[-_WINDOW:]
        c = zlib.compressobj(6, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, zdict)
        return c.compress(raw) + c.flush()

    def decompress(self, data: bytes, extra: bytes = b"") -> bytes:
        """Return the document compress(raw, extra) returned data for."""
        d = zlib.decompressobj(-15, zdict=(self.data + extra)[-_WINDOW:])
        raw = d.decompress(data)
        if not d.eof:
            raise ValueError("truncated document")
        return raw


_LOADED: dict[str, _Dictionary] = {}
_LOADING = threading.Lock()


def _dictionary(name: str) -> _Dictionary:
    found = _LOADED.get(name)
    if found is None:
        with _LOADING:
            found = _LOADED.setdefault(name, _Dictionary(name))
    return found


def pack_film(film: dict) -> bytes:
    """Return a film record's stored bytes."""
    return bytes((FILM,)) + _dictionary("film-1.bin").compress(_dumps(film))


def pack_tags(tags: dict, vector: dict[str, float], embedding: bytes | None = None) -> bytes:
    """Return the stored bytes of a film's tags document, tag vector and plot embedding; the
    document's `embedded` and `encoder` fields (service.core.embedding.noted), when it has
    them, are stored as bytes beside the embedding (TAGS_KEYED), not in its JSON."""
    note = {k: tags[k] for k in _NOTE if k in tags}
    if note:
        tags = {k: v for k, v in tags.items() if k not in _NOTE}
    vec, emb = _dumps(vector), embedding or b""
    head = _dictionary("vector-1.bin").compress(vec)
    body = _dictionary("tags-1.bin").compress(_dumps(tags), extra=vec)
    if "embedded" not in note:
        return bytes((TAGS_USE,)) + _SIZES.pack(len(head), len(emb)) + head + emb + body
    plain = base64.b64decode(note.get("encoder") or "")
    sizes = _KEYED.pack(len(head), len(emb), len(plain), bytes.fromhex(note["embedded"]))
    return bytes((TAGS_KEYED,)) + sizes + head + emb + plain + body


# What the ranking reads of a film (the `meta` hash), in this order: a value is the JSON array
# of them (an older version wrote a JSON object, which still reads).
META_FIELDS = ("year", "original_language", "popularity", "vote_count", "vote_average")


def pack_meta(film: dict) -> str:
    """Return the `meta` hash's value of a film."""
    return json.dumps(
        [film.get(key) for key in META_FIELDS], ensure_ascii=False, separators=(",", ":")
    )


def meta_of(raw: bytes) -> dict:
    """Return a `meta` value as {field: value}."""
    value = orjson.loads(raw)
    return dict(zip(META_FIELDS, value)) if isinstance(value, list) else value


def _legacy(raw: bytes) -> bytes:
    """Return the JSON of a document an older version wrote (plain or zlib)."""
    return raw if raw[:1] == b"{" else zlib.decompress(raw)


def film_json(raw: bytes) -> bytes:
    """Return the JSON of a stored film record."""
    if raw[0] == FILM:
        return _dictionary("film-1.bin").decompress(memoryview(raw)[1:])
    return _legacy(raw)


def has_vector(raw: bytes) -> bool:
    """Whether stored tags hold their vector and embedding (older ones have them apart)."""
    return raw[0] in _WITH_VECTOR


def _header(raw: bytes) -> tuple[int, int, int, bytes, int]:
    """Return stored tags' sizes (compressed vector, embedding, encoder's own bytes), the
    text's key (b"" before TAGS_KEYED) and where the vector starts."""
    if raw[0] == TAGS_KEYED:
        head, emb, plain, key = _KEYED.unpack_from(raw, 1)
        return head, emb, plain, key, 1 + _KEYED.size
    head, emb = _SIZES.unpack_from(raw, 1)
    return head, emb, 0, b"", 1 + _SIZES.size


def _parts(raw: bytes) -> tuple[memoryview, bytes, memoryview]:
    """Return the stored tags' compressed vector, embedding and compressed tags."""
    head, emb, plain, _, at = _header(raw)
    view = memoryview(raw)
    return view[at : at + head], raw[at + head : at + head + emb], view[at + head + emb + plain :]


def kept(raw: bytes) -> dict:
    """Return the `embedded` and `encoder` fields of stored tags (pack_tags), {} where none."""
    if raw[0] != TAGS_KEYED:
        return {}
    head, emb, plain, key, at = _header(raw)
    at += head + emb
    return {"embedded": key.hex(), "encoder": base64.b64encode(raw[at : at + plain]).decode()}


def vector_json(raw: bytes) -> bytes:
    """Return the vector's JSON of stored tags (has_vector), or of an older vector key's
    document."""
    if raw[0] in _WITH_VECTOR:
        return _dictionary("vector-1.bin").decompress(_parts(raw)[0])
    return _legacy(raw)


def embedding(raw: bytes) -> bytes | None:
    """Return the plot embedding of stored tags (has_vector), None when the film has none or
    an older version's model wrote it (TAGS: WordLlama's; a rebuild or a refresh embeds the
    film again)."""
    return (_parts(raw)[1] or None) if raw[0] in _WITH_ENCODER else None


def tags_json(raw: bytes) -> bytes:
    """Return the tags document's JSON of stored tags."""
    if raw[0] in _WITH_VECTOR:
        head, _, body = _parts(raw)
        vec = _dictionary("vector-1.bin").decompress(head)
        return _dictionary("tags-1.bin").decompress(body, extra=vec)
    return _legacy(raw)
