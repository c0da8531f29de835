"""Stored documents (service/storage/documents.py): compressed against frozen dictionaries,
tags and vector in one key, and every older format still read."""

import hashlib
import json
import zlib

import pytest

from service.storage import NotFound, documents

# A dictionary documents use is never rewritten (they could no longer be read): a better one
# gets a new file and a new first byte.
FROZEN = {
    "film-1.bin": "6660fa98aeebc87999bee6152f17da8696c4e3878f0bf3cbe7eeadb3d40ad71a",
    "tags-1.bin": "6a70924ee3a13547f0c4de22837a7cdbb9717a16a077886121f32bc2c521ba9f",
    "vector-1.bin": "1a5503783a18b4956a70721ede741744374d9791538e95e236a4fd8e2db32c9d",
}

FILM = {
    "id": "doc-film",
    "title": "The Lighthouse Keeper",
    "year": 1999,
    "genres": ["Drama", "Mystery"],
    "keywords": ["lighthouse", "island", "storm"],
    "synopsis": {"en": "A lighthouse keeper on a remote island waits out a storm with a stranger."},
}
TAGS = {
    "rev": 1,
    "tags": {"island": {"weight": 1.0, "sources": ["keyword"], "evidence": ["island"]}},
}
VECTOR = {"island": 1.0, "kw:storm": 1.0, "genre:drama": 1.0, "plot:keeper": 1.0}
EMBEDDING = bytes(range(256))


