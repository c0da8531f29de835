"""The recommendations hot path (lean dump, hand-parsed query, paging and filtering in the
Redis script, orjson answers) must give what the schemas and the plain Python would."""

import datetime
import json
import uuid

import pytest
from flask import request
from flask.json.provider import DefaultJSONProvider

from service.common import page_of
from service.fastpaths import dump_rec_page
from service.recommendations import (
    RecArgs,
    RecPage,
    _label_and_key,
    blp,
    plain_rec_args,
    related_titles,
    warm_labels,
)
from service.schemas import FilmSchema


def test_lean_dump_equals_schema_dump(app, client, seeded):
    for film_id, query, page, size, lang in [
        ("love-911", "", 1, 5, "en"),
        ("love-911", "&page=2", 2, 5, "de"),
    ]:
        data = related_titles(seeded, film_id, lang, frozenset(), (page - 1) * size, page * size)
        body = {**data, **page_of(data["results"], page, size, data.pop("total"))}
        expected = RecPage().dump(body)
        assert dump_rec_page(body) == expected
        resp = client.get(
            f"/api/v1/films/{film_id}/recommendations?limit={size}&lang={lang}{query}"
        )
        assert resp.status_code == 200
        assert resp.get_json() == expected
        assert list(resp.get_json()) == list(expected)  # same key order
        assert expected["results"] and expected["results"][0]["reasons"]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "limit=10",
        "limit=100&page=100",
        "page_size=7&page=3&lang=en",
        "lang=de&exclude=a,b",
        "exclude=",
        "limit=0",
        "limit=101",
        "limit=+5",
        "limit=05",
        "limit=1.0",
        "limit=%EF%BC%95",
        "limit= 5",
        "limit=",
        "page=0",
        "lang=fr",
        "lang=EN",
        "limit=5&limit=6",
        "other=1",
        "exclude=" + "x" * 2000,
        "exclude=" + "x" * 2001,
    ],
)
def test_hand_parsed_query_equals_webargs(app, query):
    with app.test_request_context(query_string=query):
        plain = plain_rec_args(request.args)
        if plain is not None:  # anything it does not take goes through webargs itself
            assert plain == blp.ARGUMENTS_PARSER.parse(RecArgs(), location="query")


def ids(body: dict) -> list[str]:
    return [item["id"] for item in body["results"]]


def test_paging_skips_excluded_and_deleted_films(app, client, seeded):
    _, lst, _, cards = seeded.read_list("love-911")
    listed = [item[0] for item in lst["items"] if item[0] in cards]
    assert len(listed) >= 8
    seeded.r.hdel(
        seeded.keys.join("cards"), listed[2]
    )  # as if deleted, before its lists are patched
    excluded = {listed[0], listed[5]}
    kept = [fid for fid in listed if fid != listed[2] and fid not in excluded]
    pages = [
        client.get(
            f"/api/v1/films/love-911/recommendations?page_size=3&page={n}"
            f"&exclude={','.join(sorted(excluded))}"
        ).get_json()
        for n in (1, 2, 99)
    ]
    assert [ids(p) for p in pages] == [kept[0:3], kept[3:6], []]
    assert {p["total_results"] for p in pages} == {len(kept)}
    assert pages[0]["total_pages"] == -(-len(kept) // 3)


def test_orjson_answers_equal_flask_json(app):
    value = {
        "ä": "Schön – 🔥",
        3: [1.5, None, True],
        "when": datetime.datetime(2026, 5, 1, 10, 0),
        "id": uuid.UUID(int=7),
        "big": 2**70,
    }
    with app.app_context():
        ours = app.json.response(value)
        flasks = DefaultJSONProvider(app)
        flasks.ensure_ascii, flasks.sort_keys = False, False
        expected = flasks.response(value)
    assert ours.mimetype == expected.mimetype == "application/json"
    assert json.loads(ours.get_data()) == json.loads(expected.get_data())
    assert ours.get_data().endswith(b"\n") and "Schön".encode() in ours.get_data()


def test_warmed_labels_serve_every_list_without_the_vocabulary(app, client, seeded):
    assert warm_labels(app) == len(seeded.tag_ids()) > 0
    misses = _label_and_key.cache_info().misses
    for lang in ("de", "en"):
        body = client.get(f"/api/v1/films/love-911/recommendations?limit=50&lang={lang}").get_json()
        assert body["results"] and all(r["reasons"] for r in body["results"])
    assert _label_and_key.cache_info().misses == misses


def test_film_reads_equal_the_schema_dump(client, seeded):
    ids = seeded.film_ids()
    assert any(seeded.get_film(fid).get("cast") for fid in ids)  # nested fields covered
    for fid in ids:
        expected = FilmSchema().dump(seeded.get_film(fid))
        body = client.get(f"/api/v1/films/{fid}").get_json()
        assert body == expected and list(body) == list(expected)
