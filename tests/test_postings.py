"""Postings in packed strings (service/postings.py) answer as the sorted sets did."""

import random

import pytest

from service import postings


def expected(holders: dict[str, float], cap: int) -> list[str]:
    """The order ZREVRANGE gave: rank, then id bytes, both descending."""
    ranked = sorted(holders, key=lambda fid: (holders[fid], fid.encode()), reverse=True)
    return ranked if cap < 0 else ranked[:cap]


def test_rank_key_orders_as_ranks():
    ranks = [-3.5, -1e-9, 0.0, -0.0, 1e-9, 0.001, 1, 2, 7.5, 1e6, 1e300]
    assert sorted(ranks, key=postings.rank_key) == sorted(ranks)
    assert postings.rank_key(-0.0) == postings.rank_key(0.0)


@pytest.mark.parametrize("chunk, small", [(4, 2), (8, 0), (postings.MAX_CHUNK, postings.SMALL)])
def test_postings_follow_saves_rank_changes_and_deletes(store, monkeypatch, chunk, small):
    # small chunks: splits and directories; small postings in buckets, moving out and back
    monkeypatch.setattr(postings, "MAX_CHUNK", chunk)
    monkeypatch.setattr(postings, "SMALL", small)
    rng = random.Random(chunk)
    tags = ["a", "b", "c", "common"]
    ids = [f"f{n:02d}" for n in range(40)] + ["f1", "g", "f1a"]  # ids that prefix others
    holders: dict[str, dict[str, float]] = {tag: {} for tag in tags}
    votes: dict[str, int] = {}
    for _ in range(160):
        fid = rng.choice(ids)
        if fid in votes and rng.random() < 0.15:
            store.delete_film(fid)
            store.drop_tags(fid)
            del votes[fid]
            for tag in tags:
                holders[tag].pop(fid, None)
            continue
        vote_count = rng.choice([0, 3, 3, 10, 250])  # ties on purpose
        if fid in votes:
            store.update_film(fid, {"vote_count": vote_count})
        else:
            store.create_film({"id": fid, "title": fid, "vote_count": vote_count})
        votes[fid] = vote_count
        vector = {tag: 1.0 for tag in tags if tag == "common" or rng.random() < 0.5}
        rev = store.get_film(fid)["rev"]
        assert store.save_tags(fid, {"rev": rev, "tags": {}}, vector)
        for tag in tags:
            holders[tag].pop(fid, None)
            if tag in vector:
                holders[tag][fid] = vote_count
        for cap in (5, -1):
            assert store.postings(tags, cap) == [expected(holders[tag], cap) for tag in tags]
    assert set(store.filter_film_ids(None, "common")) == set(holders["common"])
    chunked = list(store.r.scan_iter(match=store.keys.join("post", "common:*")))
    assert bool(chunked) == (chunk < 10)
    store.create_film({"id": "solo", "title": "Solo", "vote_count": 1})
    assert store.save_tags("solo", {"rev": 1, "tags": {}}, {"only-here": 1.0, "common": 1.0})
    assert store.postings(["only-here"], 5) == [["solo"]]
    assert bool(list(store.r.scan_iter(match=store.keys.join("postb", "*")))) == (small > 0)
    assert store.postings(["never"], 5) == [[]]


def test_sorted_set_postings_read_and_convert(store):
    """Postings stored by an older version (sorted sets, tags without a rank) read as they
    are and turn into strings at the first change."""
    key = store.keys.join("post", "war")
    old = {"x": 5.0, "y": 5.0, "z": 0.25, "w": 900.0}
    store.r.zadd(key, old)
    assert store.postings(["war"], 3) == [expected(old, 3)]
    for fid, rank in old.items():
        store.create_film({"id": fid, "title": fid, "vote_count": int(rank)})
        store.r.set(store.keys.join("vec", fid), '{"war": 1.0}')
        store.r.set(store.keys.join("tags", fid), '{"rev": 1, "tags": {}}')
    assert store.save_tags("z", {"rev": 1, "tags": {}}, {"war": 1.0, "peace": 1.0})
    assert store.r.type(key) == b"none"  # small: in its bucket now
    assert store.postings(["war", "peace"], -1) == [expected({**old, "z": 0}, -1), ["z"]]
    store.drop_tags("x")
    assert store.postings(["war"], -1) == [expected({"y": 5.0, "z": 0, "w": 900.0}, -1)]


@pytest.mark.parametrize("chunk, small", [(8, 2), (postings.MAX_CHUNK, postings.SMALL)])
def test_bulk_loaded_postings_read_and_change_as_saved_ones(store, monkeypatch, chunk, small):
    """A bench's TagLoader writes what save_tags_many writes: the same documents, document
    frequencies and posting reads, and the postings it writes whole take later saves."""
    from service.storage import Store

    monkeypatch.setattr(postings, "MAX_CHUNK", chunk)
    monkeypatch.setattr(postings, "SMALL", small)
    rng = random.Random(chunk)
    tags = ["rare", "mid", "kw:common", "plot:x"]
    films = [
        {"id": f"b{n:03d}", "title": f"B {n}", "vote_count": rng.choice([None, 0, 3, 3, 90])}
        for n in range(60)
    ]
    for film in films:
        if film["vote_count"] is None:
            film.pop("vote_count")
            film["popularity"] = rng.choice([1.5, 20.0])
    bulk = Store(store.r, store.p + "bulk:")
    entries = {}
    for n, film in enumerate(films):
        share = {"rare": 0.05, "mid": 0.3, "kw:common": 0.9, "plot:x": 0.5}
        vector = {tag: 1.0 for tag in tags if rng.random() < share[tag]} or {"mid": 1.0}
        entries[film["id"]] = ({"rev": 1, "tags": {}}, vector, bytes([n]) * 256 if n % 2 else None)
    for target in (store, bulk):
        target.load_new_films(films)
    store.save_tags_many(entries)
    loader = bulk.tag_loader()
    ids = list(entries)
    loader.add({fid: entries[fid] for fid in ids[:25]})
    loader.add({fid: entries[fid] for fid in ids[25:]})
    assert loader.finish() == len({t for _, vector, _ in entries.values() for t in vector})

    def same():
        for cap in (3, -1):
            assert bulk.postings(tags, cap) == store.postings(tags, cap)
        assert bulk.catalog_stats(tags) == store.catalog_stats(tags)
        for fid in ids:
            assert bulk.r.get(bulk.keys.tags(fid)) == store.r.get(store.keys.tags(fid))

    same()
    assert bulk.postings(["kw:common"], -1) != [[]]
    for fid in ids[::7]:  # refreshes: new tags and new ranks, through the scripts
        for target in (store, bulk):
            target.update_film(fid, {"vote_count": 7})
            vector = {"rare": 1.0, "kw:common": 1.0}
            assert target.save_tags(fid, {"rev": 2, "tags": {}}, vector)
    same()
