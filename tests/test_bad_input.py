"""Bad input: every failure is a 4xx with one JSON error shape and leaves the store untouched."""

import json

import pytest
from rq import Queue

from service import create_app
from tests.conftest import TEST_SETTINGS

FILM = {"id": "f", "title": "A"}
# Bodies that pass each write route's schema, so an unknown id is what fails.
VALID_BODIES = {
    ("POST", "/api/v1/films/<id:film_id>/reviews"): {"body": "Gut."},
    ("PATCH", "/api/v1/films/<id:film_id>"): {"year": 2000},
    ("PATCH", "/api/v1/reviews/<id:review_id>"): {"rating": 5},
}


def routes_with_ids():
    """(method, rule) for every route with a path id, read from the app's own url_map."""
    app = create_app({**TEST_SETTINGS, "RECS_PREFIX": "collect-only:"})  # no Redis access
    return sorted(
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.arguments
        for method in rule.methods - {"HEAD", "OPTIONS"}
    )


def snapshot(store) -> dict:
    """Every data key of the app with its serialized value (limiter and metrics keys aside)."""
    keys = [
        k
        for k in store.r.keys(store.p + "*")  # KEYS: one round trip, on a test database
        if not k[len(store.p) :].startswith((b"limits", b"metrics"))
    ]
    queued = Queue(store.p[:-1], connection=store.r).count  # rq's key layout is rq's
    return {**{k: store.r.dump(k) for k in keys}, "queued": queued}


@pytest.fixture
def film(client, store):
    """One film with one review (its refresh job stays queued); returns the review id."""
    client.post("/api/v1/films", json=FILM)
    return client.post("/api/v1/films/f/reviews", json={"body": "Schön."}).get_json()["id"]


def assert_error(resp, *codes):
    assert resp.status_code in codes, (resp.status_code, resp.get_data(as_text=True)[:300])
    body = resp.get_json()
    assert body["code"] == resp.status_code and body["status"] and body["message"], body


WRITES = [
    ("POST", "/api/v1/films"),
    ("PATCH", "/api/v1/films/f"),
    ("POST", "/api/v1/films/f/reviews"),
    ("PATCH", "/api/v1/reviews/{rid}"),
]


# Tests loop over their cases inside (rather than parametrize) where each case is one request:
# the store snapshot around them is what costs time.
@pytest.mark.parametrize("method, path", WRITES)
def test_malformed_json_is_400(client, store, film, method, path):
    before = snapshot(store)
    for raw in (b"{not json", b'{"title": "A",}', b"\xff\xfe{", b'{"title": "A"'):
        resp = client.open(
            path.format(rid=film), method=method, data=raw, content_type="application/json"
        )
        assert_error(resp, 400)
    assert snapshot(store) == before


@pytest.mark.parametrize("method, path", WRITES)
def test_json_that_is_not_an_object_is_422(client, store, film, method, path):
    before = snapshot(store)
    for raw in (b"[]", b"null", b'"text"', b"42", b"[{}]", b"true"):
        resp = client.open(
            path.format(rid=film), method=method, data=raw, content_type="application/json"
        )
        assert_error(resp, 400, 422)
    assert snapshot(store) == before


BAD_FILMS = [
    {"title": 7},
    {"title": ["A"]},
    {"title": None},
    {"title": "A", "year": 1.5},
    {"title": "A", "year": True},
    {"title": "A", "genres": [1]},
    {"title": "A", "genres": {"a": 1}},
    {"title": "A", "synopsis": ["de"]},
    {"title": "A", "synopsis": {"de": 5}},
    {"title": "A", "cast": [{"role": "x"}]},
    {"title": "A", "cast": ["Kim"]},
    {"title": "A", "popularity": "high"},
    {"title": "A", "vote_average": 11},
    {"title": "A", "external_ids": {"netflix": "1"}},
    {"title": "A", "countries": ["de"]},
    {"title": "A", "rev": 9},
    {"title": "A", "created_at": "2020-01-01"},
    {"title": "A", "extra": 1},
    {"title": "A", "year": 10**30},
    {"title": "A", "popularity": "NaN"},
    {"title": "A", "vote_count": 2.5e-42},
    {"title": "A", "year": 1999.5},  # found by the fuzz test
]


def test_wrong_types_and_unknown_fields_are_422(client, store, film):
    before = snapshot(store)
    for body in BAD_FILMS:
        assert_error(client.post("/api/v1/films", json=body), 422)
        change = {k: v for k, v in body.items() if k != "title"} or {"title": 7}
        assert_error(client.patch("/api/v1/films/f", json=change), 422)
    assert snapshot(store) == before


def test_empty_patches_are_422(client, store, film):
    before = snapshot(store)
    for path in ("/api/v1/films/f", f"/api/v1/reviews/{film}"):
        assert_error(client.patch(path, json={}), 422)
        assert_error(client.patch(path), 422)  # no body at all (found by the fuzz test)
    assert snapshot(store) == before