@pytest.mark.parametrize("name", sorted(FROZEN))
def test_dictionaries_are_frozen(name):
    data = (documents._DICTIONARIES / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == FROZEN[name]


def test_documents_round_trip_smaller_than_zlib():
    film = {**FILM, "created_at": 1765000000.5, "updated_at": 1765000000.5, "rev": 3}
    raw = documents.pack_film(film)
    assert raw[0] == documents.FILM and json.loads(documents.film_json(raw)) == film
    assert len(raw) < len(zlib.compress(documents._dumps(film))) - 40
    both = documents.pack_tags(TAGS, VECTOR)
    assert json.loads(documents.tags_json(both)) == TAGS
    assert json.loads(documents.vector_json(both)) == VECTOR
    apart = len(zlib.compress(documents._dumps(TAGS))) + len(
        zlib.compress(documents._dumps(VECTOR))
    )
    assert len(both) < apart


def test_one_key_per_film_for_tags_and_vector(store):
    store.create_film(FILM)
    assert store.save_tags("doc-film", TAGS, VECTOR, EMBEDDING)
    assert store.r.get(store.keys.tags("doc-film"))[0] == documents.TAGS_USE
    assert not store.r.exists(store.keys.vector("doc-film"), store.keys.embeddings())
    assert store.get_tags("doc-film") == {**TAGS, "rank": 0.0, "keywords_counted": True}
    assert store.get_vectors(["doc-film", "none"]) == [VECTOR, None]
    assert store.get_embeddings(["doc-film", "none"]) == [EMBEDDING, None]
    assert store.save_tags("doc-film", TAGS, VECTOR, None)
    assert store.get_vectors_and_embeddings(["doc-film"]) == [(VECTOR, None)]
    assert store.drop_tags("doc-film") == VECTOR
    assert store.get_vectors(["doc-film"]) == [None] and store.get_tags("doc-film") is None


@pytest.mark.parametrize("encode", [lambda raw: raw, zlib.compress], ids=["plain", "zlib"])
def test_documents_of_older_versions_read_and_convert(store, encode):
    store.create_film(FILM)
    assert store.save_tags("doc-film", TAGS, VECTOR)  # filed in the postings
    film = store.get_film("doc-film")
    store.r.set(store.keys.film("doc-film"), encode(documents._dumps(film)))
    store.r.set(store.keys.tags("doc-film"), encode(documents._dumps({**TAGS, "rank": 0.0})))
    store.r.set(store.keys.vector("doc-film"), encode(documents._dumps(VECTOR)))
    store.r.hset(store.keys.embeddings(), "doc-film", EMBEDDING)
    assert store.get_film("doc-film") == film
    assert store.get_tags("doc-film") == {**TAGS, "rank": 0.0}
    # the `emb` hash held WordLlama's embeddings: they read as none (another model's space)
    assert store.get_vectors_and_embeddings(["doc-film"]) == [(VECTOR, None)]
    newer = {**TAGS, "rev": 2}
    assert store.save_tags("doc-film", newer, {"island": 1.0})
    assert not store.r.exists(store.keys.vector("doc-film"), store.keys.embeddings())  # moved in
    assert store.get_vectors(["doc-film"]) == [{"island": 1.0}]
    assert store.get_tags("doc-film") == {**newer, "rank": 0.0, "keywords_counted": False}
    assert store.postings(["island", "kw:storm"], -1) == [["doc-film"], []]


def test_tags_an_older_version_stored_with_wordllamas_embedding_read_without_it(store):
    store.create_film(FILM)
    assert store.save_tags("doc-film", TAGS, VECTOR, EMBEDDING)
    raw = store.r.get(store.keys.tags("doc-film"))
    store.r.set(store.keys.tags("doc-film"), bytes((documents.TAGS,)) + raw[1:])  # as before
    assert store.get_vectors_and_embeddings(["doc-film"]) == [(VECTOR, None)]
    assert store.get_tags("doc-film")["tags"] == TAGS["tags"]
    assert store.save_tags("doc-film", {**TAGS, "rev": 2}, VECTOR, EMBEDDING)  # embedded again
    assert store.get_embeddings(["doc-film"]) == [EMBEDDING]


def test_document_frequencies_in_buckets_with_an_older_hash(store):
    for fid in ("a", "b", "c"):
        store.create_film({**FILM, "id": fid})
        assert store.save_tags(fid, TAGS, {"island": 1.0, f"only-{fid}": 1.0})
    assert not store.r.exists(store.keys.df())
    assert store.catalog_stats(["island", "only-a", "none"])["df"] == {
        "island": 3,
        "only-a": 1,
        "none": 0,
    }
    # an older version counted in one hash; film "a" was counted there too
    store.r.hset(store.keys.df(), mapping={"island": 4, "old": 1})
    store.r.set(store.keys.vector("a"), documents._dumps({"island": 1.0, "old": 1.0}))
    store.r.set(store.keys.tags("a"), documents._dumps({**TAGS, "rank": 0.0}))
    store.drop_tags("a")
    assert store.catalog_stats(["island", "old"])["df"] == {"island": 6, "old": 0}
    assert {"island", "old", "only-b"} <= set(store.tag_ids())
    assert store.fold_older_hashes(batch=1) == 2 and not store.r.exists(store.keys.df())
    assert store.catalog_stats(["island", "old"])["df"] == {"island": 6, "old": 0}


def test_meta_as_arrays_and_older_objects(store, monkeypatch):
    from service import storage

    monkeypatch.setattr(storage.films, "TOP_KEEP", 1)
    for votes in range(1, 7):
        store.create_film({**FILM, "id": f"v{votes}", "vote_count": votes, "popularity": 0.5})
    assert store.r.hget(store.keys.meta(), "v3") == b"[1999,null,0.5,3,null]"
    # an older version wrote objects; films above the floor leave: refilled from both kinds
    old = {"year": 1999, "original_language": "en", "popularity": 0.5, "vote_count": 2}
    store.r.hset(store.keys.meta(), "v2", documents._dumps(old))
    assert store.get_meta(["v2", "v3", "none"]) == [
        old,
        {**dict.fromkeys(documents.META_FIELDS), "year": 1999, "popularity": 0.5, "vote_count": 3},
        None,
    ]
    for votes in (6, 5, 4, 3):
        store.delete_film(f"v{votes}")
    assert store.catalog_stats([])["max_votes"] == 2


def test_tag_numbers_in_buckets_with_an_older_hash(store):
    numbers, (length, _) = store.tag_numbers(["a", "b"])
    assert numbers == {"a": 0, "b": 1} and length == 2
    assert not store.r.exists(store.keys.tag_numbers())
    # an older version numbered in one hash
    store.r.hset(store.keys.tag_numbers(), mapping={"old": 2})
    store.r.rpush(store.keys.tag_names(), "old")
    assert store.tag_numbers(["old", "b", "new"])[0] == {"old": 2, "b": 1, "new": 3}
    assert store.fold_older_hashes() == 1 and not store.r.exists(store.keys.tag_numbers())
    assert store.tag_numbers(["new", "old", "a"])[0] == {"new": 3, "old": 2, "a": 0}
    assert store.tag_names(*store.tag_numbers([])[1]) == ["a", "b", "old", "new"]


def test_rebuild_blob_in_parts(store, monkeypatch):
    """A snapshot blob over 512 MB cannot be one string: it is stored in parts and read whole,
    and the switch to the new version drops it."""
    from service.storage import rebuilds

    monkeypatch.setattr(rebuilds, "BLOB_PART", 7)
    data = bytes(range(256)) * 3
    store.put_blob("r1", data, 60)
    assert store.r.llen(store.keys.blob("r1")) == -(-len(data) // 7)
    assert store.get_blob("r1") == data
    reader = store.blob_reader("r1")  # a part at a time, seekable
    assert reader.read() == data
    for at, n in [(0, 3), (5, 9), (700, 100), (len(data) - 2, 10), (len(data) + 5, 4)]:
        reader.seek(at)
        assert reader.read(n) == data[at : at + n]
    reader.seek(-3, 2)
    assert reader.read() == data[-3:]
    with store.blob_writer("r2", 60) as out:  # written in pieces of any size
        for at in range(0, len(data), 5):
            out.write(data[at : at + 5])
    assert [len(p) for p in store.r.lrange(store.keys.blob("r2"), 0, -1)] == [7] * (
        len(data) // 7
    ) + [len(data) % 7]
    assert store.get_blob("r2") == data and 0 < store.r.ttl(store.keys.blob("r2")) <= 60
    with store.blob_writer("r3", 60):
        pass
    assert store.get_blob("r3") == b""
    store.put_blob("r1", b"short", 60)  # put again: the parts of before are gone
    assert store.get_blob("r1") == b"short"
    store.switch_version("r1", 2)
    with pytest.raises(NotFound):
        store.get_blob("r1")
    with pytest.raises(NotFound):
        store.blob_reader("r1")


def test_snapshot_read_a_part_at_a_time_ranks_identically(store, monkeypatch):
    """A ranking job reads the stored snapshot through blob_reader, one part at a time (no
    copy of the whole blob): the catalog it gets ranks as the one that was stored."""
    from service.core.similarity import (
        SimilarityParams,
        build_catalog,
        catalog_from_bytes,
        catalog_to_bytes,
        related_rows,
        write_catalog,
    )
    from service.storage import rebuilds
    from tests.test_similarity import filler

    params = SimilarityParams(max_posting=20)
    cat = build_catalog(filler(300, seed=3), params)
    blob = bytes(catalog_to_bytes(cat))
    monkeypatch.setattr(rebuilds, "BLOB_PART", 4096)  # many parts, members across them
    store.put_blob("snap", blob, 60)
    with store.blob_writer("streamed", 60) as out:  # what the snapshot job does
        write_catalog(cat, out)
    expected = related_rows(cat, range(300), params)
    for name in ("snap", "streamed"):
        assert store.r.llen(store.keys.blob(name)) > 10
        back = catalog_from_bytes(store.blob_reader(name))
        assert back.ids == cat.ids and back.params == cat.params
        assert related_rows(back, range(300), params) == expected


def test_the_key_of_an_embeddings_text_is_stored_in_bytes_beside_it(store):
    import base64

    note = {"embedded": "0123456789abcdef", "encoder": ""}
    raw = documents.pack_tags({**TAGS, **note}, VECTOR, EMBEDDING)
    assert raw[0] == documents.TAGS_KEYED
    assert len(raw) == len(documents.pack_tags(TAGS, VECTOR, EMBEDDING)) + 10  # 2 + 8 bytes
    assert json.loads(documents.tags_json(raw)) == TAGS  # not in the JSON
    assert documents.kept(raw) == note and documents.embedding(raw) == EMBEDDING
    assert json.loads(documents.vector_json(raw)) == VECTOR
    # joined with a plot-space point: the encoder's own bytes kept beside the stored ones
    joined = note | {"encoder": base64.b64encode(bytes(range(256))).decode()}
    raw = documents.pack_tags({**TAGS, **joined}, VECTOR, EMBEDDING + bytes(128))
    assert documents.kept(raw) == joined and documents.embedding(raw) == EMBEDDING + bytes(128)
    assert json.loads(documents.tags_json(raw)) == TAGS
    # through the store: the document reads whole again
    store.create_film(FILM)
    assert store.save_tags("doc-film", {**TAGS, **note}, VECTOR, EMBEDDING)
    assert store.get_tags("doc-film") == {**TAGS, **note, "rank": 0.0, "keywords_counted": True}
    assert store.get_kept(["doc-film", "none"]) == {
        "doc-film": (note, EMBEDDING),
        "none": (None, None),
    }
