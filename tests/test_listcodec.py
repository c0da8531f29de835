"""A list item has one shape (RelatedItem) and one codec (service/listcodec.py), which the
Lua scripts follow: their layout numbers are the codec's."""

import redis

from service import listcodec
from service.listcodec import RelatedItem
from tests.conftest import REDIS_URL

NUMBERS = {"grief": 3, "genre:drama": 65_535, "kw:firefighter": 70_000}  # both bytes of a number
NAMES = {number: tag for tag, number in NUMBERS.items()}
ITEMS = [
    RelatedItem("ladder-49", 0.61, (("kw:firefighter", 0.52), ("grief", 0.21))),
    RelatedItem("ein-überlanger-titel", 0.123456, ()),  # a multi-byte id, no reasons
    RelatedItem("b", 0.05, (("genre:drama", 1.0), ("grief", 0.0001), ("kw:firefighter", 0.5))),
]


def encoded(items=ITEMS) -> bytes:
    return listcodec.encode(
        {"rev": 7, "computed_at": 1.5, "items": items}, NUMBERS, (70_001, 12345)
    )


def test_a_list_reads_back_as_it_was_written():
    lst = listcodec.decode(encoded(), NAMES)
    assert lst == {"rev": 7, "computed_at": 1.5, "items": ITEMS}
    first = lst["items"][0]
    assert (first.id, first.score, first.reasons[0]) == (
        "ladder-49",
        0.61,
        ("kw:firefighter", 0.52),
    )
    assert listcodec.item_ids(encoded()) == [item.id for item in ITEMS]
    assert listcodec.dictionary(encoded()) == (70_001, 12345)


def test_stored_is_the_precision_a_list_keeps():
    item = RelatedItem.stored("x", 0.1234567, [("grief", 0.123456)])
    assert item == RelatedItem("x", 0.123457, (("grief", 0.1235),))
    raw = RelatedItem("x", 0.1234567, (("grief", 0.123456),))
    assert listcodec.decode(encoded([raw]), NAMES)["items"] == [item]


def test_the_lua_walks_items_as_the_codec_lays_them_out():
    blob = encoded()
    script = (
        listcodec.LUA_ITEMS
        + """
local walked = {}
for _, it in ipairs(items(ARGV[1])) do walked[#walked + 1] = {it[1], it[2], it[3]} end
return {ids_of(ARGV[1]), walked, list_rev(ARGV[1]), is_list(ARGV[1]) and 1 or 0}
"""
    )
    with redis.Redis.from_url(REDIS_URL) as client:
        ids, walked, rev, is_list = client.eval(script, 0, blob)
    assert [i.decode() for i in ids] == [item.id for item in ITEMS]
    # an item's bytes from its score on (the ids are front-coded: items_bytes joins them)
    found = listcodec.entries(blob)
    assert [w[0].decode() for w in walked] == [item.id for item in ITEMS]
    assert [w[1] for w in walked] == [round(item.score * 1e6) for item in ITEMS]
    assert [w[2] for w in walked] == [blob[at : at + 4 + blob[at + 3]] for _, at in found]
    assert (rev, is_list) == (7, 1)


def test_ids_are_front_coded_and_joined_again_in_lua():
    items = [RelatedItem(fid, 0.5, ()) for fid in ("tmdb-123", "tmdb-1234", "tmdb-9", "x", "x")]
    blob = encoded(items)
    assert blob[listcodec.HEADER.size :].startswith(bytes((0, 8)) + b"tmdb-123")
    assert listcodec.item_ids(blob) == [item.id for item in items]
    script = listcodec.LUA_ITEMS + "return items_bytes(items(ARGV[1]))"
    with redis.Redis.from_url(REDIS_URL) as client:
        assert client.eval(script, 0, blob) == blob[listcodec.HEADER.size :]