def test_bad_reviews_are_422(client, store, film):
    before = snapshot(store)
    for body in BAD_REVIEWS:
        assert_error(client.post("/api/v1/films/f/reviews", json=body), 422)
        assert_error(client.patch(f"/api/v1/reviews/{film}", json=body), 422)
    assert snapshot(store) == before


BAD_REVIEWS = [
    {"body": 5},
    {"body": ""},
    {"body": "x", "rating": "good"},
    {"body": "x", "rating": -1},
    {"body": "x", "published_at": "yesterday"},
    {"body": "x", "source_url": "javascript:alert(1)"},
    {"body": "x", "film_id": "g"},
    {"body": "x", "id": "r1"},
    {"body": "x", "language": "deu1"},
    {"body": "x", "source_url": ""},
]


def test_over_long_strings_and_lists_are_422(client, store, film):
    before = snapshot(store)
    for body in TOO_LONG:
        assert_error(client.post("/api/v1/films", json=body), 422)
    assert snapshot(store) == before


TOO_LONG = [
    {"title": "x" * 301},
    {"title": "A", "genres": ["g"] * 21},
    {"title": "A", "keywords": ["k"] * 301},
    {"title": "A", "keywords": ["k" * 101]},
    {"title": "A", "cast": [{"name": "n"}] * 201},
    {"title": "A", "synopsis": {"de": "x" * 20001}},
    {"title": "A", "tagline": "x" * 501},
    {"title": "A", "pinned_tags": ["t"] * 51},
    {"title": "A", "external_ids": {"imdb": "x" * 65}},
]


def test_huge_bodies_are_413(client, store, film):
    before = snapshot(store)
    huge = {"title": "A", "keywords": ["k"] * 300, "synopsis": {"de": "x" * 1_100_000}}
    assert_error(client.post("/api/v1/films", json=huge), 413)
    assert_error(client.patch("/api/v1/films/f", json={"synopsis": {"de": "x" * 1_100_000}}), 413)
    assert_error(
        client.post(
            "/api/v1/films/f/reviews", data=b"{" * 2_000_000, content_type="application/json"
        ),
        413,
    )
    assert snapshot(store) == before


def test_bad_queries_are_422(client, film):
    for query in (
        "page_size=101",
        "page_size=0",
        "page=0",
        "page=-1",
        "page=abc",
        "page=1e3",
        "q=" + "x" * 201,
        "year_from=1000",
        "year_to=x",
        "genre=" + "g" * 61,
        "tag=" + "t" * 101,
        "q=",
        "page=100001",
        "genre=a%00b",
        "tag=%00",
    ):
        assert_error(client.get(f"/api/v1/films?{query}"), 422)
    for query in ("page_size=101", "limit=0", "page=101", "lang=fr", "exclude=" + "x," * 1001):
        assert_error(client.get(f"/api/v1/films/f/recommendations?{query}"), 422)
    assert_error(client.get("/api/v1/films/f/reviews?page_size=1000"), 422)
    assert_error(client.get("/api/v1/films/f/tags?lang=xx"), 422)


def test_json_python_cannot_hold_is_400(client, store, film):
    """Arrays nested 1,000 deep and an integer of 5,000 digits (both were 500s)."""
    deep = b"[" * 1000 + b"]" * 1000
    bodies = (
        deep,
        b'{"title": ' + deep + b"}",
        b'{"title": "A", "year": ' + b"9" * 5000 + b"}",
        b'{"body": "x", "rating": -' + b"1" * 4301 + b"}",
    )
    before = snapshot(store)
    for method, path in [*WRITES, ("POST", "/api/v1/imports"), ("POST", "/api/v1/pages/fill")]:
        for raw in bodies:
            resp = client.open(
                path.format(rid=film), method=method, data=raw, content_type="application/json"
            )
            assert_error(resp, 400)
            assert (
                "nested too deeply" in resp.get_json()["message"]
                or "4,300 digits" in resp.get_json()["message"]
            )
    assert snapshot(store) == before


def test_huge_numbers_in_queries_are_422(client, film):
    for name in ("page", "page_size", "limit"):
        assert_error(client.get(f"/api/v1/films/f/recommendations?{name}={'9' * 5000}"), 422)
    for name in ("page", "page_size", "year_from"):
        assert_error(client.get(f"/api/v1/films?{name}={'9' * 5000}"), 422)


@pytest.mark.parametrize(
    "url", ["/?page=9223372036854775807", "/?page=100001", "/?page=-5&lang=en"]
)
def test_page_numbers_out_of_range_are_an_html_400(client, film, url):
    resp = client.get(url)
    assert resp.status_code == 400 and resp.mimetype == "text/html"
    assert "<h1>" in resp.get_data(as_text=True) and "Traceback" not in resp.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/", "/films/f"])
@pytest.mark.parametrize(
    "query",
    [
        "endpoint=x",
        "_method=POST",
        "film_id=x",
        "_external=1",
        "_anchor=x",
        "_scheme=ftp",
        "values=1",
        "lang=en&lang=de",
    ],
)
def test_query_names_of_url_for_never_break_a_page(client, film, path, query):
    """The language link carried every query argument into url_for (`endpoint` was a 500)."""
    resp = client.get(f"{path}?{query}")
    assert resp.status_code == 200 and resp.mimetype == "text/html", query
    html = resp.get_data(as_text=True)
    name = query.split("=")[0]
    if name != "lang":  # the link to the other language keeps the query, as text
        assert f"{path}?{name}=" in html.replace("&amp;", "&")


@pytest.mark.parametrize(
    "text",
    [
        "Ame\u0301lie",  # e + combining acute
        "Z\u0351\u0346\u0314a\u0364\u0350lgo",  # stacked combining marks
        "\u05e9\u05dc\u05d5\u05dd \u202eevil\u202c",  # Hebrew with an RTL override
        "\u0645\u0631\u062d\u0628\u0627",  # Arabic
        "\U0001f525\U0001f692 \U0001f469\u200d\U0001f692",  # emoji, ZWJ sequence
        "\ufeffBOM and \u200bzero width",
    ],
)
def test_unicode_round_trips_exactly(client, store, text):
    resp = client.post("/api/v1/films", json={"title": text, "synopsis": {"de": text}})
    assert resp.status_code == 201, resp.get_json()
    fid = resp.get_json()["id"]
    got = client.get(f"/api/v1/films/{fid}").get_json()
    assert got["title"] == text and got["synopsis"]["de"] == text
    rid = client.post(
        f"/api/v1/films/{fid}/reviews", json={"body": text, "author": text}
    ).get_json()["id"]
    assert client.get(f"/api/v1/reviews/{rid}").get_json()["body"] == text
    assert text in client.get(f"/films/{fid}").get_data(as_text=True)


def test_nul_and_lone_surrogates_are_422(client, store, film):
    before = snapshot(store)
    for raw in (
        b'{"title": "A\\u0000"}',
        b'{"title": "A", "cast": [{"name": "\\u0000"}]}',
        b'{"title": "A\\ud800"}',
        b'{"title": "\\udfffA"}',
        b'{"title": "A", "pinned_tags": ["\\ud83d"]}',
        b'{"title": "A", "synopsis": {"de": "x\\ud800"}}',
        b'{"title": "A", "\\ud800": 1}',
    ):
        assert_error(client.post("/api/v1/films", data=raw, content_type="application/json"), 422)
        body = raw.replace(b'"title": "A", ', b"").replace(b'"title"', b'"body"')
        assert_error(
            client.post("/api/v1/films/f/reviews", data=body, content_type="application/json"), 422
        )
        assert_error(
            client.patch(f"/api/v1/reviews/{film}", data=body, content_type="application/json"), 422
        )
    assert snapshot(store) == before


def test_wrong_content_types_write_nothing(client, store, film):
    before = snapshot(store)
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        None,
    ):
        resp = client.post(
            "/api/v1/films", data=json.dumps(FILM | {"id": "g"}), content_type=content_type
        )
        assert_error(resp, 400, 415, 422)
        resp = client.post(
            "/api/v1/films/f/reviews", data='{"body": "x"}', content_type=content_type
        )
        assert_error(resp, 400, 415, 422)
    assert snapshot(store) == before


@pytest.mark.parametrize("method, rule", routes_with_ids())
def test_bad_ids_are_404_in_every_route(client, store, film, method, rule):
    arg = rule[rule.index("<") : rule.index(">") + 1]
    before = snapshot(store)
    for bad_id in (
        "a:b",
        "a*",
        "*",
        "a%20b",
        "%20a",
        "a/b",
        "A",
        "-a",
        "a" * 201,
        "a%00",
        "..",
        "%C3%A4",
        "a%3Ab",
    ):
        path = rule.replace(arg, bad_id, 1)
        path = path.replace("<id:film_id>", "f").replace("<id:review_id>", film)
        resp = client.open(path, method=method, json=VALID_BODIES.get((method, rule), {}))
        assert resp.status_code in (404, 405), (method, path, resp.status_code)
        if path.startswith("/api/"):
            assert_error(resp, 404, 405)
    assert snapshot(store) == before


@pytest.mark.parametrize("method, rule", routes_with_ids())
def test_unknown_ids_are_404_in_every_route(client, store, film, method, rule):
    path = rule
    while "<" in path:
        path = path[: path.index("<")] + "nope-404" + path[path.index(">") + 1 :]
    before = snapshot(store)
    known = (method, rule) in VALID_BODIES or method in ("GET", "DELETE")
    resp = client.open(path, method=method, json=VALID_BODIES.get((method, rule), {}))
    if known:
        assert resp.status_code == 404, (method, path, resp.status_code)
    else:  # a route added since: its body schema may answer first
        assert resp.status_code in (404, 415, 422), (method, path, resp.status_code)
    if path.startswith("/api/"):
        assert_error(resp, 404, 415, 422)
    assert snapshot(store) == before
